// Worker-process plumbing shared by batcher-worker and main-worker: SDK runtime (logs, Prometheus
// metrics), where workflow code comes from, and running until SIGTERM with a health endpoint.
import { writeFile } from 'node:fs/promises';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, type LogLevel, type Worker, type WorkerOptions } from '@temporalio/worker';
import { loadServiceConfig, type Config, type ServiceSections } from '../node/config';
import { createLogger, type Logger } from '../node/logger';
import { startWorkerHealthServer } from '../node/health-server';
import { createPool, type Pool } from '../node/mysql';
import { runService } from '../node/service-main';
import { startTelemetry, telemetryBundlerPlugins, type Telemetry } from '../node/telemetry';
import { temporalConnectConfig } from '../node/temporal';

/**
 * Installs the SDK runtime once per process: core logs go to our JSON logger and, when
 * metricsPort > 0, SDK metrics are served for Prometheus at http://<host>:<port>/metrics (LISTEN_HOST).
 */
export function installWorkerRuntime(options: { logger: Logger; metricsPort: number; host?: string; level?: LogLevel }): void {
  const { logger } = options;
  Runtime.install({
    logger: new DefaultLogger(options.level ?? 'INFO', ({ level, message, meta }) => {
      const method = level === 'TRACE' ? 'trace' : level === 'DEBUG' ? 'debug' : level === 'WARN' ? 'warn' : level === 'ERROR' ? 'error' : 'info';
      logger[method](meta ?? {}, message);
    }),
    telemetryOptions: options.metricsPort > 0 ? { metrics: { prometheus: { bindAddress: `${options.host ?? '127.0.0.1'}:${options.metricsPort}` } } } : undefined,
  });
}

/** A prebundled workflow file when one is configured (images), else the source path (bundled at start-up). */
export function workflowSource(workflowsPath: string, bundlePath?: string): Pick<WorkerOptions, 'workflowsPath' | 'workflowBundle'> {
  return bundlePath ? { workflowBundle: { codePath: bundlePath } } : { workflowsPath };
}

/**
 * Runs the worker until the SDK's shutdown signals (SIGINT/SIGTERM) drain it, serving /healthz and
 * /readyz on healthPort (0: none). Resolves when the worker has stopped.
 */
export async function runWorkerUntilShutdown(worker: Worker, options: { healthPort: number; host?: string; logger: Logger }): Promise<void> {
  const server = options.healthPort > 0 ? await startWorkerHealthServer(options.healthPort, () => worker.getState(), options.host) : undefined;
  options.logger.info({ taskQueue: worker.options.taskQueue, healthPort: options.healthPort }, 'worker running');
  try {
    await worker.run();
  } finally {
    server?.close();
    options.logger.info('worker stopped');
  }
}

/** Bundles workflow code with the same telemetry plugins the workers use, and writes it to outFile. */
export async function writeWorkflowBundle(workflowsPath: string, outFile: string): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath, plugins: telemetryBundlerPlugins() });
  await writeFile(outFile, code);
  console.log(`wrote ${outFile} (${code.length} bytes)`);
}

type WorkerService = 'batcher-worker' | 'main-worker';

/** What a worker service gets to build its Worker from. */
export interface WorkerContext<S extends WorkerService> {
  config: Config<ServiceSections<S>>;
  connection: NativeConnection;
  namespace: string;
  pool: Pool;
  telemetry: Telemetry;
  logger: Logger;
}

/**
 * The whole main of a worker service: load its config → start telemetry → SDK runtime → connect
 * (Temporal, MySQL) → build the worker → run until SIGTERM → close what was opened.
 */
export function runWorkerService<S extends WorkerService>(options: { service: S; create: (ctx: WorkerContext<S>) => Promise<Worker> }): void {
  runService(options.service, async () => {
    // Both worker services read log, telemetry, mysql and worker (SERVICE_CONFIG); the cast says so.
    const config = loadServiceConfig(options.service) as Config<ServiceSections<S>> & Config<'log' | 'telemetry' | 'mysql' | 'worker'>;
    const temporal = temporalConnectConfig();
    const telemetry = await startTelemetry({ serviceName: options.service, config: config.telemetry });
    const logger = createLogger(options.service, config.log.level, telemetry.logMixin);
    installWorkerRuntime({ logger, metricsPort: config.worker.metricsPort, host: config.worker.listenHost });
    const connection = await NativeConnection.connect(temporal.connectionOptions);
    const pool = createPool(config.mysql);
    try {
      const worker = await options.create({ config, connection, namespace: temporal.namespace, pool, telemetry, logger });
      await runWorkerUntilShutdown(worker, { healthPort: config.worker.healthPort, host: config.worker.listenHost, logger });
    } finally {
      await pool.end();
      await connection.close();
      await telemetry.shutdown();
    }
  });
}
