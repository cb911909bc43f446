// The Skaffold phase of the cluster suite: `skaffold deploy` of the repository's skaffold.yaml (both
// modules: the local stack from k8s/, then the chart with values-dev.yaml) onto the one-node
// cluster, with the image the suite built. Skaffold v2.16.1 is the newest release the Go module
// proxy serves here, and it reads schemas up to skaffold/v4beta13; v4beta14 adds only
// `BuildpackArtifact.buildArgs`, which this skaffold.yaml does not use, so the suite hands it the
// same file with its apiVersion lines saying v4beta13 (and refuses to if a `buildpacks:` artifact
// ever appears).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { run, type Cluster } from '../../harness/src/cluster';
import { repoRoot, resolveTool } from '../support/processes';
import { source } from './support';

export const SKAFFOLD_NAMESPACE = 'sk';

/** skaffold.yaml of `source` (the working tree, or a revision), as the text Skaffold v2.16.1 reads. */
export function skaffoldConfigFor(skaffoldVersionReads = 'skaffold/v4beta13'): string {
  const text = source === 'worktree' ? fs.readFileSync(path.join(repoRoot, 'skaffold.yaml'), 'utf8') : execFileSync('git', ['show', `${source}:skaffold.yaml`], { cwd: repoRoot, encoding: 'utf8' });
  if (/^\s*buildpacks:/m.test(text)) throw new Error('skaffold.yaml has a buildpacks artifact: v4beta14 fields may be in use, it cannot be read as v4beta13');
  const apiVersions = [...text.matchAll(/^apiVersion: (skaffold\/\S+)$/gm)].map((m) => m[1]);
  if (apiVersions.length === 0 || apiVersions.some((v) => v !== 'skaffold/v4beta14')) throw new Error(`skaffold.yaml apiVersions ${apiVersions.join(', ')}: expected skaffold/v4beta14 throughout`);
  return text.replaceAll('apiVersion: skaffold/v4beta14', `apiVersion: ${skaffoldVersionReads}`);
}

/** A working directory Skaffold runs in: skaffold.yaml (as it reads it), the chart and k8s/. */
export function skaffoldWorkdir(cluster: Cluster, chartDir: string, k8sDir: string): string {
  const dir = path.join(cluster.dir, 'skaffold');
  fs.mkdirSync(path.join(dir, 'charts'), { recursive: true });
  fs.cpSync(chartDir, path.join(dir, 'charts', 'write-batcher'), { recursive: true });
  fs.cpSync(k8sDir, path.join(dir, 'k8s'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'skaffold.yaml'), skaffoldConfigFor());
  // Skaffold's global config (~/.skaffold/config) in a home of its own: no prompts, no update
  // check or metrics (nothing leaves this machine anyway).
  fs.mkdirSync(path.join(dir, 'home', '.skaffold'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'home', '.skaffold', 'config'), 'global:\n  collect-metrics: false\n  update:\n    check-for-updates: false\n  survey:\n    disable-prompt: true\n');
  return dir;
}

/** Runs skaffold in `dir` against the cluster (its kubeconfig; kubectl and helm from .tools/bin). */
export async function skaffold(cluster: Cluster, dir: string, args: readonly string[], timeoutMs = 900_000): Promise<string> {
  const bin = resolveTool('skaffold');
  const toolDirs = [...new Set([path.dirname(resolveTool('kubectl')), path.dirname(resolveTool('helm'))])];
  const result = await run(bin, [...args, '--update-check=false', '--interactive=false'], {
    cwd: dir,
    timeoutMs,
    logFile: path.join(cluster.dir, 'logs', 'skaffold.log'),
    env: { ...cluster.env, HOME: path.join(dir, 'home'), PATH: `${toolDirs.join(':')}:${process.env.PATH ?? ''}` },
  });
  return `${result.stdout}${result.stderr}`;
}
