// Can this worker reach MySQL? Checked once at start-up (a bounded wait, then one line naming the
// settings and the database's own error) and kept current for /readyz by a cheap periodic ping on
// a connection of its own, so the check never queues behind the pool's bulk writes.
import mysql, { type Connection } from 'mysql2/promise';
import { mysqlTlsOptions, type MysqlConfig } from './mysql';

/** How long a worker keeps trying to reach MySQL at start-up before it exits. */
export const MYSQL_STARTUP_WAIT_MS = 15_000;
/** Per connection attempt (the pool's own connect timeout). */
const CONNECT_TIMEOUT_MS = 5000;

/** Raised when MySQL cannot be reached at start-up; the message names the settings to check. */
export class MysqlUnreachableError extends Error {
  override readonly name = 'MysqlUnreachableError';
  constructor(cfg: MysqlConfig, cause: unknown, waitedMs: number) {
    super(`${describeMysqlFailure(cfg, cause)} (tried for ${Math.round(waitedMs / 1000)} s)`, { cause });
  }
}

/** The database's (or the network's) own words for a failure, with its code. */
export function mysqlErrorText(err: unknown): string {
  const e = err as { message?: string; code?: string; errors?: unknown[] };
  // A host name with several addresses (localhost: ::1 and 127.0.0.1) fails with an AggregateError whose message is empty.
  const message =
    e?.message ||
    (Array.isArray(e?.errors)
      ? e.errors
          .map((x) => (x as Error)?.message)
          .filter(Boolean)
          .join('; ')
      : '') ||
    String(err);
  return e?.code && !message.includes(e.code) ? `${message} (${e.code})` : message;
}

const TLS_CODE = /SSL|TLS|CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/;

/** One line: the settings behind the failure, their values (never the password), and the error. */
export function describeMysqlFailure(cfg: MysqlConfig, err: unknown): string {
  const code = String((err as { code?: string })?.code ?? '');
  const what = mysqlErrorText(err);
  if (code === 'ER_ACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR')
    return `MYSQL_USER=${cfg.user}/MYSQL_PASSWORD: MySQL at ${cfg.host}:${cfg.port} refused the login: ${what}`;
  if (code === 'ER_BAD_DB_ERROR')
    return `MYSQL_DATABASE=${cfg.database}: no such database at ${cfg.host}:${cfg.port} (run the schema migration): ${what}`;
  if (TLS_CODE.test(code)) return `MYSQL_TLS_MODE=${cfg.tlsMode}: TLS to MySQL at ${cfg.host}:${cfg.port} failed: ${what}`;
  return `MYSQL_HOST=${cfg.host} MYSQL_PORT=${cfg.port}: cannot reach MySQL: ${what}`;
}

async function connect(cfg: MysqlConfig, ssl: ReturnType<typeof mysqlTlsOptions>, connectTimeout: number): Promise<Connection> {
  const conn = await mysql.createConnection({
    host: cfg.host,
    port: cfg.port,
    user: cfg.user,
    password: cfg.password,
    database: cfg.database,
    ssl,
    connectTimeout,
    enableKeepAlive: true,
  });
  // An idle connection whose server goes away emits 'error'; unheard, that would end the process.
  // The next ping fails on the closed connection and reconnects.
  conn.on('error', () => undefined);
  return conn;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>(
      (_, reject) =>
        (timer = setTimeout(() => reject(Object.assign(new Error(`${what}: no answer within ${ms} ms`), { code: 'ETIMEDOUT' })), ms)),
    ),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Connects and pings, again and again, until MySQL answers or `timeoutMs` has passed; then throws a
 * {@link MysqlUnreachableError} with the last error.
 */
export async function waitForMysql(cfg: MysqlConfig, { timeoutMs = MYSQL_STARTUP_WAIT_MS, intervalMs = 1000 } = {}): Promise<void> {
  const ssl = mysqlTlsOptions(cfg);
  const startedAt = Date.now();
  const deadline = startedAt + timeoutMs;
  for (;;) {
    try {
      const attemptMs = Math.max(1000, Math.min(CONNECT_TIMEOUT_MS, deadline - Date.now()));
      const conn = await withTimeout(connect(cfg, ssl, attemptMs), attemptMs + 1000, 'connect');
      try {
        await withTimeout(conn.ping(), attemptMs, 'ping');
      } finally {
        conn.destroy();
      }
      return;
    } catch (err) {
      if (Date.now() + intervalMs >= deadline) throw new MysqlUnreachableError(cfg, err, Date.now() - startedAt);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}

export interface MysqlProbeOptions {
  /** Time between pings. @default 5000 */
  intervalMs?: number;
  /** A ping (or reconnect) not answered within this counts as a failure. @default 3000 */
  timeoutMs?: number;
}

/**
 * Pings MySQL every `intervalMs` on a connection of its own (reconnecting after a failure) and
 * caches the answer: {@link notReadyReasons} costs nothing, however often probes ask.
 */
export class MysqlProbe {
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly ssl: ReturnType<typeof mysqlTlsOptions>;
  private conn: Connection | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private last: { ok: boolean; atMs: number; error: string | null } | undefined;

  constructor(
    private readonly cfg: MysqlConfig,
    options: MysqlProbeOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 5000;
    this.timeoutMs = options.timeoutMs ?? 3000;
    this.ssl = mysqlTlsOptions(cfg);
  }

  /** Starts pinging; `reachableNow`: the caller has just reached MySQL (the start-up check). */
  start(reachableNow = false): void {
    if (reachableNow) this.last = { ok: true, atMs: Date.now(), error: null };
    this.schedule(reachableNow ? this.intervalMs : 0);
  }

  /** Empty while the last ping answered and is recent; otherwise one line saying what is wrong. */
  notReadyReasons(now = Date.now()): string[] {
    const where = `MySQL at ${this.cfg.host}:${this.cfg.port} (MYSQL_HOST/MYSQL_PORT)`;
    if (!this.last) return [`${where} not checked yet`];
    if (!this.last.ok) return [`${where} unreachable: ${this.last.error ?? 'unknown error'}`];
    // A ping that hangs leaves no failure behind: an old success is not a current one.
    const staleAfterMs = 2 * this.intervalMs + this.timeoutMs;
    if (now - this.last.atMs > staleAfterMs) return [`${where} has not answered a ping for ${Math.round((now - this.last.atMs) / 1000)} s`];
    return [];
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const conn = this.conn;
    this.conn = undefined;
    conn?.destroy();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.ping().finally(() => this.schedule(this.intervalMs)), ms);
    this.timer.unref();
  }

  private async ping(): Promise<void> {
    try {
      this.conn ??= await withTimeout(connect(this.cfg, this.ssl, this.timeoutMs), this.timeoutMs + 1000, 'connect');
      await withTimeout(this.conn.ping(), this.timeoutMs, 'ping');
      this.last = { ok: true, atMs: Date.now(), error: null };
    } catch (err) {
      this.conn?.destroy();
      this.conn = undefined;
      this.last = { ok: false, atMs: Date.now(), error: mysqlErrorText(err) };
    }
  }
}
