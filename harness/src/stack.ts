// A whole local stack for the demo and the chaos runs: Temporal dev server, MariaDB, optionally
// Jaeger, the schema, the batcher worker, the main worker and the health monitor, each a process of
// its own started and stopped by PID. Everything listens on 127.0.0.1.
import fs from 'node:fs';
import path from 'node:path';
import { startJaeger, type Jaeger } from './jaeger';
import { startMariaDb, type MariaDb } from './mariadb';
import { type LogLevelName } from './processes';
import { bundleWorkflows, migrateSchema, startService, type ServiceProcess } from './services';
import { startTemporalDevServer, type TemporalDevServer } from './temporal';

export interface StackPorts {
  temporal: number;
  /** 0: headless. */
  temporalUi: number;
  mysql: number;
  batcherHealth: number;
  batcherMetrics: number;
  mainHealth: number;
  mainMetrics: number;
  monitor: number;
  jaegerOtlpHttp?: number;
  jaegerOtlpGrpc?: number;
  jaegerQueryHttp?: number;
  jaegerQueryGrpc?: number;
}

export interface StackOptions {
  /** Holds logs/, mariadb/ and (with `temporalDbFile`) temporal.db. */
  dir: string;
  ports: StackPorts;
  /** Keep Temporal's state in `<dir>/temporal.db` (needed to kill and restart it). @default false */
  temporalDbFile?: boolean;
  /** @default 'batcher' */
  database?: string;
  jaeger?: boolean;
  /** Start the health monitor. @default true */
  monitor?: boolean;
  /** Extra service settings (BATCHER_SHARDS, BATCH_FLUSH_INTERVAL_MS, ...), for every service. */
  env?: Record<string, string>;
  /** Bundle the workflow code once so that worker (re)starts take seconds. @default false */
  prebundle?: boolean;
  /** Show the services' output on the console with these minimum levels (the demo). */
  console?: { batcherWorker: LogLevelName; mainWorker: LogLevelName; monitor: LogLevelName };
  /** Progress lines ("starting MariaDB ..."). @default no output */
  log?: (line: string) => void;
  /** More mariadbd options for the stack's own MariaDB (e.g. `--default-time-zone=+02:00`). */
  mysqlArgs?: readonly string[];
  /** Runs after the migration, before the workers start (e.g. a team's own tables the batcher worker must find). */
  afterMigrate?: (mysql: MariaDb | undefined) => Promise<void>;
  /** Use running servers instead of starting them (the demo's TEMPORAL_ADDRESS / MYSQL_HOST). */
  external?: { temporal?: Record<'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE', string>; mysql?: Record<string, string> };
}

export interface Stack {
  /** undefined when the stack uses a running server (`external`). */
  temporal: TemporalDevServer | undefined;
  mysql: MariaDb | undefined;
  jaeger: Jaeger | undefined;
  batcherWorker: ServiceProcess;
  mainWorker: ServiceProcess;
  monitor: ServiceProcess | undefined;
  /** The environment every service of this stack runs with (without its own ports). */
  serviceEnv: Record<string, string>;
  logDir: string;
  /** Stops everything, newest first (clients before the servers they use). */
  stop(): Promise<void>;
}

/** Starts the stack in order; on a failure, stops what it had started and rethrows. */
export async function startStack(options: StackOptions): Promise<Stack> {
  const log = options.log ?? (() => undefined);
  const logDir = path.join(options.dir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const stoppers: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stoppers.splice(0).reverse()) await s().catch(() => undefined);
  };
  const p = options.ports;
  try {
    let temporal: TemporalDevServer | undefined;
    if (!options.external?.temporal) {
      log(
        `starting Temporal dev server on 127.0.0.1:${p.temporal}${options.temporalDbFile ? ` (state in ${path.join(options.dir, 'temporal.db')})` : ' (in memory)'}`,
      );
      const t = await startTemporalDevServer({
        port: p.temporal,
        ui: p.temporalUi !== 0,
        uiPort: p.temporalUi || undefined,
        dbFile: options.temporalDbFile ? path.join(options.dir, 'temporal.db') : undefined,
        logFile: path.join(logDir, 'temporal.log'),
      });
      temporal = t;
      stoppers.push(() => t.stop({ graceMs: 15_000 }));
    } else {
      log(`using Temporal at ${options.external.temporal.TEMPORAL_ADDRESS}`);
    }

    let mysql: MariaDb | undefined;
    if (!options.external?.mysql) {
      log(`starting MariaDB on 127.0.0.1:${p.mysql} (data ${path.join(options.dir, 'mariadb')})`);
      const m = await startMariaDb({
        port: p.mysql,
        dir: path.join(options.dir, 'mariadb'),
        database: options.database,
        logFile: path.join(logDir, 'mariadb.log'),
        extraArgs: options.mysqlArgs,
      });
      mysql = m;
      stoppers.push(() => m.stop());
    } else {
      log(`using MySQL at ${options.external.mysql.MYSQL_HOST}:${options.external.mysql.MYSQL_PORT ?? 3306}`);
    }

    let jaeger: Jaeger | undefined;
    if (options.jaeger) {
      log(`starting Jaeger (OTLP/HTTP 127.0.0.1:${p.jaegerOtlpHttp ?? '?'}, query API 127.0.0.1:${p.jaegerQueryHttp ?? '?'})`);
      jaeger = await startJaeger({
        ports: { otlpHttp: p.jaegerOtlpHttp, otlpGrpc: p.jaegerOtlpGrpc, queryHttp: p.jaegerQueryHttp, queryGrpc: p.jaegerQueryGrpc },
        logFile: path.join(logDir, 'jaeger.log'),
      });
      const j = jaeger;
      stoppers.push(() => j.stop());
    }

    const serviceEnv: Record<string, string> = {
      ...(temporal?.env ?? options.external?.temporal),
      ...(mysql?.env ?? options.external?.mysql),
      // Every service must agree on the shard count; a short shutdown grace keeps Ctrl-C snappy.
      WORKER_SHUTDOWN_GRACE_MS: '5000',
      ...(jaeger ? { OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpHttpEndpoint } : {}),
      ...options.env,
    };
    log('migrating the schema');
    await migrateSchema(serviceEnv, path.join(logDir, 'migrate.log'));
    await options.afterMigrate?.(mysql);

    let bundles: Record<'batcher-worker' | 'main-worker', string> | undefined;
    if (options.prebundle) {
      log('bundling the workflow code once (restarts then take seconds)');
      bundles = await bundleWorkflows(path.join(options.dir, 'bundles'), serviceEnv);
    }
    const bundleOf = (service: 'batcher-worker' | 'main-worker') => (bundles ? { WORKFLOW_BUNDLE_PATH: bundles[service] } : {});

    log(`starting the batcher worker (health http://127.0.0.1:${p.batcherHealth}/readyz)`);
    const batcherWorker = await startService({
      service: 'batcher-worker',
      env: { ...serviceEnv, ...bundleOf('batcher-worker') },
      healthPort: p.batcherHealth,
      metricsPort: p.batcherMetrics,
      logFile: path.join(logDir, 'batcher-worker.log'),
      console: options.console ? { prefix: 'batcher', minLevel: options.console.batcherWorker } : undefined,
    });
    stoppers.push(() => batcherWorker.stop());

    log(`starting the main worker (health http://127.0.0.1:${p.mainHealth}/readyz)`);
    const mainWorker = await startService({
      service: 'main-worker',
      env: { ...serviceEnv, ...bundleOf('main-worker') },
      healthPort: p.mainHealth,
      metricsPort: p.mainMetrics,
      logFile: path.join(logDir, 'main-worker.log'),
      console: options.console ? { prefix: 'main', minLevel: options.console.mainWorker } : undefined,
    });
    stoppers.push(() => mainWorker.stop());

    let monitor: ServiceProcess | undefined;
    if (options.monitor !== false) {
      log(`starting the health monitor (http://127.0.0.1:${p.monitor}/)`);
      monitor = await startService({
        service: 'health-monitor',
        env: serviceEnv,
        healthPort: p.monitor,
        logFile: path.join(logDir, 'health-monitor.log'),
        console: options.console ? { prefix: 'monitor', minLevel: options.console.monitor } : undefined,
      });
      const m = monitor;
      stoppers.push(() => m.stop());
    }

    return { temporal, mysql, jaeger, batcherWorker, mainWorker, monitor, serviceEnv, logDir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
