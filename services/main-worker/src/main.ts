// main-worker: load config → start telemetry → connect → run until SIGTERM (see runWorkerService).
import { runWorkerService } from '@batcher/service-kit/worker';
import { createMainWorker } from './worker';

runWorkerService({
  service: 'main-worker',
  create: ({ config, connection, namespace, telemetry }) =>
    createMainWorker({
      connection,
      namespace,
      taskQueue: config.main.taskQueue,
      businessStepMs: config.main.businessStepMs,
      workflowBundlePath: config.worker.workflowBundlePath,
      shutdownGraceMs: config.worker.shutdownGraceMs,
      maxConcurrentActivities: config.worker.maxConcurrentActivities,
      plugins: telemetry.workerPlugins,
    }),
});
