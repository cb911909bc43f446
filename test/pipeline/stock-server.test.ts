// On Temporal's default server settings (what Temporal Cloud users get: no raised
// history.maximumBufferedEventsBatch), a burst of requesters into one shard drains: the requests
// are grouped where the batcher lives, so the shard sees a few signals, none of its workflow tasks
// is force-closed, none is refused, and every requester is answered.
import { NativeConnection } from '@temporalio/worker';
import { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batcherWorkflowId, requestIdFor } from '@batcher/shared/workflow';
import { readBatcherStatsMemo } from '@write-batcher/batcher';
import { waitUntil } from '../support/processes';
import { startTemporalDevServer, type TemporalDevServer } from '../support/temporal';
import { pipelinePerTest } from './pipeline';

const startPipeline = pipelinePerTest();
let stock: TemporalDevServer;
let connection: NativeConnection;

beforeAll(async () => {
  stock = await startTemporalDevServer({ stockSettings: true });
  connection = await NativeConnection.connect({ address: stock.address });
});

afterAll(async () => {
  await connection?.close();
  await stock?.stop();
});

describe('a stock Temporal server', () => {
  it('when 1,000 requesters write at once into one shard, then every one is committed, none is refused, and no shard task is force-closed', async (ctx) => {
    const client = new Client({ connection, namespace: stock.namespace });
    const pipeline = await startPipeline({
      title: ctx.task.name,
      connection,
      client,
      businessStepMs: 0,
      // The default grouping (the test pipeline's is 20 ms).
      env: { BATCH_FLUSH_POLICY: 'eager', BATCHER_MAX_PENDING_REQUESTS: '3000', SUBMIT_LINGER_MS: '250' },
    });
    const ids = pipeline.ids(1000);
    const outcomes = await pipeline.run(ids);
    expect(outcomes.filter((o) => !o.ok).map((o) => `${o.workflowId}: ${o.errorType}`)).toEqual([]);
    const rows = await pipeline.rows();
    expect(new Set(rows.filter((r) => r.rows_in_table === 1).map((r) => r.request_id))).toEqual(new Set(ids.map(requestIdFor)));
    const stats = await pipeline.stats();
    // The same statistics, published in the shard's memo for readers that must not cost it a turn.
    await waitUntil('the memo to show every request', async () => (await readBatcherStatsMemo(client, pipeline.batcher, 0))?.requestsTotal === 1000, { timeoutMs: 30_000 });
    expect(stats.refused).toBe(0);
    expect(stats.answersDropped).toBe(0);
    // Grouped in the batcher worker: far fewer signals than requests.
    expect(stats.signalsTotal).toBeLessThan(250);
    console.log(`[stock-server] 1000 requests in ${stats.signalsTotal} signals, ${stats.batchesWritten} batches`);
    // Every run of the shard: no workflow task failed (a force-close would show as WORKFLOW_TASK_FAILED).
    const shardId = batcherWorkflowId(pipeline.batcher.workflowIdPrefix, 0);
    let failedTasks = 0;
    let runs = 0;
    for await (const run of client.workflow.list({ query: `WorkflowId = '${shardId}'` })) {
      runs++;
      const history = await client.workflow.getHandle(shardId, run.runId).fetchHistory();
      failedTasks += history.events?.filter((e) => e.workflowTaskFailedEventAttributes).length ?? 0;
    }
    expect(runs).toBeGreaterThanOrEqual(1);
    expect(failedTasks).toBe(0);
  });
});
