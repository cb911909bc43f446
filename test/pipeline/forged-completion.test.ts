// A shard's own activity completed from outside with a result it cannot read (anyone who may
// complete activities in the namespace can do it by id): that batch fails typed, the run goes on,
// its requesters settle in the ledger, and the shard keeps writing. Real Temporal server and MariaDB.
import { describe, expect, it } from 'vitest';
import { batcherWorkflowId, requestIdFor } from '@write-batcher/protocol';
import { waitUntil } from '../support/processes';
import { pipelinePerTest } from './pipeline';

const startPipeline = pipelinePerTest();

/**
 * A pipeline whose first bulk write is kept pending (its table renamed away, so every attempt fails
 * and is retried) while three requests wait for it: the shard activity a test then completes from outside.
 */
async function withPendingBulkWrite(title: string) {
  const pipeline = await startPipeline({ title, env: { BATCH_FLUSH_INTERVAL_MS: '200' }, businessStepMs: 0 });
  const shardId = batcherWorkflowId(pipeline.batcher.workflowIdPrefix, 0);
  await pipeline.pool.query('RENAME TABLE batched_writes TO batched_writes_away');
  const first = pipeline.ids(3, 'first');
  const running = pipeline.run(first, 30_000);
  const handle = pipeline.client.workflow.getHandle(shardId);
  let activityId: string | undefined;
  await waitUntil(
    'the bulk write to be pending',
    async () => {
      const d = await handle.describe().catch(() => undefined);
      activityId = d?.raw.pendingActivities?.find((a) => a.activityType?.name === 'bulkWrite')?.activityId ?? undefined;
      return activityId !== undefined;
    },
    { timeoutMs: 30_000 },
  );
  const { runId } = await handle.describe();
  return { pipeline, shardId, handle, first, running, activityId: activityId as string, runId };
}

describe('a forged completion of a shard activity', () => {
  it("when a shard's bulk write is completed from outside with garbage, then that batch fails typed, nothing is doubled, and the shard writes the next batch", async (ctx) => {
    const { pipeline, shardId, handle, first, running, activityId, runId } = await withPendingBulkWrite(ctx.task.name);
    // The forged completion: a result of the wrong shape, for the shard's own activity id.
    await pipeline.client.activity.complete({ workflowId: shardId, runId, activityId }, { outcomes: 'not a list', batchId: 42 });
    await pipeline.pool.query('RENAME TABLE batched_writes_away TO batched_writes');
    const outcomes = await running;
    // Told the batch's result was unreadable, each requester settled in the ledger: not written, typed.
    for (const o of outcomes) {
      expect(o.ok).toBe(false);
      expect(o.errorType).toBe('WriteSubmissionFailed');
      expect(o.message).toContain('cannot read');
    }
    // The shard lives on: the next writes commit, and no workflow task of it ever failed.
    const second = pipeline.ids(3, 'second');
    const after = await pipeline.run(second);
    expect(after.map((o) => o.result?.status)).toEqual(['committed', 'committed', 'committed']);
    const rows = await pipeline.rows();
    expect(
      rows
        .filter((r) => r.rows_in_table === 1)
        .map((r) => r.request_id)
        .sort(),
    ).toEqual(second.map(requestIdFor).sort());
    expect(rows.filter((r) => first.map(requestIdFor).includes(r.request_id)).map((r) => r.status)).toEqual([
      'abandoned',
      'abandoned',
      'abandoned',
    ]);
    const history = await handle.fetchHistory();
    expect(history.events?.filter((e) => e.workflowTaskFailedEventAttributes) ?? []).toEqual([]);
  });

  it('when a bulk write is completed from outside with bytes that do not decode, then that batch fails typed and the shard writes on, with no failed workflow task', async (ctx) => {
    const { pipeline, shardId, handle, running, activityId, runId } = await withPendingBulkWrite(ctx.task.name);
    // JSON text cut short: the SDK cannot decode it (before the guard, every later task of the shard failed).
    const marker = `undecodable-${Date.now()}`;
    await pipeline.client.workflowService.respondActivityTaskCompletedById({
      namespace: pipeline.client.options.namespace,
      workflowId: shardId,
      runId,
      activityId,
      result: {
        payloads: [{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(`{"batchId": "${marker}", "outcomes": [`) }],
      },
      identity: 'forged-completion-test',
    });
    await pipeline.pool.query('RENAME TABLE batched_writes_away TO batched_writes');
    const outcomes = await running;
    // Told the batch failed, each requester settled in the ledger: not written, typed.
    for (const o of outcomes) expect(o.ok, o.message).toBe(false);
    const second = pipeline.ids(3, 'second');
    const after = await pipeline.run(second);
    expect(after.map((o) => o.result?.status)).toEqual(['committed', 'committed', 'committed']);
    const history = await handle.fetchHistory();
    expect(history.events?.filter((e) => e.workflowTaskFailedEventAttributes) ?? []).toEqual([]);
  });
});
