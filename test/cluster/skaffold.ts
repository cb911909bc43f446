// The Skaffold phases of the cluster suite, Skaffold v2.16.1 against the one-node cluster:
// `skaffold dev` of the repository's skaffold.yaml (both modules: the local stack from k8s/, then
// the image and the chart with values-dev.yaml) from a copy of the repository, with the Docker
// builder on a Docker daemon of the suite's own and a local registry the node pulls from; then
// `skaffold run -p staging` pushing to a registry that needs credentials and deploying by digest.
// Skaffold v2.16.1 is the newest release the Go module proxy serves here, and it reads schemas up
// to skaffold/v4beta13; v4beta14 adds only `BuildpackArtifact.buildArgs`, which this skaffold.yaml
// does not use, so the suite hands it the same file with its apiVersion lines saying v4beta13 (and
// refuses to if a `buildpacks:` artifact ever appears).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  baseImage,
  dockerfileFrontendImage,
  filterContext,
  nodeImage,
  run,
  startDockerDaemon,
  startRegistry,
  type Cluster,
  type DockerDaemon,
  type Registry,
} from '../../harness/src/cluster';
import { repoRoot, resolveTool, spawnLogged, type ManagedProcess } from '../support/processes';
import { stagingOverrides } from './staging';
import { source } from './support';

export const SKAFFOLD_NAMESPACE = 'sk';
/** The staging profile's release namespace (skaffold.yaml). */
export const SKAFFOLD_STAGING_NAMESPACE = 'write-batcher';

/** skaffold.yaml of `source` (the working tree, or a revision), as the text Skaffold v2.16.1 reads. */
export function skaffoldConfigFor(skaffoldVersionReads = 'skaffold/v4beta13'): string {
  const text =
    source === 'worktree'
      ? fs.readFileSync(path.join(repoRoot, 'skaffold.yaml'), 'utf8')
      : execFileSync('git', ['show', `${source}:skaffold.yaml`], { cwd: repoRoot, encoding: 'utf8' });
  if (/^\s*buildpacks:/m.test(text))
    throw new Error('skaffold.yaml has a buildpacks artifact: v4beta14 fields may be in use, it cannot be read as v4beta13');
  const apiVersions = [...text.matchAll(/^apiVersion: (skaffold\/\S+)$/gm)].map((m) => m[1]);
  if (apiVersions.length === 0 || apiVersions.some((v) => v !== 'skaffold/v4beta14'))
    throw new Error(`skaffold.yaml apiVersions ${apiVersions.join(', ')}: expected skaffold/v4beta14 throughout`);
  return text.replaceAll('apiVersion: skaffold/v4beta14', `apiVersion: ${skaffoldVersionReads}`);
}

/** Skaffold's global config (~/.skaffold/config) in a home of its own: no prompts, no update check or metrics. */
function skaffoldHome(dir: string): string {
  fs.mkdirSync(path.join(dir, '.skaffold'), { recursive: true });
  fs.writeFileSync(
    path.join(dir, '.skaffold', 'config'),
    'global:\n  collect-metrics: false\n  update:\n    check-for-updates: false\n  survey:\n    disable-prompt: true\n',
  );
  return dir;
}

/** A file of `source` (the working tree, or a revision). */
function sourceFile(file: string): Buffer {
  return source === 'worktree'
    ? fs.readFileSync(path.join(repoRoot, file))
    : execFileSync('git', ['show', `${source}:${file}`], { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 });
}

/**
 * A copy of the repository for Skaffold to build, watch and deploy: what the image build reads
 * (.dockerignore's allow-list, and the Dockerfile), skaffold.yaml as Skaffold reads
 * it, the chart and k8s/; a git repository with one commit, for skaffold.yaml's gitCommit tagger.
 * The test changes files here, never in the real tree.
 */
export async function skaffoldRepoCopy(cluster: Cluster, chartDir: string, k8sDir: string): Promise<string> {
  const dir = path.join(cluster.dir, 'skaffold-repo');
  await filterContext(repoRoot, dir, source);
  fs.writeFileSync(path.join(dir, 'Dockerfile'), sourceFile('Dockerfile'));
  // The copy holds only what .dockerignore lets through, already filtered: Docker 20.10's BuildKit
  // (0.8) mishandles its allow-list (`*` then `!services/*/package.json`: "not found"), as
  // buildah 1.28 does. Its own .dockerignore keeps out only what the suite added.
  fs.writeFileSync(path.join(dir, '.dockerignore'), '.git\ncharts\nk8s\nskaffold.yaml\n.dockerignore\nDockerfile\n');
  fs.mkdirSync(path.join(dir, 'charts'), { recursive: true });
  fs.cpSync(chartDir, path.join(dir, 'charts', 'write-batcher'), { recursive: true });
  fs.cpSync(k8sDir, path.join(dir, 'k8s'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'skaffold.yaml'), skaffoldConfigFor());
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=cluster suite', '-c', 'user.email=cluster@localhost', '-c', 'commit.gpgsign=false', ...args], {
      cwd: dir,
      stdio: 'pipe',
    });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'the tree the cluster suite hands Skaffold');
  return dir;
}

/** A working directory Skaffold runs in: skaffold.yaml (as it reads it), the chart and k8s/. */
export function skaffoldWorkdir(cluster: Cluster, chartDir: string, k8sDir: string): string {
  const dir = path.join(cluster.dir, 'skaffold');
  fs.mkdirSync(path.join(dir, 'charts'), { recursive: true });
  fs.cpSync(chartDir, path.join(dir, 'charts', 'write-batcher'), { recursive: true });
  fs.cpSync(k8sDir, path.join(dir, 'k8s'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'skaffold.yaml'), skaffoldConfigFor());
  return dir;
}

/** Skaffold's environment: the cluster's kubeconfig, kubectl and helm from .tools/bin, and the suite's Docker daemon (its CLI first on PATH). */
function skaffoldEnv(cluster: Cluster, home: string, docker?: DockerDaemon): NodeJS.ProcessEnv {
  const toolDirs = [
    ...(docker ? [docker.binDir] : []),
    ...new Set([path.dirname(resolveTool('kubectl')), path.dirname(resolveTool('helm'))]),
  ];
  return { ...cluster.env, ...docker?.env, HOME: home, PATH: `${toolDirs.join(':')}:${process.env.PATH ?? ''}` };
}

/** Runs skaffold in `dir` against the cluster (its kubeconfig; kubectl and helm from .tools/bin; the suite's Docker daemon if given). */
export async function skaffold(
  cluster: Cluster,
  dir: string,
  args: readonly string[],
  timeoutMs = 900_000,
  docker?: DockerDaemon,
): Promise<string> {
  const home = skaffoldHome(path.join(cluster.dir, 'skaffold-home'));
  const result = await run(resolveTool('skaffold'), [...args, '--update-check=false', '--interactive=false'], {
    cwd: dir,
    timeoutMs,
    logFile: path.join(cluster.dir, 'logs', 'skaffold.log'),
    env: skaffoldEnv(cluster, home, docker),
  });
  return `${result.stdout}${result.stderr}`;
}

export interface SkaffoldDev {
  readonly process: ManagedProcess;
  /** Everything it printed so far. */
  output(): string;
  /**
   * Polls `check` until it gives a value (errors count as "not yet"), like waitUntil, but fails at
   * once, with the end of Skaffold's output, if Skaffold exits meanwhile.
   */
  until<T>(what: string, check: () => Promise<T>, timeoutMs: number): Promise<NonNullable<T>>;
  /** SIGINT, as Ctrl-C in a terminal: Skaffold cleans up (deletes what it deployed), then exits. Resolves with its exit code. */
  interrupt(timeoutMs?: number): Promise<number | null>;
}

/** Starts `skaffold dev` in `dir` (a long-running process, by PID; its output in logs/skaffold-dev.log). */
export function startSkaffoldDev(cluster: Cluster, dir: string, args: readonly string[], docker: DockerDaemon): SkaffoldDev {
  const logFile = path.join(cluster.dir, 'logs', 'skaffold-dev.log');
  const proc = spawnLogged({
    name: 'skaffold-dev',
    command: resolveTool('skaffold'),
    args: ['dev', ...args, '--update-check=false', '--interactive=false'],
    cwd: dir,
    env: skaffoldEnv(cluster, skaffoldHome(path.join(cluster.dir, 'skaffold-home')), docker),
    logFile,
  });
  return {
    process: proc,
    output: () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : ''),
    until: async (what, check, timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (proc.hasExited()) throw new Error(`skaffold dev exited while waiting for ${what}:\n${proc.logTail(40)}`);
        const value = await check().catch(() => undefined);
        if (value) return value;
        if (Date.now() >= deadline) throw new Error(`${what}: not within ${timeoutMs} ms (log ${logFile})`);
        await new Promise((r) => setTimeout(r, 2000));
      }
    },
    interrupt: async (timeoutMs = 300_000) => {
      if (proc.hasExited()) return (await proc.exited).code;
      process.kill(proc.pid, 'SIGINT');
      let timer: NodeJS.Timeout | undefined;
      const exit = await Promise.race([proc.exited, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), timeoutMs)))]);
      clearTimeout(timer);
      if (!exit) {
        await proc.stop({ graceMs: 5000 });
        throw new Error(`skaffold dev did not exit within ${timeoutMs} ms of SIGINT (log ${logFile})`);
      }
      return exit.code;
    },
  };
}

export interface BuildEnvironment {
  /** The open registry: docker.io's mirror for the Docker daemon, and `--default-repo` of skaffold dev. */
  registry: Registry;
  docker: DockerDaemon;
  stop(): Promise<void>;
}

/**
 * What Skaffold's Docker builder needs here: a local registry the node's containerd pulls from,
 * seeded with the Dockerfile's base image (node:24-bookworm-slim, made by the suite) and
 * docker/dockerfile:1 (its `# syntax=` line), and a Docker daemon that pulls docker.io through it.
 * Docker 20.10's BuildKit resolves FROM and the syntax image through the mirror; a `docker load`ed
 * base alone would not do, since the frontend image is resolved from a registry all the same. The
 * base is also pulled into the daemon: Skaffold inspects it there (or else on Docker Hub).
 */
export async function startBuildEnvironment(cluster: Cluster, progress: (line: string) => void): Promise<BuildEnvironment> {
  const dir = path.join(cluster.dir, 'build');
  const logFile = path.join(cluster.dir, 'logs', 'build-images.log');
  const registry = await startRegistry({ dir: path.join(dir, 'registry') });
  try {
    cluster.trustRegistry(registry.address);
    const o = { logFile, progress };
    const node = await nodeImage(await baseImage(o), o);
    await registry.push(node.archive, 'library/node:24-bookworm-slim', logFile);
    const frontend = await dockerfileFrontendImage(o);
    await registry.push(frontend.archive, 'docker/dockerfile:1', logFile);
    const docker = await startDockerDaemon({ dir: path.join(dir, 'docker'), mirror: registry.address });
    // Skaffold reads the base image's config itself (ONBUILD instructions) from the daemon, or
    // else from Docker Hub: pulled once through the mirror, as a developer's Docker has it.
    await docker.docker(['pull', '--quiet', 'node:24-bookworm-slim'], { timeoutMs: 300_000 }).catch(async (err: Error) => {
      await docker.stop();
      throw err;
    });
    return {
      registry,
      docker,
      stop: async () => {
        await docker.stop();
        await registry.stop();
      },
    };
  } catch (err) {
    await registry.stop();
    throw err;
  }
}

/**
 * For `skaffold run -p staging` here: a values file beside values-staging.yaml in the copy's
 * skaffold.yaml, with what points at a real staging environment (stagingOverrides, image aside:
 * Skaffold sets it) and the registry's pull Secret. Returns the values file.
 */
export function skaffoldStagingValues(cluster: Cluster, repo: string, pullSecret: string): string {
  const values: Record<string, unknown> = { imagePullSecrets: [{ name: pullSecret }] };
  const flags = stagingOverrides('unused');
  for (let i = 1; i < flags.length; i += 2) {
    const [key, value] = flags[i]!.split(/=(.*)/s) as [string, string];
    if (key.startsWith('image.')) continue;
    const parts = key.split('.');
    let node = values;
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Record<string, unknown>;
    node[parts.at(-1)!] = value === 'false' ? false : value === 'true' ? true : value;
  }
  const file = path.join(cluster.dir, 'skaffold-staging-values.yaml');
  // JSON is YAML.
  fs.writeFileSync(file, JSON.stringify(values, null, 2));
  const config = path.join(repo, 'skaffold.yaml');
  const text = fs.readFileSync(config, 'utf8');
  const line = '              - charts/write-batcher/values-staging.yaml\n';
  if (text.split(line).length !== 2) throw new Error("skaffold.yaml: the staging profile's valuesFiles line was not found");
  fs.writeFileSync(config, text.replace(line, `${line}              - ${file}\n`));
  return file;
}
