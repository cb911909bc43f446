// Temporal for tests, the demo, the bench and chaos runs: a real dev server (`temporal server
// start-dev`) on 127.0.0.1, in memory or on a SQLite file (then it can be SIGKILLed and started
// again on the same ports with its state), and the path of the time-skipping test server binary.
//
// Not @temporalio/testing's TestWorkflowEnvironment.createLocal: it runs the server inside the SDK's
// native runtime, which gives no PID to SIGKILL and no way to restart it on the same database file.
import { Connection } from '@temporalio/client';
import { freePort, resolveTool, spawnLogged, waitForPort, waitUntil, type LogLevelName, type ManagedProcess } from './processes';

/**
 * Server settings the batcher needs, as every server this project starts runs them (k8s/temporal.yaml
 * too; docs/kubernetes.md tells how to set them on yours). Temporal force-closes a workflow task
 * when more than `history.maximumBufferedEventsBatch` events (100 by default) arrive while it runs;
 * the next attempt replays the whole run, so under a flood of signals every attempt is longer than
 * the last and the shard stops (measured: docs/benchmark.md). 1,000 lets a shard take in a second
 * of a 650-signals/s flood per task. The byte limit of buffered events (2 MiB) stays as it is.
 */
export const BATCHER_SERVER_SETTINGS: Readonly<Record<string, unknown>> = Object.freeze({ 'history.maximumBufferedEventsBatch': 1000 });

export interface TemporalDevServerOptions {
  /** @default a free port */
  port?: number;
  /**
   * Serve the Web UI (handy when a test fails: open it while the test waits).
   * @default true
   */
  ui?: boolean;
  /** @default a free port when `ui` */
  uiPort?: number;
  /** @default 'default' (always created by the dev server) */
  namespace?: string;
  /** Persist to this SQLite file instead of memory (needed to survive a kill and restart). */
  dbFile?: string;
  /** @default 'warn' */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /**
   * `--dynamic-config-value KEY=VALUE` pairs, e.g. `{ 'limit.maxIDLength': 255 }`, on top of
   * BATCHER_SERVER_SETTINGS (unless `stockSettings`).
   */
  dynamicConfig?: Record<string, unknown>;
  /** Run Temporal's own defaults, without BATCHER_SERVER_SETTINGS (to measure what they change). */
  stockSettings?: boolean;
  /** @default 60000 */
  startTimeoutMs?: number;
  /** Log file of the server (appended to across restarts). @default a new file in the log dir */
  logFile?: string;
  /** Also show its output on the console (the demo). */
  console?: { prefix: string; minLevel?: LogLevelName };
}

/** Connection settings, serialisable so vitest can hand them from globalSetup to tests. */
export interface TemporalConnectionInfo {
  /** host:port of the frontend gRPC service. */
  address: string;
  namespace: string;
  /** undefined when started without UI. */
  uiPort: number | undefined;
  /** The same, as the TEMPORAL_* variables the services read. */
  env: Record<'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE', string>;
}

export interface TemporalDevServer extends TemporalConnectionInfo {
  /** PID of the running server; undefined while stopped or killed. */
  readonly pid: number | undefined;
  readonly logFile: string;
  /** http://127.0.0.1:<uiPort>, or undefined without UI. */
  readonly uiUrl: string | undefined;
  /** The server's Prometheus metrics (its `action` counter is what Temporal Cloud bills). */
  readonly metricsUrl: string;
  /** SIGKILL (a crash): the process dies at once, ports and database file are kept. */
  kill(): Promise<void>;
  /** Starts it again on the same ports (and database file); resolves once the namespace answers. */
  startServer(): Promise<void>;
  /** Stops it for good (SIGTERM, SIGKILL after the grace). */
  stop(options?: { graceMs?: number }): Promise<void>;
}

/** Starts `temporal server start-dev` and resolves once its namespace answers. */
export async function startTemporalDevServer(options: TemporalDevServerOptions = {}): Promise<TemporalDevServer> {
  const temporal = resolveTool('temporal');
  const host = '127.0.0.1';
  const ui = options.ui ?? true;
  const port = options.port ?? (await freePort());
  const uiPort = ui ? (options.uiPort ?? (await freePort())) : undefined;
  const namespace = options.namespace ?? 'default';
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  // Pin the extra listeners too: left to themselves they pick random ports we cannot report.
  const httpPort = await freePort();
  const metricsPort = await freePort();

  const args = [
    'server',
    'start-dev',
    '--ip',
    host,
    '--port',
    String(port),
    '--http-port',
    String(httpPort),
    '--metrics-port',
    String(metricsPort),
    '--log-level',
    options.logLevel ?? 'warn',
  ];
  if (uiPort !== undefined) args.push('--ui-ip', host, '--ui-port', String(uiPort), '--ui-disable-news-fetch');
  else args.push('--headless');
  if (namespace !== 'default') args.push('--namespace', namespace);
  if (options.dbFile) args.push('--db-filename', options.dbFile);
  const dynamicConfig = { ...(options.stockSettings ? {} : BATCHER_SERVER_SETTINGS), ...options.dynamicConfig };
  for (const [key, value] of Object.entries(dynamicConfig)) args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);

  const address = `${host}:${port}`;
  let server: ManagedProcess | undefined;
  let logFile = options.logFile ?? '';

  const startServer = async () => {
    if (server && !server.hasExited()) return;
    const started = spawnLogged({ name: 'temporal', command: temporal, args, logFile: logFile || undefined, console: options.console });
    server = started;
    logFile = started.logFile;
    try {
      await waitForPort(port, { host, timeoutMs, process: started });
      // The port opens before the namespace is registered; wait until it can be described.
      await waitUntil(
        `Temporal namespace ${namespace} at ${address} (log ${started.logFile})`,
        async () => {
          if (started.hasExited()) throw new Error(`temporal exited:\n${started.logTail()}`);
          const connection = await Connection.connect({ address, connectTimeout: 2000 });
          try {
            await connection.workflowService.describeNamespace({ namespace });
            return true;
          } finally {
            await connection.close();
          }
        },
        { timeoutMs },
      );
    } catch (err) {
      await started.stop({ graceMs: 5000 });
      throw err;
    }
  };

  await startServer();

  return {
    address,
    namespace,
    uiPort,
    uiUrl: uiPort === undefined ? undefined : `http://${host}:${uiPort}`,
    metricsUrl: `http://${host}:${metricsPort}/metrics`,
    env: { TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace },
    get pid() {
      return server && !server.hasExited() ? server.pid : undefined;
    },
    get logFile() {
      return logFile;
    },
    async kill() {
      await server?.kill();
    },
    startServer,
    async stop({ graceMs = 10_000 } = {}) {
      await server?.stop({ graceMs });
    },
  };
}

/**
 * The time-skipping test server installed by scripts/install-tools.sh, for
 * `TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: timeSkippingServerPath() } } })`
 * (the SDK would otherwise download it, and this machine has no internet).
 */
export function timeSkippingServerPath(): string {
  return resolveTool('temporal-test-server');
}
