// main-worker: load config → start telemetry → connect → run until SIGTERM (see runWorkerService).
import { Client } from '@temporalio/client';
import { runWorkerService } from '@batcher/shared/worker';
import { createMainWorker } from './worker';

runWorkerService({
  service: 'main-worker',
  create: ({ config, connection, namespace, pool, telemetry }) =>
    createMainWorker({
      connection,
      namespace,
      taskQueue: config.main.taskQueue,
      pool,
      batcher: config.batcher,
      requester: config.main,
      businessStepMs: config.main.businessStepMs,
      workflowBundlePath: config.worker.workflowBundlePath,
      shutdownGraceMs: config.worker.shutdownGraceMs,
      maxConcurrentActivities: config.worker.maxConcurrentActivities,
      plugins: telemetry.workerPlugins,
      // The submit activity's client carries the tracing plugin so signal-with-start joins the trace.
      client: new Client({ connection, namespace, plugins: telemetry.clientPlugins }),
      traceCarrier: telemetry.traceCarrier,
    }),
});
