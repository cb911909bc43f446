// Settings reach running shards without a terminate: a batcher worker that starts tells each running
// shard the fingerprint of the settings it serves (the settingsChanged signal), and again a while
// later; a shard whose run has others continues as new once per announcement and reads them, a
// shard with the same ones does nothing, and a shard that is not running is not started. Real
// Temporal dev server and MariaDB; batcher workers are stopped and started in the test process.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { batcherWorkflowId } from '@write-batcher/protocol';
import { createBatcherWorker, readBatcherStatsMemo, type BatcherSettings, type PublishedBatcherStats } from '@write-batcher/batcher';
import { globalTemporal } from '../support/global-servers';
import type { RowSpec, WriteResult } from '../pipeline/fixtures/row-workflows';
import { startPipeline, type Pipeline } from '../pipeline/pipeline';

const T1 = 'CREATE TABLE t1 (id INT NOT NULL PRIMARY KEY, note VARCHAR(32) NOT NULL)';
const T2 = 'CREATE TABLE t2 (id INT NOT NULL PRIMARY KEY, note VARCHAR(32) NOT NULL)';
/** Flush intervals of the first settings and of the second (ms). */
const A = 400;
const B = 900;
/** Most reads of a shard's statistics or history while waiting for it to act on an announcement (200 ms apart). */
const MAX_POLLS = 150;

/** What a batcher worker said when it announced its settings (its onEvent details). */
interface Announced {
  round: 'start' | 'again';
  fingerprint: string;
  shards: number;
  signalled: number;
  notRunning: number;
  failed: number;
}

interface RunningBatcher {
  /** Its announcement at start. */
  announced: Promise<Announced>;
  /** Its second announcement. */
  announcedAgain: Promise<Announced>;
  stop(): Promise<void>;
}

let pipeline: Pipeline | undefined;
let connection: NativeConnection | undefined;
const stops: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
  await pipeline?.stop();
  await connection?.close();
  pipeline = connection = undefined;
});

/** A promise and its settlers (Node 20 has no Promise.withResolvers). */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (err: Error) => void } {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => undefined); // a round a test does not await must not fail the run
  return { promise, resolve, reject };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` at most MAX_POLLS times, 200 ms apart; returns its first defined value, or fails naming `what`. */
async function poll<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < MAX_POLLS; i++) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    await pause(200);
  }
  throw new Error(`${what}: not seen in ${MAX_POLLS} polls`);
}

async function start(title: string) {
  connection = await NativeConnection.connect({ address: globalTemporal().address });
  pipeline = await startPipeline({ title, batcherWorker: false, businessStepMs: 0, setupSql: [T1, T2], connection });
  const p = pipeline;
  const conn = connection;
  const namespace = globalTemporal().namespace;

  // The requesters: a workflow that writes rows with batchedWrite, on a queue of its own.
  const rowsQueue = `${p.mainTaskQueue}-rows`;
  const rowsWorker = await Worker.create({
    connection: conn,
    namespace,
    taskQueue: rowsQueue,
    workflowsPath: path.join(__dirname, '..', 'pipeline', 'fixtures', 'row-workflows.ts'),
  });
  const rowsRunning = rowsWorker.run();
  stops.push(async () => {
    rowsWorker.shutdown();
    await rowsRunning;
  });
  const write = (rows: RowSpec[]): Promise<WriteResult[]> =>
    p.client.workflow.execute('writeRowsWorkflow', {
      taskQueue: rowsQueue,
      workflowId: `rows-${randomUUID()}`,
      args: [{ rows, taskQueue: p.batcher.taskQueue, timeoutMs: 60_000 }],
    }) as Promise<WriteResult[]>;

  /** A batcher worker with these settings and tables (announcing a second time after `againMs`, 0: never), running until `stop()`. */
  const batcher = async (settings: Partial<BatcherSettings>, tables: string[], againMs = 0): Promise<RunningBatcher> => {
    const rounds = { start: deferred<Announced>(), again: deferred<Announced>() };
    // A connection of its own: the SDK refuses two workers of one task queue on one connection, and two run at once in a rolling update.
    const own = await NativeConnection.connect({ address: globalTemporal().address });
    const worker = await createBatcherWorker({
      connection: own,
      namespace,
      pool: p.pool,
      tables: tables.map((table) => ({ table, mode: 'insert' as const })),
      routing: { taskQueue: p.batcher.taskQueue, shards: 1, workflowIdPrefix: p.batcher.workflowIdPrefix },
      settings,
      submit: { lingerMs: 20, maxRequests: 500 },
      shutdownGraceMs: 1000,
      client: p.client,
      settingsAnnounceAgainMs: againMs,
      onEvent: (event, details) => {
        const a = details as unknown as Announced;
        if (event === 'settings announced to the shards') rounds[a.round].resolve(a);
        if (event === 'settings announcement failed') rounds[a.round].reject(new Error(String(details.error)));
      },
    });
    const running = worker.run();
    const stop = async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await own.close();
    };
    stops.push(stop);
    return { announced: rounds.start.promise, announcedAgain: rounds.again.promise, stop };
  };

  const handle = p.client.workflow.getHandle(batcherWorkflowId(p.batcher.workflowIdPrefix, 0));
  const stats = async (): Promise<PublishedBatcherStats | undefined> => readBatcherStatsMemo(p.client, p.batcher, 0);
  const rowsOf = async (table: string): Promise<number[]> => {
    const [rows] = await p.pool.query(`SELECT id FROM ${table} ORDER BY id`);
    return (rows as Array<{ id: number }>).map((r) => r.id);
  };
  return { p, write, batcher, handle, stats, rowsOf };
}

describe('settings reach running shards', () => {
  it('when the batcher worker restarts with another flush interval and another table, then its running shard continues as new once and runs on them; restarted with the same settings, it does not continue as new', async (ctx) => {
    const { write, batcher, handle, stats, rowsOf } = await start(ctx.task.name);

    // Worker 1: interval A, tables {t1}. Its announcement finds no shard running, and starts none.
    const first = await batcher({ flushIntervalMs: A }, ['t1']);
    const a1 = await first.announced;
    expect(a1).toMatchObject({ shards: 1, signalled: 0, notRunning: 1, failed: 0 });
    await expect(handle.describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);

    expect(await write([{ table: 't1', row: { id: 1, note: 'first' } }])).toMatchObject([{ status: 'committed', table: 't1' }]);
    // t2 is not one of this worker's tables: refused, typed.
    expect(await write([{ table: 't2', row: { id: 1, note: 'refused' } }])).toMatchObject([{ errorType: 'InvalidWriteRequest' }]);
    const before = await poll('the first run publishes its settings', async () => {
      const s = await stats();
      return s?.settingsFingerprint === a1.fingerprint ? s : undefined;
    });
    expect(before.flushIntervalMs).toBe(A);
    expect(before.settingsReloads).toBeUndefined();
    const run1 = (await handle.describe()).runId;

    // Worker 2: interval B, tables {t1, t2}. Its announcement reaches the running shard, which
    // continues as new once and reads them.
    await first.stop();
    const second = await batcher({ flushIntervalMs: B }, ['t1', 't2']);
    const a2 = await second.announced;
    expect(a2).toMatchObject({ shards: 1, signalled: 1, notRunning: 0, failed: 0 });
    expect(a2.fingerprint).not.toBe(a1.fingerprint);
    const after = await poll('the shard runs on the new settings', async () => {
      const s = await stats();
      return s?.settingsFingerprint === a2.fingerprint ? s : undefined;
    });
    expect(after.flushIntervalMs).toBe(B);
    expect(after.settingsReloads).toBe(1);
    expect(after.continueAsNewCount).toBe(before.continueAsNewCount + 1);
    const run2 = (await handle.describe()).runId;
    expect(run2).not.toBe(run1);
    expect(await write([{ table: 't2', row: { id: 2, note: 'second' } }])).toMatchObject([{ status: 'committed', table: 't2' }]);
    expect(await rowsOf('t2')).toEqual([2]);

    // Worker 3: the same settings as worker 2. The shard takes the announcement in and stays in its run.
    await second.stop();
    const third = await batcher({ flushIntervalMs: B }, ['t1', 't2']);
    const a3 = await third.announced;
    expect(a3).toMatchObject({ fingerprint: a2.fingerprint, shards: 1, signalled: 1, notRunning: 0, failed: 0 });
    await poll('the shard handles the announcement (a workflow task completed after its signal)', async () => {
      const { events } = await handle.fetchHistory();
      const signalAt = (events ?? []).findIndex((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'settingsChanged');
      if (signalAt < 0) return undefined;
      return (events ?? []).slice(signalAt).some((e) => e.workflowTaskCompletedEventAttributes != null) ? true : undefined;
    });
    expect(await write([{ table: 't2', row: { id: 3, note: 'third' } }])).toMatchObject([{ status: 'committed', table: 't2' }]);
    const description = await handle.describe();
    expect(description.runId).toBe(run2);
    expect(description.status.name).toBe('RUNNING');
    const last = await stats();
    expect(last?.settingsReloads).toBe(1);
    expect(last?.continueAsNewCount).toBe(after.continueAsNewCount);
    expect(await rowsOf('t1')).toEqual([1]);
    expect(await rowsOf('t2')).toEqual([2, 3]);
  }, 240_000);

  it('when a new batcher worker starts beside the one it replaces (a rolling update), then its second announcement brings the shard onto its settings after the old one stops', async (ctx) => {
    const { write, batcher, stats, rowsOf } = await start(ctx.task.name);
    const old = await batcher({ flushIntervalMs: A }, ['t1']);
    const a1 = await old.announced;
    expect(await write([{ table: 't1', row: { id: 1, note: 'old' } }])).toMatchObject([{ status: 'committed' }]);
    const before = await poll('the first run publishes its settings', async () => {
      const s = await stats();
      return s?.settingsFingerprint === a1.fingerprint ? s : undefined;
    });

    // The new worker starts while the old one still serves the shard task queue: the shard reloads,
    // and its settings read is served by either worker.
    const next = await batcher({ flushIntervalMs: B }, ['t1', 't2'], 10_000);
    const a2 = await next.announced;
    expect(a2).toMatchObject({ round: 'start', signalled: 1, failed: 0 });
    const reloaded = await poll('the shard reloads once', async () => {
      const s = await stats();
      return s?.settingsReloads === 1 && s.continueAsNewCount === before.continueAsNewCount + 1 ? s : undefined;
    });
    // Which worker served that read: the old one leaves the shard on the old settings until the second announcement.
    console.info(`rolling update: the reload read ${reloaded.settingsFingerprint === a2.fingerprint ? 'the new' : 'the old'} settings`);
    await old.stop();

    const again = await next.announcedAgain;
    expect(again).toMatchObject({ round: 'again', fingerprint: a2.fingerprint, signalled: 1, failed: 0 });
    const after = await poll('the shard runs on the new settings', async () => {
      const s = await stats();
      return s?.settingsFingerprint === a2.fingerprint ? s : undefined;
    });
    expect(after.flushIntervalMs).toBe(B);
    // One continue-as-new per announcement that found other settings, at most: one or two here.
    expect([1, 2]).toContain(after.settingsReloads);
    expect(after.continueAsNewCount).toBe(before.continueAsNewCount + (after.settingsReloads ?? 0));
    expect(await write([{ table: 't2', row: { id: 2, note: 'new' } }])).toMatchObject([{ status: 'committed', table: 't2' }]);
    expect(await rowsOf('t2')).toEqual([2]);
  }, 240_000);
});
