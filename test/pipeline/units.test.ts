// Units: several rows, for one table or several, under one request id, committed in one transaction
// or not at all. (1) One bulk write (the SDK's activity environment, real MariaDB): a parent and its
// children given child first, a unit with a row the table refuses, a unit with an insert-ignore row
// whose key is held, re-run after commit and repeated in a later batch. (2) Generated batches of
// units (fast-check) with rows that break a CHECK, a foreign key or a unit's own key: every unit is
// in the tables whole or not at all, and refused exactly when it holds a bad row. (3) Through
// workflows (batchedWriteUnit), the dev server and a batcher worker. (4) The batcher worker
// SIGKILLed while a batch of units is inside its transaction: every unit lands whole, once.
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { NativeConnection, Worker } from '@temporalio/worker';
import fc from 'fast-check';
import type { Pool } from 'mysql2/promise';
import { afterEach, describe, expect, it } from 'vitest';
import { BatcherErrorTypes, batcherWorkflowId } from '@write-batcher/protocol';
import { workflowsPath, type BulkWriteInput, type BulkWriteResult, type TargetTable } from '@write-batcher/batcher';
import { Catalog, createBulkWriter, databaseOf } from '@write-batcher/batcher/testing';
import { createPool, loadConfig } from '@batcher/service-kit';
import { writeWorkflowBundle } from '@batcher/service-kit/worker';
import { migrateDatabase } from '@batcher/batcher-worker/schema';
import { globalMysql, globalTemporal, serviceEnv } from '../support/global-servers';
import { slugOf } from '../support/naming';
import { freePort, repoRoot, spawnLogged, waitUntil, type ManagedProcess } from '../support/processes';
import type { UnitSpec, WriteResult } from './fixtures/row-workflows';
import { startPipeline } from './pipeline';

const SCHEMA = [
  'CREATE TABLE unit_orders (order_id VARCHAR(60) PRIMARY KEY, tag VARCHAR(80) NOT NULL, total DECIMAL(10,2) NOT NULL)',
  `CREATE TABLE unit_lines (order_id VARCHAR(60) NOT NULL, line INT NOT NULL, tag VARCHAR(80) NOT NULL, qty INT NOT NULL,
     PRIMARY KEY (order_id, line), CONSTRAINT fk_unit_line FOREIGN KEY (order_id) REFERENCES unit_orders (order_id),
     CONSTRAINT qty_positive CHECK (qty > 0))`,
  'CREATE TABLE unit_customers (email VARCHAR(60) PRIMARY KEY, name VARCHAR(40) NOT NULL)',
];
const TABLES: TargetTable[] = [
  { table: 'unit_orders', mode: 'insert' },
  { table: 'unit_lines', mode: 'insert' },
  { table: 'unit_customers', mode: 'insert-ignore' },
];

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch((err) => console.error('cleanup failed:', err));
});

/** A database of the test's own with the ledger and the unit tables; dropped after the test. */
async function database(title: string): Promise<{ pool: Pool; env: Record<string, string> }> {
  const env = {
    ...globalMysql().env,
    MYSQL_DATABASE: `u_${createHash('sha1').update(`${title}${Date.now()}`).digest('hex').slice(0, 12)}`,
  };
  const { mysql: cfg } = loadConfig(['mysql'], env);
  await migrateDatabase(cfg);
  const pool = createPool(cfg);
  cleanups.push(async () => {
    await pool.query(`DROP DATABASE IF EXISTS \`${cfg.database}\``);
    await pool.end();
  });
  for (const sql of SCHEMA) await pool.query(sql);
  return { pool, env };
}

async function bulkWriterOn(pool: Pool) {
  const catalog = new Catalog(pool, TABLES, databaseOf(pool) ?? '');
  await catalog.load(true);
  const { bulkWrite } = createBulkWriter(pool, catalog, { deliver: async (replies) => ({ delivered: replies.length, undeliverable: 0 }) });
  const env = new MockActivityEnvironment();
  return (input: BulkWriteInput) => env.run<[BulkWriteInput], BulkWriteResult, typeof bulkWrite>(bulkWrite, input);
}

type Values = Record<string, string | number>;
const order = (id: string, tag: string, total = '1.00'): { table: string; row: Values } => ({
  table: 'unit_orders',
  row: { order_id: id, tag, total },
});
const line = (orderId: string, n: number, tag: string, qty: number): { table: string; row: Values } => ({
  table: 'unit_lines',
  row: { order_id: orderId, line: n, tag, qty },
});

/** A request of a batch: its first row and, for a unit, the others. */
function request(requestId: string, rows: Array<{ table: string; row: Values }>): BulkWriteInput['rows'][number] {
  const [first, ...more] = rows as [{ table: string; row: Values }, ...Array<{ table: string; row: Values }>];
  return {
    requestId,
    requesterWorkflowId: `wf-${requestId}`,
    table: first.table,
    row: first.row,
    ...(more.length ? { moreRows: more } : {}),
    replies: [],
  };
}

/** Rows of each tag in the two order tables. */
async function rowsByTag(pool: Pool): Promise<Map<string, number>> {
  const [found] = await pool.query(
    'SELECT tag, COUNT(*) AS n FROM (SELECT tag FROM unit_orders UNION ALL SELECT tag FROM unit_lines) AS t GROUP BY tag',
  );
  return new Map((found as Array<{ tag: string; n: number }>).map((f) => [f.tag, Number(f.n)]));
}

describe('units of several rows', () => {
  it('when a batch holds a parent-and-children unit given child first, a unit with a row its table refuses and a unit with an ignored row, then each unit is written whole or not at all, named by the row that failed, and a re-run and a repeat answer the same', async (ctx) => {
    const { pool } = await database(slugOf(ctx.task.name));
    await pool.query(`INSERT INTO unit_customers VALUES ('held@x', 'first')`);
    const run = await bulkWriterOn(pool);
    const input: BulkWriteInput = {
      batchId: 'b-1',
      shard: 0,
      rows: [
        request('u-ok', [line('o1', 1, 'u-ok', 2), order('o1', 'u-ok', '10.00'), line('o1', 2, 'u-ok', 1)]),
        request('u-bad', [order('o2', 'u-bad'), line('o2', 1, 'u-bad', 0)]),
        request('u-ignore', [{ table: 'unit_customers', row: { email: 'held@x', name: 'second' } }, order('o3', 'u-ignore')]),
        request('s-1', [order('o4', 's-1')]),
      ],
    };
    const first = await run(input);
    const summary = (r: BulkWriteResult) => r.outcomes.map((o) => [o.requestId, o.status, o.rows?.map((x) => x.status) ?? null]);
    expect(summary(first)).toEqual([
      ['u-ok', 'committed', ['committed', 'committed', 'committed']],
      ['u-bad', 'rejected', null],
      ['u-ignore', 'committed', ['ignored', 'committed']],
      ['s-1', 'committed', null],
    ]);
    const bad = first.outcomes[1];
    expect(bad?.errorType).toBe(BatcherErrorTypes.DataRejected);
    expect(bad?.reason).toMatch(/^row 2 of the unit: /);
    expect(bad?.reason).toMatch(/qty_positive/);
    // The activity retried after its transaction committed: the ledger answers the same, row by row.
    expect(summary(await run(input))).toEqual(summary(first));
    // The same requests in a later batch: the written units are duplicates (their rows' outcomes from the ledger).
    expect(summary(await run({ ...input, batchId: 'b-2' }))).toEqual([
      ['u-ok', 'duplicate', ['committed', 'committed', 'committed']],
      ['u-bad', 'rejected', null],
      ['u-ignore', 'duplicate', ['ignored', 'committed']],
      ['s-1', 'duplicate', null],
    ]);
    expect(Object.fromEntries(await rowsByTag(pool))).toEqual({ 'u-ok': 3, 'u-ignore': 1, 's-1': 1 });
    const [customers] = await pool.query('SELECT email, name FROM unit_customers');
    expect(customers).toEqual([{ email: 'held@x', name: 'first' }]);
    const [ledger] = await pool.query(
      'SELECT CAST(request_id AS CHAR) AS id, status, CAST(row_statuses AS CHAR) AS row_list FROM batcher_ledger ORDER BY request_id',
    );
    expect(ledger).toEqual([
      { id: 's-1', status: 'committed', row_list: null },
      { id: 'u-ignore', status: 'committed', row_list: 'ic' },
      { id: 'u-ok', status: 'committed', row_list: 'ccc' },
    ]);
  });

  it('when generated batches of units hold rows that break a CHECK, a foreign key or the unit’s own key, then every unit is in the tables whole or not at all, refused exactly when it holds a bad row', async (ctx) => {
    const { pool } = await database(slugOf(ctx.task.name));
    const run = await bulkWriterOn(pool);
    // A unit: up to 2 orders of its own, up to 3 lines each naming one of them (or an order that
    // does not exist), a line number (two alike break the unit's key), a quantity (≤ 0 breaks the CHECK).
    const unitShape = fc.record({
      orders: fc.integer({ min: 0, max: 2 }),
      lines: fc.array(
        fc.record({ of: fc.integer({ min: 0, max: 2 }), n: fc.integer({ min: 1, max: 3 }), qty: fc.integer({ min: -1, max: 3 }) }),
        {
          maxLength: 3,
        },
      ),
    });
    let round = 0;
    const tally = { committed: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(unitShape, { minLength: 1, maxLength: 6 }), async (shapes) => {
        const batch = `g${round++}-${randomUUID().slice(0, 6)}`;
        const units = shapes
          .map((shape, u) => {
            const tag = `${batch}-u${u}`;
            const orderIds = Array.from({ length: shape.orders }, (_, k) => `${tag}-o${k}`);
            const rows = [
              ...shape.lines.map((l) => line(orderIds[l.of] ?? `${tag}-missing`, l.n, tag, l.qty)),
              ...orderIds.map((id) => order(id, tag)),
            ];
            const keys = shape.lines.map((l) => `${orderIds[l.of] ?? 'missing'}:${l.n}`);
            const good = shape.lines.every((l) => l.qty > 0 && l.of < shape.orders) && new Set(keys).size === keys.length;
            return { tag, rows, good };
          })
          .filter((u) => u.rows.length > 0);
        if (units.length === 0) return;
        const result = await run({ batchId: batch, shard: 0, rows: units.map((u) => request(u.tag, u.rows)) });
        const counts = await rowsByTag(pool);
        for (const [i, u] of units.entries()) {
          const o = result.outcomes[i];
          expect(o?.requestId).toBe(u.tag);
          expect(o?.status, `unit ${u.tag} (${u.good ? 'good' : 'bad'}): ${o?.reason ?? ''}`).toBe(u.good ? 'committed' : 'rejected');
          expect(counts.get(u.tag) ?? 0, `rows of unit ${u.tag}`).toBe(u.good ? u.rows.length : 0);
          if (!u.good && u.rows.length > 1) expect(o?.reason).toMatch(/^row \d+ of the unit: /);
          tally[u.good ? 'committed' : 'refused']++;
        }
      }),
      { numRuns: 25 },
    );
    console.log(`[units] generated units: ${tally.committed} committed whole, ${tally.refused} refused whole`);
    expect(tally.committed).toBeGreaterThan(0);
    expect(tally.refused).toBeGreaterThan(0);
  });

  it('when workflows write units through batchedWriteUnit, then each learns its unit’s outcome row by row, a bad row refuses its unit by place, and a repeat is a duplicate', async (ctx) => {
    const p = await startPipeline({
      title: ctx.task.name,
      env: { BATCH_FLUSH_INTERVAL_MS: '300' },
      businessStepMs: 0,
      tables: TABLES,
      setupSql: SCHEMA,
    });
    cleanups.push(() => p.stop());
    const connection = await NativeConnection.connect({ address: globalTemporal().address });
    cleanups.push(() => connection.close());
    const taskQueue = `${p.batcher.taskQueue}-units`;
    const worker = await Worker.create({
      connection,
      namespace: globalTemporal().namespace,
      taskQueue,
      workflowsPath: path.join(__dirname, 'fixtures', 'row-workflows.ts'),
    });
    const running = worker.run();
    cleanups.push(async () => {
      worker.shutdown();
      await running;
    });
    const t = randomUUID().slice(0, 6);
    const units: UnitSpec[] = [
      { requestId: `ok-${t}`, rows: [line(`o-${t}`, 1, `ok-${t}`, 5), order(`o-${t}`, `ok-${t}`, '7.50')] },
      { requestId: `bad-${t}`, rows: [order(`p-${t}`, `bad-${t}`), line(`p-${t}`, 1, `bad-${t}`, -2)] },
      { requestId: `undeclared-${t}`, rows: [order(`q-${t}`, `undeclared-${t}`), { table: 'not_declared', row: { a: 1 } }] },
    ];
    const execute = (list: UnitSpec[]) =>
      p.client.workflow.execute('writeUnitsWorkflow', {
        taskQueue,
        workflowId: `units-${randomUUID()}`,
        args: [{ units: list, taskQueue: p.batcher.taskQueue }],
      }) as Promise<WriteResult[]>;
    const [ok, bad, undeclared] = await execute(units);
    expect(ok).toMatchObject({ status: 'committed', table: 'unit_lines' });
    expect(ok?.rows).toEqual([
      { table: 'unit_lines', status: 'committed' },
      { table: 'unit_orders', status: 'committed' },
    ]);
    expect(bad).toMatchObject({ errorType: BatcherErrorTypes.DataRejected });
    expect(bad?.message).toMatch(/row 2 of the unit: .*qty_positive/);
    expect(undeclared).toMatchObject({ errorType: BatcherErrorTypes.InvalidRequest });
    expect(undeclared?.message).toMatch(/row 2 of the unit: .*not_declared/);
    // The same unit again from another workflow: written earlier; the same id with other rows: a conflict.
    const [again] = await execute([units[0] as UnitSpec]);
    const [other] = await execute([{ requestId: `ok-${t}`, rows: [order(`o-${t}`, `ok-${t}`, '7.50')] }]);
    expect(again?.status).toBe('duplicate');
    expect(other?.errorType).toBe(BatcherErrorTypes.Conflict);
    expect(Object.fromEntries([...(await rowsByTag(p.pool))].filter(([tag]) => tag.endsWith(t)))).toEqual({ [`ok-${t}`]: 2 });
  });

  it('when the batcher worker is SIGKILLed while a batch of units is inside its transaction, then after a new worker every unit is written whole, once, and its workflow told so', async () => {
    const slug = `units-kill-${Date.now().toString(36)}`;
    const { pool, env: dbEnv } = await database(slug);
    const env: Record<string, string> = {
      ...dbEnv,
      BATCHER_TASK_QUEUE: slug,
      BATCHER_WORKFLOW_ID_PREFIX: slug,
      BATCHER_SHARDS: '1',
      BATCH_FLUSH_INTERVAL_MS: '500',
      SUBMIT_LINGER_MS: '100',
      BATCHER_TABLES: JSON.stringify(TABLES),
    };
    const bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'units-kill-'));
    cleanups.push(async () => fs.rmSync(bundleDir, { recursive: true, force: true }));
    const bundle = path.join(bundleDir, 'batcher-workflows.js');
    await writeWorkflowBundle(workflowsPath, bundle);
    let batcher: ManagedProcess | undefined;
    const startBatcher = async (n: number) => {
      const proc = spawnLogged({
        name: `units-kill-batcher-${n}`,
        command: process.execPath,
        args: [path.join(repoRoot, 'services/batcher-worker/dist/main.js')],
        env: serviceEnv({
          ...env,
          LOG_LEVEL: 'info',
          WORKFLOW_BUNDLE_PATH: bundle,
          WORKER_HEALTH_PORT: String(await freePort()),
          WORKER_METRICS_PORT: '0',
        }),
      });
      batcher = proc;
      await waitUntil(`batcher worker ${n} running`, async () => {
        if (proc.hasExited()) throw new Error(`batcher worker ${n} exited:\n${proc.logTail()}`);
        return proc.logTail(400).includes('worker running');
      });
    };
    cleanups.push(async () => batcher?.kill());

    const temporal = globalTemporal();
    const clientConnection = await Connection.connect({ address: temporal.address });
    cleanups.push(() => clientConnection.close());
    const client = new Client({ connection: clientConnection, namespace: temporal.namespace });
    cleanups.push(() => client.workflow.getHandle(batcherWorkflowId(slug, 0)).terminate('test finished'));
    const connection = await NativeConnection.connect({ address: temporal.address });
    cleanups.push(() => connection.close());
    const requesterQueue = `${slug}-requesters`;
    const worker = await Worker.create({
      connection,
      namespace: temporal.namespace,
      taskQueue: requesterQueue,
      workflowsPath: path.join(__dirname, 'fixtures', 'row-workflows.ts'),
    });
    const running = worker.run();
    cleanups.push(async () => {
      worker.shutdown();
      await running;
    });

    await startBatcher(0);
    // The lines table locked by the test: a batch gets its ledger claims and orders into its
    // transaction, then waits at the lines. The worker is killed there.
    const blocker = await pool.getConnection();
    cleanups.push(async () => blocker.destroy());
    await blocker.query('LOCK TABLES unit_lines WRITE');
    const UNITS = 12;
    const units: UnitSpec[] = Array.from({ length: UNITS }, (_, i) => {
      const tag = `${slug}-u${i}`;
      return { requestId: tag, rows: [order(`${tag}-o`, tag), line(`${tag}-o`, 1, tag, 1), line(`${tag}-o`, 2, tag, 3)] };
    });
    const results = client.workflow.execute('writeUnitsWorkflow', {
      taskQueue: requesterQueue,
      workflowId: `${slug}-requester`,
      args: [{ units, taskQueue: slug, timeoutMs: 300_000 }],
    }) as Promise<WriteResult[]>;
    await waitUntil(
      'a bulk write waiting inside its transaction',
      async () => {
        const [list] = await pool.query(`SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'`);
        return Number((list as Array<{ n: number }>)[0]?.n) > 0;
      },
      { timeoutMs: 120_000 },
    );
    const [claimed] = await pool.query(`SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX WHERE trx_rows_modified > 0`);
    console.log(
      `[units] SIGKILL of batcher worker pid ${batcher?.pid} with a batch inside its transaction (${(claimed as Array<{ n: number }>)[0]?.n} transactions holding uncommitted rows)`,
    );
    await batcher?.kill();
    await blocker.query('UNLOCK TABLES');
    // Nothing of the killed transaction is visible: it was rolled back with its connection.
    expect(Object.fromEntries(await rowsByTag(pool))).toEqual({});
    await startBatcher(1);

    const outcomes = await results;
    expect(outcomes.map((o) => o.status ?? `${o.errorType}: ${o.message}`)).toEqual(units.map(() => 'committed'));
    const counts = await rowsByTag(pool);
    for (const u of units) expect(counts.get(u.requestId), `rows of ${u.requestId}`).toBe(3);
    const [ledger] = await pool.query(
      `SELECT status, CAST(row_statuses AS CHAR) AS row_list, COUNT(*) AS n FROM batcher_ledger GROUP BY status, row_statuses`,
    );
    expect(ledger).toEqual([{ status: 'committed', row_list: 'ccc', n: UNITS }]);
  }, 360_000);
});
