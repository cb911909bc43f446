// Builds the batcher worker: batcher workflows plus the bulk-write activity on one task queue.
import { Client } from '@temporalio/client';
import { Worker, type NativeConnection, type WorkerPlugin } from '@temporalio/worker';
import type { BatcherSettings } from '@batcher/shared/workflow';
import { loadConfig, type Pool } from '@batcher/shared/node';
import { workflowSource } from '@batcher/shared/worker';
import { createActivities } from './activities';

export const workflowsPath = require.resolve('./workflows');

/**
 * A V8 context per workflow run (a shard makes a few runs an hour): lets the batcher keep plain
 * stack traces instead of the SDK's per-promise ones (workflows/plain-stacks.ts). Any worker that
 * runs the batcher workflow (tests too) uses these.
 */
export const BATCHER_SANDBOX_OPTIONS = { reuseV8Context: false } as const;

/** Every default is declared once, in the config loader. */
const defaults = loadConfig(['worker'], {});

export interface BatcherWorkerDeps {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  pool: Pool;
  /** This worker's batching settings; every batcher run it serves reads them at its start. */
  settings: BatcherSettings;
  /** Client the bulk-write activity completes requesters' activities with; defaults to one on the worker's connection. */
  client?: Client;
  /** Prebundled workflow code; unset: bundle from source at start-up. */
  workflowBundlePath?: string;
  /** @default WORKER_SHUTDOWN_GRACE_MS's default (the config loader) */
  shutdownGraceMs?: number;
  /** @default WORKER_MAX_CONCURRENT_ACTIVITIES's default (the config loader) */
  maxConcurrentActivities?: number;
  plugins?: WorkerPlugin[];
}

export async function createBatcherWorker(deps: BatcherWorkerDeps): Promise<Worker> {
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue,
    ...workflowSource(workflowsPath, deps.workflowBundlePath, (deps.plugins?.length ?? 0) > 0),
    activities: createActivities({ pool: deps.pool, settings: deps.settings, client: deps.client ?? new Client({ connection: deps.connection, namespace: deps.namespace }) }),
    shutdownGraceTime: deps.shutdownGraceMs ?? defaults.worker.shutdownGraceMs,
    maxConcurrentActivityTaskExecutions: deps.maxConcurrentActivities ?? defaults.worker.maxConcurrentActivities,
    plugins: deps.plugins,
    ...BATCHER_SANDBOX_OPTIONS,
  });
}
