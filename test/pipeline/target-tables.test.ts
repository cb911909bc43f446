// Rows into a team's own typed tables: value mapping, the three write modes (upsert on a table with
// two unique keys), several tables in one transaction, the ledger's answers (duplicate, conflict,
// abandoned), refusals before queueing, and the ledger's retention. Real Temporal server and MariaDB.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { LEDGER_TABLE, purgeLedger, type TargetTable } from '@write-batcher/batcher';
import { Catalog, MAX_JSON_DEPTH, databaseOf, describeTable, jsonDepth, writeTargetRows } from '@write-batcher/batcher/testing';
import { globalTemporal } from '../support/global-servers';
import { waitUntil } from '../support/processes';
import type { RowSpec, WriteResult } from './fixtures/row-workflows';
import { demoRow, startPipeline, type Pipeline } from './pipeline';

const ORDERS = `CREATE TABLE orders (
  order_id VARCHAR(32) NOT NULL PRIMARY KEY,
  customer VARCHAR(8) NOT NULL,
  total DECIMAL(12,2) NOT NULL,
  placed_at DATETIME(3) NOT NULL,
  big BIGINT NULL,
  tags JSON NULL,
  sig VARBINARY(16) NULL,
  note VARCHAR(40) NOT NULL DEFAULT ''
)`;
const ORDER_LINES = `CREATE TABLE order_lines (order_id VARCHAR(32) NOT NULL, line_no INT NOT NULL, sku VARCHAR(16) NOT NULL, qty INT UNSIGNED NOT NULL, PRIMARY KEY (order_id, line_no))`;
// Two unique keys: the upsert's declared key is sku; email is another unique key.
const STOCK = `CREATE TABLE stock (id INT AUTO_INCREMENT PRIMARY KEY, sku VARCHAR(16) NOT NULL, email VARCHAR(64) NOT NULL, qty INT NOT NULL, UNIQUE KEY uq_sku (sku), UNIQUE KEY uq_email (email))`;
const CUSTOMERS = `CREATE TABLE customers (customer_id VARCHAR(16) NOT NULL PRIMARY KEY, name VARCHAR(32) NOT NULL)`;
// A CHECK constraint the batcher does not read: only the database can refuse the row.
const CHECKED = `CREATE TABLE checked (id INT NOT NULL PRIMARY KEY, qty INT NOT NULL, CONSTRAINT qty_positive CHECK (qty > 0))`;

const TABLES: TargetTable[] = [
  { table: 'orders', mode: 'insert' },
  { table: 'order_lines', mode: 'insert' },
  { table: 'stock', mode: 'upsert', key: ['sku'] },
  { table: 'customers', mode: 'insert-ignore' },
  { table: 'checked', mode: 'insert' },
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

/** A pipeline with the four typed tables, and a worker running the row-writing test workflows. */
async function start(
  title: string,
  env: Record<string, string> = {},
): Promise<{ p: Pipeline; write: (rows: RowSpec[], timeoutMs?: number) => Promise<WriteResult[]> }> {
  pipeline = await startPipeline({
    title,
    env: { BATCH_FLUSH_INTERVAL_MS: '300', ...env },
    businessStepMs: 0,
    tables: TABLES,
    setupSql: [ORDERS, ORDER_LINES, STOCK, CUSTOMERS, CHECKED],
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
  const write = async (rows: RowSpec[], timeoutMs?: number) => {
    const rowsWithQueue = { rows, taskQueue: p.batcher.taskQueue, timeoutMs };
    return p.client.workflow.execute('writeRowsWorkflow', {
      taskQueue,
      workflowId: `rows-${randomUUID()}`,
      args: [rowsWithQueue],
    }) as Promise<WriteResult[]>;
  };
  return { p, write };
}

async function query<T>(p: Pipeline, sql: string, params: unknown[] = []): Promise<T[]> {
  const [rows] = await p.pool.query(sql, params);
  return rows as T[];
}

// batchedWrite's default task queue is 'batcher-queue'; these tests' batcher polls its own.
const rid = (p: Pipeline, id: string) => `${p.batcher.taskQueue}:${id}`;

describe('typed target tables', () => {
  it('when orders and their lines are written in parallel, then each value lands in its column type exactly, in one transaction per batch', async (ctx) => {
    const { p, write } = await start(ctx.task.name);
    const specs: RowSpec[] = [
      {
        table: 'orders',
        requestId: 'order:o-1',
        row: {
          order_id: 'o-1',
          customer: 'c-1',
          total: '12345678.91',
          placed_at: { $date: '2026-12-05T10:11:12.345Z' },
          big: { $bigint: '9007199254740993' },
          tags: { gift: true, n: [1, 2] },
          sig: { $bytes: [0, 255, 16] },
        },
      },
      { table: 'order_lines', requestId: 'line:o-1:1', row: { order_id: 'o-1', line_no: 1, sku: 'A', qty: 2 } },
      { table: 'order_lines', requestId: 'line:o-1:2', row: { order_id: 'o-1', line_no: 2, sku: 'B', qty: 3 } },
    ];
    const results = await withQueue(p, write)(specs);
    expect(results.map((r) => r.status)).toEqual(['committed', 'committed', 'committed']);
    const [order] = await query<Record<string, unknown>>(
      p,
      `SELECT order_id, customer, CAST(total AS CHAR) AS total, DATE_FORMAT(placed_at, '%Y-%m-%d %H:%i:%s.%f') AS placed_at, CAST(big AS CHAR) AS big, tags, HEX(sig) AS sig, note FROM orders`,
    );
    expect(order).toEqual({
      order_id: 'o-1',
      customer: 'c-1',
      total: '12345678.91',
      placed_at: '2026-12-05 10:11:12.345000',
      big: '9007199254740993',
      tags: expect.anything(),
      sig: '00FF10',
      note: '',
    });
    expect(typeof order?.tags === 'string' ? JSON.parse(order.tags) : order?.tags).toEqual({ gift: true, n: [1, 2] });
    expect(await query(p, 'SELECT order_id, line_no, sku, qty FROM order_lines ORDER BY line_no')).toEqual([
      { order_id: 'o-1', line_no: 1, sku: 'A', qty: 2 },
      { order_id: 'o-1', line_no: 2, sku: 'B', qty: 3 },
    ]);
    // The ledger holds one entry per request, all of one batch: rows of both tables, one transaction.
    const ledger = await query<{ n: number; batches: number }>(
      p,
      `SELECT COUNT(*) AS n, COUNT(DISTINCT batch_id) AS batches FROM ${LEDGER_TABLE} WHERE request_id LIKE ?`,
      [`${p.batcher.taskQueue}:%`],
    );
    expect(Number(ledger[0]?.n)).toBe(3);
    expect(new Set(results.map((r) => r.batchId)).size).toBe(Number(ledger[0]?.batches));
  });

  it('when an insert meets an existing key, then it fails WriteKeyExists and the other rows of its batch commit', async (ctx) => {
    const { p, write } = await start(ctx.task.name);
    await p.pool.query(`INSERT INTO customers VALUES ('k-1', 'first')`);
    await p.pool.query(`INSERT INTO order_lines VALUES ('o-9', 1, 'OLD', 1)`);
    const results = await withQueue(
      p,
      write,
    )([
      { table: 'order_lines', requestId: 'l-dup', row: { order_id: 'o-9', line_no: 1, sku: 'NEW', qty: 5 } },
      { table: 'order_lines', requestId: 'l-new', row: { order_id: 'o-9', line_no: 2, sku: 'NEW', qty: 5 } },
      { table: 'customers', requestId: 'c-dup', row: { customer_id: 'k-1', name: 'second' } },
      { table: 'customers', requestId: 'c-new', row: { customer_id: 'k-2', name: 'new' } },
    ]);
    expect(results[0]?.errorType).toBe('WriteKeyExists');
    expect(results[1]?.status).toBe('committed');
    // insert-ignore: the existing row stays as it was, and the requester hears "ignored" (not written:
    // another row holds the key), never "committed" or "duplicate"; the ledger records the same.
    expect(results[2]?.status).toBe('ignored');
    expect(results[3]?.status).toBe('committed');
    expect(await query(p, 'SELECT line_no, sku FROM order_lines ORDER BY line_no')).toEqual([
      { line_no: 1, sku: 'OLD' },
      { line_no: 2, sku: 'NEW' },
    ]);
    expect(await query(p, 'SELECT customer_id, name FROM customers ORDER BY customer_id')).toEqual([
      { customer_id: 'k-1', name: 'first' },
      { customer_id: 'k-2', name: 'new' },
    ]);
  });

  it('when an upsert meets a table with two unique keys, then it matches the declared key only and never overwrites the row another key matches', async (ctx) => {
    const { p, write } = await start(ctx.task.name);
    await p.pool.query(`INSERT INTO stock (sku, email, qty) VALUES ('S1', 'a@x', 1), ('S2', 'b@x', 1)`);
    const results = await withQueue(
      p,
      write,
    )([
      // Declared key S1 exists: its other columns are updated.
      { table: 'stock', requestId: 'u-1', row: { sku: 'S1', email: 'a@x', qty: 10 } },
      // New sku, but its email is S2's: ON DUPLICATE KEY UPDATE would have overwritten S2. Here: refused.
      { table: 'stock', requestId: 'u-2', row: { sku: 'S3', email: 'b@x', qty: 99 } },
      // New sku and email: inserted.
      { table: 'stock', requestId: 'u-3', row: { sku: 'S4', email: 'd@x', qty: 4 } },
    ]);
    // S1 was there: updated (written over it); S4: inserted (committed).
    expect(results.map((r) => r.status ?? r.errorType)).toEqual(['updated', 'WriteKeyExists', 'committed']);
    expect(await query(p, 'SELECT sku, email, qty FROM stock ORDER BY sku')).toEqual([
      { sku: 'S1', email: 'a@x', qty: 10 },
      { sku: 'S2', email: 'b@x', qty: 1 },
      { sku: 'S4', email: 'd@x', qty: 4 },
    ]);
    // The same key twice in one batch (in this order): the later row sees the earlier and updates it.
    const info = await describeTable(p.pool, { table: 'stock', mode: 'upsert', key: ['sku'] }, p.mysql.database);
    const conn = await p.pool.getConnection();
    try {
      await conn.beginTransaction();
      const twice = [
        { requestId: 'u-4', requesterWorkflowId: 'w', row: { sku: 'S5', email: 'e@x', qty: 1 } },
        { requestId: 'u-5', requesterWorkflowId: 'w', row: { sku: 'S5', email: 'e@x', qty: 2 } },
      ];
      let statements = 0;
      const written = await writeTargetRows(conn, info, twice, { batchId: 'b', shard: 0 }, () => statements++);
      await conn.commit();
      expect([...written.values()]).toEqual(['written', 'updated']);
      expect(statements).toBe(4); // probe + insert, then probe + update
    } finally {
      conn.release();
    }
    expect(await query(p, `SELECT qty FROM stock WHERE sku = 'S5'`)).toEqual([{ qty: 2 }]);
  });

  it('when a request id is reused, then the same row is a duplicate and a different row is a WriteConflict naming the id', async (ctx) => {
    const { p, write } = await start(ctx.task.name);
    const w = withQueue(p, write);
    const line = { order_id: 'o-2', line_no: 1, sku: 'A', qty: 1 };
    const [first] = await w([{ table: 'order_lines', requestId: 'reuse-1', row: line }]);
    expect(first?.status).toBe('committed');
    const [same] = await w([{ table: 'order_lines', requestId: 'reuse-1', row: line }]);
    expect(same?.status).toBe('duplicate');
    const [other] = await w([{ table: 'order_lines', requestId: 'reuse-1', row: { ...line, qty: 7 } }]);
    expect(other?.errorType).toBe('WriteConflict');
    expect(other?.message).toContain(rid(p, 'reuse-1'));
    const [otherTable] = await w([{ table: 'customers', requestId: 'reuse-1', row: { customer_id: 'x', name: 'y' } }]);
    expect(otherTable?.errorType).toBe('WriteConflict');
    expect(otherTable?.message).toMatch(/order_lines|different table or row/);
    // Two workflows with different rows under one id, in flight together: one is written, the other conflicts.
    const pair = (
      await Promise.all([
        w([{ table: 'order_lines', requestId: 'reuse-2', row: { ...line, line_no: 2 } }]),
        w([{ table: 'order_lines', requestId: 'reuse-2', row: { ...line, line_no: 3 } }]),
      ])
    ).flat();
    expect(pair.map((r) => r.status ?? r.errorType).sort()).toEqual(['WriteConflict', 'committed']);
    // One workflow writing one id twice at once is refused typed (not a task that fails for ever).
    const twice = await w([
      { table: 'order_lines', requestId: 'reuse-3', row: { ...line, line_no: 4 } },
      { table: 'order_lines', requestId: 'reuse-3', row: { ...line, line_no: 4 } },
    ]);
    expect(twice.map((r) => r.status ?? r.errorType)).toEqual(['committed', 'InvalidWriteRequest']);
    expect(await query(p, 'SELECT line_no, qty FROM order_lines ORDER BY line_no')).toHaveLength(3);
  });

  it('when a row does not fit its table, then it is refused InvalidWriteRequest before it is queued, naming what is wrong', async (ctx) => {
    const { p, write } = await start(ctx.task.name);
    const results = await withQueue(
      p,
      write,
    )([
      { table: 'payments', row: { id: 1 } },
      {
        table: 'orders',
        row: { order_id: 'o-3', customer: 'c', total: '1.00', placed_at: { $date: '2026-01-01T00:00:00Z' }, colour: 'red' },
      },
      { table: 'orders', row: { order_id: 'o-4', total: '1.00', placed_at: { $date: '2026-01-01T00:00:00Z' } } },
      { table: 'orders', row: { order_id: 'o-5', customer: 'much-too-long', total: '1.00', placed_at: { $date: '2026-01-01T00:00:00Z' } } },
      { table: 'orders', row: { order_id: 'o-6', customer: 'c', total: '1.005', placed_at: { $date: '2026-01-01T00:00:00Z' } } },
      { table: 'order_lines', row: { order_id: 'o-7', line_no: 1, sku: 'A', qty: -1 } },
      { table: 'orders', row: { order_id: 'o-8', customer: 'c', total: '1.00', placed_at: 'yesterday' } },
      {
        table: 'orders',
        row: { order_id: 'o-9', customer: 'c', total: '1.00', placed_at: { $date: '2026-01-01T00:00:00Z' }, tags: 'not json' },
      },
      { table: 'orders; DROP TABLE orders', row: { a: 1 } },
      { table: 'orders', row: { order_id: 'o-ok', customer: 'c', total: '1.00', placed_at: { $date: '2026-01-01T00:00:00Z' } } },
    ]);
    const messages = results.map((r) => `${r.errorType ?? r.status}: ${r.message ?? ''}`);
    // Named in the library's terms: its option is `tables` (the demo service's env var is the demo's business).
    expect(messages[0]).toMatch(
      /InvalidWriteRequest: .*table payments is not one of this batcher's tables \(.*\); add it to the batcher's `tables` option/,
    );
    expect(messages[1]).toMatch(/InvalidWriteRequest: .*table orders has no column colour/);
    expect(messages[2]).toMatch(/InvalidWriteRequest: .*required column customer is missing/);
    expect(messages[3]).toMatch(/InvalidWriteRequest: .*column customer .* 13 characters; the column holds 8/);
    expect(messages[4]).toMatch(/InvalidWriteRequest: .*more than 2 decimal places/);
    expect(messages[5]).toMatch(/InvalidWriteRequest: .*-1 is out of range 0\.\.4294967295/);
    expect(messages[6]).toMatch(/InvalidWriteRequest: .*placed_at .* takes a Date/);
    expect(messages[7]).toMatch(/InvalidWriteRequest: .*tags .* takes a plain object or array/);
    expect(messages[8]).toMatch(/InvalidWriteRequest: .*is not a table name/);
    expect(results[9]?.status).toBe('committed');
    // Refused in the submit activity: none of the bad ones reached the shard.
    expect((await p.stats()).requestsTotal).toBe(1);
    expect(await query(p, 'SELECT order_id FROM orders')).toEqual([{ order_id: 'o-ok' }]);
  });

  it(`when a JSON value is ${MAX_JSON_DEPTH} deep (JSON_DEPTH), then MariaDB takes it, and one level more is refused typed before the database`, async (ctx) => {
    const { p, write } = await start(ctx.task.name);
    // nest(n): n objects, the innermost holding a number: JSON_DEPTH n + 1.
    const nest = (objects: number): unknown => (objects === 1 ? { leaf: 1 } : { d: nest(objects - 1) });
    expect(jsonDepth(nest(MAX_JSON_DEPTH - 1))).toBe(MAX_JSON_DEPTH);
    const base = { customer: 'c', total: '1.00', placed_at: { $date: '2026-01-01T00:00:00Z' } };
    // emptyNest(n): n objects, the innermost empty: JSON_DEPTH n, and the deepest the wire sees.
    const emptyNest = (objects: number): unknown => (objects === 1 ? {} : { d: emptyNest(objects - 1) });
    expect(jsonDepth(emptyNest(MAX_JSON_DEPTH + 1))).toBe(MAX_JSON_DEPTH + 1);
    const [deep, deeper, deeperOnTheWire] = await withQueue(
      p,
      write,
    )([
      { table: 'orders', row: { order_id: 'deep', ...base, tags: nest(MAX_JSON_DEPTH - 1) as never } },
      { table: 'orders', row: { order_id: 'deeper', ...base, tags: nest(MAX_JSON_DEPTH) as never } },
      { table: 'orders', row: { order_id: 'deeper-wire', ...base, tags: emptyNest(MAX_JSON_DEPTH + 1) as never } },
    ]);
    expect(deep).toMatchObject({ status: 'committed' });
    expect(deeper).toMatchObject({ errorType: 'InvalidWriteRequest' });
    expect(deeper?.message).toContain(`is ${MAX_JSON_DEPTH + 1} levels deep`);
    // Whichever check meets it (the wire's depth or the column's), the limit it names is the README's.
    expect(deeperOnTheWire).toMatchObject({ errorType: 'InvalidWriteRequest' });
    for (const refused of [deeper, deeperOnTheWire]) expect(refused?.message).toContain(`at most ${MAX_JSON_DEPTH}`);
    expect(MAX_JSON_DEPTH).toBe(32);
    // Both limits are the database's own: it measures the one as deep as ours, and refuses one level more.
    const [[measured]] = (await p.pool.query(`SELECT JSON_DEPTH(?) AS depth, JSON_VALID(?) AS deeperValid`, [
      JSON.stringify(nest(MAX_JSON_DEPTH - 1)),
      JSON.stringify(nest(MAX_JSON_DEPTH)),
    ])) as unknown as [[{ depth: number; deeperValid: number }]];
    expect(Number(measured.depth)).toBe(MAX_JSON_DEPTH);
    expect(Number(measured.deeperValid)).toBe(0);
    await expect(
      p.pool.query(`INSERT INTO orders (order_id, customer, total, placed_at, tags) VALUES ('direct', 'c', 1, NOW(), ?)`, [
        JSON.stringify(nest(MAX_JSON_DEPTH)),
      ]),
    ).rejects.toThrow(/CONSTRAINT/);
  });

  it('when a write times out and is retried under the same id, then it stays abandoned (WriteAbandoned), and a derived new id is written', async (ctx) => {
    // No batcher flush for 60 s: the 2 s write times out and the settle step claims its id.
    const { p, write } = await start(ctx.task.name, { BATCH_FLUSH_INTERVAL_MS: '60000' });
    const w = withQueue(p, write);
    const row = { order_id: 'o-t', line_no: 1, sku: 'A', qty: 1 };
    const [timedOut] = await w([{ table: 'order_lines', requestId: 'late-1', row }], 2000);
    expect(timedOut?.errorType).toBe('WriteConfirmationTimeout');
    expect(timedOut?.message).toContain('retry with a new request id');
    const [again] = await w([{ table: 'order_lines', requestId: 'late-1', row }], 2000);
    expect(again?.errorType).toBe('WriteAbandoned');
    expect(again?.message).toContain('use a new request id');
    expect(await query(p, 'SELECT COUNT(*) AS n FROM order_lines')).toEqual([{ n: 0 }]);
  });
});

describe('database refusals', () => {
  it("when the database refuses a row (a CHECK constraint), then that row fails WriteDataRejected under the database's own error name and the rest of its batch commits", async (ctx) => {
    const { p, write } = await start(ctx.task.name);
    const results = await withQueue(
      p,
      write,
    )([
      { table: 'checked', row: { id: 1, qty: 1 } },
      { table: 'checked', row: { id: 2, qty: 0 } },
      { table: 'checked', row: { id: 3, qty: 3 } },
    ]);
    expect(results.map((r) => r.status ?? r.errorType)).toEqual(['committed', 'WriteDataRejected', 'committed']);
    // MariaDB's name for errno 4025, not MySQL's (which mysql2 would give: ER_INNODB_AUTOEXTEND_SIZE_OUT_OF_RANGE).
    expect(results[1]?.message).toContain('ER_CONSTRAINT_FAILED (errno 4025)');
    expect(results[1]?.message).not.toContain('AUTOEXTEND');
    expect(await query(p, 'SELECT id FROM checked ORDER BY id')).toEqual([{ id: 1 }, { id: 3 }]);
  });
});

// Tables whose primary key the database numbers itself (AUTO_INCREMENT), beside one it does not.
const AUTO_EVENTS = `CREATE TABLE auto_events (id INT AUTO_INCREMENT PRIMARY KEY, event_id VARCHAR(32) NOT NULL, body VARCHAR(20) NULL, UNIQUE KEY uq_event (event_id))`;
const AUTO_PAIRS = `CREATE TABLE auto_pairs (tenant VARCHAR(8) NOT NULL, seq BIGINT NOT NULL AUTO_INCREMENT, code VARCHAR(8) NOT NULL, PRIMARY KEY (tenant, seq), KEY ix_seq (seq), UNIQUE KEY uq_code (tenant, code))`;
const CODES = `CREATE TABLE codes (code VARCHAR(8) NOT NULL PRIMARY KEY, label VARCHAR(20) NULL)`;
const DECLARABLE: Record<string, { keys: string[][]; numbered: string[] }> = {
  auto_events: { keys: [['id'], ['event_id']], numbered: ['id'] },
  auto_pairs: {
    keys: [
      ['tenant', 'seq'],
      ['tenant', 'code'],
    ],
    numbered: ['seq'],
  },
  codes: { keys: [['code']], numbered: [] },
};

describe('table declarations checked at start', () => {
  it('for any declaration of a table whose key may be AUTO_INCREMENT, then insert-ignore and upsert on a key the database numbers are refused at start naming the column, and every other declaration is accepted', async (ctx) => {
    pipeline = await startPipeline({ title: ctx.task.name, batcherWorker: false, setupSql: [AUTO_EVENTS, AUTO_PAIRS, CODES] });
    const p = pipeline;
    const declarations = fc.constantFrom(...Object.keys(DECLARABLE)).chain((table) =>
      fc.record({
        table: fc.constant(table),
        mode: fc.constantFrom('insert' as const, 'insert-ignore' as const, 'upsert' as const),
        // undefined: the primary key (the first listed).
        key: fc.option(fc.constantFrom(...(DECLARABLE[table] as { keys: string[][] }).keys), { nil: undefined }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(declarations, async (target) => {
        const { keys, numbered } = DECLARABLE[target.table] as { keys: string[][]; numbered: string[] };
        const key = target.key ?? keys[0]!;
        const refused = target.mode !== 'insert' && key.some((c) => numbered.includes(c));
        const described = describeTable(p.pool, target.key ? target : { table: target.table, mode: target.mode }, databaseOf(p.pool) ?? '');
        if (!refused)
          return void (await expect(described).resolves.toMatchObject({ target: { table: target.table, mode: target.mode, key } }));
        const column = key.find((c) => numbered.includes(c)) as string;
        await expect(described).rejects.toThrow(
          new RegExp(`table ${target.table} \\(mode ${target.mode}\\): .*AUTO_INCREMENT column ${column}.*declare \`key\``),
        );
      }),
      {
        numRuns: 40,
        examples: [
          [{ table: 'auto_events', mode: 'insert-ignore', key: undefined }],
          [{ table: 'auto_events', mode: 'insert-ignore', key: ['event_id'] }],
        ],
      },
    );
    // The reported case, through the batcher's start: the whole allow-list is refused, naming the table.
    await expect(
      new Catalog(
        p.pool,
        [
          { table: 'auto_events', mode: 'insert-ignore' },
          { table: 'codes', mode: 'upsert' },
        ],
        databaseOf(p.pool) ?? '',
      ).load(true),
    ).rejects.toThrow(/table auto_events \(mode insert-ignore\).*AUTO_INCREMENT column id/);
  });
});

describe('the ledger', () => {
  it('when entries are older than the retention window, then they are deleted in bounded chunks and newer ones stay', async (ctx) => {
    const { p } = await start(ctx.task.name);
    const digest = Buffer.alloc(32); // every entry names its table and its row's digest
    const values = Array.from({ length: 25 }, (_, i) => [`old-${i}`, 'committed', 'b', 'orders', digest, 'w', 0, '2020-01-01 00:00:00']);
    await p.pool.query(
      `INSERT INTO ${LEDGER_TABLE} (request_id, status, batch_id, target_table, row_digest, requester_workflow_id, shard, recorded_at) VALUES ?`,
      [values],
    );
    await p.pool.query(
      `INSERT INTO ${LEDGER_TABLE} (request_id, status, target_table, row_digest) VALUES ('new-1', 'abandoned', 'orders', ?)`,
      [digest],
    );
    expect(await purgeLedger(p.pool, 3600, 10, 2)).toBe(20); // two chunks of 10, then it stops
    expect(await purgeLedger(p.pool, 3600, 10, 2)).toBe(5);
    expect(await query(p, `SELECT request_id FROM ${LEDGER_TABLE}`)).toEqual([{ request_id: Buffer.from('new-1') }]);
  });
});

/** Gives each spec a request id in the test's own namespace (ids are global in the run's database otherwise). */
function withQueue(p: Pipeline, write: (rows: RowSpec[], timeoutMs?: number) => Promise<WriteResult[]>) {
  return (rows: RowSpec[], timeoutMs?: number) =>
    write(
      rows.map((r) => ({ ...r, requestId: rid(p, r.requestId ?? randomUUID()) })),
      timeoutMs,
    );
}

void demoRow;
void waitUntil;
