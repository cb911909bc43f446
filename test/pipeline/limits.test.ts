// Bounded state, refused submissions and idempotent writes, against the real Temporal server and MariaDB.
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { BatcherErrorTypes, batcherWorkflowId, requestIdFor } from '@write-batcher/protocol';
import type { BulkWriteInput, BulkWriteResult } from '@write-batcher/batcher';
import { createPool, loadConfig, type Pool } from '@batcher/service-kit';
import { TRANSACTION_WORKFLOW_TYPE } from '@batcher/demo';
import { DEMO_TARGET } from '@batcher/demo/tables';
import { migrateDatabase } from '@batcher/batcher-worker/schema';
import { Catalog, createBulkWriter, databaseOf } from '@write-batcher/batcher/testing';
import { globalMysql } from '../support/global-servers';
import { slugOf } from '../support/naming';
import { demoRow, pipelinePerTest } from './pipeline';

const startPipeline = pipelinePerTest();

/** A database of the test's own, migrated, for activity-level tests. */
async function testDatabase(title: string): Promise<Pool> {
  const { mysql: cfg } = loadConfig(['mysql'], {
    ...globalMysql().env,
    MYSQL_DATABASE: `t_${slugOf(title).replace(/-/g, '_').slice(-20)}`,
  });
  await migrateDatabase(cfg);
  await migrateDatabase(cfg); // the migration is idempotent
  return createPool(cfg);
}

/**
 * The bulk-write activity run in the SDK's activity environment (logger, context) on the real
 * MariaDB, writing the demo table. Its rows carry no reply addresses, so the replier is never
 * asked; the stand-in says so by failing if it is.
 */
async function bulkWriterOn(pool: Pool): Promise<(input: BulkWriteInput) => Promise<BulkWriteResult>> {
  const catalog = new Catalog(pool, [DEMO_TARGET], databaseOf(pool) ?? '');
  await catalog.load(true);
  const { bulkWrite } = createBulkWriter(pool, catalog, {
    deliver: async (replies) => {
      if (replies.length > 0) throw new Error('no replies expected in this test');
      return { delivered: 0, undeliverable: 0 };
    },
  });
  const env = new MockActivityEnvironment();
  return (input) => env.run<[BulkWriteInput], BulkWriteResult, typeof bulkWrite>(bulkWrite, input);
}

describe('limits', () => {
  it('when a shard holds its pending-request limit, then further requests are refused at once as BatcherOverloaded and the accepted ones are written', async (ctx) => {
    const pipeline = await startPipeline({
      title: ctx.task.name,
      env: { BATCHER_MAX_PENDING_REQUESTS: '4', BATCH_FLUSH_INTERVAL_MS: '4000', SUBMIT_LINGER_MS: '200' },
      businessStepMs: 0,
    });
    const ids = pipeline.ids(10);
    const outcomes = await pipeline.run(ids);
    const ok = outcomes.filter((o) => o.ok);
    const overloaded = outcomes.filter((o) => o.errorType === BatcherErrorTypes.Overloaded);
    expect(ok.length).toBeGreaterThan(0);
    expect(overloaded.length).toBeGreaterThan(0);
    expect(ok.length + overloaded.length).toBe(10);
    expect(overloaded[0]?.message).toMatch(/limit 4/);
    // Refused at once, not timed out: a requester that had waited out its confirmation would fail
    // as WriteConfirmationTimeout, and every one of the 10 is either written or BatcherOverloaded.
    // (No wall-clock bound: on a busy machine even an at-once refusal can take many seconds.)
    const rows = await pipeline.rows();
    expect(
      rows
        .filter((r) => r.status === 'committed')
        .map((r) => r.request_id)
        .sort(),
    ).toEqual(ok.map((o) => requestIdFor(o.workflowId)).sort());
    // A refused write's id is settled: claimed as abandoned, so it can never appear later.
    expect(
      rows
        .filter((r) => r.status === 'abandoned')
        .map((r) => r.request_id)
        .sort(),
    ).toEqual(overloaded.map((o) => requestIdFor(o.workflowId)).sort());
    const stats = await pipeline.stats();
    expect(stats.refused).toBe(overloaded.length);
    expect(stats.pending).toBe(0);
  });

  it('when a workflow of another type holds the batcher id, then the workflow fails with WriteSubmissionFailed and writes nothing', async (ctx) => {
    // The batcher worker runs: the submission is its activity (on its task queue) since the redesign.
    const pipeline = await startPipeline({ title: ctx.task.name, businessStepMs: 0 });
    // Signal-with-start does not check the type: the submitter must.
    await pipeline.client.workflow.start(TRANSACTION_WORKFLOW_TYPE, {
      workflowId: batcherWorkflowId(pipeline.batcher.workflowIdPrefix, 0),
      taskQueue: `${pipeline.mainTaskQueue}-nobody`,
      args: [{ payload: {} }],
    });
    const [outcome] = await pipeline.run(pipeline.ids(1));
    expect(outcome?.ok).toBe(false);
    expect(outcome?.errorType).toBe(BatcherErrorTypes.SubmissionFailed);
    expect(outcome?.message).toMatch(/held by a transactionWorkflow workflow, not a batcher/);
    expect((await pipeline.rows()).filter((r) => r.status === 'committed')).toEqual([]);
  });

  it('when a transaction id is a batcher id, then it fails with InvalidWriteRequest and the shard keeps working', async (ctx) => {
    const pipeline = await startPipeline({ title: ctx.task.name, env: { BATCH_FLUSH_INTERVAL_MS: '1000' }, businessStepMs: 0 });
    const [good] = pipeline.ids(1) as [string];
    const hijack = batcherWorkflowId(pipeline.batcher.workflowIdPrefix, 7);
    const [bad] = await pipeline.run([hijack]);
    expect(bad?.errorType).toBe(BatcherErrorTypes.InvalidRequest);
    expect(bad?.message).toMatch(/is a batcher's id/);
    const [ok] = await pipeline.run([good]);
    expect(ok?.ok).toBe(true);
  });

  it('when the bulk-write activity is retried after its batch committed, then no row is doubled and every row is still reported committed', async (ctx) => {
    const pool = await testDatabase(ctx.task.name);
    try {
      const bulkWrite = await bulkWriterOn(pool);
      const input = {
        batchId: 'retry-batch-1',
        shard: 0,
        rows: [1, 2, 3].map((i) => ({
          requestId: `retry-${i}`,
          requesterWorkflowId: `wf-${i}`,
          table: 'batched_writes',
          row: demoRow({ i }),
          replies: [],
        })),
      };
      const first = await bulkWrite(input);
      const retried = await bulkWrite(input); // as if the worker died before reporting the first
      expect(first.outcomes.map((o) => o.status)).toEqual(['committed', 'committed', 'committed']);
      expect(retried.outcomes.map((o) => o.status)).toEqual(['committed', 'committed', 'committed']);
      expect(first.statements).toBe(4); // the session's zone with autocommit off (the transaction's start), INSERT into the ledger, INSERT into the table, COMMIT
      // A later batch carrying one of them again learns it is a duplicate of the first batch.
      const later = await bulkWrite({ batchId: 'retry-batch-2', shard: 0, rows: [input.rows[0]!] });
      expect(later.outcomes).toEqual([{ requestId: 'retry-1', status: 'duplicate', batchId: 'retry-batch-1' }]);
      const [rows] = await pool.query(
        'SELECT CAST(request_id AS CHAR) AS request_id, CAST(batch_id AS CHAR) AS batch_id FROM batched_writes ORDER BY request_id',
      );
      expect(rows).toEqual([1, 2, 3].map((i) => ({ request_id: `retry-${i}`, batch_id: 'retry-batch-1' })));
    } finally {
      await pool.end();
    }
  });

  it('when the database refuses one row of a batch, then only that row is rejected with the data error and the rest are committed together', async (ctx) => {
    const pool = await testDatabase(ctx.task.name);
    try {
      const bulkWrite = await bulkWriterOn(pool);
      // batchedWrite() refuses such an id before it is queued; here it reaches the database, as a
      // column (the ledger's request id) narrower than the limits would let it.
      const rows = ['a', 'b', 'x'.repeat(300), 'c', 'd'].map((id) => ({
        requestId: id,
        requesterWorkflowId: 'wf',
        table: 'batched_writes',
        row: demoRow({ id: id.slice(0, 3) }),
        replies: [],
      }));
      const result = await bulkWrite({ batchId: 'bad-row', shard: 0, rows });
      expect(result.outcomes.map((o) => o.status)).toEqual(['committed', 'committed', 'rejected', 'committed', 'committed']);
      expect(result.outcomes[2]?.errorType).toBe(BatcherErrorTypes.DataRejected);
      expect(result.outcomes[2]?.reason).toMatch(/ER_DATA_TOO_LONG|too long/i);
      const [stored] = await pool.query('SELECT CAST(request_id AS CHAR) AS id FROM batched_writes ORDER BY id');
      expect((stored as Array<{ id: string }>).map((r) => r.id)).toEqual(['a', 'b', 'c', 'd']);
    } finally {
      await pool.end();
    }
  });
});
