// Temporal for tests and benchmarks: a real dev server (`temporal server start-dev`, in-memory
// SQLite) on free ports of 127.0.0.1, and the path of the time-skipping test server binary.
import { Connection } from '@temporalio/client';
import { freePort, resolveTool, spawnLogged, waitForPort, waitUntil } from './processes';

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
  /** Persist to this SQLite file instead of memory. */
  dbFile?: string;
  /** @default 'warn' */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** `--dynamic-config-value KEY=VALUE` pairs, e.g. `{ 'limit.maxIDLength': 255 }`. */
  dynamicConfig?: Record<string, unknown>;
  /** @default 60000 */
  startTimeoutMs?: number;
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
  readonly pid: number;
  readonly logFile: string;
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

  const args = ['server', 'start-dev', '--ip', host, '--port', String(port), '--http-port', String(httpPort), '--metrics-port', String(metricsPort), '--log-level', options.logLevel ?? 'warn'];
  if (uiPort !== undefined) args.push('--ui-port', String(uiPort), '--ui-disable-news-fetch');
  else args.push('--headless');
  if (namespace !== 'default') args.push('--namespace', namespace);
  if (options.dbFile) args.push('--db-filename', options.dbFile);
  for (const [key, value] of Object.entries(options.dynamicConfig ?? {})) args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);

  const server = spawnLogged({ name: 'temporal', command: temporal, args });
  const address = `${host}:${port}`;
  try {
    await waitForPort(port, { host, timeoutMs, process: server });
    // The port opens before the namespace is registered; wait until it can be described.
    await waitUntil(
      `Temporal namespace ${namespace} at ${address} (log ${server.logFile})`,
      async () => {
        if (server.hasExited()) throw new Error(`temporal exited:\n${server.logTail()}`);
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
    await server.stop({ graceMs: 5000 });
    throw err;
  }

  return {
    address,
    namespace,
    uiPort,
    env: { TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace },
    pid: server.pid,
    logFile: server.logFile,
    async stop({ graceMs = 10_000 } = {}) {
      await server.stop({ graceMs });
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
