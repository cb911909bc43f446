// The health monitor's first start of a shard is a start, not a restart: against the run's real
// Temporal dev server, with the monitor in this process (port 0) and its status page in Chromium.
// No batcher worker is needed: what is counted is the monitor's own starts of the shards' runs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { chromium } from 'playwright-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ensureBatcherShard } from '@write-batcher/batcher';
import { createLogger, loadConfig } from '@batcher/service-kit';
import { ShardStateMachine, startHealthMonitor, type MonitorStatus, type ShardObservation } from '@batcher/health-monitor';
import { globalTemporal } from '../support/global-servers';

const CHROMIUM = '/usr/bin/chromium';

/** What each test opened, closed newest first after it whether it passed or not. */
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch((err) => console.error('cleanup failed:', err));
});

/** The value of one sample in Prometheus text, e.g. sample(text, 'batcher_shard_starts_total', { shard: '0' }). */
function sample(metrics: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const labelText = Object.keys(labels).length
    ? `{${Object.entries(labels)
        .map(([k, v]) => `${k}="${v}"`)
        .join(',')}}`
    : '';
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}${labelText} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('health monitor: starts and restarts', () => {
  it('when the monitor starts a shard that never ran, then the state machine calls it starting, not restarting', () => {
    const m = new ShardStateMachine({ flushIntervals: 3, minFlushStallMs: 0, workflowTaskAttempts: 3, workflowTaskAgeMs: 30_000 }, 0);
    const notFound: ShardObservation = {
      kind: 'described',
      runId: null,
      status: 'NOT_FOUND',
      historyLength: null,
      pendingWorkflowTask: null,
      stats: null,
    };
    m.observe(notFound, 1);
    expect(m.started('first', 2, 'start')).toEqual({ from: 'not-running', to: 'starting', reason: 'run first started, not yet confirmed' });
    expect(m.started('again', 3, 'restart')).toEqual({
      from: 'starting',
      to: 'restarting',
      reason: 'run again started, not yet confirmed',
    });
  });

  it('when the monitor finds one shard never started and another closed before it came, then it counts both as starts, not restarts (in /api/status, /metrics and the page); a shard stopped later is a restart', async () => {
    const temporal = globalTemporal();
    const connection = await Connection.connect({ address: temporal.address });
    cleanups.push(() => connection.close());
    const client = new Client({ connection, namespace: temporal.namespace });
    const slug = `hm-first-start-${Date.now().toString(36)}`;
    const config = loadConfig(['batcher', 'monitor'], {
      BATCHER_SHARDS: '2',
      BATCHER_TASK_QUEUE: slug,
      BATCHER_WORKFLOW_ID_PREFIX: slug,
      HEALTH_MONITOR_PORT: '0',
      HEALTH_POLL_INTERVAL_MS: '250',
      HEALTH_AUTO_RESTART: 'true',
    });
    const terminateAll = async () => {
      for (const shard of [0, 1])
        await client.workflow
          .getHandle(`${slug}-${shard}`)
          .terminate('test finished')
          .catch(() => undefined);
    };
    cleanups.push(terminateAll);

    // Shard 1 ran and was terminated before this monitor started; shard 0 never ran at all.
    await ensureBatcherShard(client, config.batcher, 1);
    const closed = client.workflow.getHandle(`${slug}-1`);
    const closedRunId = (await closed.describe()).runId;
    await closed.terminate('test: closed before the monitor came');

    // The monitor's own log lines, as pino writes them (level as a label: see createLogger).
    const logLines: Array<{ level: string; msg: string; shard?: number }> = [];
    const logger = createLogger('health-monitor-test', 'info', undefined, {
      write: (line: string) => void logLines.push(JSON.parse(line) as (typeof logLines)[number]),
    });
    // Short deadlines: no worker polls this task queue.
    const monitor = await startHealthMonitor({
      client,
      batcher: config.batcher,
      monitor: config.monitor,
      logger,
      host: '127.0.0.1',
      rpcTimeoutMs: 1000,
    });
    cleanups.push(() => monitor.close());
    const get = async (route: string) => {
      const res = await fetch(`${monitor.url}${route}`, { signal: AbortSignal.timeout(5000) });
      return { status: res.status, body: await res.text() };
    };
    const status = async () => JSON.parse((await get('/api/status')).body) as MonitorStatus;

    const first = await vi.waitFor(
      async () => {
        const s = await status();
        expect(s.shards.map((x) => x.starts)).toEqual([1, 1]);
        expect(s.shards.map((x) => x.workflowStatus)).toEqual(['RUNNING', 'RUNNING']); // a later check saw the new runs
        return s;
      },
      { timeout: 30_000, interval: 100 },
    );
    for (const s of first.shards) expect(s, `shard ${s.shard}`).toMatchObject({ starts: 1, restarts: 0, lastRestartAtMs: null });
    expect(first.shards[1]!.runId).not.toBe(closedRunId);
    expect(
      first.events
        .filter((e) => e.kind === 'started')
        .map((e) => e.shard)
        .sort(),
    ).toEqual([0, 1]);
    expect(first.events.map((e) => e.kind)).not.toContain('restarted');
    expect(first.events.find((e) => e.kind === 'started' && e.shard === 0)?.message).toMatch(
      /^started as run \S+ \(workflow has never been started\)$/,
    );
    expect(first.events.find((e) => e.kind === 'started' && e.shard === 1)?.message).toMatch(
      /^started as run \S+ \(newest run \S+ is TERMINATED\)$/,
    );
    let metrics = (await get('/metrics')).body;
    for (const shard of ['0', '1']) {
      expect(sample(metrics, 'batcher_shard_starts_total', { shard })).toBe(1);
      expect(sample(metrics, 'batcher_shard_restarts_total', { shard })).toBe(0);
    }
    expect(metrics).toContain(
      '# HELP batcher_shard_starts_total Times the health monitor started a shard that had not run under its watch',
    );

    // A first start is news, not a warning: shard 0, which had never run, brings no warning for it;
    // shard 1's closed run is worth one (someone stopped it), its start again is not. The warning
    // both end with is true: no worker polls this test's task queue.
    const linesOf = (shard: number) => logLines.filter((l) => l.shard === shard).map((l) => `${l.level} ${l.msg}`);
    expect(linesOf(0)).toEqual(['info batcher shard not started yet', 'info batcher shard started', 'warn batcher shard no-worker']);
    expect(linesOf(1)).toEqual(['warn batcher shard not running', 'info batcher shard started', 'warn batcher shard no-worker']);

    // The status page says the same.
    if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/install-tools.sh test`);
    const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'health-monitor-chromium-'));
    cleanups.push(async () => fs.rmSync(userDataDir, { recursive: true, force: true }));
    const browser = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
    cleanups.push(() => browser.close());
    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.goto(`${monitor.url}/`);
    const card = page.locator('[data-shard="0"]');
    await expect.poll(() => card.locator('[data-field="starts"]').textContent(), { timeout: 15_000 }).toMatch(/^1 /);
    expect(await card.locator('dt').allTextContents()).toEqual(expect.arrayContaining(['Started by monitor', 'Restarts']));
    expect(await card.locator('[data-field="restarts"]').textContent()).toBe('0');

    // Shard 0 has now run under the monitor's watch: stopping it makes the next start a restart.
    await client.workflow.getHandle(`${slug}-0`).terminate('test: stopped under the monitor');
    const after = await vi.waitFor(
      async () => {
        const s = (await status()).shards[0]!;
        expect(s.restarts).toBe(1);
        return s;
      },
      { timeout: 30_000, interval: 100 },
    );
    expect(after.starts).toBe(1);
    expect(
      (await status()).events
        .filter((e) => e.shard === 0)
        .map((e) => e.kind)
        .slice(-2),
    ).toEqual(['down', 'restarted']);
    metrics = (await get('/metrics')).body;
    expect(sample(metrics, 'batcher_shard_starts_total', { shard: '0' })).toBe(1);
    expect(sample(metrics, 'batcher_shard_restarts_total', { shard: '0' })).toBe(1);
    // A shard that stopped under the monitor's watch is a warning, and so is starting it again.
    expect(linesOf(0).join('\n')).toContain('warn batcher shard not running\nwarn batcher shard restarted');

    // After the test, the monitor is closed before the shards are terminated (cleanups run newest
    // first), or it would start them again.
  });
});
