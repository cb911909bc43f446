// Every way a transaction can end is settled against the table before it reports, against the real
// Temporal server and MariaDB: attempts that time out after their request reached the shard, and
// cancellation while the write waits.
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { requestIdFor } from '@write-batcher/protocol';
import { waitUntil } from '../support/processes';
import { pipelinePerTest } from './pipeline';

const startPipeline = pipelinePerTest();

describe('settle', () => {
  it('when submission attempts time out after their request reached the shard, then the write still lands once and the workflow completes committed', async (ctx) => {
    // Each attempt waits 2 s, the batch is written after 6 s: two attempts time out and are sent
    // again; the shard joins them to the pending request and the write completes whichever is current.
    const pipeline = await startPipeline({
      title: ctx.task.name,
      env: { SUBMIT_ATTEMPT_TIMEOUT_MS: '2000', BATCH_FLUSH_INTERVAL_MS: '6000' },
      businessStepMs: 0,
    });
    const ids = pipeline.ids(3);
    const outcomes = await pipeline.run(ids, 30_000);
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    const rows = await pipeline.rows();
    expect(rows.map((r) => r.request_id).sort()).toEqual(ids.map(requestIdFor).sort());
    expect(rows.every((r) => r.status === 'committed')).toBe(true);
    const stats = await pipeline.stats();
    expect(stats.requestsTotal).toBeGreaterThan(3); // the re-sent attempts arrived…
    expect(stats.rowsWritten).toBe(3); // …and were not written again
    const { events } = await pipeline.client.workflow.getHandle(ids[0] as string).fetchHistory();
    const scheduled = events?.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'awaitBatchedWrite');
    const started = events?.find(
      (e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId ?? '') === String(scheduled?.eventId),
    );
    expect(started?.activityTaskStartedEventAttributes?.attempt).toBeGreaterThanOrEqual(2);
  });

  it('when a transaction is cancelled while its write waits, then it ends cancelled with its id claimed, and a batch that comes later does not write it', async (ctx) => {
    // The request reaches its shard and the id is settled (both activities of the batcher's task
    // queue run), but no worker runs the shard: the write waits until it is cancelled.
    const pipeline = await startPipeline({ title: ctx.task.name, batcherWorker: 'activities-only', businessStepMs: 0 });
    const [id] = pipeline.ids(1) as [string];
    const running = pipeline.run([id], 60_000);
    const handle = pipeline.client.workflow.getHandle(id);
    await waitUntil(
      'the waiting write',
      async () => {
        const { events } = await handle.fetchHistory();
        return events?.some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'awaitBatchedWrite');
      },
      { timeoutMs: 30_000 },
    );
    await handle.cancel();
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    await running;
    expect(await pipeline.rows()).toEqual([expect.objectContaining({ request_id: requestIdFor(id), status: 'abandoned' })]);
  });
});
