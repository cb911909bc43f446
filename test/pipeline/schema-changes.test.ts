// Schema changes are seen when they matter: a table altered while the batcher runs (its background
// re-read is 5 minutes away) never poisons a batch nor makes a row wait or be refused for a column
// that changed. A NOT NULL column without a default added (MariaDB's ER_NO_DEFAULT_FOR_FIELD): only
// the rows lacking it are refused, typed, and every other row, other tables' too, commits. A column
// added: a row using it is accepted at once. A column dropped: rows without it are accepted at once.
// Real Temporal and MariaDB.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { BatcherErrorTypes, batcherWorkflowId } from '@write-batcher/protocol';
import type { TargetTable } from '@write-batcher/batcher';
import { globalTemporal } from '../support/global-servers';
import { waitUntil } from '../support/processes';
import type { RowSpec, WriteResult } from './fixtures/row-workflows';
import { startPipeline, type Pipeline } from './pipeline';

const ITEMS = `CREATE TABLE items (id VARCHAR(64) NOT NULL PRIMARY KEY, name VARCHAR(32) NOT NULL, legacy INT NOT NULL)`;
const OTHERS = `CREATE TABLE others (id VARCHAR(64) NOT NULL PRIMARY KEY, v INT NOT NULL)`;
const TABLES: TargetTable[] = [
  { table: 'items', mode: 'insert' },
  { table: 'others', mode: 'insert' },
];

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

/** A pipeline with the two tables, and a worker running the row-writing test workflows. */
async function start(title: string, flushMs = 500): Promise<{ p: Pipeline; write: (rows: RowSpec[]) => Promise<WriteResult[]> }> {
  pipeline = await startPipeline({
    title,
    env: { BATCH_FLUSH_INTERVAL_MS: String(flushMs) },
    businessStepMs: 0,
    tables: TABLES,
    setupSql: [ITEMS, OTHERS],
  });
  const p = pipeline;
  connection = await NativeConnection.connect({ address: globalTemporal().address });
  const taskQueue = `${p.mainTaskQueue}-rows`;
  worker = await Worker.create({
    connection,
    namespace: globalTemporal().namespace,
    taskQueue,
    workflowsPath: path.join(__dirname, 'fixtures', 'row-workflows.ts'),
  });
  running = worker.run();
  const write = async (rows: RowSpec[]) =>
    p.client.workflow.execute('writeRowsWorkflow', {
      taskQueue,
      workflowId: `rows-${randomUUID()}`,
      // The write's own deadline: long enough that a row left waiting shows as a timeout, not a pass.
      args: [{ rows, taskQueue: p.batcher.taskQueue, timeoutMs: 60_000 }],
    }) as Promise<WriteResult[]>;
  return { p, write };
}

async function ids(p: Pipeline, table: string): Promise<string[]> {
  const [rows] = await p.pool.query(`SELECT id FROM ${table} ORDER BY id`);
  return (rows as Array<{ id: string }>).map((r) => r.id);
}

/** Batcher workflow tasks that failed, and bulk writes still pending after 3 attempts (a batch retried for ever). */
async function shardTrouble(p: Pipeline): Promise<string[]> {
  const handle = p.client.workflow.getHandle(batcherWorkflowId(p.batcher.workflowIdPrefix, 0));
  const trouble: string[] = [];
  for (const e of (await handle.fetchHistory()).events ?? [])
    if (e.workflowTaskFailedEventAttributes) trouble.push(`event ${String(e.eventId)}: task failed`);
  for (const a of (await handle.describe()).raw.pendingActivities ?? [])
    if (a.activityType?.name === 'bulkWrite' && (a.attempt ?? 0) > 3) trouble.push(`bulkWrite pending at attempt ${a.attempt}`);
  return trouble;
}

const item = (id: string, extra: Record<string, unknown> = {}): RowSpec => ({
  table: 'items',
  requestId: `items:${id}`,
  row: { id, name: 'n', legacy: 1, ...extra },
});
const other = (id: string): RowSpec => ({ table: 'others', requestId: `others:${id}`, row: { id, v: 1 } });

describe('schema changes', () => {
  it('when a NOT NULL column without a default is added under load, then only the rows lacking it are refused, typed, and every other row commits', async (ctx) => {
    const { p, write } = await start(ctx.task.name, 4000);
    // Rows of both tables checked and queued in the shard; the column is added before their batch is
    // written, so the bulk write meets ER_NO_DEFAULT_FOR_FIELD with a view of the table that predates it.
    const during = Array.from({ length: 40 }, (_, i) => (i % 2 ? item(`during-${i}`) : other(`during-${i}`)));
    const inFlight = write(during);
    await waitUntil('40 requests pending in the shard', async () => (await p.stats()).pending >= 40, { timeoutMs: 60_000 });
    await p.pool.query('ALTER TABLE items ADD COLUMN must INT NOT NULL');
    const duringResults = await inFlight;
    during.forEach((spec, i) => {
      const r = duringResults[i] as WriteResult;
      if (spec.table === 'others') expect(r.status, `${spec.requestId}: ${r.errorType} ${r.message}`).toBe('committed');
      else {
        expect(r.errorType, `${spec.requestId}: ${r.message}`).toBe(BatcherErrorTypes.InvalidRequest);
        expect(r.message).toMatch(/required column must is missing/);
      }
    });
    expect((await ids(p, 'items')).filter((id) => id.startsWith('during'))).toEqual([]);
    expect((await ids(p, 'others')).filter((id) => id.startsWith('during'))).toHaveLength(20);
    // After the change, in one batch: rows lacking the column, rows giving it, other tables' rows.
    const after: RowSpec[] = [
      ...Array.from({ length: 10 }, (_, i) => item(`lacking-${i}`)),
      ...Array.from({ length: 10 }, (_, i) => item(`giving-${i}`, { must: i })),
      ...Array.from({ length: 10 }, (_, i) => other(`after-${i}`)),
    ];
    const results = await write(after);
    after.forEach((spec, i) => {
      const r = results[i] as WriteResult;
      if (spec.requestId?.startsWith('items:lacking')) {
        expect(r.errorType, `${spec.requestId}: ${r.message}`).toBe(BatcherErrorTypes.InvalidRequest);
        expect(r.message).toMatch(/must/);
      } else expect(r.status, `${spec.requestId}: ${r.errorType} ${r.message}`).toBe('committed');
    });
    const itemIds = await ids(p, 'items');
    expect(itemIds.filter((id) => id.startsWith('lacking'))).toEqual([]);
    expect(itemIds.filter((id) => id.startsWith('giving'))).toHaveLength(10);
    expect((await ids(p, 'others')).filter((id) => id.startsWith('after'))).toHaveLength(10);
    expect(await shardTrouble(p)).toEqual([]);
  });

  it('when a column is added, then a row using it is accepted at once, without waiting for the background re-read', async (ctx) => {
    const { p, write } = await start(ctx.task.name);
    expect((await write([item('before')]))[0]?.status).toBe('committed'); // the worker has read the table
    await p.pool.query('ALTER TABLE items ADD COLUMN colour VARCHAR(10) NULL');
    const results = await write([item('new-1', { colour: 'red' }), item('new-2'), other('o-1')]);
    expect(results.map((r) => r.status ?? `${r.errorType}: ${r.message}`)).toEqual(['committed', 'committed', 'committed']);
    const [rows] = await p.pool.query(`SELECT colour FROM items WHERE id = 'new-1'`);
    expect(rows).toEqual([{ colour: 'red' }]);
    expect(await shardTrouble(p)).toEqual([]);
  });

  it('when a required column is dropped, then rows without it are accepted at once, and a row still giving it is refused typed', async (ctx) => {
    const { p, write } = await start(ctx.task.name);
    expect((await write([item('before')]))[0]?.status).toBe('committed');
    await p.pool.query('ALTER TABLE items DROP COLUMN legacy');
    const without = (id: string): RowSpec => ({ table: 'items', requestId: `items:${id}`, row: { id, name: 'n' } });
    const results = await write([without('w-1'), without('w-2'), item('still-giving'), other('o-1')]);
    expect(results.slice(0, 2).map((r) => r.status ?? `${r.errorType}: ${r.message}`)).toEqual(['committed', 'committed']);
    expect(results[2]?.errorType, results[2]?.message).toBe(BatcherErrorTypes.InvalidRequest);
    expect(results[2]?.message).toMatch(/no column legacy/);
    expect(results[3]?.status).toBe('committed');
    expect(await ids(p, 'items')).toEqual(['before', 'w-1', 'w-2']);
    expect(await shardTrouble(p)).toEqual([]);
  });
});
