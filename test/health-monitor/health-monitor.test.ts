// The health monitor against the run's real Temporal dev server and MariaDB: an in-process batcher
// worker writes real batches, and the monitor (in-process, port 0) reports, restarts and renders them.
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { batcherWorkflowId, shardFor, type WriteRequest } from '@batcher/shared/workflow';
import { batcherSettings, createLogger, createPool, ensureBatcherShards, loadConfig, migrate, signalWithStartBatcher, type Config } from '@batcher/shared/node';
import { writeWorkflowBundle } from '@batcher/shared/worker';
import { createBatcherWorker, workflowsPath } from '@batcher/batcher-worker/dist/worker';
import { startHealthMonitor, type MonitorStatus, type RunningHealthMonitor, type ShardStatus } from '@batcher/health-monitor/dist/index';
import { globalMysql, globalTemporal, serviceEnv } from '../support/global-servers';
import { slugOf } from '../support/naming';
import { freePort, repoRoot, spawnLogged } from '../support/processes';
import { startTemporalDevServer } from '../support/temporal';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = path.join(repoRoot, '.run', 'health-monitor-status-page.png');
const MAIN = path.join(repoRoot, 'services', 'health-monitor', 'dist', 'main.js');

/** A batcher of the test's own: task queue, workflow ids and database named after the test. */
interface Batcher {
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

/** Migrates the test's database, runs an in-process batcher worker and makes sure every shard runs. */
async function startBatcher(title: string, overrides: Record<string, string>): Promise<Batcher> {
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
  await migrate(config.mysql);
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

  const worker = await createBatcherWorker({ connection: workerConnection, namespace: temporal.namespace, taskQueue: config.batcher.taskQueue, pool, settings: batcherSettings(loadConfig(['batching'], env).batching), workflowBundlePath: bundlePath, shutdownGraceMs: 1000 });
  const workerRun = worker.run();
  cleanups.push(async () => {
    // Terminated only after the monitor is gone (it is closed first), or it would restart them.
    for (let shard = 0; shard < config.batcher.shards; shard++) {
      await client.workflow.getHandle(batcherWorkflowId(config.batcher.workflowIdPrefix, shard)).terminate('test finished').catch(() => undefined);
    }
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
  });
  // As in a deployment, the shards exist before the monitor looks (the starter ensures them), so
  // a restart the monitor counts is one the test caused.
  await ensureBatcherShards(client, config.batcher);

  let sent = 0;
  return {
    config,
    client,
    env,
    async send(n) {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const requestId = `write:${slug}-${sent++}`;
        // The requesters are ids only (no workflow runs under them): the batcher counts their
        // confirmations as undeliverable, which does not affect batching or statistics.
        const requesterWorkflowId = `requester-${requestId}`;
        const request: WriteRequest = { requestId, requesterWorkflowId, payload: { n: sent, test: slug }, submittedAtMs: Date.now(), reply: { workflowId: requesterWorkflowId, runId: randomUUID(), activityId: 'none' } };
        await signalWithStartBatcher(client, config.batcher, shardFor(requestId, config.batcher.shards), [request]);
        ids.push(requestId);
      }
      return ids;
    },
    async committedRows() {
      const [rows] = await pool.query(`SELECT request_id, batch_id FROM batched_writes WHERE status = 'committed' ORDER BY id`);
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
async function startFixture(title: string, env: Record<string, string>): Promise<Fixture> {
  const batcher = await startBatcher(title, env);
  const monitor = await startHealthMonitor({ client: batcher.client, batcher: batcher.config.batcher, monitor: batcher.config.monitor, logger: createLogger('health-monitor-test', 'warn'), host: '127.0.0.1' });
  cleanups.push(() => monitor.close());
  return { ...batcher, ...monitorHttp(monitor.url), monitor };
}

/** The value of one sample in Prometheus text, e.g. sample(text, 'batcher_shard_up', { shard: '0' }). */
function sample(metrics: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const labelText = Object.keys(labels).length ? `{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}}` : '';
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
    expect(shard).toMatchObject({ state: 'running', workflowStatus: 'RUNNING', restarts: 0, error: null });
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
    // prom-client's default process metrics are there too.
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(text).toContain('# TYPE batcher_shard_restarts_total counter');
  });

  it('when a shard is terminated, then /readyz answers 503 naming it, the monitor starts it again, and /readyz is 200 once the new run is confirmed', async (ctx) => {
    // A 1 s interval keeps the restarted-but-unconfirmed state visible long enough to observe.
    const f = await startFixture(ctx.task.name, { BATCH_MAX_SIZE: '1', BATCH_FLUSH_INTERVAL_MS: '300', HEALTH_POLL_INTERVAL_MS: '1000' });
    await vi.waitFor(async () => expect((await f.get('/readyz')).status).toBe(200), { timeout: 30_000, interval: 100 });
    const before = await f.shard();
    expect(before.runId).toBeTruthy();

    await f.client.workflow.getHandle(before.workflowId).terminate('test: a shard lost to an operator mistake');

    const notReady = await vi.waitFor(
      async () => {
        const r = await f.get('/readyz');
        expect(r.status).toBe(503);
        return JSON.parse(r.body) as { ready: boolean; reasons: string[] };
      },
      { timeout: 20_000, interval: 50 },
    );
    expect(notReady.ready).toBe(false);
    expect(notReady.reasons.join('\n')).toContain(`shard 0 (${before.workflowId})`);

    await vi.waitFor(async () => expect((await f.get('/readyz')).status).toBe(200), { timeout: 20_000, interval: 100 });
    const after = await f.shard();
    expect(after).toMatchObject({ state: 'running', workflowStatus: 'RUNNING', restarts: 1, error: null });
    expect(after.runId).not.toBe(before.runId);
    const events = (await f.status()).events.filter((e) => e.shard === 0).map((e) => e.kind);
    expect(events.slice(-3)).toEqual(['down', 'restarted', 'up']);
    expect((await f.status()).events.find((e) => e.kind === 'down')?.message).toContain('TERMINATED');

    const metrics = (await f.get('/metrics')).body;
    expect(sample(metrics, 'batcher_shard_restarts_total', shard0)).toBe(1);
    expect(sample(metrics, 'batcher_shard_up', shard0)).toBe(1);

    // The restarted shard does its job: a new request is written by the new run.
    const [id] = await f.send(1);
    await vi.waitFor(async () => expect((await f.shard()).stats?.rowsWritten).toBe(1), { timeout: 30_000, interval: 200 });
    expect((await f.committedRows()).map((r) => r.request_id)).toEqual([id]);
  });

  it('when a shard continues as new twice, then the monitor follows each new run without a gap and counts every signal', async (ctx) => {
    const f = await startFixture(ctx.task.name, { CONTINUE_AS_NEW_SIGNALS: '5', BATCH_MAX_SIZE: '100', BATCH_FLUSH_INTERVAL_MS: '300', HEALTH_POLL_INTERVAL_MS: '200' });
    await vi.waitFor(async () => expect((await f.get('/readyz')).status).toBe(200), { timeout: 30_000, interval: 100 });
    const first = await f.shard();

    // Watch the monitor the whole time, as a dashboard would: every answer must show the shard up.
    const seen: Array<Pick<ShardStatus, 'state' | 'runId' | 'error'> & { ready: boolean; hasStats: boolean }> = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const status = await f.status();
        const s = status.shards[0]!;
        seen.push({ state: s.state, runId: s.runId, error: s.error, ready: status.ready, hasStats: s.stats !== null });
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
        await vi.waitFor(async () => expect((await f.shard()).stats?.continueAsNewCount).toBeGreaterThanOrEqual(round), { timeout: 30_000, interval: 100 });
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
    expect(seen.filter((s) => s.state !== 'running' || !s.ready || s.error !== null || !s.hasStats)).toEqual([]);
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

    const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'health-monitor-chromium-'));
    cleanups.push(async () => fs.rmSync(userDataDir, { recursive: true, force: true }));
    const browser = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1100, height: 760 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    cleanups.push(() => browser.close());
    const page = browser.pages()[0] ?? (await browser.newPage());
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

  it('when Temporal becomes unreachable, then /readyz answers 503 naming Temporal and /healthz stays 200', async () => {
    // A Temporal server of this test's own, so stopping it harms no other test.
    const temporal = await startTemporalDevServer({ ui: false });
    cleanups.push(() => temporal.stop());
    const connection = await Connection.connect({ address: temporal.address });
    cleanups.push(() => connection.close());
    const client = new Client({ connection, namespace: temporal.namespace });
    const config = loadConfig(['batcher', 'monitor'], { BATCHER_WORKFLOW_ID_PREFIX: 'hm-unreachable', HEALTH_MONITOR_PORT: '0', HEALTH_POLL_INTERVAL_MS: '200', HEALTH_AUTO_RESTART: 'false' });
    const monitor = await startHealthMonitor({ client, batcher: config.batcher, monitor: config.monitor, logger: createLogger('health-monitor-test', 'error'), host: '127.0.0.1', rpcTimeoutMs: 1000 });
    cleanups.push(() => monitor.close());
    const http = monitorHttp(monitor.url);

    // No shard was ever started and auto-restart is off: reachable, but not ready because of the shard.
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
    expect(first.reasons).toEqual(['shard 0 (hm-unreachable-0) is not-running: workflow NOT_FOUND']);

    await temporal.stop();
    const notReady = await vi.waitFor(
      async () => {
        const r = await http.get('/readyz');
        expect(r.status).toBe(503);
        const body = JSON.parse(r.body) as { reasons: string[] };
        expect(body.reasons[0]).toMatch(/^Temporal unreachable: /);
        return body;
      },
      { timeout: 20_000, interval: 200 },
    );
    expect(notReady.reasons).toHaveLength(1); // the shards' "unknown" is the same news, not repeated
    expect((await http.get('/healthz')).status).toBe(200);
    const metrics = (await http.get('/metrics')).body;
    expect(sample(metrics, 'batcher_monitor_temporal_up')).toBe(0);
    expect(sample(metrics, 'batcher_shard_up', shard0)).toBe(0);
    expect((await http.shard()).state).toBe('unknown');
  });

  it('when main.js runs as a process, then it serves the real status until SIGTERM ends it cleanly, and a bad setting stops it with one line naming the variable', async (ctx) => {
    const b = await startBatcher(ctx.task.name, { BATCH_MAX_SIZE: '2', BATCH_FLUSH_INTERVAL_MS: '300' });
    const port = await freePort();
    const service = spawnLogged({ name: 'health-monitor', command: process.execPath, args: [MAIN], env: serviceEnv({ ...b.env, HEALTH_MONITOR_PORT: String(port), HEALTH_POLL_INTERVAL_MS: '250', LOG_LEVEL: 'info' }) });
    cleanups.push(() => service.stop({ graceMs: 5000 }));
    const http = monitorHttp(`http://127.0.0.1:${port}`);

    await vi.waitFor(async () => expect((await http.get('/readyz')).status).toBe(200), { timeout: 30_000, interval: 200 });
    await b.send(2);
    await vi.waitFor(async () => expect((await http.shard()).stats).toMatchObject({ batchesWritten: 1, rowsWritten: 2 }), { timeout: 30_000, interval: 200 });
    expect(sample((await http.get('/metrics')).body, 'batcher_shard_rows_written', shard0)).toBe(2);
    expect((await http.get('/')).body).toContain('<title>Write batcher · health</title>');

    expect(await service.stop({ graceMs: 10_000 })).toEqual({ code: 0, signal: null });
    const log = fs.readFileSync(service.logFile, 'utf8');
    expect(log).toContain('"msg":"health monitor running"');
    expect(log).toContain('"msg":"shutting down"');

    const bad = spawnLogged({ name: 'health-monitor-bad-config', command: process.execPath, args: [MAIN], env: serviceEnv({ ...b.env, HEALTH_POLL_INTERVAL_MS: '5' }) });
    cleanups.push(() => bad.stop({ graceMs: 1000 }));
    expect(await bad.exited).toEqual({ code: 1, signal: null });
    const lines = fs.readFileSync(bad.logFile, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'fatal', service: 'health-monitor' });
    expect(lines[0]).toContain('HEALTH_POLL_INTERVAL_MS: must be >= 100');
  });
});
