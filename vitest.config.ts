// Test runner for the whole repository, in three projects (the doors of CONTRIBUTING.md); tests
// import the built packages (`npm run build` first; scripts/test.sh does).
//   unit         no server and no tool from .tools/: node_modules and the build only; seconds.
//   integration  the run's MariaDB and Temporal dev server (test/global-setup.ts), the
//                time-skipping test server and Chromium; also servers a test starts for itself.
//   e2e          whole-system and packaging suites: the chart with the .tools/ packaging tools
//                and a live API server, Jaeger, chaos, the scratch app, Node LTS, whole-repo lint.
// The rule: a file is unit only when it is listed in UNIT below, e2e only when it is matched by E2E;
// every other test/**/*.test.ts is integration, so a new file gets the servers until someone has
// read it and listed it elsewhere. A unit file must pass with .tools/ absent and no server running
// (inject('mysql') is undefined there). The real-pod cluster suite keeps its own config:
// test/cluster/vitest.config.ts.
import { defineConfig } from 'vitest/config';

/** Pure logic, the config loader, READMEs checked against the code, workflow replay from fixtures. */
const UNIT = [
  'test/batcher/inbound-guard.test.ts',
  'test/batcher/replay.test.ts',
  'test/batcher/row-values.test.ts',
  'test/batcher/settings-announce.test.ts',
  'test/batcher/shard-book.test.ts',
  'test/batcher/shard-loop.test.ts',
  'test/batcher/submit-grouping.test.ts',
  'test/batcher/thin-traffic.test.ts',
  'test/batcher/units-shard.test.ts',
  'test/batcher/write-order.test.ts',
  'test/chaos/attribution.test.ts',
  'test/chaos/audit.test.ts',
  'test/chaos/flush-gaps.test.ts',
  'test/chaos/team-audit.test.ts',
  'test/chaos/typed-audit.test.ts',
  'test/fuzz/check.test.ts',
  'test/health-monitor/restart-policy.test.ts',
  'test/health-monitor/shard-state.test.ts',
  'test/lint/format.test.ts',
  'test/observability/telemetry.test.ts',
  'test/package/readme.test.ts',
  'test/packaging/chart-readme.test.ts',
  'test/pipeline/config.test.ts',
  'test/pipeline/submit-refusals.test.ts',
  'test/support/latency-proxy.test.ts',
];

/** Suites that need more than the run's two servers: .tools/ packaging tools, Jaeger, a kube API server, their own stacks. */
const E2E = [
  'test/chaos/chaos.test.ts',
  'test/fuzz/**/*.test.ts',
  'test/lint/**/*.test.ts',
  'test/node-lts/**/*.test.ts',
  'test/observability/jaeger.test.ts',
  'test/package/scratch-app.test.ts',
  'test/packaging/**/*.test.ts',
  'test/support/smoke.test.ts',
];

const EXCLUDE = ['**/node_modules/**', '**/dist/**', '.tools/**', '.run/**'];

export default defineConfig({
  test: {
    exclude: EXCLUDE,
    // 2 cores, and the files share one MariaDB and one Temporal: one file at a time.
    fileParallelism: false,
    pool: 'forks',
    // A safety net only: tests bound their work by counts. Integration tests wait for 20 s flushes,
    // and a Worker bundles workflow code at start.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
    // In-process workers log every task: print a test's console output only when it fails.
    silent: 'passed-only',
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: UNIT },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...EXCLUDE, ...UNIT, ...E2E],
          globalSetup: ['test/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: E2E,
          exclude: [...EXCLUDE, ...UNIT],
          // Jaeger, the scratch app, Node LTS and the harness smoke test use the run's servers too.
          globalSetup: ['test/global-setup.ts'],
        },
      },
    ],
  },
});
