// A MariaDB server of our own: own data dir (a throwaway one under the OS temp dir, or a kept one such
// as .run/demo/mariadb), own port on 127.0.0.1, root with an empty password. It can be stopped, or
// SIGKILLed, and started again in place on the same port and data.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import fs from 'node:fs';
import {
  freePort,
  makeTempDir,
  removeTempDir,
  resolveTool,
  spawnLogged,
  waitForPort,
  waitUntil,
  type LogLevelName,
  type ManagedProcess,
} from './processes';

const execFileAsync = promisify(execFile);

export interface MariaDbOptions {
  /** @default a free port */
  port?: number;
  /**
   * Database created at start (the services' MYSQL_DATABASE).
   * @default 'batcher'
   */
  database?: string;
  /** @default 60000 */
  startTimeoutMs?: number;
  /**
   * Directory to keep the server's files in (`data/`, socket, pid file); initialised on first use
   * and kept by stop(). @default a fresh temp dir, removed by stop()
   */
  dir?: string;
  /** Log file of the server (appended to across restarts). @default a new file per start */
  logFile?: string;
  /** Also show its output on the console (the demo). */
  console?: { prefix: string; minLevel?: LogLevelName };
  /** More mariadbd options, e.g. `--ssl-cert=…` for a server with TLS. */
  extraArgs?: readonly string[];
}

/** Connection settings, serialisable so vitest can hand them from globalSetup to tests. */
export interface MysqlConnectionInfo {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** The same, as the MYSQL_* variables the services read. */
  env: Record<'MYSQL_HOST' | 'MYSQL_PORT' | 'MYSQL_USER' | 'MYSQL_PASSWORD' | 'MYSQL_DATABASE', string>;
}

export interface MariaDb extends MysqlConnectionInfo {
  readonly dataDir: string;
  /** PID of the running mariadbd; undefined while stopped. */
  readonly pid: number | undefined;
  /** Log of the current (or last) mariadbd process. */
  readonly logFile: string;
  /** Stops mariadbd (SIGTERM: a clean InnoDB shutdown), keeping port and data dir. */
  stopServer(options?: { graceMs?: number }): Promise<void>;
  /** SIGKILL (a crash): InnoDB recovers on the next start. Port and data dir are kept. */
  kill(): Promise<void>;
  /** Starts mariadbd again on the same port and data dir; resolves once it answers SQL. */
  startServer(): Promise<void>;
  restart(): Promise<void>;
  /** Stops the server and removes its data dir (unless it was given as `dir`). */
  stop(): Promise<void>;
  /** A connection (not pooled) to the database; the caller ends it. */
  connect(): Promise<mysql.Connection>;
}

/** Creates a data dir, starts mariadbd on it and creates the database. */
export async function startMariaDb(options: MariaDbOptions = {}): Promise<MariaDb> {
  const mariadbd = resolveTool('mariadbd');
  const installDb = resolveTool('mariadb-install-db');
  const host = '127.0.0.1';
  const port = options.port ?? (await freePort());
  const database = options.database ?? 'batcher';
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const keep = options.dir !== undefined;
  const root = options.dir ?? makeTempDir('batcher-mariadb');
  const dataDir = path.join(root, 'data');
  fs.mkdirSync(root, { recursive: true });
  const discard = () => {
    if (!keep) removeTempDir(root);
  };

  // A kept data dir is initialised once; a restart (or the next demo) reuses it.
  if (!fs.existsSync(path.join(dataDir, 'mysql'))) {
    try {
      await execFileAsync(
        installDb,
        [
          '--no-defaults',
          `--datadir=${dataDir}`,
          '--auth-root-authentication-method=normal',
          '--user=root',
          '--skip-test-db',
          '--skip-name-resolve',
        ],
        {
          timeout: timeoutMs,
          maxBuffer: 16 * 1024 * 1024,
        },
      );
    } catch (err) {
      discard();
      const e = err as Error & { stdout?: string; stderr?: string };
      throw new Error(`mariadb-install-db failed: ${e.message}\n${e.stderr ?? ''}`);
    }
  }

  const info: MysqlConnectionInfo = {
    host,
    port,
    user: 'root',
    password: '',
    database,
    env: { MYSQL_HOST: host, MYSQL_PORT: String(port), MYSQL_USER: 'root', MYSQL_PASSWORD: '', MYSQL_DATABASE: database },
  };
  let server: ManagedProcess | undefined;
  let logFile = options.logFile ?? '';
  let removed = false;

  const connectRaw = (db?: string) =>
    mysql.createConnection({ host, port, user: 'root', password: '', database: db, connectTimeout: 5000 });

  const startServer = async () => {
    if (server && !server.hasExited()) return;
    if (removed) throw new Error('this MariaDB was stopped for good; start a new one');
    server = spawnLogged({
      name: 'mariadb',
      logFile: options.logFile,
      console: options.console,
      command: mariadbd,
      args: [
        '--no-defaults',
        `--datadir=${dataDir}`,
        `--port=${port}`,
        `--bind-address=${host}`,
        `--socket=${path.join(root, 'sock')}`,
        `--pid-file=${path.join(root, 'mariadbd.pid')}`,
        `--tmpdir=${root}`,
        '--user=root',
        '--skip-name-resolve',
        // Small footprint: the machine has 2 cores and runs Temporal, workers and tests beside it.
        '--innodb-buffer-pool-size=64M',
        '--max-connections=500',
        '--character-set-server=utf8mb4',
        '--collation-server=utf8mb4_unicode_ci',
        ...(options.extraArgs ?? []),
      ],
    });
    logFile = server.logFile;
    await waitForPort(port, { host, timeoutMs, process: server });
    const started = server;
    await waitUntil(
      `MariaDB on ${host}:${port} (log ${started.logFile})`,
      async () => {
        if (started.hasExited()) throw new Error(`mariadbd exited:\n${started.logTail()}`);
        const conn = await connectRaw();
        try {
          await conn.query('SELECT 1');
          return true;
        } finally {
          await conn.end();
        }
      },
      { timeoutMs },
    );
  };

  const stopServer = async ({ graceMs = 30_000 } = {}) => {
    if (server) await server.stop({ graceMs });
  };

  try {
    await startServer();
    const conn = await connectRaw();
    try {
      await conn.query(`CREATE DATABASE IF NOT EXISTS \`${database}\``);
    } finally {
      await conn.end();
    }
  } catch (err) {
    await stopServer({ graceMs: 5000 });
    discard();
    throw err;
  }

  return {
    ...info,
    dataDir,
    get pid() {
      return server && !server.hasExited() ? server.pid : undefined;
    },
    get logFile() {
      return logFile;
    },
    stopServer,
    async kill() {
      await server?.kill();
    },
    startServer,
    async restart() {
      await stopServer();
      await startServer();
    },
    async stop() {
      if (removed) return;
      await stopServer();
      removed = true;
      discard();
    },
    connect: () => connectRaw(database),
  };
}
