// Linters of the packaging: hadolint on the Dockerfile, `helm lint --strict` with every values
// set for the oldest and newest Kubernetes minor the chart supports.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chartDir, KUBE_VERSIONS, missingTools, repoRoot, runTool, tools, valuesSets } from './render-chart';

describe.skipIf(missingTools('hadolint', 'hadolint'))('the Dockerfile', () => {
  it('passes hadolint', () => {
    const r = runTool(tools.hadolint, [path.join(repoRoot, 'Dockerfile')]);
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });
});

describe.skipIf(missingTools('helm lint', 'helm'))('helm lint --strict', () => {
  const cases = Object.keys(valuesSets).flatMap((set) => KUBE_VERSIONS.map((version) => [set, version] as const));
  it.each(cases)('passes with the %s values for Kubernetes %s', (set, version) => {
    const r = runTool(tools.helm, [
      'lint',
      chartDir,
      '--strict',
      '--kube-version',
      `${version}.0`,
      ...valuesSets[set]!.flatMap((f) => ['-f', f]),
    ]);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });
});
