// What happened to each row, as the ledger records it, through a crash re-run of the same batch and
// a repeat under a new batch: inserted (committed), written over its key (updated, mode upsert), not
// written because another row holds its key (ignored, mode insert-ignore). Real MariaDB; the bulk
// write in the SDK's activity environment, as the batcher worker runs it.
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import type { BulkWriteInput, BulkWriteResult, TargetTable } from '@write-batcher/batcher';
import { createPool, loadConfig } from '@batcher/service-kit';
import { migrateDatabase } from '@batcher/batcher-worker/schema';
import { Catalog, createBulkWriter, databaseOf } from '@write-batcher/batcher/testing';
import { globalMysql } from '../support/global-servers';
import { slugOf } from '../support/naming';

const TABLES: TargetTable[] = [
  { table: 'customers', mode: 'insert-ignore' },
  { table: 'stock', mode: 'upsert', key: ['sku'] },
];

describe('outcomes the ledger records', () => {
  it('when a batch with an ignored row and an updated row is re-run after it committed, and repeated under another batch, then every answer names what happened to the row, the same each time', async (ctx) => {
    const { mysql: cfg } = loadConfig(['mysql'], {
      ...globalMysql().env,
      MYSQL_DATABASE: `t_${slugOf(ctx.task.name).replace(/-/g, '_').slice(-20)}`,
    });
    await migrateDatabase(cfg);
    const pool = createPool(cfg);
    try {
      await pool.query('CREATE TABLE customers (customer_id VARCHAR(20) PRIMARY KEY, name VARCHAR(40) NOT NULL)');
      await pool.query('CREATE TABLE stock (sku VARCHAR(20) PRIMARY KEY, qty INT NOT NULL)');
      await pool.query(`INSERT INTO customers VALUES ('k-1', 'first')`);
      await pool.query(`INSERT INTO stock VALUES ('S1', 1)`);
      const catalog = new Catalog(pool, TABLES, databaseOf(pool) ?? '');
      await catalog.load(true);
      const { bulkWrite } = createBulkWriter(pool, catalog, {
        deliver: async (replies) => ({ delivered: replies.length, undeliverable: 0 }),
      });
      const env = new MockActivityEnvironment();
      const run = (input: BulkWriteInput) => env.run<[BulkWriteInput], BulkWriteResult, typeof bulkWrite>(bulkWrite, input);
      const row = (requestId: string, table: string, values: Record<string, string | number>) => ({
        requestId,
        requesterWorkflowId: `wf-${requestId}`,
        table,
        row: values,
        replies: [],
      });
      const input: BulkWriteInput = {
        batchId: 'b-1',
        shard: 0,
        rows: [
          row('c-held', 'customers', { customer_id: 'k-1', name: 'second' }),
          row('c-new', 'customers', { customer_id: 'k-2', name: 'new' }),
          row('s-old', 'stock', { sku: 'S1', qty: 10 }),
          row('s-new', 'stock', { sku: 'S2', qty: 20 }),
        ],
      };
      const statuses = (r: BulkWriteResult) => r.outcomes.map((o) => o.status);
      const first = await run(input);
      expect(statuses(first)).toEqual(['ignored', 'committed', 'updated', 'committed']);
      // The activity retried after its transaction committed (a worker died before reporting): the same answers.
      expect(statuses(await run(input))).toEqual(['ignored', 'committed', 'updated', 'committed']);
      // The same requests in a later batch: written earlier (duplicate), except the ignored one, which stays ignored.
      expect(statuses(await run({ ...input, batchId: 'b-2' }))).toEqual(['ignored', 'duplicate', 'duplicate', 'duplicate']);
      const [ledger] = await pool.query(
        'SELECT CAST(request_id AS CHAR) AS id, status, CAST(batch_id AS CHAR) AS batch FROM batcher_ledger ORDER BY request_id',
      );
      expect(ledger).toEqual([
        { id: 'c-held', status: 'ignored', batch: 'b-1' },
        { id: 'c-new', status: 'committed', batch: 'b-1' },
        { id: 's-new', status: 'committed', batch: 'b-1' },
        { id: 's-old', status: 'updated', batch: 'b-1' },
      ]);
      const [customers] = await pool.query('SELECT customer_id, name FROM customers ORDER BY customer_id');
      expect(customers).toEqual([
        { customer_id: 'k-1', name: 'first' },
        { customer_id: 'k-2', name: 'new' },
      ]);
      const [stock] = await pool.query('SELECT sku, qty FROM stock ORDER BY sku');
      expect(stock).toEqual([
        { sku: 'S1', qty: 10 },
        { sku: 'S2', qty: 20 },
      ]);
    } finally {
      await pool.end();
    }
  });

  it('when a child row arrives before its parent in one batch, then the parent is written first and both commit (foreign keys read from information_schema)', async (ctx) => {
    const { mysql: cfg } = loadConfig(['mysql'], {
      ...globalMysql().env,
      MYSQL_DATABASE: `t_${slugOf(ctx.task.name).replace(/-/g, '_').slice(-20)}`,
    });
    await migrateDatabase(cfg);
    const pool = createPool(cfg);
    try {
      await pool.query('CREATE TABLE parents (id VARCHAR(20) PRIMARY KEY)');
      await pool.query(
        'CREATE TABLE children (id VARCHAR(20) PRIMARY KEY, parent_id VARCHAR(20) NOT NULL, FOREIGN KEY (parent_id) REFERENCES parents (id))',
      );
      // Declared child first: the order of the declaration and of arrival is not the write order.
      const tables: TargetTable[] = [{ table: 'children' }, { table: 'parents' }];
      const catalog = new Catalog(pool, tables, databaseOf(pool) ?? '');
      await catalog.load(true);
      const { bulkWrite } = createBulkWriter(pool, catalog, {
        deliver: async (replies) => ({ delivered: replies.length, undeliverable: 0 }),
      });
      const env = new MockActivityEnvironment();
      const result = await env.run<[BulkWriteInput], BulkWriteResult, typeof bulkWrite>(bulkWrite, {
        batchId: 'fk-1',
        shard: 0,
        rows: [
          { requestId: 'child-1', requesterWorkflowId: 'w1', table: 'children', row: { id: 'c1', parent_id: 'p1' }, replies: [] },
          { requestId: 'parent-1', requesterWorkflowId: 'w2', table: 'parents', row: { id: 'p1' }, replies: [] },
        ],
      });
      expect(result.outcomes.map((o) => [o.requestId, o.status])).toEqual([
        ['child-1', 'committed'],
        ['parent-1', 'committed'],
      ]);
      const [children] = await pool.query('SELECT id, parent_id FROM children');
      expect(children).toEqual([{ id: 'c1', parent_id: 'p1' }]);
    } finally {
      await pool.end();
    }
  });
});
