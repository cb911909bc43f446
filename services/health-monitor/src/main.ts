// health-monitor: load config → start telemetry → connect to Temporal → watch every batcher shard
// and serve /healthz, /readyz, /metrics, /api/status and the status page until SIGTERM/SIGINT.
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { assertListenHost, createLogger, loadServiceConfig, startTelemetry, temporalConnectConfig, runService } from '@batcher/service-kit';
import { startHealthMonitor } from './app';

const SERVICE = 'health-monitor' as const;

/**
 * The batcher worker's prebundled workflow code, where the image puts it beside this service: heals
 * replay with it, and this pod needs no webpack. Elsewhere the first heal bundles the code itself.
 */
const BATCHER_BUNDLE = path.join(__dirname, '..', '..', 'batcher-worker', 'dist', 'workflow-bundle.untraced.js');

function shutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve(signal));
  });
}

async function main(): Promise<void> {
  const config = loadServiceConfig(SERVICE);
  const temporal = temporalConnectConfig();
  // A bad LISTEN_HOST is named as such, not reported against HEALTH_MONITOR_PORT.
  await assertListenHost(config.listen.host);
  const telemetry = await startTelemetry({ serviceName: SERVICE, config: config.telemetry });
  const logger = createLogger(SERVICE, config.log.level, telemetry.logMixin);
  try {
    const connection = await Connection.connect(temporal.connectionOptions).catch((err: Error) => {
      throw new Error(`cannot connect to Temporal at ${temporal.connectionOptions.address} (TEMPORAL_ADDRESS): ${err.message}`, {
        cause: err,
      });
    });
    try {
      const client = new Client({ connection, namespace: temporal.namespace, plugins: telemetry.clientPlugins });
      const running = await startHealthMonitor({
        client,
        batcher: config.batcher,
        monitor: config.monitor,
        logger,
        host: config.listen.host,
        heal: { code: fs.existsSync(BATCHER_BUNDLE) ? { workflowBundlePath: BATCHER_BUNDLE } : undefined },
      });
      logger.info(
        {
          port: running.port,
          shards: config.batcher.shards,
          workflowIdPrefix: config.batcher.workflowIdPrefix,
          pollIntervalMs: config.monitor.pollIntervalMs,
          autoRestart: config.monitor.autoRestart,
        },
        'health monitor running',
      );
      const signal = await shutdownSignal();
      logger.info({ signal }, 'shutting down');
      await running.close();
    } finally {
      await connection.close();
    }
  } finally {
    await telemetry.shutdown();
  }
}

runService(SERVICE, main);
