// A row's values are checked wherever a row enters, and a bad row is refused alone. Generated rows
// (fast-check) for a table with DATETIME, BIGINT, VARBINARY, JSON and DECIMAL columns, some with a
// corrupted value tag (a bigint that is no number, bytes that are no base64, an impossible date, an
// unknown tag kind, …), mixed with good rows: (1) handed straight to the shard by a stand-in submit
// activity that skips every check (as a hand-sent signal does), answering real batchedWrite
// requesters; (2) straight into one bulk write. Every bad row is answered typed, every good row of
// the same batch is committed exactly once, and the shard keeps writing. Real Temporal and MariaDB.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { CompleteAsyncError, activityInfo } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { NativeConnection, Worker } from '@temporalio/worker';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BatcherErrorTypes,
  batcherWorkflowId,
  shardFor,
  type AwaitWriteInput,
  type SettleWriteInput,
  type WireRow,
  type WireValue,
  type WriteRequest,
} from '@write-batcher/protocol';
import { signalWithStartBatcher, type BulkWriteInput, type BulkWriteResult, type TargetTable } from '@write-batcher/batcher';
import { Catalog, createBulkWriter, createSubmitActivities, databaseOf, type Reply } from '@write-batcher/batcher/testing';
import { globalTemporal } from '../support/global-servers';
import { replyFor } from '../support/requests';
import type { RowSpec, WriteResult } from './fixtures/row-workflows';
import { startPipeline, type Pipeline } from './pipeline';

const VALS = `CREATE TABLE vals (
  id VARCHAR(64) NOT NULL PRIMARY KEY,
  dt DATETIME(3) NULL,
  big BIGINT NULL,
  bin VARBINARY(32) NULL,
  doc JSON NULL,
  amount DECIMAL(12,2) NULL
)`;
const TABLES: TargetTable[] = [{ table: 'vals', mode: 'insert' }];
const COLUMNS = ['dt', 'big', 'bin', 'doc', 'amount'] as const;

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

/** A good value for each column, in its wire form. */
const goodValue: Record<(typeof COLUMNS)[number], fc.Arbitrary<WireValue>> = {
  dt: fc
    .date({ min: new Date(Date.UTC(1000, 0, 1)), max: new Date(Date.UTC(9999, 11, 31)), noInvalidDate: true })
    .map((d) => ({ '@wb': 'date', v: d.toISOString() })),
  big: fc.oneof(
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((n) => ({ '@wb': 'bigint' as const, v: n.toString() })),
    fc.integer(),
  ),
  bin: fc.uint8Array({ maxLength: 32 }).map((u) => ({ '@wb': 'bytes', v: b64(u) })),
  doc: fc.jsonValue({ maxDepth: 3 }).map((v) => ({ '@wb': 'json', v: v as never })),
  amount: fc.tuple(fc.integer({ min: -9_999_999_999, max: 9_999_999_999 }), fc.integer({ min: 0, max: 99 })).map(([i, f]) => {
    const sign = i < 0 ? '-' : '';
    return `${sign}${Math.abs(i)}.${String(f).padStart(2, '0')}`;
  }),
};

/** A corrupted value: what no encoder makes and the conversion to SQL once threw on (or stored wrong). */
const badValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom('12a', ' 1', '01', '-0', '', '1e3', '9'.repeat(100)).map((v) => ({ '@wb': 'bigint', v })),
  fc.oneof(fc.integer(), fc.constant(null), fc.boolean()).map((v) => ({ '@wb': 'bigint', v })),
  fc
    .oneof(fc.integer(), fc.constant('abc'), fc.constant('a==='), fc.constant('AB=='), fc.constant('!!!!'), fc.constant('QQ'))
    .map((v) => ({ '@wb': 'bytes', v })),
  fc
    .constantFrom('2026-02-30T00:00:00.000Z', '2026-01-01', 'yesterday', '2026-01-01T24:00:00.000Z', '+275760-09-13T00:00:00.001Z')
    .map((v) => ({ '@wb': 'date', v })),
  fc
    .string({ minLength: 1, maxLength: 8 })
    .filter((k) => !['date', 'bigint', 'bytes', 'json'].includes(k))
    .map((k) => ({ '@wb': k, v: '1' })),
  fc.constant({ '@wb': 'json' }),
  fc.constantFrom('date', 'bigint', 'bytes', 'json').map((k) => ({ '@wb': k, v: '0', extra: 1 })),
  fc.constant({ a: 1 }),
  fc.constant([1, 2]),
);

interface Case {
  row: WireRow;
  /** The column holding a corrupted value, for a bad row. */
  bad?: string;
}

/** A row for `vals`: some good columns, and (for a bad row) one corrupted one. */
const caseOf = (id: string): fc.Arbitrary<Case> =>
  fc
    .record({
      values: fc.record(
        Object.fromEntries(COLUMNS.map((c) => [c, fc.option(goodValue[c], { nil: undefined })])) as Record<
          string,
          fc.Arbitrary<WireValue | undefined>
        >,
      ),
      bad: fc.option(fc.tuple(fc.constantFrom(...COLUMNS), badValue), { nil: undefined, freq: 2 }),
    })
    .map(({ values, bad }) => {
      const row: WireRow = { id };
      for (const [c, v] of Object.entries(values)) if (v !== undefined) row[c] = v;
      if (bad) row[bad[0]] = bad[1] as WireValue;
      return { row, bad: bad?.[0] };
    });

const casesOf = (prefix: string, max: number) =>
  fc.integer({ min: 1, max }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => caseOf(`${prefix}-${i}`))));

let pipeline: Pipeline | undefined;
let worker: Worker | undefined;
let running: Promise<void> | undefined;
let connection: NativeConnection | undefined;

afterEach(async () => {
  worker?.shutdown();
  await running?.catch(() => undefined);
  await connection?.close();
  await pipeline?.stop();
  pipeline = worker = running = connection = undefined;
});

async function start(title: string): Promise<Pipeline> {
  pipeline = await startPipeline({ title, env: { BATCH_FLUSH_INTERVAL_MS: '300' }, businessStepMs: 0, tables: TABLES, setupSql: [VALS] });
  return pipeline;
}

/** Batcher workflow tasks that failed or timed out, and bulk writes still pending after 3 attempts. */
async function shardTrouble(p: Pipeline): Promise<string[]> {
  const handle = p.client.workflow.getHandle(batcherWorkflowId(p.batcher.workflowIdPrefix, 0));
  const trouble: string[] = [];
  const { events } = await handle.fetchHistory();
  for (const e of events ?? []) {
    if (e.workflowTaskFailedEventAttributes) trouble.push(`event ${String(e.eventId)}: task failed`);
    if (e.workflowTaskTimedOutEventAttributes) trouble.push(`event ${String(e.eventId)}: task timed out`);
  }
  const { raw } = await handle.describe();
  for (const a of raw.pendingActivities ?? [])
    if (a.activityType?.name === 'bulkWrite' && (a.attempt ?? 0) > 3)
      trouble.push(`bulkWrite ${a.activityId} pending at attempt ${a.attempt}`);
  return trouble;
}

/** How many rows each id has in `vals` (the primary key: 1 at most). */
async function valsRows(p: Pipeline, ids: string[]): Promise<Map<string, number>> {
  const [rows] = await p.pool.query('SELECT id, COUNT(*) AS n FROM vals WHERE id IN (?) GROUP BY id', [ids]);
  return new Map((rows as Array<{ id: string; n: number }>).map((r) => [r.id, Number(r.n)]));
}

/** A good row's bytes and big integer are stored exactly as sent. */
async function expectExact(p: Pipeline, c: Case): Promise<void> {
  const [rows] = await p.pool.query('SELECT TO_BASE64(bin) AS bin, CAST(big AS CHAR) AS big FROM vals WHERE id = ?', [c.row.id]);
  const got = (rows as Array<{ bin: string | null; big: string | null }>)[0];
  const bin = c.row.bin as { v: string } | undefined;
  const big = c.row.big as { v: string } | number | undefined;
  expect(got?.bin ?? undefined).toBe(bin === undefined ? undefined : bin.v);
  expect(got?.big ?? undefined).toBe(big === undefined ? undefined : typeof big === 'number' ? String(big) : big.v);
}

describe('row values', () => {
  it('when generated rows, some with corrupted value tags, reach the shard unchecked, then each bad row is refused typed, each good row committed once, and the shard keeps writing', async (ctx) => {
    const p = await start(ctx.task.name);
    connection = await NativeConnection.connect({ address: globalTemporal().address });
    const catalog = new Catalog(p.pool, [...TABLES], databaseOf(p.pool) ?? '');
    await catalog.load(true);
    const real = createSubmitActivities({
      client: p.client,
      pool: p.pool,
      catalog,
      routing: p.batcher,
      submit: { lingerMs: 0, maxRequests: 500 },
    });
    // The row each request id really carries to the shard (the requester's own row is a placeholder).
    const rowOf = new Map<string, WireRow>();
    const taskQueue = `${p.batcher.taskQueue}-hand`;
    worker = await Worker.create({
      connection,
      namespace: globalTemporal().namespace,
      taskQueue,
      workflowsPath: path.join(__dirname, 'fixtures', 'row-workflows.ts'),
      activities: {
        settleBatchedWrite: (input: SettleWriteInput) => real.settleBatchedWrite(input),
        // A hand-built signal: the request as batchedWrite would send it, with none of the submit checks.
        async awaitBatchedWrite(input: AwaitWriteInput): Promise<never> {
          const info = activityInfo();
          const { workflowId, runId } = info.workflowExecution as { workflowId: string; runId: string };
          const request: WriteRequest = {
            requestId: input.requestId,
            requesterWorkflowId: workflowId,
            table: input.table,
            row: rowOf.get(input.requestId) ?? input.row,
            submittedAtMs: Date.now(),
            reply: { workflowId, runId, activityId: info.activityId },
          };
          await signalWithStartBatcher(p.client, p.batcher, shardFor(input.requestId, p.batcher.shards), [request]);
          throw new CompleteAsyncError();
        },
      },
    });
    running = worker.run();

    let round = 0;
    const tally = { good: 0, bad: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.integer().chain(() => casesOf(`r${round++}-${randomUUID().slice(0, 8)}`, 10)),
        async (cases) => {
          const specs: RowSpec[] = cases.map((c) => {
            const id = c.row.id as string;
            rowOf.set(`vals:${id}`, c.row);
            return { table: 'vals', requestId: `vals:${id}`, row: { id } };
          });
          const results = (await p.client.workflow.execute('writeRowsWorkflow', {
            taskQueue,
            workflowId: `hand-${randomUUID()}`,
            args: [{ rows: specs, taskQueue, timeoutMs: 60_000 }],
          })) as WriteResult[];
          const written = await valsRows(
            p,
            cases.map((c) => c.row.id as string),
          );
          cases.forEach((c, i) => {
            const r = results[i] as WriteResult;
            const id = c.row.id as string;
            if (c.bad) {
              tally.bad++;
              expect(r.errorType, `${id}: ${r.message}`).toBe(BatcherErrorTypes.InvalidRequest);
              expect(r.message).toContain(`column ${c.bad}`);
              expect(written.get(id), id).toBeUndefined();
            } else {
              tally.good++;
              expect(r.status, `${id}: ${r.errorType} ${r.message}`).toBe('committed');
              expect(written.get(id), id).toBe(1);
            }
          });
        },
      ),
      { numRuns: 6 },
    );
    console.log(`through the shard: ${tally.good} good rows committed, ${tally.bad} bad rows refused`);
    expect(tally.bad).toBeGreaterThan(0);
    expect(tally.good).toBeGreaterThan(0);
    // The shard keeps writing, and nothing is stuck.
    const [id] = p.ids(1, 'after') as [string];
    const [outcome] = await p.run([id]);
    expect(outcome?.result?.status, outcome?.message).toBe('committed');
    expect(await shardTrouble(p)).toEqual([]);
  });

  it('when generated rows, some with corrupted value tags, reach one bulk write together, then each bad row is refused alone, typed, and each good row is committed once', async (ctx) => {
    const p = await start(ctx.task.name);
    const catalog = new Catalog(p.pool, [...TABLES], databaseOf(p.pool) ?? '');
    await catalog.load(true);
    let replies: readonly Reply[] = [];
    const { bulkWrite } = createBulkWriter(p.pool, catalog, {
      deliver: async (r) => {
        replies = r;
        return { delivered: r.length, undeliverable: 0 };
      },
    });
    const env = new MockActivityEnvironment();
    let batch = 0;
    const tally = { good: 0, bad: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.integer().chain(() => casesOf(`b${batch}-${randomUUID().slice(0, 8)}`, 30)),
        async (cases) => {
          const input: BulkWriteInput = {
            batchId: `row-values-${batch++}`,
            shard: 0,
            rows: cases.map((c) => {
              const requestId = `vals:${c.row.id as string}`;
              return { requestId, requesterWorkflowId: 'w', table: 'vals', row: c.row, replies: [replyFor('w', requestId)] };
            }),
          };
          // Never throws: a bad row is an outcome, not a failed (and retried) batch.
          const result = await env.run<[BulkWriteInput], BulkWriteResult, typeof bulkWrite>(bulkWrite, input);
          const written = await valsRows(
            p,
            cases.map((c) => c.row.id as string),
          );
          cases.forEach((c, i) => {
            const o = result.outcomes[i];
            const reply = replies[i] as { failure?: { type?: string }; outcome?: { status: string } } | undefined;
            const id = c.row.id as string;
            if (c.bad) {
              tally.bad++;
              expect(o?.status, id).toBe('rejected');
              expect(o?.errorType, id).toBe(BatcherErrorTypes.InvalidRequest);
              expect(o?.reason).toContain(`column ${c.bad}`);
              expect(reply?.failure?.type).toBe(BatcherErrorTypes.InvalidRequest);
              expect(written.get(id), id).toBeUndefined();
            } else {
              tally.good++;
              expect(o?.status, `${id}: ${o?.reason}`).toBe('committed');
              expect(reply?.outcome?.status).toBe('committed');
              expect(written.get(id), id).toBe(1);
            }
          });
          for (const c of cases) if (!c.bad) await expectExact(p, c);
        },
      ),
      { numRuns: 25 },
    );
    console.log(`in one bulk write: ${tally.good} good rows committed, ${tally.bad} bad rows refused`);
    expect(tally.bad).toBeGreaterThan(0);
    expect(tally.good).toBeGreaterThan(0);
  });
});
