// batcher-worker: load config → start telemetry → connect → run until SIGTERM (see runWorkerService).
// The batcher itself is @write-batcher/batcher; this service configures it from the environment.
import { Client } from '@temporalio/client';
import { createBatcherWorker } from '@write-batcher/batcher';
import { batcherSettings } from '@batcher/service-kit';
import { runWorkerService, untracedBundlePath } from '@batcher/service-kit/worker';

runWorkerService({
  service: 'batcher-worker',
  create: ({ config, connection, namespace, pool, telemetry, logger }) => {
    if (!pool) throw new Error('batcher-worker reads the mysql section');
    const traced = telemetry.workerPlugins.length > 0;
    const bundle = config.worker.workflowBundlePath;
    return createBatcherWorker({
      connection,
      namespace,
      pool,
      tables: config.batching.tables,
      routing: config.batcher,
      settings: batcherSettings(config.batching),
      submit: { lingerMs: config.batching.submitLingerMs, maxRequests: config.batching.submitGroupMaxRequests },
      ledgerRetentionHours: config.batching.ledgerRetentionHours,
      // Signal-with-start carries the tracing plugin, so the hop to the shard joins the requester's trace.
      client: new Client({ connection, namespace, plugins: telemetry.clientPlugins }),
      traceCarrier: telemetry.traceCarrier,
      onEvent: (event, details) => logger.info(details, event),
      workflowBundlePath: bundle && (traced ? bundle : untracedBundlePath(bundle)),
      shutdownGraceMs: config.worker.shutdownGraceMs,
      maxConcurrentActivities: config.worker.maxConcurrentActivities,
      plugins: telemetry.workerPlugins,
    });
  },
});
