// Renders charts/write-batcher with the pinned Helm from .tools (scripts/install-tools.sh) and
// returns its manifests, for the packaging tests. Hooks are included, as `helm template` does.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export const repoRoot = path.resolve(__dirname, '../..');
export const chartDir = path.join(repoRoot, 'charts/write-batcher');
export const helmBin = path.join(repoRoot, '.tools/bin/helm');
export const releaseName = 'write-batcher';
export const releaseNamespace = 'batcher';

/** The values sets the chart ships, and one that turns every optional switch on. */
export const valuesSets: Record<string, string[]> = {
  default: [],
  dev: [path.join(chartDir, 'values-dev.yaml')],
  staging: [path.join(chartDir, 'values-staging.yaml')],
  everything: [path.join(repoRoot, 'test/packaging/values-everything.yaml')],
};

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

// Helm keeps caches and settings under $HOME by default; keep test runs out of it.
const helmHomes = {
  HELM_CACHE_HOME: path.join(repoRoot, '.run/helm/cache'),
  HELM_CONFIG_HOME: path.join(repoRoot, '.run/helm/config'),
  HELM_DATA_HOME: path.join(repoRoot, '.run/helm/data'),
};

export function renderChart(valuesFiles: string[], kubeVersion = '1.33.0'): Manifest[] {
  if (!existsSync(helmBin)) throw new Error(`${helmBin} is missing: run bash scripts/install-tools.sh all`);
  const args = ['template', releaseName, chartDir, '--namespace', releaseNamespace, '--kube-version', kubeVersion, ...valuesFiles.flatMap((f) => ['-f', f])];
  const out = execFileSync(helmBin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...helmHomes } });
  return parseAllDocuments(out)
    .map((d) => d.toJS() as Manifest | null)
    .filter((d): d is Manifest => d != null);
}
