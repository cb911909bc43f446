// The product's border as the tools keep it (STYLE.md habit 16): the published packages
// (@write-batcher/*) never import the service kit, the demo or the services (@batcher/*), and the
// service kit imports nothing above it. ESLint's fence must really fire, and the manifests must
// agree with it.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/processes';

const PRODUCT_PACKAGES = ['protocol', 'requester', 'batcher'];

interface Manifest {
  name: string;
  private?: boolean;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

function manifest(dir: string): Manifest {
  return JSON.parse(readFileSync(path.join(repoRoot, dir, 'package.json'), 'utf8')) as Manifest;
}

/** Every package a manifest names, in any of its dependency lists. */
function dependencyNames(m: Manifest): string[] {
  return [m.dependencies, m.devDependencies, m.peerDependencies, m.optionalDependencies].flatMap((deps) => Object.keys(deps ?? {}));
}

/** `line rule` of each problem ESLint finds in `code`, linted as if it were the file at `file`. */
async function lintAs(eslint: ESLint, file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(repoRoot, file) });
  return (result?.messages ?? []).map((m) => `${m.line} ${m.ruleId ?? '(parse)'}`);
}

describe('the product border', () => {
  const eslint = new ESLint({ cwd: repoRoot });

  it(
    'when a product package imports the service kit, the demo or a service, even as a type, then lint fails',
    { timeout: 120_000 },
    async () => {
      const code = [
        "import { loadConfig } from '@batcher/service-kit';",
        "import type { TransactionInput } from '@batcher/demo';",
        "import { DEMO_TARGET } from '@batcher/demo/tables';",
        "import type { HealthMonitorOptions } from '@batcher/health-monitor';",
        "import { LEDGER_TABLE } from './db/ledger';",
        'export const bad = [loadConfig, DEMO_TARGET, LEDGER_TABLE];',
        'export type Bad = TransactionInput | HealthMonitorOptions;',
        '',
      ].join('\n');
      const rule = '@typescript-eslint/no-restricted-imports';
      // Linted as the text of existing files, so each package's rules and project apply; line 5 is the
      // control: an import inside the product passes.
      expect(await lintAs(eslint, 'packages/batcher/src/index.ts', code)).toEqual([`1 ${rule}`, `2 ${rule}`, `3 ${rule}`, `4 ${rule}`]);
      // Workflow-safe packages: the sandbox fence may name lines 1 and 3 as well (Node-only modules).
      for (const file of ['packages/requester/src/index.ts', 'packages/protocol/src/index.ts']) {
        const lines = new Set((await lintAs(eslint, file, code)).filter((p) => p.endsWith(rule)).map((p) => p.split(' ')[0]));
        expect([...lines], file).toEqual(['1', '2', '3', '4']);
      }
    },
  );

  it('when the service kit imports a product package or the demo, even as a type, then lint fails', { timeout: 120_000 }, async () => {
    const code = [
      "import type { TargetTable } from '@write-batcher/batcher';",
      "import { DEFAULT_BATCHER_TASK_QUEUE } from '@write-batcher/protocol';",
      "import { DEFAULT_MAIN_TASK_QUEUE } from '@batcher/demo';",
      "import { ConfigError } from './config';",
      'export const bad = [DEFAULT_BATCHER_TASK_QUEUE, DEFAULT_MAIN_TASK_QUEUE, ConfigError];',
      'export type Bad = TargetTable;',
      '',
    ].join('\n');
    const rule = '@typescript-eslint/no-restricted-imports';
    expect(await lintAs(eslint, 'packages/service-kit/src/node/index.ts', code)).toEqual([`1 ${rule}`, `2 ${rule}`, `3 ${rule}`]);
  });

  it('when the manifests are read, then no product package lists a @batcher/* package and the service kit lists nothing above it', () => {
    for (const name of PRODUCT_PACKAGES) {
      const m = manifest(`packages/${name}`);
      expect(m.name).toBe(`@write-batcher/${name}`);
      expect(
        dependencyNames(m).filter((d) => d.startsWith('@batcher/')),
        m.name,
      ).toEqual([]);
    }
    // The protocol is the bottom of the product: it depends on neither side.
    expect(dependencyNames(manifest('packages/protocol')).filter((d) => d.startsWith('@write-batcher/'))).toEqual([]);
    // A team running only batcher workers installs the batcher without the requester.
    expect(dependencyNames(manifest('packages/batcher'))).not.toContain('@write-batcher/requester');
    const kit = manifest('packages/service-kit');
    expect(kit).toMatchObject({ name: '@batcher/service-kit', private: true });
    expect(dependencyNames(kit).filter((d) => d.startsWith('@write-batcher/') || d.startsWith('@batcher/'))).toEqual([]);
    // Every workspace under packages/ is either the product or the kit: nothing else can slip in there.
    expect(readdirSync(path.join(repoRoot, 'packages')).sort()).toEqual([...PRODUCT_PACKAGES, 'service-kit'].sort());
  });

  it('when the main worker manifest is read, then it runs workflows with the requester, the kit and the demo only: no batcher package, no MySQL driver', () => {
    const deps = dependencyNames(manifest('services/main-worker'));
    expect(deps.filter((d) => d.startsWith('@write-batcher/') || d.startsWith('@batcher/')).sort()).toEqual([
      '@batcher/demo',
      '@batcher/service-kit',
      '@write-batcher/requester',
    ]);
    expect(deps).not.toContain('mysql2');
    // The demo's shared definitions reach the batcher only as an optional peer (types of ./tables).
    const demo = manifest('services/demo') as Manifest & { peerDependenciesMeta?: Record<string, { optional?: boolean }> };
    expect(Object.keys(demo.dependencies ?? {}).filter((d) => d.startsWith('@write-batcher/') || d.startsWith('@batcher/'))).toEqual([]);
    expect(demo.peerDependenciesMeta?.['@write-batcher/batcher']?.optional).toBe(true);
  });
});
