// ESLint as a suite of `npm test` (eslint.config.mjs holds the rules): the whole repository lints
// clean, and the guard rail that keeps Node-only modules out of workflow bundles really fires.
import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/processes';

/** One line per problem, `file:line:col rule message`, so a failure says what to fix. */
function problems(results: ESLint.LintResult[]): string[] {
  return results.flatMap((r) =>
    r.messages.map((m) => `${path.relative(repoRoot, r.filePath)}:${m.line}:${m.column} ${m.ruleId ?? '(parse)'} ${m.message}`),
  );
}

describe('eslint', () => {
  const eslint = new ESLint({ cwd: repoRoot });

  // Type-aware linting of every TypeScript source takes about 40 s on 2 cores.
  it('when the repository is linted, then there are no errors or warnings', { timeout: 240_000 }, async () => {
    const results = await eslint.lintFiles(['.']);
    const found = problems(results);
    if (found.length > 0) console.log(`eslint:\n${found.join('\n')}`);
    expect(found).toEqual([]);
    // The globs did reach every workspace (a typo in one would lint nothing there, silently).
    const linted = results.map((r) => path.relative(repoRoot, r.filePath));
    for (const dir of [
      'packages/service-kit/src/',
      'packages/protocol/src/',
      'packages/requester/src/',
      'packages/batcher/src/workflows/',
      'services/batcher-worker/src/',
      'services/main-worker/src/',
      'services/health-monitor/src/',
      'services/starter/src/',
      'services/demo/src/',
      'harness/src/',
      'bench/src/',
      'test/',
    ]) {
      expect(
        linted.some((f) => f.startsWith(dir)),
        dir,
      ).toBe(true);
    }
  });

  it('when a workflow file imports Node-only code, then lint fails; a type-only import passes', { timeout: 120_000 }, async () => {
    // Linted as the text of an existing workflow file, so the workflow-file rules and its project apply.
    const filePath = path.join(repoRoot, 'packages/batcher/src/workflows/index.ts');
    const code = [
      "import fs from 'node:fs';",
      "import { Client } from '@temporalio/client';",
      "import { loadConfig } from '@batcher/service-kit';",
      "import { createActivities } from '../activities';",
      "import type { Pool } from 'mysql2/promise';",
      'export const bad = [fs, Client, loadConfig, createActivities, process.env.X];',
      'export type Fine = Pool;',
      '',
    ].join('\n');
    const [result] = await eslint.lintText(code, { filePath });
    const rules = (result?.messages ?? []).map((m) => `${m.line} ${m.ruleId}`);
    expect(rules).toEqual([
      '1 @typescript-eslint/no-restricted-imports',
      '2 @typescript-eslint/no-restricted-imports',
      // The service kit is Node-only, and outside the product's border: both fences name it.
      '3 @typescript-eslint/no-restricted-imports',
      '3 @typescript-eslint/no-restricted-imports',
      '4 @typescript-eslint/no-restricted-imports',
      '6 no-restricted-globals',
    ]);
  });
});
