// There is no Docker engine here, so the image is checked by reading the Dockerfile against the
// project's own build (`npm run build` first): every path it copies exists and is in the build
// context, every script its commands and the chart's containers run is produced by the build and
// copied into the runtime stage.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderChart, repoRoot, type Manifest } from './render-chart';

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  name: string;
  image: string;
  workdir: string;
  instructions: Instruction[];
}

/** Dockerfile instructions by stage, with line continuations joined and comments dropped. */
function parseDockerfile(text: string): Stage[] {
  const logical = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, op = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { op: op.toUpperCase(), args };
    if (instruction.op === 'FROM') {
      const [image = '', , name] = args.split(/\s+/);
      stages.push({ name: name ?? String(stages.length), image, workdir: '/', instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`${op} before FROM`);
    if (instruction.op === 'WORKDIR') stage.workdir = path.posix.resolve(stage.workdir, args);
    stage.instructions.push(instruction);
  }
  return stages;
}

interface Copy {
  from?: string;
  sources: string[];
  dest: string;
}
function copies(stage: Stage): Copy[] {
  return stage.instructions
    .filter((i) => i.op === 'COPY')
    .map((i) => {
      const words = i.args.split(/\s+/);
      const flags = words.filter((w) => w.startsWith('--'));
      const paths = words.filter((w) => !w.startsWith('--'));
      const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
      return { from, sources: paths.slice(0, -1), dest: path.posix.resolve(stage.workdir, paths.at(-1)!) };
    });
}

/** .dockerignore semantics: the last pattern matching the path or one of its parents decides. */
function dockerignore(text: string): (relPath: string) => boolean {
  const rules = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const exclude = !l.startsWith('!');
      const pattern = path.posix.normalize(l.replace(/^!/, '')).replace(/\/$/, '');
      const re = new RegExp(
        `^${pattern
          .split('/')
          .map((seg) =>
            seg === '**'
              ? '.*'
              : seg
                  .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                  .replace(/\*/g, '[^/]*')
                  .replace(/\?/g, '[^/]'),
          )
          .join('/')}$`,
      );
      return { exclude, re };
    });
  return (relPath) => {
    const candidates = relPath.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of rules) if (candidates.some((c) => rule.re.test(c))) excluded = rule.exclude;
    return excluded;
  };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'dist' ? [] : filesUnder(full);
    return [full];
  });
}

const stages = parseDockerfile(readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8'));
const excluded = dockerignore(readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8'));
const runtime = stages.at(-1)!;
const build = stages.find((s) => s.name === 'build')!;
const rel = (p: string) => path.relative(repoRoot, p);
const workspaces: string[] = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).workspaces as string[]).flatMap(
  (glob) => {
    const dir = glob.replace(/\/\*$/, '');
    return readdirSync(path.join(repoRoot, dir))
      .map((d) => `${dir}/${d}`)
      .filter((d) => existsSync(path.join(repoRoot, d, 'package.json')));
  },
);

/** Where a runtime path comes from in the repository: a dist/ the runtime stage copies from the build stage. */
function repoPathOfRuntimeFile(runtimePath: string): string | undefined {
  for (const c of copies(runtime).filter((x) => x.from === build.name)) {
    const source = c.sources[0]!.replace(/\/$/, '');
    const dest = c.dest.replace(/\/$/, '');
    if (runtimePath.startsWith(`${dest}/`))
      return path.join(repoRoot, path.posix.relative(build.workdir, source), runtimePath.slice(dest.length + 1));
  }
  return undefined;
}

describe('Dockerfile', () => {
  it('builds on a glibc Node image with a pinned tag in every stage (the Temporal core bridge ships only *-linux-gnu binaries)', () => {
    for (const s of stages) {
      expect(s.image).toMatch(/^node:\d+[\w.-]*-(bookworm|bullseye|trixie)(-slim)?$/);
      expect(s.image).not.toMatch(/alpine|:latest$/);
    }
    expect(stages.map((s) => s.name)).toEqual(['build', 'prod-deps', 'runtime']);
  });

  it('runs as a numeric non-root user, with an exec-form CMD so node is PID 1 and receives SIGTERM', () => {
    const user = runtime.instructions.filter((i) => i.op === 'USER').at(-1)?.args;
    expect(user).toMatch(/^[1-9]\d*(:[1-9]\d*)?$/);
    const cmd = runtime.instructions.filter((i) => i.op === 'CMD').at(-1)!.args;
    const argv = JSON.parse(cmd) as string[];
    expect(argv[0]).toBe('node');
    expect(existsSync(repoPathOfRuntimeFile(path.posix.resolve(runtime.workdir, argv[1]!)) ?? '')).toBe(true);
  });

  it('copies from the build context only paths that exist and that .dockerignore lets through', () => {
    for (const stage of stages) {
      for (const c of copies(stage).filter((x) => !x.from)) {
        for (const source of c.sources) {
          const full = path.join(repoRoot, source);
          expect(existsSync(full), `${stage.name}: COPY ${source}`).toBe(true);
          const files = statSync(full).isDirectory() ? filesUnder(full).map(rel) : [source];
          // Sources, manifests and tsconfig files are what the build needs; all must be in the context.
          const needed = files.filter((f) => /(^|\/)(src\/.*|package\.json|package-lock\.json|tsconfig(\.\w+)?\.json)$/.test(f));
          expect(needed.length, `${stage.name}: COPY ${source} brings nothing`).toBeGreaterThan(0);
          expect(needed.filter(excluded), `${stage.name}: COPY ${source} — excluded by .dockerignore`).toEqual([]);
        }
      }
    }
  });

  it('keeps local build output, node_modules and the tools out of the build context', () => {
    for (const p of [
      'node_modules/typescript/package.json',
      'packages/service-kit/dist/node/index.js',
      'services/starter/dist/main.js',
      '.tools/bin/helm',
      '.run/results',
      '.git/HEAD',
    ]) {
      expect(excluded(p), p).toBe(true);
    }
  });

  it('installs the dependencies of every npm workspace, in the build and the production-dependency stages', () => {
    for (const stage of stages.filter((s) => s.name !== 'runtime')) {
      const copied = copies(stage)
        .filter((c) => !c.from)
        .flatMap((c) => c.sources);
      for (const ws of workspaces) expect(copied, `${stage.name} stage`).toContain(`${ws}/package.json`);
      expect(copied).toContain('package-lock.json');
    }
    const prodDeps = stages.find((s) => s.name === 'prod-deps')!;
    expect(prodDeps.instructions.find((i) => i.op === 'RUN')?.args).toMatch(/npm ci --omit=dev/);
  });

  it('copies into the runtime stage a build output that exists after `npm run build` for every workspace', () => {
    const fromBuild = copies(runtime).filter((c) => c.from === build.name);
    const sources = fromBuild.map((c) => path.posix.relative(build.workdir, c.sources[0]!).replace(/\/$/, ''));
    for (const ws of workspaces) expect(sources).toContain(`${ws}/dist`);
    for (const s of sources) expect(existsSync(path.join(repoRoot, s)), `${s} (run npm run build)`).toBe(true);
  });

  it('runs only scripts the build produces, and prebundles the workflow code of both workers', () => {
    const runs = build.instructions.filter((i) => i.op === 'RUN').map((i) => i.args);
    const scripts = runs.flatMap((r) => [...r.matchAll(/\bnode\s+(\S+\.js)/g)].map((m) => m[1]!));
    expect(scripts).toEqual(expect.arrayContaining(['services/batcher-worker/dist/bundle.js', 'services/main-worker/dist/bundle.js']));
    for (const s of scripts) expect(existsSync(path.join(repoRoot, s)), s).toBe(true);
    // `tsc -b` builds the root tsconfig's references; each must be inside what the stage copies.
    expect(runs.join(' ')).toMatch(/\btsc -b\b/);
    const copied = copies(build).flatMap((c) => c.sources.map((src) => path.posix.normalize(src).replace(/\/$/, '')));
    const refs = (
      JSON.parse(readFileSync(path.join(repoRoot, 'tsconfig.json'), 'utf8')) as { references: Array<{ path: string }> }
    ).references.map((r) => r.path);
    for (const ref of refs)
      expect(
        copied.some((c) => ref === c || ref.startsWith(`${c}/`)),
        `${ref} is built but not copied`,
      ).toBe(true);
  });
});

describe('the chart runs what the image contains', () => {
  const manifests: Manifest[] = renderChart([]);
  const containers = manifests.flatMap(
    (m) =>
      ((m.spec as { template?: { spec?: { containers?: unknown[] } } })?.template?.spec?.containers ?? []) as Array<{
        name: string;
        command?: string[];
        env?: Array<{ name: string; value?: string }>;
      }>,
  );

  it('names, for every container, a script under the image WORKDIR that the build produces', () => {
    expect(containers.length).toBeGreaterThanOrEqual(5);
    for (const c of containers) {
      const script = c.command?.[1] ?? '';
      expect(script.startsWith(`${runtime.workdir}/`), `${c.name}: ${script}`).toBe(true);
      const inRepo = repoPathOfRuntimeFile(script);
      expect(inRepo, `${c.name}: ${script} is in no directory the runtime stage copies`).toBeDefined();
      expect(existsSync(inRepo!), `${c.name}: ${rel(inRepo!)} (run npm run build)`).toBe(true);
    }
  });

  it('points WORKFLOW_BUNDLE_PATH at the file each worker prebundles into its copied dist/', () => {
    const bundles = containers.flatMap((c) => (c.env ?? []).filter((e) => e.name === 'WORKFLOW_BUNDLE_PATH').map((e) => e.value!));
    expect(bundles.sort()).toEqual([
      `${runtime.workdir}/services/batcher-worker/dist/workflow-bundle.js`,
      `${runtime.workdir}/services/main-worker/dist/workflow-bundle.js`,
    ]);
    for (const bundle of bundles) {
      const inRepo = repoPathOfRuntimeFile(bundle);
      expect(inRepo).toBeDefined();
      // bundle.js writes next to itself unless given a path; the Dockerfile gives none.
      const bundler = path.join(path.dirname(inRepo!), 'bundle.js');
      expect(existsSync(bundler), rel(bundler)).toBe(true);
      expect(readFileSync(bundler, 'utf8')).toContain(`'${path.basename(bundle)}'`);
    }
  });

  it('includes every entry point the services document', () => {
    for (const script of [
      'services/batcher-worker/dist/main.js',
      'services/batcher-worker/dist/migrate.js',
      'services/batcher-worker/dist/bundle.js',
      'services/main-worker/dist/main.js',
      'services/main-worker/dist/bundle.js',
      'services/starter/dist/main.js',
      'services/health-monitor/dist/main.js',
    ]) {
      expect(existsSync(path.join(repoRoot, script)), `${script} (run npm run build)`).toBe(true);
      expect(repoPathOfRuntimeFile(path.posix.join(runtime.workdir, script)), `${script} is not copied into the image`).toBe(
        path.join(repoRoot, script),
      );
    }
  });
});
