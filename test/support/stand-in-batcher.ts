// Batcher workers in processes of their own, with stand-in activities (stand-in-batcher-worker.cjs),
// for tests that kill or replace a shard's worker: a worker in the test's own process could not
// overlap another on the same task queue, nor die like a process.
import path from 'node:path';
import type { BatcherSettings } from '@write-batcher/batcher';
import { globalTemporal } from './global-servers';
import { repoRoot, spawnLogged, waitUntil, type ManagedProcess } from './processes';

/** Starts a stand-in batcher worker on `taskQueue` of the run's dev server; resolves once it polls. */
export async function startStandInBatcher(
  taskQueue: string,
  identity: string,
  settings: Partial<BatcherSettings> = {},
): Promise<ManagedProcess> {
  const { address, namespace } = globalTemporal();
  const proc = spawnLogged({
    name: `stand-in-batcher-${identity}`,
    command: process.execPath,
    args: [
      path.join(repoRoot, 'test/support/stand-in-batcher-worker.cjs'),
      address,
      namespace,
      taskQueue,
      identity,
      JSON.stringify(settings),
    ],
  });
  await waitUntil(
    `stand-in batcher worker ${identity} polling`,
    async () => {
      if (proc.hasExited()) throw new Error(`stand-in batcher worker ${identity} exited:\n${proc.logTail()}`);
      return proc.logTail(200).includes('READY');
    },
    { timeoutMs: 60_000 },
  );
  return proc;
}
