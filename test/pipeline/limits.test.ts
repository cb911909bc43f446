// Bounded state, failed submissions and idempotent writes, against the real Temporal server and MariaDB.
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { BatcherErrorTypes, requestIdFor, type BulkWriteInput, type BulkWriteResult } from '@batcher/shared/workflow';
import { createPool, loadConfig, migrate } from '@batcher/shared/node';
import { createBulkWriter } from '@batcher/batcher-worker/dist/activities/bulk-write';
import { globalMysql } from '../support/global-servers';
import { slugOf } from '../support/naming';
import { pipelinePerTest } from './pipeline';

const startPipeline = pipelinePerTest();

describe('limits', () => {
  it('when a shard holds its pending-bytes limit, then further requests are rejected as BatcherOverloaded and the accepted ones are written', async (ctx) => {
    const pipeline = await startPipeline({ title: ctx.task.name, env: { BATCHER_MAX_PENDING_BYTES: '10000', BATCH_FLUSH_INTERVAL_MS: '4000' }, businessStepMs: 0 });
    const ids = pipeline.ids(10);
    // ~2.5 kB each: about four fit under 10 000 bytes before the first flush.
    const startedAt = Date.now();
    const { startTransactions, awaitTransactions } = await import('@batcher/starter/dist/run-transactions');
    await startTransactions(pipeline.client, { taskQueue: pipeline.mainTaskQueue, workflowIds: ids, input: (id) => ({ payload: { order: id, note: 'x'.repeat(2500) } }) });
    const outcomes = await awaitTransactions(pipeline.client, ids, startedAt);
    const ok = outcomes.filter((o) => o.ok);
    const overloaded = outcomes.filter((o) => o.errorType === BatcherErrorTypes.Overloaded);
    expect(ok.length).toBeGreaterThan(0);
    expect(overloaded.length).toBeGreaterThan(0);
    expect(ok.length + overloaded.length).toBe(10);
    expect(overloaded[0]?.message).toMatch(/limit 10000/);
    const rows = await pipeline.rows();
    expect(rows.map((r) => r.request_id).sort()).toEqual(ok.map((o) => requestIdFor(o.workflowId)).sort());
    const stats = await pipeline.stats();
    expect(stats.rejected).toBe(overloaded.length);
    expect(stats.pendingBytes).toBe(0);
  });

  it('when Temporal refuses the submission, then the workflow fails with WriteSubmissionFailed and writes nothing', async (ctx) => {
    // Workflow ids are limited to 1000 characters: a batcher id over that is refused, every time.
    const pipeline = await startPipeline({ title: ctx.task.name, env: { BATCHER_WORKFLOW_ID_PREFIX: 'b'.repeat(1001) }, batcherWorker: false, businessStepMs: 0 });
    const [outcome] = await pipeline.run(pipeline.ids(1));
    expect(outcome?.ok).toBe(false);
    expect(outcome?.errorType).toBe(BatcherErrorTypes.SubmissionFailed);
    expect(outcome?.message).toMatch(/could not hand write/);
    expect(await pipeline.rows()).toEqual([]);
  });

  it('when the bulk-write activity is retried after its batch committed, then no row is doubled and every row is still reported committed', async (ctx) => {
    const mysql = globalMysql();
    const { mysql: cfg } = loadConfig(['mysql'], { ...mysql.env, MYSQL_DATABASE: `t_${slugOf(ctx.task.name).replace(/-/g, '_').slice(-20)}` });
    await migrate(cfg);
    await migrate(cfg); // the migration is idempotent
    const pool = createPool(cfg);
    try {
      // The SDK's activity environment gives the activity its context (logger, heartbeat); the
      // database under it is the real MariaDB.
      const activityEnv = new MockActivityEnvironment();
      const { bulkWrite } = createBulkWriter(pool);
      const writer = { bulkWrite: (i: BulkWriteInput) => activityEnv.run(bulkWrite, i) as Promise<BulkWriteResult> };
      const input = { batchId: 'retry-batch-1', shard: 0, rows: [1, 2, 3].map((i) => ({ requestId: `retry-${i}`, requesterWorkflowId: `wf-${i}`, payload: { i } })) };
      const first = await writer.bulkWrite(input);
      const retried = await writer.bulkWrite(input); // as if the worker died before reporting the first
      expect(first.outcomes.map((o) => o.status)).toEqual(['committed', 'committed', 'committed']);
      expect(retried.outcomes.map((o) => o.status)).toEqual(['committed', 'committed', 'committed']);
      expect(first.statements).toBe(4); // BEGIN, INSERT, SELECT, COMMIT
      // A later batch carrying one of them again learns it is a duplicate of the first batch.
      const later = await writer.bulkWrite({ batchId: 'retry-batch-2', shard: 0, rows: [input.rows[0]!] });
      expect(later.outcomes).toEqual([{ requestId: 'retry-1', status: 'duplicate', batchId: 'retry-batch-1' }]);
      const [rows] = await pool.query('SELECT request_id, batch_id FROM batched_writes ORDER BY request_id');
      expect(rows).toEqual([1, 2, 3].map((i) => ({ request_id: `retry-${i}`, batch_id: 'retry-batch-1' })));
    } finally {
      await pool.end();
    }
  });
});
