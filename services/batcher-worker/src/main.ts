// batcher-worker: load config → start telemetry → connect → run until SIGTERM.
import { NativeConnection } from '@temporalio/worker';
import { createLogger, createPool, loadConfig, startTelemetry, temporalConnectConfig } from '@batcher/shared/node';
import { installWorkerRuntime, runWorkerUntilShutdown } from '@batcher/shared/worker';
import { createBatcherWorker } from './worker';

const SERVICE = 'batcher-worker';

async function main(): Promise<void> {
  const config = loadConfig(['log', 'telemetry', 'batcher', 'mysql', 'worker']);
  const temporal = temporalConnectConfig();
  const telemetry = await startTelemetry({ serviceName: SERVICE, config: config.telemetry });
  const logger = createLogger(SERVICE, config.log.level, telemetry.logMixin);
  installWorkerRuntime({ logger, metricsPort: config.worker.metricsPort });
  const connection = await NativeConnection.connect(temporal.connectionOptions);
  const pool = createPool(config.mysql);
  try {
    const worker = await createBatcherWorker({
      connection,
      namespace: temporal.namespace,
      taskQueue: config.batcher.taskQueue,
      pool,
      workflowBundlePath: config.worker.workflowBundlePath,
      shutdownGraceMs: config.worker.shutdownGraceMs,
      maxConcurrentActivities: config.worker.maxConcurrentActivities,
      plugins: telemetry.workerPlugins,
    });
    await runWorkerUntilShutdown(worker, { healthPort: config.worker.healthPort, logger });
  } finally {
    await pool.end();
    await connection.close();
    await telemetry.shutdown();
  }
}

main().catch((err) => {
  // One clear line, then a non-zero exit: config errors name the variable.
  console.error(JSON.stringify({ level: 'fatal', service: SERVICE, msg: String(err?.message ?? err) }));
  process.exit(1);
});
