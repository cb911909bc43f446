// Exactly-once effect and isolation of bad data, against the real Temporal server and MariaDB.
import { describe, expect, it } from 'vitest';
import { BatcherErrorTypes, requestIdFor, shardFor } from '@batcher/shared/workflow';
import { signalWithStartBatcher } from '@batcher/shared/node';
import { waitUntil } from '../support/processes';
import { pipelinePerTest } from './pipeline';

const startPipeline = pipelinePerTest();

describe('exactly once', () => {
  it('when the same request is signalled three times, then one row is written and the requester succeeds once', async (ctx) => {
    const pipeline = await startPipeline({ title: ctx.task.name, env: { BATCH_FLUSH_INTERVAL_MS: '3000' }, businessStepMs: 0 });
    const [workflowId] = pipeline.ids(1) as [string];
    const requestId = requestIdFor(workflowId);
    const running = pipeline.run([workflowId]);
    // Two more copies of the very request the workflow submits, as a re-sent signal would be.
    const copy = { requestId, requesterWorkflowId: workflowId, payload: { order: workflowId, amountCents: 0 }, submittedAtMs: Date.now() };
    await signalWithStartBatcher(pipeline.client, pipeline.batcher, 0, copy);
    await signalWithStartBatcher(pipeline.client, pipeline.batcher, 0, copy);
    const [outcome] = await running;
    expect(outcome?.ok).toBe(true);
    expect(outcome?.result?.status).toBe('committed');
    expect(await pipeline.rows()).toHaveLength(1);
    const stats = await pipeline.stats();
    expect(stats.signalsTotal).toBe(3);
    expect(stats.duplicates).toBe(2);
    expect(stats.rowsWritten).toBe(1);
    // Exactly one confirmation reached the workflow.
    const history = await pipeline.client.workflow.getHandle(workflowId).fetchHistory();
    const confirmations = history.events?.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'writeConfirmation') ?? [];
    expect(confirmations).toHaveLength(1);
  });

  it('when a request is re-sent after its batch was committed, then no new row appears and the requester is told it is committed', async (ctx) => {
    const pipeline = await startPipeline({ title: ctx.task.name, env: { BATCH_FLUSH_INTERVAL_MS: '1000' }, businessStepMs: 0 });
    const [workflowId] = pipeline.ids(1) as [string];
    const [first] = await pipeline.run([workflowId]);
    expect(first?.result?.status).toBe('committed');
    // The same business transaction runs again (same workflow id → same request id).
    const [again] = await pipeline.run([workflowId]);
    expect(again?.ok).toBe(true);
    expect(again?.result?.status).toBe('duplicate');
    expect(again?.result?.batchId).toBe(first?.result?.batchId);
    expect(await pipeline.rows()).toHaveLength(1);
  });

  it('when the dedup window has forgotten a request, then MySQL still refuses a second row and the requester is told it is committed', async (ctx) => {
    const pipeline = await startPipeline({ title: ctx.task.name, env: { BATCH_FLUSH_INTERVAL_MS: '1000', DEDUP_WINDOW_SIZE: '0' }, businessStepMs: 0 });
    const [workflowId] = pipeline.ids(1) as [string];
    const [first] = await pipeline.run([workflowId]);
    const [again] = await pipeline.run([workflowId]);
    expect(again?.ok).toBe(true);
    expect(again?.result?.status).toBe('duplicate');
    expect(again?.result?.batchId).toBe(first?.result?.batchId);
    expect(await pipeline.rows()).toHaveLength(1);
    expect((await pipeline.stats()).batchesWritten).toBe(2); // it did reach the database, which said no
  });

  it('when one row has bad data in a batch of good ones, then only that workflow fails, with the data error', async (ctx) => {
    const pipeline = await startPipeline({ title: ctx.task.name, env: { BATCH_FLUSH_INTERVAL_MS: '4000' } });
    const good = pipeline.ids(7);
    // request_id is VARCHAR(191): this workflow id makes its request id too long for the column.
    const bad = `${'x'.repeat(200)}-${good[0]}`;
    const outcomes = await pipeline.run([...good.slice(0, 3), bad, ...good.slice(3)]);
    const failed = outcomes.filter((o) => !o.ok);
    expect(failed.map((o) => o.workflowId)).toEqual([bad]);
    expect(failed[0]?.errorType).toBe(BatcherErrorTypes.DataRejected);
    expect(failed[0]?.message).toMatch(/ER_DATA_TOO_LONG|too long/i);
    const rows = await pipeline.rows();
    expect(rows.map((r) => r.request_id).sort()).toEqual(good.map(requestIdFor).sort());
    // The good rows still went out together.
    expect(new Set(rows.map((r) => r.batch_id)).size).toBeLessThanOrEqual(2);
  });

  it('when a requester no longer exists, then its confirmation is counted as undeliverable and the others still succeed', async (ctx) => {
    const pipeline = await startPipeline({ title: ctx.task.name, env: { BATCH_FLUSH_INTERVAL_MS: '3000' }, businessStepMs: 0 });
    const ids = pipeline.ids(4);
    const ghost = { requestId: 'write:ghost-requester', requesterWorkflowId: `ghost-${ids[0]}`, payload: { order: 'ghost' }, submittedAtMs: Date.now() };
    await signalWithStartBatcher(pipeline.client, pipeline.batcher, shardFor(ghost.requestId, 1), ghost);
    const outcomes = await pipeline.run(ids);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    // Confirmations are sent while the next batch fills: wait for the ghost's to be refused.
    await waitUntil('the undeliverable confirmation', async () => (await pipeline.stats()).confirmationsUndeliverable >= 1, { timeoutMs: 30_000 });
    expect((await pipeline.stats()).confirmationsUndeliverable).toBe(1);
    expect(await pipeline.rows()).toHaveLength(5); // the ghost's row is written all the same
  });

  it('when a request is malformed, then its requester gets a typed rejection and the batch is unaffected', async (ctx) => {
    const pipeline = await startPipeline({ title: ctx.task.name, env: { BATCH_FLUSH_INTERVAL_MS: '2000' }, businessStepMs: 0 });
    const ids = pipeline.ids(3);
    const running = pipeline.run(ids);
    await signalWithStartBatcher(pipeline.client, pipeline.batcher, 0, { requestId: '', requesterWorkflowId: 'nobody', payload: [] as unknown as Record<string, unknown>, submittedAtMs: 0 });
    const outcomes = await running;
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect((await pipeline.stats()).rejected).toBe(1);
    expect(await pipeline.rows()).toHaveLength(3);
  });
});
