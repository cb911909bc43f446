// Exactly-once effect, byte-exact ids and isolation of bad data, against the real Temporal server and MariaDB.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { requestIdFor, shardFor, type WriteRequest } from '@write-batcher/protocol';
import { signalWithStartBatcher } from '@write-batcher/batcher';
import { waitUntil } from '../support/processes';
import { demoRow, pipelinePerTest } from './pipeline';

const startPipeline = pipelinePerTest();

/** The reply address batchedWrite() gives a request of workflow `workflowId` (run `runId`). */
const replyOf = (workflowId: string, runId: string) => ({ workflowId, runId, activityId: `batched-write:${requestIdFor(workflowId)}` });

describe('exactly once', () => {
  it('when the same request arrives three times, then one row is written and the requester is answered once', async (ctx) => {
    const pipeline = await startPipeline({ title: ctx.task.name, env: { BATCH_FLUSH_INTERVAL_MS: '3000' }, businessStepMs: 0 });
    const [workflowId] = pipeline.ids(1) as [string];
    const requestId = requestIdFor(workflowId);
    const running = pipeline.run([workflowId]);
    const handle = pipeline.client.workflow.getHandle(workflowId);
    await waitUntil('the transaction to start', async () => (await handle.describe().catch(() => undefined)) !== undefined, {
      timeoutMs: 20_000,
    });
    const { runId } = await handle.describe();
    // Two more copies of the very request the workflow submits, as a re-sent signal would carry.
    const copy: WriteRequest = {
      requestId,
      requesterWorkflowId: workflowId,
      table: 'batched_writes',
      row: demoRow({ order: workflowId, amountCents: 0 }),
      submittedAtMs: Date.now(),
      reply: replyOf(workflowId, runId),
    };
    await signalWithStartBatcher(pipeline.client, pipeline.batcher, 0, [copy, copy]);
    const [outcome] = await running;
    expect(outcome?.ok).toBe(true);
    expect(outcome?.result?.status).toBe('committed');
    expect(await pipeline.rows()).toHaveLength(1);
    const stats = await pipeline.stats();
    expect(stats.requestsTotal).toBe(3);
    expect(stats.duplicates).toBeGreaterThanOrEqual(2);
    expect(stats.rowsWritten).toBe(1);
    // The requester's waiting activity was completed once; the batcher's history holds no confirmation.
    const history = await handle.fetchHistory();
    expect(history.events?.filter((e) => e.activityTaskCompletedEventAttributes) ?? []).toHaveLength(3); // prepare, write, finalize
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
    expect((await pipeline.stats()).batchesWritten).toBe(1); // answered from the dedup window, no second write
  });

  it('when the dedup window has forgotten a request, then the ledger still refuses a second row and the requester is told it is committed', async (ctx) => {
    const pipeline = await startPipeline({
      title: ctx.task.name,
      env: { BATCH_FLUSH_INTERVAL_MS: '1000', DEDUP_WINDOW_BYTES: '0' },
      businessStepMs: 0,
    });
    const [workflowId] = pipeline.ids(1) as [string];
    const [first] = await pipeline.run([workflowId]);
    const [again] = await pipeline.run([workflowId]);
    expect(again?.ok).toBe(true);
    expect(again?.result?.status).toBe('duplicate');
    expect(again?.result?.batchId).toBe(first?.result?.batchId);
    expect(await pipeline.rows()).toHaveLength(1);
    expect((await pipeline.stats()).batchesWritten).toBe(2); // it did reach the database, which said no
  });

  it('when ids differ only in case, accents or a trailing character, then each is its own row and every requester gets its own', async (ctx) => {
    const pipeline = await startPipeline({ title: ctx.task.name, env: { BATCH_FLUSH_INTERVAL_MS: '1500' }, businessStepMs: 0 });
    const [base] = pipeline.ids(1) as [string];
    // Under a _ci collation these were one key: the second took the first one's row.
    const ids = [`${base}-Order`, `${base}-order`, `${base}-ORDER`, `${base}-cafe`, `${base}-cafE`, `${base}-x`, `${base}-x.`];
    const outcomes = await pipeline.run(ids);
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    const rows = await pipeline.rows();
    expect(rows.map((r) => r.request_id).sort()).toEqual(ids.map(requestIdFor).sort());
    for (const o of outcomes) {
      expect(o.result?.requestId).toBe(requestIdFor(o.workflowId));
      expect(o.result?.status).toBe('committed');
    }
  });

  it('when a requester no longer waits, then its reply is counted as undeliverable and the others still succeed', async (ctx) => {
    const pipeline = await startPipeline({ title: ctx.task.name, env: { BATCH_FLUSH_INTERVAL_MS: '3000' }, businessStepMs: 0 });
    const ids = pipeline.ids(4);
    const ghost: WriteRequest = {
      requestId: 'write:ghost-requester',
      requesterWorkflowId: `ghost-${ids[0]}`,
      table: 'batched_writes',
      row: demoRow({ order: 'ghost' }),
      submittedAtMs: Date.now(),
      reply: { workflowId: `ghost-${ids[0]}`, runId: randomUUID(), activityId: 'batched-write:write:ghost-requester' },
    };
    await signalWithStartBatcher(pipeline.client, pipeline.batcher, shardFor(ghost.requestId, 1), [ghost]);
    const outcomes = await pipeline.run(ids);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    await waitUntil('the undeliverable reply', async () => (await pipeline.stats()).confirmationsUndeliverable >= 1, { timeoutMs: 30_000 });
    expect((await pipeline.stats()).confirmationsUndeliverable).toBe(1);
    expect(await pipeline.rows()).toHaveLength(5); // the ghost's row is written all the same
  });

  it('when a request is malformed, then its requester gets a typed rejection and the batch is unaffected', async (ctx) => {
    const pipeline = await startPipeline({ title: ctx.task.name, env: { BATCH_FLUSH_INTERVAL_MS: '2000' }, businessStepMs: 0 });
    const ids = pipeline.ids(3);
    const running = pipeline.run(ids);
    // A bound reply address (the requester's own derived activity) with a row that is not an object.
    const malformed = {
      requestId: 'write:nobody',
      requesterWorkflowId: 'nobody',
      table: 'batched_writes',
      row: [],
      submittedAtMs: 0,
      reply: { workflowId: 'nobody', runId: randomUUID(), activityId: 'batched-write:write:nobody' },
    };
    await signalWithStartBatcher(pipeline.client, pipeline.batcher, 0, [malformed as unknown as WriteRequest]);
    const outcomes = await running;
    expect(outcomes.every((o) => o.ok)).toBe(true);
    await waitUntil('the refusal to be answered', async () => (await pipeline.stats()).confirmationsUndeliverable >= 1, {
      timeoutMs: 30_000,
    });
    const stats = await pipeline.stats();
    expect(stats.rejected).toBe(1);
    expect(await pipeline.rows()).toHaveLength(3);
  });

  it('when a request names a reply address that is not its own waiting activity, then nobody is answered and nothing is written', async (ctx) => {
    const pipeline = await startPipeline({ title: ctx.task.name, env: { BATCH_FLUSH_INTERVAL_MS: '1000' }, businessStepMs: 0 });
    const ids = pipeline.ids(2);
    const shardId = `${pipeline.batcher.workflowIdPrefix}-0`;
    const forged: WriteRequest[] = [
      // Another workflow's activity.
      {
        requestId: 'write:forged-1',
        requesterWorkflowId: 'forger',
        table: 'batched_writes',
        row: demoRow({ x: 1 }),
        submittedAtMs: 0,
        reply: { workflowId: ids[0] as string, runId: randomUUID(), activityId: `batched-write:write:${ids[0]}` },
      },
      // The shard's own next bulk write.
      {
        requestId: 'write:forged-2',
        requesterWorkflowId: shardId,
        table: 'batched_writes',
        row: demoRow({ x: 2 }),
        submittedAtMs: 0,
        reply: { workflowId: shardId, runId: randomUUID(), activityId: 'batched-write:write:forged-2' },
      },
      {
        requestId: 'write:forged-3',
        requesterWorkflowId: 'forger',
        table: 'batched_writes',
        row: demoRow({ x: 3 }),
        submittedAtMs: 0,
        reply: { workflowId: 'forger', runId: randomUUID(), activityId: '1' },
      },
    ];
    await signalWithStartBatcher(pipeline.client, pipeline.batcher, 0, forged);
    const outcomes = await pipeline.run(ids);
    expect(outcomes.every((o) => o.ok && o.result?.status === 'committed')).toBe(true);
    const stats = await pipeline.stats();
    expect(stats.repliesRefused).toBe(3);
    expect((await pipeline.rows()).map((r) => r.request_id).sort()).toEqual(ids.map(requestIdFor).sort());
  });
});
