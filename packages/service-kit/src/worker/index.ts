// Worker-process plumbing shared by batcher-worker and main-worker: SDK runtime (logs, Prometheus
// metrics), where workflow code comes from, and running until SIGTERM with a health endpoint.
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  type LogLevel,
  type Worker,
  type WorkerOptions,
} from '@temporalio/worker';
import { loadServiceConfig, type Config, type ServiceSections } from '../node/config';
import { createLogger, type Logger } from '../node/logger';
import type { Server } from 'node:http';
import { assertListenHost, PortInUseError, startWorkerHealthServer } from '../node/health-server';
import { createPool, type Pool } from '../node/mysql';
import { MysqlProbe, waitForMysql } from '../node/mysql-reachability';
import { runService } from '../node/service-main';
import { startTelemetry, telemetryBundlerPlugins, type Telemetry } from '../node/telemetry';
import { temporalConnectConfig } from '../node/temporal';

/**
 * Installs the SDK runtime once per process: core logs go to our JSON logger and, when
 * metricsPort > 0, SDK metrics are served for Prometheus at http://<host>:<port>/metrics (LISTEN_HOST).
 */
export function installWorkerRuntime(options: { logger: Logger; metricsPort: number; host?: string; level?: LogLevel }): void {
  const { logger } = options;
  if (options.metricsPort > 0) assertPortFree(options.metricsPort, options.host ?? '127.0.0.1', 'WORKER_METRICS_PORT');
  Runtime.install({
    logger: new DefaultLogger(options.level ?? 'INFO', ({ level, message, meta }) => {
      const method =
        level === 'TRACE' ? 'trace' : level === 'DEBUG' ? 'debug' : level === 'WARN' ? 'warn' : level === 'ERROR' ? 'error' : 'info';
      logger[method](meta ?? {}, message);
    }),
    telemetryOptions:
      options.metricsPort > 0
        ? { metrics: { prometheus: { bindAddress: `${options.host ?? '127.0.0.1'}:${options.metricsPort}` } } }
        : undefined,
  });
}

/**
 * The SDK binds the metrics port in its native core, whose error names neither the port nor the
 * setting: check first, so a taken port stops start-up with a line naming WORKER_METRICS_PORT.
 */
function assertPortFree(port: number, host: string, variable: string): void {
  const probe = spawnSync(
    process.execPath,
    [
      '-e',
      `require('net').createServer().once('error',e=>{console.error(e.code);process.exit(1)}).listen(${port},${JSON.stringify(host)},function(){this.close()})`,
    ],
    { encoding: 'utf8', timeout: 5000 },
  );
  if (probe.status !== 0)
    throw new PortInUseError(variable, port, Object.assign(new Error(probe.stderr.trim() || 'cannot bind'), { code: probe.stderr.trim() }));
}

/** The untraced twin of a prebundled workflow file (written beside it by writeWorkflowBundle). */
export function untracedBundlePath(bundlePath: string): string {
  return bundlePath.replace(/(\.js)?$/, '.untraced.js');
}

/**
 * A prebundled workflow file when one is configured (images), else the source path (bundled at
 * start-up). With tracing off the untraced bundle is used: no tracing interceptor runs in workflows.
 */
export function workflowSource(
  workflowsPath: string,
  bundlePath?: string,
  traced = true,
): Pick<WorkerOptions, 'workflowsPath' | 'workflowBundle'> {
  if (!bundlePath) return { workflowsPath };
  return { workflowBundle: { codePath: traced ? bundlePath : untracedBundlePath(bundlePath) } };
}

/**
 * Runs the worker until the SDK's shutdown signals (SIGINT/SIGTERM) drain it, serving /healthz and
 * /readyz on healthPort (0: none), or on `healthServer` when the caller started it already (it is
 * closed here all the same). Resolves when the worker has stopped.
 */
export async function runWorkerUntilShutdown(
  worker: Worker,
  options: { healthPort: number; host?: string; logger: Logger; shutdownGraceMs?: number; healthServer?: Server },
): Promise<void> {
  const server =
    options.healthServer ??
    (options.healthPort > 0 ? await startWorkerHealthServer(options.healthPort, () => worker.getState(), options.host) : undefined);
  options.logger.info({ taskQueue: worker.options.taskQueue, healthPort: options.healthPort }, 'worker running');
  // A drain that outlives its grace (a stuck poll, a task that never returns) must not leave a
  // process that looks alive: after the grace and a margin, the process exits non-zero.
  const grace = (options.shutdownGraceMs ?? 25_000) + 15_000;
  const watchdog = setInterval(() => {
    const state = worker.getState();
    if (state !== 'DRAINING' && state !== 'STOPPING') return;
    drainingSince ??= Date.now();
    if (Date.now() - drainingSince > grace) {
      options.logger.fatal({ state, graceMs: grace }, 'worker did not finish draining in time; exiting');
      process.exit(1);
    }
  }, 1000);
  watchdog.unref();
  let drainingSince: number | undefined;
  try {
    // A worker whose SDK Worker fails rejects here: the service exits non-zero (see runService).
    await worker.run();
  } finally {
    clearInterval(watchdog);
    server?.close();
    options.logger.info({ state: worker.getState() }, 'worker stopped');
  }
}

/**
 * Bundles workflow code twice: with the tracing plugin's workflow interceptors (used when tracing is
 * on) to outFile, and without them beside it (see untracedBundlePath).
 */
export async function writeWorkflowBundle(workflowsPath: string, outFile: string): Promise<void> {
  for (const [file, plugins] of [
    [outFile, telemetryBundlerPlugins()],
    [untracedBundlePath(outFile), []],
  ] as const) {
    const { code } = await bundleWorkflowCode({ workflowsPath, plugins: [...plugins] });
    await writeFile(file, code);
    console.log(`wrote ${file} (${code.length} bytes)`);
  }
}

type WorkerService = 'batcher-worker' | 'main-worker';

/** LOG_LEVEL as the SDK's runtime logger names it. */
const SDK_LEVEL: Record<Config<'log'>['log']['level'], LogLevel> = {
  trace: 'TRACE',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
  fatal: 'ERROR',
};

/** What a worker service gets to build its Worker from. */
export interface WorkerContext<S extends WorkerService> {
  config: Config<ServiceSections<S>>;
  connection: NativeConnection;
  namespace: string;
  /** A pool on MYSQL_* for services that read the mysql section (the batcher worker); undefined otherwise. */
  pool: Pool | undefined;
  telemetry: Telemetry;
  logger: Logger;
}

/** Connects to Temporal; a failure names TEMPORAL_ADDRESS and says why in a few words. */
export async function connectTemporalNative(
  connectionOptions: ReturnType<typeof temporalConnectConfig>['connectionOptions'],
): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect(connectionOptions);
  } catch (err) {
    const message = (err as Error)?.message ?? String(err);
    // Core's transport errors nest the OS's own words, e.g. `ConnectError("tcp connect error", … message: "Connection refused" …)`.
    const kind = /ConnectError\("([^"]+)"/.exec(message)?.[1];
    const words = [...message.matchAll(/(?:message|error): "([^"]+)"/g)].at(-1)?.[1];
    const why = words ? `${kind ? `${kind}: ` : ''}${words}` : message;
    throw new Error(`TEMPORAL_ADDRESS=${connectionOptions.address}: cannot connect to Temporal: ${why}`, { cause: err });
  }
}

/**
 * The whole main of a worker service: load its config → check LISTEN_HOST → start telemetry → SDK
 * runtime (metrics port) → health endpoint (not ready yet) → connect Temporal → wait for MySQL →
 * build the worker → run until SIGTERM → close what was opened. Each start-up failure stops the
 * service with one line naming its setting; closing what was opened never hides that line.
 */
export function runWorkerService<S extends WorkerService>(options: {
  service: S;
  create: (ctx: WorkerContext<S>) => Promise<Worker>;
}): void {
  runService(options.service, async () => {
    // Both worker services read log, telemetry, worker and listen, the batcher worker also mysql (SERVICE_CONFIG); the cast says so.
    const config = loadServiceConfig(options.service) as Config<ServiceSections<S>> &
      Config<'log' | 'telemetry' | 'worker' | 'listen'> &
      Partial<Config<'mysql'>>;
    const temporal = temporalConnectConfig();
    // Before any port is bound on it, so a bad host is not reported against a port.
    await assertListenHost(config.listen.host);
    const telemetry = await startTelemetry({ serviceName: options.service, config: config.telemetry });
    const logger = createLogger(options.service, config.log.level, telemetry.logMixin);
    /** Closed newest first, whether start-up failed or the worker ran and stopped. */
    const opened: Array<[string, () => Promise<unknown>]> = [['telemetry', () => telemetry.shutdown()]];
    let failure: unknown;
    try {
      // The SDK formats and forwards only what the log level keeps: below it, lines cost nothing.
      installWorkerRuntime({
        logger,
        metricsPort: config.worker.metricsPort,
        host: config.listen.host,
        level: SDK_LEVEL[config.log.level],
      });
      // Bound before anything slow, so a taken port stops start-up at once; not ready until the
      // worker runs and MySQL answers.
      let worker: Worker | undefined;
      // A service that reads the mysql section is not ready while MySQL does not answer.
      const mysqlConfig = config.mysql;
      const mysqlProbe = mysqlConfig ? new MysqlProbe(mysqlConfig) : undefined;
      if (mysqlProbe) opened.push(['MySQL check', () => mysqlProbe.close()]);
      const healthServer =
        config.worker.healthPort > 0
          ? await startWorkerHealthServer(
              config.worker.healthPort,
              () => worker?.getState() ?? 'INITIALIZED',
              config.listen.host,
              'WORKER_HEALTH_PORT',
              () => mysqlProbe?.notReadyReasons() ?? [],
            )
          : undefined;
      if (healthServer) opened.push(['health endpoint', () => new Promise((resolve) => healthServer.close(resolve))]);
      const connection = await connectTemporalNative(temporal.connectionOptions);
      opened.push(['Temporal connection', () => connection.close()]);
      if (mysqlConfig && mysqlProbe) {
        await waitForMysql(mysqlConfig);
        mysqlProbe.start(true);
      }
      const pool = mysqlConfig ? createPool(mysqlConfig) : undefined;
      if (pool) opened.push(['MySQL pool', () => pool.end()]);
      worker = await options.create({ config, connection, namespace: temporal.namespace, pool, telemetry, logger });
      await runWorkerUntilShutdown(worker, {
        healthPort: config.worker.healthPort,
        host: config.listen.host,
        healthServer,
        logger,
        shutdownGraceMs: config.worker.shutdownGraceMs,
      });
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      await closeAll(opened.reverse(), failure, logger);
    }
  });
}

/**
 * Closes each resource even if an earlier one fails. After a failure, their errors are only logged
 * at debug (the failure is the news; e.g. a connection a never-run Worker still holds cannot
 * close); after a clean run, the first is thrown.
 */
async function closeAll(resources: Array<[string, () => Promise<unknown>]>, failure: unknown, logger: Logger): Promise<void> {
  let first: Error | undefined;
  for (const [what, close] of resources) {
    try {
      await close();
    } catch (err) {
      if (failure === undefined) first ??= err instanceof Error ? err : new Error(String(err));
      logger.debug(
        { err: (err as Error)?.message ?? String(err), what },
        failure === undefined ? 'could not close' : 'could not close after a failure',
      );
    }
  }
  if (first !== undefined) throw first;
}
