// batcher-worker: load config → start telemetry → connect → run until SIGTERM (see runWorkerService).
import { batcherSettings } from '@batcher/shared/node';
import { runWorkerService } from '@batcher/shared/worker';
import { createBatcherWorker } from './worker';

runWorkerService({
  service: 'batcher-worker',
  create: ({ config, connection, namespace, pool, telemetry }) =>
    createBatcherWorker({
      connection,
      namespace,
      taskQueue: config.batcher.taskQueue,
      pool,
      settings: batcherSettings(config.batching),
      workflowBundlePath: config.worker.workflowBundlePath,
      shutdownGraceMs: config.worker.shutdownGraceMs,
      maxConcurrentActivities: config.worker.maxConcurrentActivities,
      plugins: telemetry.workerPlugins,
    }),
});
