// Every manifest the chart renders (with each values set) and every Kubernetes object in k8s/,
// validated with kubernetes-validate --strict against the schemas of the oldest and newest
// Kubernetes minor the chart supports. A kind without a schema fails: everything must be checked.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chartDir, KUBE_VERSIONS, missingTools, releaseNamespace, repoRoot, runTool, tools, valuesSets } from './render-chart';

const work = mkdtempSync(path.join(os.tmpdir(), 'manifests-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function validate(version: string, file: string): void {
  const r = runTool(tools.kubernetesValidate, ['--strict', '--quiet', '-k', version, file]);
  expect(r.output, file).not.toMatch(/Couldn't find schema/);
  expect(r.status, r.output).toBe(0);
}

describe.skipIf(missingTools('kubernetes-validate', 'kubernetesValidate', 'python', 'helm'))('kubernetes-validate --strict', () => {
  it.each(KUBE_VERSIONS)('bundles the Kubernetes %s schemas (it would silently fall back to an older one)', (version) => {
    const r = runTool(tools.python, ['-c', 'from kubernetes_validate.utils import all_versions; print(" ".join(all_versions()))']);
    expect(r.stdout.split(/\s+/)).toContain(`${version}.0`);
  });

  const cases = Object.keys(valuesSets).flatMap((set) => KUBE_VERSIONS.map((version) => [set, version] as const));
  it.each(cases)('accepts every manifest rendered with the %s values for Kubernetes %s', (set, version) => {
    const r = runTool(tools.helm, [
      'template',
      'write-batcher',
      chartDir,
      '--namespace',
      releaseNamespace,
      '--kube-version',
      `${version}.0`,
      ...valuesSets[set]!.flatMap((f) => ['-f', f]),
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.match(/^kind:/gm)?.length ?? 0).toBeGreaterThanOrEqual(10);
    const file = path.join(work, `${set}-${version}.yaml`);
    writeFileSync(file, r.stdout);
    validate(version, file);
  });

  // kind's own config is no Kubernetes object; skaffold.test.ts checks it against kind's types.
  const k8sFiles = readdirSync(path.join(repoRoot, 'k8s'))
    .filter((f) => f.endsWith('.yaml'))
    .filter((f) => !/^apiVersion: kind\.x-k8s\.io\//m.test(readFileSync(path.join(repoRoot, 'k8s', f), 'utf8')));
  it.each(k8sFiles.flatMap((f) => KUBE_VERSIONS.map((v) => [f, v] as const)))('accepts k8s/%s for Kubernetes %s', (file, version) => {
    validate(version, path.join(repoRoot, 'k8s', file));
  });
});
