// Builds the main worker: transactional workflows plus their activities on one task queue.
import { Client } from '@temporalio/client';
import { Worker, type NativeConnection, type WorkerPlugin } from '@temporalio/worker';
import { loadConfig, type BatchedWriteDeps, type BatcherConfig, type Pool } from '@batcher/shared/node';
import { workflowSource } from '@batcher/shared/worker';
import { createActivities } from './activities';

export const workflowsPath = require.resolve('./workflows');

/** Every default is declared once, in the config loader. */
const defaults = loadConfig(['worker', 'main'], {});

export interface MainWorkerDeps {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  pool: Pool;
  /** Where and how requests are routed to batchers; must match the batcher workers. */
  batcher: BatcherConfig;
  /** Timeouts and grouping of submissions (CONFIRMATION_TIMEOUT_MS, SUBMIT_*). @default the config loader's defaults */
  requester?: Partial<BatchedWriteDeps['requester']>;
  /** @default BUSINESS_STEP_MS's default (the config loader) */
  businessStepMs?: number;
  workflowBundlePath?: string;
  /** @default WORKER_SHUTDOWN_GRACE_MS's default (the config loader) */
  shutdownGraceMs?: number;
  /** @default WORKER_MAX_CONCURRENT_ACTIVITIES's default (the config loader) */
  maxConcurrentActivities?: number;
  plugins?: WorkerPlugin[];
  /** Client used by the submit activity; defaults to one on the worker's connection. */
  client?: Client;
  traceCarrier?: () => Record<string, string>;
}

export async function createMainWorker(deps: MainWorkerDeps): Promise<Worker> {
  const client = deps.client ?? new Client({ connection: deps.connection, namespace: deps.namespace });
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue,
    ...workflowSource(workflowsPath, deps.workflowBundlePath, (deps.plugins?.length ?? 0) > 0),
    activities: createActivities({
      client,
      pool: deps.pool,
      batcher: deps.batcher,
      requester: { ...defaults.main, ...deps.requester },
      businessStepMs: deps.businessStepMs ?? defaults.main.businessStepMs,
      traceCarrier: deps.traceCarrier,
    }),
    shutdownGraceTime: deps.shutdownGraceMs ?? defaults.worker.shutdownGraceMs,
    maxConcurrentActivityTaskExecutions: deps.maxConcurrentActivities ?? defaults.worker.maxConcurrentActivities,
    plugins: deps.plugins,
  });
}
