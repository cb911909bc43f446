// Builds the main worker: transactional workflows plus their business activities on one task queue.
// It registers nothing for the writes and holds no database credentials: batchedWrite's activities
// run on the batcher workers.
import { Worker, type NativeConnection, type WorkerPlugin } from '@temporalio/worker';
import { loadConfig } from '@batcher/service-kit';
import { workflowSource } from '@batcher/service-kit/worker';
import { createActivities } from './activities';

export const workflowsPath = require.resolve('./workflows');

/** Every default is declared once, in the config loader. */
const defaults = loadConfig(['worker', 'main'], {});

export interface MainWorkerDeps {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** @default BUSINESS_STEP_MS's default (the config loader) */
  businessStepMs?: number;
  workflowBundlePath?: string;
  /** @default WORKER_SHUTDOWN_GRACE_MS's default (the config loader) */
  shutdownGraceMs?: number;
  /** @default WORKER_MAX_CONCURRENT_ACTIVITIES's default (the config loader) */
  maxConcurrentActivities?: number;
  plugins?: WorkerPlugin[];
}

export async function createMainWorker(deps: MainWorkerDeps): Promise<Worker> {
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue,
    ...workflowSource(workflowsPath, deps.workflowBundlePath, (deps.plugins?.length ?? 0) > 0),
    activities: createActivities({ businessStepMs: deps.businessStepMs ?? defaults.main.businessStepMs }),
    shutdownGraceTime: deps.shutdownGraceMs ?? defaults.worker.shutdownGraceMs,
    maxConcurrentActivityTaskExecutions: deps.maxConcurrentActivities ?? defaults.worker.maxConcurrentActivities,
    plugins: deps.plugins,
  });
}
