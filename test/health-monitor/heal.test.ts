// The monitor heals a nondeterministic shard, against the run's real Temporal dev server and
// MariaDB. The nondeterminism is made for real: a batcher worker whose workflow code differs from
// the real one (a test-only interceptor adds a timer to every bulk write) writes batches, and is
// then replaced by a worker with the real code, which cannot replay that history. The monitor is
// driven one check at a time (pollOnce), so the checks are counted.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, bundleWorkflowCode } from '@temporalio/worker';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { batcherWorkflowId, shardFor } from '@write-batcher/protocol';
import { createBatcherWorker, ensureBatcherShards, signalWithStartBatcher, workflowsPath } from '@write-batcher/batcher';
import { batcherSettings, createLogger, createPool, loadConfig } from '@batcher/service-kit';
import { migrateDatabase } from '@batcher/batcher-worker/schema';
import { ShardMonitor, createMonitorMetrics, type ShardStatus } from '@batcher/health-monitor';
import { globalMysql, globalTemporal } from '../support/global-servers';
import { slugOf } from '../support/naming';
import { demoRequest } from '../support/requests';

const EXTRA_TIMER = path.join(__dirname, 'fixtures', 'extra-timer-interceptor.ts');

let bundleDir: string;
/** The batcher's real workflow code, and the changed one. */
let realBundle: string;
let changedBundle: string;
beforeAll(async () => {
  bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'heal-test-'));
  realBundle = path.join(bundleDir, 'real.js');
  changedBundle = path.join(bundleDir, 'changed.js');
  fs.writeFileSync(realBundle, (await bundleWorkflowCode({ workflowsPath })).code);
  fs.writeFileSync(changedBundle, (await bundleWorkflowCode({ workflowsPath, workflowInterceptorModules: [EXTRA_TIMER] })).code);
}, 180_000);
afterAll(() => {
  fs.rmSync(bundleDir, { recursive: true, force: true });
});

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch((err) => console.error('cleanup failed:', err));
});

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Repeats `check` until it returns a value (not undefined), at most `tries` times; the bound is a count. */
async function until<T>(what: string, tries: number, check: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const value = await check();
    if (value !== undefined) return value;
    await pause(250);
  }
  throw new Error(`${what}: not after ${tries} tries`);
}

describe('healing a nondeterministic shard', () => {
  it('when a worker with changed workflow code is replaced by the real one, then the monitor reports the shard nondeterministic, resets it to its last good task within a few checks, counts one heal, every row lands once, and a second failure of the healed run is not healed in a loop', async (ctx) => {
    const slug = `${slugOf(ctx.task.name)}-${Date.now().toString(36)}`;
    const temporal = globalTemporal();
    const db = globalMysql();
    const env: Record<string, string> = {
      BATCHER_TASK_QUEUE: `heal-${slug}`,
      BATCHER_WORKFLOW_ID_PREFIX: `heal-${slug}`,
      BATCHER_SHARDS: '1',
      BATCH_MAX_SIZE: '2',
      BATCH_FLUSH_INTERVAL_MS: '300',
      MYSQL_HOST: db.host,
      MYSQL_PORT: String(db.port),
      MYSQL_USER: db.user,
      MYSQL_PASSWORD: db.password,
      MYSQL_DATABASE: `heal_${createHash('sha1').update(slug).digest('hex').slice(0, 12)}`,
    };
    const config = loadConfig(['batcher', 'mysql', 'batching'], env);
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
    const workflowId = batcherWorkflowId(config.batcher.workflowIdPrefix, 0);
    cleanups.push(() => client.workflow.getHandle(workflowId).terminate('test finished'));

    /** Runs a batcher worker with the given bundle; resolves to its stop. */
    let stopWorker: (() => Promise<void>) | undefined;
    const runWorker = async (bundle: string) => {
      await stopWorker?.();
      const worker = await createBatcherWorker({
        connection: workerConnection,
        namespace: temporal.namespace,
        pool,
        tables: config.batching.tables,
        routing: config.batcher,
        settings: batcherSettings(config.batching),
        workflowBundlePath: bundle,
        shutdownGraceMs: 1000,
      });
      const run = worker.run();
      stopWorker = async () => {
        stopWorker = undefined;
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await run;
      };
    };
    cleanups.push(async () => stopWorker?.());

    let sent = 0;
    const send = async (n: number): Promise<string[]> => {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const requestId = `write:${slug}-${sent++}`;
        const request = demoRequest(requestId, `requester-${requestId}`, { n: sent, test: slug }, { submittedAtMs: Date.now() });
        await signalWithStartBatcher(client, config.batcher, shardFor(requestId, 1), [request]);
        ids.push(requestId);
      }
      return ids;
    };
    /** Committed rows per request id. */
    const rows = async (): Promise<Map<string, number>> => {
      const [found] = await pool.query(
        `SELECT CAST(request_id AS CHAR) AS request_id, COUNT(*) AS n FROM batched_writes WHERE status = 'committed' GROUP BY request_id`,
      );
      return new Map((found as Array<{ request_id: string; n: number }>).map((r) => [r.request_id, Number(r.n)]));
    };
    const allWritten = async (ids: string[]) => {
      const found = await rows();
      return ids.every((id) => found.has(id)) ? found : undefined;
    };

    const monitor = new ShardMonitor({
      client,
      batcher: config.batcher,
      pollIntervalMs: 60_000, // never started: the test calls pollOnce
      autoRestart: false,
      logger: createLogger('heal-test', 'error'),
      rpcTimeoutMs: 5000,
      // Back-off of an hour: a healed run that fails again waits, within this test, for ever.
      heal: { code: { workflowBundlePath: realBundle }, maxPerHour: 3, backoffMs: 3_600_000 },
    });
    const shard = (): ShardStatus => monitor.status().shards[0]!;

    // 1. The changed code writes batches: its history has a timer beside each bulk write.
    await runWorker(changedBundle);
    await ensureBatcherShards(client, config.batcher);
    const first = await send(6);
    await until('first rows written', 240, () => allWritten(first));
    const firstRunId = (await client.workflow.getHandle(workflowId).describe()).runId;
    const firstHistory = await client.workflow.getHandle(workflowId, firstRunId).fetchHistory();
    expect(firstHistory.events?.some((e) => e.timerStartedEventAttributes)).toBe(true);
    await monitor.pollOnce();
    expect(shard().state).toBe('running');

    // 2. The real code takes over, and fails the shard's next task on nondeterminism.
    await runWorker(realBundle);
    const second = await send(4);
    let checks = 0;
    await until('nondeterministic', 120, async () => {
      await monitor.pollOnce();
      checks++;
      return shard().state === 'nondeterministic' ? true : undefined;
    });
    const found = shard();
    expect(found.stateReasons[0]).toMatch(/^workflow task failed on nondeterminism \(event \d+\): .*(TMPRL1100|[Nn]ondetermin)/);
    // Healed in the check that found it, or within two more.
    let healChecks = 0;
    while (shard().heals === 0 && healChecks < 3) {
      await monitor.pollOnce();
      healChecks++;
    }
    const healed = shard();
    console.log(`nondeterministic after ${checks} checks; healed after ${healChecks} more; heal:`, JSON.stringify(healed.lastHeal));
    expect(healed.heals).toBe(1);
    expect(healed.healsByCause).toEqual({ nondeterminism: 1 });
    expect(healed.lastHeal).toMatchObject({ cause: 'nondeterminism', runId: firstRunId });
    // Reset to a task at or before the first bulk write with the extra timer.
    const firstTimer = firstHistory.events!.find((e) => e.timerStartedEventAttributes)!;
    expect(healed.lastHeal!.eventId).toBeLessThan(Number(firstTimer.eventId));
    const kinds = monitor.status().events.map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(['nondeterministic', 'healed']));
    expect(kinds).not.toContain('stalled');
    const metrics = createMonitorMetrics();
    metrics.update(monitor.status());
    expect(await metrics.registry.metrics()).toMatch(/^batcher_shard_heals_total\{shard="0",cause="nondeterminism"\} 1$/m);

    // 3. The healed run writes again: what it held, what was sent since, and new requests; each once.
    const newest = await client.workflow.getHandle(workflowId).describe();
    expect(newest.runId).toBe(healed.lastHeal!.newRunId);
    await until('held rows written', 240, () => allWritten([...first, ...second]));
    const third = await send(4);
    const written = await until('new rows written', 240, () => allWritten([...first, ...second, ...third]));
    expect([...written.keys()].sort()).toEqual([...first, ...second, ...third].sort());
    expect([...written.values()].every((n) => n === 1)).toBe(true);
    await until('running again', 40, async () => {
      await monitor.pollOnce();
      return shard().state === 'running' ? true : undefined;
    });

    // 4. The changed code comes back: the healed run fails again. Not healed in a loop: it waits
    // out the back-off, and says so.
    await runWorker(changedBundle);
    await send(2);
    await until('nondeterministic again', 120, async () => {
      await monitor.pollOnce();
      return shard().state === 'nondeterministic' ? true : undefined;
    });
    for (let i = 0; i < 5; i++) await monitor.pollOnce();
    const held = shard();
    expect(held.heals).toBe(1);
    expect(held.healHeld).toMatch(/^the healed run .* failed again; next heal not before /);
    expect(monitor.status().events.map((e) => e.kind)).toContain('heal-held');
    expect(monitor.health().reasons.join('\n')).toMatch(/is nondeterministic: .*not healed: the healed run/);
    // The run the reset made is still the newest: nothing reset it again.
    expect((await client.workflow.getHandle(workflowId).describe()).runId).toBe(healed.lastHeal!.newRunId);
  }, 600_000);
});
