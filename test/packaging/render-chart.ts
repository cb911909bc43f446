// Renders charts/write-batcher with the pinned Helm from .tools (scripts/install-tools.sh) and
// returns its manifests, for the packaging tests. Hooks are included, as `helm template` does.
// Also where the packaging suites find their tools, and how they run them.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export const repoRoot = path.resolve(__dirname, '../..');
export const chartDir = path.join(repoRoot, 'charts/write-batcher');
export const helmBin = path.join(repoRoot, '.tools/bin/helm');
export const releaseName = 'write-batcher';
export const releaseNamespace = 'batcher';

/** The chart's kubeVersion floor and the newest minor the pinned kubernetes-validate bundles. */
export const KUBE_VERSIONS = ['1.29', '1.33'];

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
export const helmHomes = {
  HELM_CACHE_HOME: path.join(repoRoot, '.run/helm/cache'),
  HELM_CONFIG_HOME: path.join(repoRoot, '.run/helm/config'),
  HELM_DATA_HOME: path.join(repoRoot, '.run/helm/data'),
};

export function renderChart(valuesFiles: string[], kubeVersion = '1.33.0'): Manifest[] {
  if (!existsSync(helmBin)) throw new Error(`${helmBin} is missing: run bash scripts/install-tools.sh all`);
  const args = [
    'template',
    releaseName,
    chartDir,
    '--namespace',
    releaseNamespace,
    '--kube-version',
    kubeVersion,
    ...valuesFiles.flatMap((f) => ['-f', f]),
  ];
  const out = execFileSync(helmBin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...helmHomes } });
  return parseAllDocuments(out)
    .map((d) => d.toJS() as Manifest | null)
    .filter((d): d is Manifest => d != null);
}

/** The packaging tools scripts/install-tools.sh installs, by name. */
export const tools = {
  helm: helmBin,
  helmUnittest: path.join(repoRoot, '.tools/bin/helm-unittest'),
  hadolint: path.join(repoRoot, '.tools/venv/bin/hadolint'),
  kubernetesValidate: path.join(repoRoot, '.tools/venv/bin/kubernetes-validate'),
  python: path.join(repoRoot, '.tools/venv/bin/python'),
};

/**
 * Why a suite must be skipped: the tools it needs that are not installed (printed, so a skip is
 * never silent). Undefined when all are there.
 */
export function missingTools(suite: string, ...names: Array<keyof typeof tools>): string | undefined {
  const missing = names.filter((n) => !existsSync(tools[n]));
  if (!missing.length) return undefined;
  const why = `${missing.map((n) => path.relative(repoRoot, tools[n])).join(', ')} not installed (run bash scripts/install-tools.sh all)`;
  console.warn(`[${suite}] skipped: ${why}`);
  return why;
}

export interface ToolRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr, for assertion messages. */
  output: string;
}

/** Runs a tool to completion within a time limit; never throws on a non-zero exit. */
export function runTool(
  command: string,
  args: readonly string[],
  { timeoutMs = 120_000, env = {} }: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): ToolRun {
  const r = spawnSync(command, [...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, ...helmHomes, ...env },
  });
  if (r.error) throw new Error(`${command} ${args.join(' ')}: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, output: `${r.stdout}${r.stderr}` };
}
