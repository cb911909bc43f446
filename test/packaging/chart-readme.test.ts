// The chart README's parameters table is generated from values.yaml (scripts/chart-parameters.mjs)
// and must match it.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
// @ts-expect-error: a plain ES module script without type declarations
import { parameters, parametersTable, readmeFile, updatedReadme, valuesFile } from '../../scripts/chart-parameters.mjs';

type Row = { key: string; description: string };
const valuesText = readFileSync(valuesFile, 'utf8');

/** Every leaf key of the values (maps descended, lists and scalars are leaves). */
function leaves(node: unknown, prefix = ''): string[] {
  if (node === null || typeof node !== 'object' || Array.isArray(node) || Object.keys(node).length === 0) return [prefix];
  return Object.entries(node).flatMap(([k, v]) => leaves(v, prefix ? `${prefix}.${k}` : k));
}

describe('charts/write-batcher/README.md parameters', () => {
  it('is the table generated from values.yaml (run `node scripts/chart-parameters.mjs` after changing values.yaml)', () => {
    const readme = readFileSync(readmeFile, 'utf8');
    expect(readme).toBe(updatedReadme(readme, valuesText));
    expect(readme).toContain(parametersTable(valuesText));
  });

  it('lists every value: each leaf is a row or inside a documented row', () => {
    const rows = parameters(valuesText) as Row[];
    const keys = rows.map((r) => r.key);
    for (const leaf of leaves(parse(valuesText)))
      expect(
        keys.some((k) => leaf === k || leaf.startsWith(`${k}.`)),
        leaf,
      ).toBe(true);
    expect(rows.find((r) => r.key === 'mysql.tls.mode')?.description).toMatch(/MYSQL_TLS_MODE/);
    expect(rows.find((r) => r.key === 'mainWorker.keda.enabled')?.description).toMatch(/KEDA/);
  });
});
