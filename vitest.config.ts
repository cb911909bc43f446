// Test runner for the whole repository: real MariaDB and Temporal started once per run
// (test/global-setup.ts); tests import the built packages (`npm run build` first; scripts/test.sh does).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**', '.tools/**', '.run/**'],
    globalSetup: ['test/global-setup.ts'],
    // 2 cores, and the files share one MariaDB and one Temporal: one file at a time.
    fileParallelism: false,
    pool: 'forks',
    // Integration tests wait for 20 s flushes, and a Worker bundles workflow code at start.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
    // In-process workers log every task: print a test's console output only when it fails.
    silent: 'passed-only',
  },
});
