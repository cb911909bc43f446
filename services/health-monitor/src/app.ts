// The health monitor's HTTP side: probes, Prometheus metrics, the JSON status and the status page,
// plus startHealthMonitor(), which wires monitor, metrics and server together (main.ts and tests).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Client } from '@temporalio/client';
import type { Config, Logger } from '@batcher/service-kit';
import type { ShardRouting as BatcherConfig } from '@write-batcher/batcher';
import { createMonitorMetrics, type MonitorMetrics } from './metrics';
import { ShardMonitor, type ShardMonitorOptions } from './monitor';
import { STATUS_PAGE_HTML } from './status-page';

/** Raised when the HTTP server cannot listen (port taken, no permission). */
export class MonitorListenError extends Error {
  override readonly name = 'MonitorListenError';
  constructor(
    readonly host: string,
    readonly port: number,
    cause: Error,
  ) {
    super(`health monitor cannot listen on ${host}:${port} (HEALTH_MONITOR_PORT): ${cause.message}`, { cause });
  }
}

export interface HealthMonitorAppDeps {
  monitor: ShardMonitor;
  metrics: MonitorMetrics;
  logger: Logger;
}

/**
 * /healthz: 200 while the process serves (liveness). /readyz: 200 while this monitor can serve a
 * current picture (it reached Temporal recently), else 503 with the reasons; the shards' health
 * does not count, so the monitor stays reachable during the incident it reports. /metrics:
 * Prometheus text. /api/status: JSON with `overall` (ok | degraded) and its reasons. /: the page.
 */
export function createHealthMonitorApp({ monitor, metrics, logger }: HealthMonitorAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // Everything here describes "now"; a cached answer would be a wrong answer.
  app.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'alive' });
  });

  app.get('/readyz', (_req, res) => {
    const { ready, reasons } = monitor.readiness();
    res.status(ready ? 200 : 503).json({ ready, reasons });
  });

  app.get('/metrics', async (_req, res, next) => {
    try {
      metrics.update(monitor.status());
      res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    } catch (err) {
      next(err);
    }
  });

  app.get('/api/status', (_req, res) => {
    res.json(monitor.status());
  });

  app.get('/', (_req, res) => {
    res.type('html').send(STATUS_PAGE_HTML);
  });

  app.use((req, res) => {
    res.status(404).json({ error: `no route ${req.method} ${req.path}` });
  });
  // Express recognises an error handler by its four parameters.
  app.use((err: Error, req: Request, res: Response, _next: NextFunction) => {
    logger.error({ err: err.message, path: req.path }, 'request failed');
    res.status(500).json({ error: err.message });
  });
  return app;
}

export interface HealthMonitorOptions {
  client: Client;
  batcher: BatcherConfig;
  monitor: Config<'monitor'>['monitor'];
  logger: Logger;
  /** @default '0.0.0.0' */
  host?: string;
  /** Deadline of each Temporal call, in ms. @default 5000 */
  rpcTimeoutMs?: number;
  /** When a RUNNING shard counts as stalled. @default DEFAULT_STALL_THRESHOLDS */
  stall?: ShardMonitorOptions['stall'];
  /** Least time between two restarts of one shard, in ms. @default 10000 */
  minRestartIntervalMs?: number;
  /** Healing of nondeterministic shards. @default ShardMonitorOptions['heal']'s */
  heal?: ShardMonitorOptions['heal'];
}

export interface RunningHealthMonitor {
  monitor: ShardMonitor;
  server: Server;
  /** The port actually bound (useful with port 0). */
  port: number;
  /** Base URL to reach it from this host, e.g. http://127.0.0.1:<port> */
  url: string;
  /** Stops polling and the HTTP server; does not close the client. */
  close(): Promise<void>;
}

/** Starts polling every shard and serves the HTTP endpoints; port 0 picks a free port. */
export async function startHealthMonitor(options: HealthMonitorOptions): Promise<RunningHealthMonitor> {
  const host = options.host ?? '0.0.0.0';
  const monitor = new ShardMonitor({
    client: options.client,
    batcher: options.batcher,
    pollIntervalMs: options.monitor.pollIntervalMs,
    autoRestart: options.monitor.autoRestart,
    logger: options.logger,
    rpcTimeoutMs: options.rpcTimeoutMs,
    stall: options.stall ?? {
      flushIntervals: options.monitor.stallFlushIntervals,
      minFlushStallMs: options.monitor.stallMinMs,
      workflowTaskAttempts: options.monitor.stallTaskAttempts,
      workflowTaskAgeMs: options.monitor.stallTaskAgeMs,
    },
    minRestartIntervalMs: options.minRestartIntervalMs,
    heal: options.heal,
  });
  const app = createHealthMonitorApp({ monitor, metrics: createMonitorMetrics(), logger: options.logger });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(options.monitor.port, host, () => resolve(s));
    s.once('error', (err) => reject(new MonitorListenError(host, options.monitor.port, err)));
  });
  const port = (server.address() as AddressInfo).port;
  monitor.start();
  return {
    monitor,
    server,
    port,
    url: `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`,
    async close() {
      await monitor.stop();
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // A status page left open keeps a connection alive; do not wait for it to go idle.
        server.closeAllConnections();
      });
    },
  };
}
