// The health monitor against the run's real Temporal dev server and MariaDB: an in-process batcher
// worker writes real batches, and the monitor (in-process, port 0) reports, restarts and renders them.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { batcherWorkflowId, shardFor } from '@write-batcher/protocol';
import { ensureBatcherShards, signalWithStartBatcher } from '@write-batcher/batcher';
import { batcherSettings, createLogger, createPool, loadConfig, type Config } from '@batcher/service-kit';
import { writeWorkflowBundle } from '@batcher/service-kit/worker';
import { migrateDatabase } from '@batcher/batcher-worker/schema';
import { createBatcherWorker, workflowsPath } from '@write-batcher/batcher';
import {
  MAX_POLL_INTERVAL_MS,
  ShardMonitor,
  startHealthMonitor,
  type HealthMonitorOptions,
  type MonitorStatus,
  type RunningHealthMonitor,
  type ShardStatus,
} from '@batcher/health-monitor';
import { globalMysql, globalTemporal, serviceEnv } from '../support/global-servers';
import { slugOf } from '../support/naming';
import { freePort, repoRoot, spawnLogged } from '../support/processes';
import { startTemporalDevServer } from '../support/temporal';
import { demoRequest } from '../support/requests';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = path.join(repoRoot, '.run', 'health-monitor-status-page.png');
const MAIN = path.join(repoRoot, 'services', 'health-monitor', 'dist', 'main.js');

/** A batcher of the test's own: task queue, workflow ids and database named after the test. */
interface Batcher {
  /** Starts its batcher worker (done at once unless `worker: 'later'`); resolves when it polls. */
  startWorker(): Promise<void>;
  config: Config<'batcher' | 'mysql' | 'monitor'>;
  client: Client;
  /** The settings as environment variables, to hand to a health-monitor process. */
  env: Record<string, string>;
  /** Signals n write requests to their shards; resolves to their request ids. */
  send(n: number): Promise<string[]>;
  committedRows(): Promise<Array<{ request_id: string; batch_id: string }>>;
}

/** The monitor's HTTP interface, wherever it runs. */
interface MonitorHttp {
  url: string;
  get(route: string): Promise<{ status: number; body: string }>;
  status(): Promise<MonitorStatus>;
  shard(n?: number): Promise<ShardStatus>;
}

type Fixture = Batcher & MonitorHttp & { monitor: RunningHealthMonitor };

// Bundling workflow code takes seconds on 2 cores: do it once for every test of the file.
let bundleDir: string;
let bundlePath: string;
beforeAll(async () => {
  bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'health-monitor-test-'));
  bundlePath = path.join(bundleDir, 'batcher-workflows.js');
  await writeWorkflowBundle(workflowsPath, bundlePath);
});
afterAll(() => {
  fs.rmSync(bundleDir, { recursive: true, force: true });
});

/** What each test opened, closed newest first after it whether it passed or not. */
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch((err) => console.error('cleanup failed:', err));
});

/** Unique per run as well as per title: the shards of an earlier run may still be in the server. */
const uniqueSlug = (title: string): string => `${slugOf(title)}-${Date.now().toString(36)}`;

interface BatcherOptions {
  /** 'later': no worker polls the task queue until startWorker() is called. @default 'now' */
  worker?: 'now' | 'later';
  /**
   * MySQL port the worker's pool connects to once the worker has started, instead of the run's
   * MariaDB (e.g. a closed port: the database is down). The worker starts on the run's MariaDB: it
   * reads its tables' columns at start-up, and a database down then stops the start.
   */
  workerMysqlPort?: number;
}

/** Migrates the test's database, runs an in-process batcher worker and makes sure every shard runs. */
async function startBatcher(title: string, overrides: Record<string, string>, options: BatcherOptions = {}): Promise<Batcher> {
  const slug = uniqueSlug(title);
  const temporal = globalTemporal();
  const db = globalMysql();
  const env: Record<string, string> = {
    BATCHER_TASK_QUEUE: `hm-${slug}`,
    BATCHER_WORKFLOW_ID_PREFIX: `hm-${slug}`,
    MYSQL_HOST: db.host,
    MYSQL_PORT: String(db.port),
    MYSQL_USER: db.user,
    MYSQL_PASSWORD: db.password,
    MYSQL_DATABASE: `hm_${createHash('sha1').update(slug).digest('hex').slice(0, 12)}`,
    HEALTH_MONITOR_PORT: '0',
    HEALTH_AUTO_RESTART: 'true',
    ...overrides,
  };
  // The real loader, so the test runs with exactly the settings a deployment would read.
  const config = loadConfig(['batcher', 'mysql', 'monitor'], env);
  await migrateDatabase(config.mysql);
  const pool = createPool(config.mysql, { connectionLimit: 4 });
  cleanups.push(async () => {
    await pool.query(`DROP DATABASE IF EXISTS \`${config.mysql.database}\``);
    await pool.end();
  });
  const workerConnection = await NativeConnection.connect({ address: temporal.address });
  cleanups.push(() => workerConnection.close());
  const connection = await Connection.connect({ address: temporal.address });
  cleanups.push(() => connection.close());
  const client = new Client({ connection, namespace: temporal.namespace });

  let workerPool = pool;
  let databaseDown = (): void => undefined;
  if (options.workerMysqlPort !== undefined) {
    const down = createPool({ ...config.mysql, port: options.workerMysqlPort }, { connectionLimit: 2, connectTimeout: 1000 });
    cleanups.push(() => down.end());
    // The worker's pool: the run's MariaDB until databaseDown(), the closed port from then on.
    let current = pool;
    databaseDown = () => {
      current = down;
    };
    workerPool = new Proxy(pool, {
      get(_target, key) {
        const value = Reflect.get(current, key, current) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(current) : value;
      },
    });
  }
  let worker: Awaited<ReturnType<typeof createBatcherWorker>> | undefined;
  let workerRun: Promise<void> | undefined;
  const startWorker = async () => {
    if (worker) return;
    const batching = loadConfig(['batching'], env).batching;
    worker = await createBatcherWorker({
      connection: workerConnection,
      namespace: temporal.namespace,
      pool: workerPool,
      tables: batching.tables,
      routing: config.batcher,
      settings: batcherSettings(batching),
      workflowBundlePath: bundlePath,
      shutdownGraceMs: 1000,
    });
    databaseDown();
    workerRun = worker.run();
  };
  cleanups.push(async () => {
    // Terminated only after the monitor is gone (it is closed first), or it would restart them.
    for (let shard = 0; shard < config.batcher.shards; shard++) {
      await client.workflow
        .getHandle(batcherWorkflowId(config.batcher.workflowIdPrefix, shard))
        .terminate('test finished')
        .catch(() => undefined);
    }
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
  });
  if (options.worker !== 'later') await startWorker();
  // As in a deployment, the shards exist before the monitor looks (the starter ensures them), so
  // a restart the monitor counts is one the test caused.
  await ensureBatcherShards(client, config.batcher);

  let sent = 0;
  return {
    startWorker,
    config,
    client,
    env,
    async send(n) {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const requestId = `write:${slug}-${sent++}`;
        // The requesters are ids only (no workflow runs under them): the batcher counts their
        // confirmations as undeliverable, which does not affect batching or statistics. Their
        // reply addresses are the ones batchedWrite would give (a shard drops any other).
        const requesterWorkflowId = `requester-${requestId}`;
        const request = demoRequest(requestId, requesterWorkflowId, { n: sent, test: slug }, { submittedAtMs: Date.now() });
        await signalWithStartBatcher(client, config.batcher, shardFor(requestId, config.batcher.shards), [request]);
        ids.push(requestId);
      }
      return ids;
    },
    async committedRows() {
      const [rows] = await pool.query(
        `SELECT CAST(request_id AS CHAR) AS request_id, CAST(batch_id AS CHAR) AS batch_id FROM batched_writes WHERE status = 'committed' ORDER BY id`,
      );
      return rows as Array<{ request_id: string; batch_id: string }>;
    },
  };
}

function monitorHttp(url: string): MonitorHttp {
  const get = async (route: string) => {
    const response = await fetch(`${url}${route}`);
    return { status: response.status, body: await response.text() };
  };
  const status = async () => {
    const response = await get('/api/status');
    expect(response.status).toBe(200);
    return JSON.parse(response.body) as MonitorStatus;
  };
  return {
    url,
    get,
    status,
    async shard(n = 0) {
      const s = (await status()).shards[n];
      if (!s) throw new Error(`no shard ${n} in /api/status`);
      return s;
    },
  };
}

/** A batcher plus the health monitor in this process, on a free port. */
async function startFixture(
  title: string,
  env: Record<string, string>,
  options: BatcherOptions & Pick<HealthMonitorOptions, 'stall' | 'rpcTimeoutMs'> = {},
): Promise<Fixture> {
  const batcher = await startBatcher(title, env, options);
  const monitor = await startHealthMonitor({
    client: batcher.client,
    batcher: batcher.config.batcher,
    monitor: batcher.config.monitor,
    logger: createLogger('health-monitor-test', 'warn'),
    host: '127.0.0.1',
    stall: options.stall,
    rpcTimeoutMs: options.rpcTimeoutMs,
  });
  cleanups.push(() => monitor.close());
  return { ...batcher, ...monitorHttp(monitor.url), monitor };
}

/** A headless Chromium page of the test's own, closed after the test. */
async function openBrowserPage(): Promise<Page> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/install-tools.sh test`);
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'health-monitor-chromium-'));
  cleanups.push(async () => fs.rmSync(userDataDir, { recursive: true, force: true }));
  const browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1100, height: 760 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  cleanups.push(() => browser.close());
  return browser.pages()[0] ?? (await browser.newPage());
}

/** The value of one sample in Prometheus text, e.g. sample(text, 'batcher_shard_up', { shard: '0' }). */
function sample(metrics: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const labelText = Object.keys(labels).length
    ? `{${Object.entries(labels)
        .map(([k, v]) => `${k}="${v}"`)
        .join(',')}}`
    : '';
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}${labelText} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const shard0 = { shard: '0' };

describe('health monitor', () => {
  it('when three write requests are written as a batch, then /api/status and /metrics report the batch and its three rows', async (ctx) => {
    const f = await startFixture(ctx.task.name, { BATCH_MAX_SIZE: '3', BATCH_FLUSH_INTERVAL_MS: '500', HEALTH_POLL_INTERVAL_MS: '250' });
    const ids = await f.send(3);

    const shard = await vi.waitFor(
      async () => {
        const s = await f.shard();
        expect(s.stats?.batchesWritten).toBeGreaterThanOrEqual(1);
        expect(s.stats?.rowsWritten).toBe(3);
        return s;
      },
      { timeout: 30_000, interval: 200 },
    );
    // The monitor's numbers are the database's numbers.
    const rows = await f.committedRows();
    expect(rows.map((r) => r.request_id).sort()).toEqual([...ids].sort());
    expect(shard.stats?.lastBatch?.batchId).toBe(rows[0]?.batch_id);
    expect(shard).toMatchObject({ state: 'running', stateReasons: [], workflowStatus: 'RUNNING', restarts: 0, error: null });
    expect(shard.historyLength).toBeGreaterThan(0);
    expect(await f.status()).toMatchObject({ overall: 'ok', reasons: [], readiness: { ready: true, reasons: [] } });
    expect(shard.stats).toMatchObject({ signalsTotal: 3, pending: 0 });
    expect(shard.history.batches.map((b) => b.rows)).toEqual([3]);
    expect(shard.history.pending.length).toBeGreaterThan(0);

    expect((await f.get('/healthz')).status).toBe(200);
    const ready = await f.get('/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({ ready: true, reasons: [] });

    const metrics = await f.get('/metrics');
    expect(metrics.status).toBe(200);
    const text = metrics.body;
    expect(sample(text, 'batcher_shard_up', shard0)).toBe(1);
    expect(sample(text, 'batcher_shard_batches_written', shard0)).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'batcher_shard_rows_written', shard0)).toBe(3);
    expect(sample(text, 'batcher_shard_signals', shard0)).toBe(3);
    expect(sample(text, 'batcher_shard_signals_this_run', shard0)).toBe(3);
    expect(sample(text, 'batcher_shard_pending_requests', shard0)).toBe(0);
    expect(sample(text, 'batcher_shard_continue_as_new', shard0)).toBe(0);
    expect(sample(text, 'batcher_shard_dedup_window_size', shard0)).toBe(3);
    expect(sample(text, 'batcher_shard_continue_as_new_payload_bytes', shard0)).toBeGreaterThan(0);
    expect(sample(text, 'batcher_shard_seconds_since_last_flush', shard0)).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'batcher_shard_restarts_total', shard0)).toBe(0);
    expect(sample(text, 'batcher_monitor_temporal_up')).toBe(1);
    expect(sample(text, 'batcher_monitor_ready')).toBe(1);
    expect(sample(text, 'batcher_monitor_healthy')).toBe(1);
    expect(sample(text, 'batcher_shard_state', { shard: '0', state: 'running' })).toBe(1);
    expect(sample(text, 'batcher_shard_state', { shard: '0', state: 'stalled' })).toBe(0);
    // prom-client's default process metrics are there too.
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(text).toContain('# TYPE batcher_shard_restarts_total counter');
  });

  it('when a shard is terminated, then /api/status is degraded naming it while /readyz stays 200, and the monitor starts it again with { shard } as its only input', async (ctx) => {
    // A 1 s interval keeps the not-running state visible long enough to observe.
    const f = await startFixture(ctx.task.name, { BATCH_MAX_SIZE: '1', BATCH_FLUSH_INTERVAL_MS: '300', HEALTH_POLL_INTERVAL_MS: '1000' });
    await vi.waitFor(async () => expect((await f.status()).overall).toBe('ok'), { timeout: 30_000, interval: 100 });
    const before = await f.shard();
    expect(before.runId).toBeTruthy();

    // Watch /readyz the whole time: the shard's trouble must never take the monitor out of service.
    const readyz: number[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        readyz.push((await f.get('/readyz')).status);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    let degraded: MonitorStatus;
    try {
      await f.client.workflow.getHandle(before.workflowId).terminate('test: a shard lost to an operator mistake');
      degraded = await vi.waitFor(
        async () => {
          const status = await f.status();
          expect(status.overall).toBe('degraded');
          return status;
        },
        { timeout: 20_000, interval: 50 },
      );
      await vi.waitFor(async () => expect((await f.shard()).restarts).toBe(1), { timeout: 20_000, interval: 100 });
    } finally {
      watching = false;
      await watcher;
    }
    // The restart follows in the same check, so a reader sees the shard restarting (rarely, not-running).
    expect(degraded.reasons).toHaveLength(1);
    expect(degraded.reasons[0]).toMatch(
      new RegExp(
        `^shard 0 \\(${before.workflowId}\\) is (restarting: run \\S+ started, not yet confirmed|not-running: newest run ${before.runId} is TERMINATED)$`,
      ),
    );
    expect(readyz.length).toBeGreaterThan(5);
    expect(readyz.filter((code) => code !== 200)).toEqual([]);

    const after = await f.shard();
    expect(after.runId).not.toBe(before.runId);
    const events = (await f.status()).events.filter((e) => e.shard === 0);
    expect(events.map((e) => e.kind).slice(-2)).toEqual(['down', 'restarted']);
    expect(events.find((e) => e.kind === 'down')?.message).toContain('TERMINATED');
    expect(sample((await f.get('/metrics')).body, 'batcher_shard_restarts_total', shard0)).toBe(1);

    // The batcher reads its own settings: the monitor hands the new run nothing but its shard.
    const history = await f.client.workflow.getHandle(after.workflowId, after.runId ?? undefined).fetchHistory();
    const payloads = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
    expect(payloads.map((p) => JSON.parse(Buffer.from(p.data ?? new Uint8Array()).toString('utf8')))).toEqual([{ shard: 0 }]);
    // … and that run works: a request sent now is written.
    const [late] = (await f.send(1)) as [string];
    await vi.waitFor(async () => expect((await f.committedRows()).map((r) => r.request_id)).toContain(late), {
      timeout: 60_000,
      interval: 200,
    });
  });

  it('when a shard continues as new twice, then the monitor follows each new run without a gap and counts every signal', async (ctx) => {
    const f = await startFixture(ctx.task.name, {
      CONTINUE_AS_NEW_SIGNALS: '5',
      BATCH_MAX_SIZE: '100',
      BATCH_FLUSH_INTERVAL_MS: '300',
      HEALTH_POLL_INTERVAL_MS: '200',
    });
    await vi.waitFor(async () => expect((await f.status()).overall).toBe('ok'), { timeout: 30_000, interval: 100 });
    // The first statistics the shard publishes (its memo) once its first run has read its settings.
    await vi.waitFor(async () => expect((await f.shard()).stats).not.toBeNull(), { timeout: 30_000, interval: 100 });
    const first = await f.shard();

    // Watch the monitor the whole time, as a dashboard would: every answer must show the shard up.
    const seen: Array<Pick<ShardStatus, 'state' | 'runId' | 'error'> & { ok: boolean; hasStats: boolean }> = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const status = await f.status();
        const s = status.shards[0]!;
        seen.push({ state: s.state, runId: s.runId, error: s.error, ok: status.overall === 'ok', hasStats: s.stats !== null });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    // Rounds of 5: each round fills one run, so each ends in its own continue-as-new (signals sent
    // at once could all land in one run and give a single transition).
    const rounds = 3;
    const ids: string[] = [];
    try {
      for (let round = 1; round <= rounds; round++) {
        ids.push(...(await f.send(5)));
        await vi.waitFor(async () => expect((await f.shard()).stats?.continueAsNewCount).toBeGreaterThanOrEqual(round), {
          timeout: 30_000,
          interval: 100,
        });
      }
      await vi.waitFor(
        async () => {
          const s = await f.shard();
          expect(s.stats).toMatchObject({ signalsTotal: ids.length, rowsWritten: ids.length, pending: 0 });
        },
        { timeout: 30_000, interval: 200 },
      );
    } finally {
      watching = false;
      await watcher;
    }

    const last = await f.shard();
    expect(last.stats?.continueAsNewCount).toBeGreaterThanOrEqual(2);
    expect(last.stats?.signalsTotal).toBe(15);
    expect(last.runId).not.toBe(first.runId);
    expect(last.restarts).toBe(0);
    expect(seen.length).toBeGreaterThan(10);
    expect(seen.filter((s) => s.state !== 'running' || !s.ok || s.error !== null || !s.hasStats)).toEqual([]);
    // The monitor saw the runs one after the other, not only the first and the last.
    expect(new Set(seen.map((s) => s.runId)).size).toBeGreaterThanOrEqual(3);
    expect((await f.committedRows()).map((r) => r.request_id).sort()).toEqual([...ids].sort());

    const metrics = (await f.get('/metrics')).body;
    expect(sample(metrics, 'batcher_shard_continue_as_new', shard0)).toBeGreaterThanOrEqual(2);
    expect(sample(metrics, 'batcher_shard_signals', shard0)).toBe(15);
    expect(sample(metrics, 'batcher_shard_up', shard0)).toBe(1);
  });

  it('when the status page is open in a browser, then it shows the real batch numbers and updates itself when a later batch is written', async (ctx) => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/install-tools.sh test`);
    const f = await startFixture(ctx.task.name, { BATCH_MAX_SIZE: '3', BATCH_FLUSH_INTERVAL_MS: '300', HEALTH_POLL_INTERVAL_MS: '250' });
    await f.send(3);
    await vi.waitFor(async () => expect((await f.shard()).stats?.rowsWritten).toBe(3), { timeout: 30_000, interval: 200 });

    const page = await openBrowserPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    let loads = 0;
    page.on('load', () => loads++);
    await page.goto(`${f.monitor.url}/`);

    const card = page.locator('[data-shard="0"]');
    const value = (name: string) => card.locator(`[data-field="${name}"]`);
    await expect.poll(() => value('batchesWritten').textContent(), { timeout: 15_000 }).toBe('1');
    await expect.poll(() => value('rowsWritten').textContent()).toBe('3');
    expect(await value('state').textContent()).toBe('running');
    expect(await page.locator('[data-testid="overall"]').textContent()).toBe('ok');
    expect(await page.locator('[data-testid="ready"]').textContent()).toBe('ready');
    expect(await card.locator('svg rect').count()).toBe(1);

    // A later batch, and no reload: the page's own polling must bring the new numbers.
    await f.send(3);
    await expect.poll(() => value('batchesWritten').textContent(), { timeout: 15_000 }).toBe('2');
    await expect.poll(() => value('rowsWritten').textContent()).toBe('6');
    await expect.poll(() => card.locator('svg rect').count()).toBe(2);
    expect(await card.locator('svg polyline').count()).toBe(1);
    expect(loads).toBe(1);
    expect(pageErrors).toEqual([]);

    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  it('when Temporal becomes unreachable, then /api/status is degraded naming Temporal at once, /readyz turns 503 once the last successful check is stale, and /healthz stays 200', async () => {
    // A Temporal server of this test's own, so stopping it harms no other test.
    const temporal = await startTemporalDevServer({ ui: false });
    cleanups.push(() => temporal.stop());
    const connection = await Connection.connect({ address: temporal.address });
    cleanups.push(() => connection.close());
    const client = new Client({ connection, namespace: temporal.namespace });
    const config = loadConfig(['batcher', 'monitor'], {
      BATCHER_WORKFLOW_ID_PREFIX: 'hm-unreachable',
      HEALTH_MONITOR_PORT: '0',
      HEALTH_POLL_INTERVAL_MS: '200',
      HEALTH_AUTO_RESTART: 'false',
    });
    const monitor = await startHealthMonitor({
      client,
      batcher: config.batcher,
      monitor: config.monitor,
      logger: createLogger('health-monitor-test', 'error'),
      host: '127.0.0.1',
      rpcTimeoutMs: 1000,
    });
    cleanups.push(() => monitor.close());
    const http = monitorHttp(monitor.url);

    // No shard was ever started and auto-restart is off: degraded because of the shard, yet ready.
    const first = await vi.waitFor(
      async () => {
        const status = await http.status();
        expect(status.polls).toBeGreaterThanOrEqual(1); // a whole check, not one caught half-way
        expect(status.temporal.reachable).toBe(true);
        return status;
      },
      { timeout: 15_000, interval: 100 },
    );
    expect(first.shards[0]).toMatchObject({ state: 'not-running', workflowStatus: 'NOT_FOUND', restarts: 0 });
    expect(first).toMatchObject({
      overall: 'degraded',
      reasons: ['shard 0 (hm-unreachable-0) is not-running: workflow has never been started'],
    });
    expect((await http.get('/readyz')).status).toBe(200);

    await temporal.stop();
    const degraded = await vi.waitFor(
      async () => {
        const status = await http.status();
        expect(status.reasons[0]).toMatch(/^Temporal unreachable: /);
        return status;
      },
      { timeout: 20_000, interval: 100 },
    );
    expect(degraded.reasons).toHaveLength(1); // the shards' "unknown" is the same news, not repeated
    // Stale after 3 poll intervals + 2 RPC deadlines (2.6 s here) without reaching Temporal.
    const notReady = await vi.waitFor(
      async () => {
        const r = await http.get('/readyz');
        expect(r.status).toBe(503);
        return JSON.parse(r.body) as { ready: boolean; reasons: string[] };
      },
      { timeout: 20_000, interval: 200 },
    );
    expect(notReady.ready).toBe(false);
    expect(notReady.reasons).toHaveLength(1);
    expect(notReady.reasons[0]).toMatch(/^last reached Temporal \d+ s ago \(Temporal unreachable: /);
    expect((await http.get('/healthz')).status).toBe(200);
    const metrics = (await http.get('/metrics')).body;
    expect(sample(metrics, 'batcher_monitor_temporal_up')).toBe(0);
    expect(sample(metrics, 'batcher_monitor_ready')).toBe(0);
    expect(sample(metrics, 'batcher_monitor_healthy')).toBe(0);
    expect(sample(metrics, 'batcher_shard_up', shard0)).toBe(0);
    expect(sample(metrics, 'batcher_shard_state', { shard: '0', state: 'unknown' })).toBe(1);
    expect((await http.shard()).state).toBe('unknown');
  });

  it('when a shard has pending requests and no worker polls its task queue, then it is no-worker, not stalled (in /api/status, /metrics and the status page) while /readyz stays 200, and running again once a worker comes', async (ctx) => {
    const f = await startFixture(
      ctx.task.name,
      { BATCH_MAX_SIZE: '100', BATCH_FLUSH_INTERVAL_MS: '300', HEALTH_POLL_INTERVAL_MS: '200' },
      { worker: 'later', rpcTimeoutMs: 500, stall: { workflowTaskAgeMs: 2000 } },
    );
    const ids = await f.send(3);

    const stalled = await vi.waitFor(
      async () => {
        const s = await f.shard();
        expect(s.state).toBe('no-worker');
        expect(s.stateReasons.join('\n')).toMatch(/workflow task scheduled \d+\.\d s ago and not picked up by any worker/);
        return s;
      },
      { timeout: 30_000, interval: 200 },
    );
    expect(stalled.workflowStatus).toBe('RUNNING');
    expect(stalled.pendingWorkflowTask).toMatchObject({ startedAtMs: null });
    expect(stalled.stateReasons[0]).toBe('no worker polls the task queue');
    const status = await f.status();
    expect(status.overall).toBe('degraded');
    expect(status.reasons[0]).toMatch(new RegExp(`^shard 0 \\(${stalled.workflowId}\\) is no-worker: `));
    expect(status.events.filter((e) => e.shard === 0).map((e) => e.kind)).toContain('no-worker');
    expect((await f.get('/readyz')).status).toBe(200);
    const metrics = (await f.get('/metrics')).body;
    expect(sample(metrics, 'batcher_shard_state', { shard: '0', state: 'no-worker' })).toBe(1);
    expect(sample(metrics, 'batcher_shard_state', { shard: '0', state: 'stalled' })).toBe(0);
    expect(sample(metrics, 'batcher_shard_state', { shard: '0', state: 'running' })).toBe(0);
    expect(sample(metrics, 'batcher_shard_up', shard0)).toBe(1); // RUNNING in Temporal all the same
    expect(sample(metrics, 'batcher_monitor_healthy')).toBe(0);
    expect(sample(metrics, 'batcher_monitor_ready')).toBe(1);

    const page = await openBrowserPage();
    await page.goto(`${f.monitor.url}/`);
    const card = page.locator('[data-shard="0"]');
    await expect.poll(() => card.locator('[data-field="state"]').textContent(), { timeout: 15_000 }).toBe('no-worker');
    expect(await card.locator('[data-field="stateReasons"] li').count()).toBeGreaterThan(0);
    expect(await page.locator('[data-testid="overall"]').textContent()).toBe('degraded');
    expect(await page.locator('[data-testid="ready"]').textContent()).toBe('ready');

    // The worker comes back: the shard writes what it held and is running again.
    await f.startWorker();
    await vi.waitFor(
      async () => {
        const s = await f.shard();
        expect(s).toMatchObject({ state: 'running', stats: { rowsWritten: 3, pending: 0 } });
      },
      { timeout: 30_000, interval: 200 },
    );
    expect((await f.committedRows()).map((r) => r.request_id).sort()).toEqual([...ids].sort());
    expect((await f.status()).overall).toBe('ok');
  });

  it('when the workflow task of a RUNNING shard keeps failing, then the shard is stalled and the reason names the attempt', async (ctx) => {
    const f = await startFixture(
      ctx.task.name,
      { BATCH_FLUSH_INTERVAL_MS: '300', HEALTH_POLL_INTERVAL_MS: '200', HEALTH_AUTO_RESTART: 'false' },
      { rpcTimeoutMs: 1000, stall: { workflowTaskAttempts: 2 } },
    );
    await vi.waitFor(async () => expect((await f.shard()).state).toBe('running'), { timeout: 30_000, interval: 100 });
    const { workflowId } = await f.shard();
    // Replace the shard by a run of a workflow type the worker does not have (a deploy that lost
    // it): the worker fails every workflow task of it, and Temporal keeps the run RUNNING.
    await f.client.workflow.getHandle(workflowId).terminate('test: replaced by a broken run');
    await f.client.workflow.start('batcherWorkflowThatNoWorkerHas', {
      workflowId,
      taskQueue: f.config.batcher.taskQueue,
      args: [{ shard: 0 }],
    });

    const s = await vi.waitFor(
      async () => {
        const shard = await f.shard();
        expect(shard.state).toBe('stalled');
        expect(shard.stateReasons.join('\n')).toMatch(/workflow task is on attempt \d+ \(failing or timing out\)/);
        return shard;
      },
      { timeout: 30_000, interval: 200 },
    );
    expect(s.workflowStatus).toBe('RUNNING');
    expect(s.pendingWorkflowTask?.attempt).toBeGreaterThanOrEqual(2);
    expect(s.restarts).toBe(0);
  });

  it('when the database is down, then the shard holds its requests without flushing and becomes stalled once 3 flush intervals and the minimum have passed', async (ctx) => {
    // A port nobody listens on: every bulk write fails to connect and is retried, so no batch ends.
    const f = await startFixture(
      ctx.task.name,
      { BATCH_MAX_SIZE: '1', BATCH_FLUSH_INTERVAL_MS: '300', HEALTH_POLL_INTERVAL_MS: '200' },
      { workerMysqlPort: await freePort(), stall: { minFlushStallMs: 2000 } },
    );
    await vi.waitFor(async () => expect((await f.shard()).state).toBe('running'), { timeout: 30_000, interval: 100 });
    // The requests go into bulk writes that never end (several may be in flight at once).
    await f.send(3);
    const s = await vi.waitFor(
      async () => {
        const shard = await f.shard();
        expect(shard.state).toBe('stalled');
        return shard;
      },
      { timeout: 30_000, interval: 200 },
    );
    expect(s.stats?.batchesWritten).toBe(0);
    expect((s.stats?.pending ?? 0) + (s.stats?.writesInFlight ?? 0)).toBeGreaterThanOrEqual(1);
    expect(s.stateReasons).toHaveLength(1);
    expect(s.stateReasons[0]).toMatch(
      /requests pending.*, no flush for \d+\.\d s \(limit 2\.0 s: 3 flush intervals of 0\.3 s, at least 2\.0 s\)$/,
    );
    expect(s.error).toBeNull(); // the workflow itself is described and publishes: it is the writes that are stuck
  });

  it('when the poll interval is 2^32 ms (beyond what a timer can wait), then the monitor checks once and waits instead of polling in a tight loop', async () => {
    const temporal = globalTemporal();
    const connection = await Connection.connect({ address: temporal.address });
    cleanups.push(() => connection.close());
    const client = new Client({ connection, namespace: temporal.namespace });
    const config = loadConfig(['batcher'], { BATCHER_WORKFLOW_ID_PREFIX: `hm-interval-${Date.now().toString(36)}` });
    const monitor = new ShardMonitor({
      client,
      batcher: config.batcher,
      pollIntervalMs: 2 ** 32,
      autoRestart: false,
      logger: createLogger('health-monitor-test', 'error'),
      rpcTimeoutMs: 2000,
    });
    cleanups.push(() => monitor.stop());
    monitor.start();
    await vi.waitFor(() => expect(monitor.status().polls).toBe(1), { timeout: 10_000, interval: 20 });
    // An overflowing setTimeout fires after 1 ms: within 1.5 s that would be hundreds of checks.
    await new Promise((r) => setTimeout(r, 1500));
    expect(monitor.status().polls).toBe(1);
    expect(monitor.pollIntervalMs).toBe(MAX_POLL_INTERVAL_MS);
    expect(monitor.status().pollIntervalMs).toBe(2 ** 31 - 1);
  });

  it('when main.js runs as a process, then it serves the real status until SIGTERM ends it cleanly, and a bad setting stops it with one line naming the variable', async (ctx) => {
    const b = await startBatcher(ctx.task.name, { BATCH_MAX_SIZE: '2', BATCH_FLUSH_INTERVAL_MS: '300' });
    const port = await freePort();
    const service = spawnLogged({
      name: 'health-monitor',
      command: process.execPath,
      args: [MAIN],
      env: serviceEnv({ ...b.env, HEALTH_MONITOR_PORT: String(port), HEALTH_POLL_INTERVAL_MS: '250', LOG_LEVEL: 'info' }),
    });
    cleanups.push(() => service.stop({ graceMs: 5000 }));
    const http = monitorHttp(`http://127.0.0.1:${port}`);

    await vi.waitFor(async () => expect((await http.get('/readyz')).status).toBe(200), { timeout: 30_000, interval: 200 });
    await b.send(2);
    await vi.waitFor(async () => expect((await http.shard()).stats).toMatchObject({ batchesWritten: 1, rowsWritten: 2 }), {
      timeout: 30_000,
      interval: 200,
    });
    expect(sample((await http.get('/metrics')).body, 'batcher_shard_rows_written', shard0)).toBe(2);
    expect((await http.get('/')).body).toContain('<title>Write batcher · health</title>');

    expect(await service.stop({ graceMs: 10_000 })).toEqual({ code: 0, signal: null });
    const log = fs.readFileSync(service.logFile, 'utf8');
    expect(log).toContain('"msg":"health monitor running"');
    expect(log).toContain('"msg":"shutting down"');

    const bad = spawnLogged({
      name: 'health-monitor-bad-config',
      command: process.execPath,
      args: [MAIN],
      env: serviceEnv({ ...b.env, HEALTH_POLL_INTERVAL_MS: '5' }),
    });
    cleanups.push(() => bad.stop({ graceMs: 1000 }));
    expect(await bad.exited).toEqual({ code: 1, signal: null });
    const lines = fs.readFileSync(bad.logFile, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'fatal', service: 'health-monitor' });
    expect(lines[0]).toContain('HEALTH_POLL_INTERVAL_MS: must be >= 100');
  });
});
