// The cluster suite (test/cluster/*.cluster.ts): a real one-node cluster, one file, in order.
// Not part of the main vitest run (its files are not *.test.ts); scripts/test.sh runs it with
// CLUSTER_SUITE=1 and adds its counts to the summary.
import path from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: path.resolve(__dirname, '../..'),
    include: ['test/cluster/**/*.cluster.ts'],
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 1_800_000,
    hookTimeout: 3_600_000,
    teardownTimeout: 300_000,
    // Each phase prints what it measured; keep it on the console even when it passes.
    silent: false,
  },
});
