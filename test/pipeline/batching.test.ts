// Batching behaviour of the whole pipeline against the real Temporal server and MariaDB.
import { describe, expect, it, vi } from 'vitest';
import { BATCHER_WORKFLOW_TYPE, BatcherErrorTypes, batcherWorkflowId, requestIdFor, shardFor } from '@write-batcher/protocol';
import { rowsPerBatch, pipelinePerTest } from './pipeline';

const startPipeline = pipelinePerTest();

describe('batching', () => {
  it('when 10 workflows write, then all succeed and their 10 rows are written in one bulk operation', async (ctx) => {
    // A flush interval comfortably longer than it takes ten workflows to submit, even on a busy machine.
    const pipeline = await startPipeline({ title: ctx.task.name, env: { BATCH_FLUSH_INTERVAL_MS: '6000' } });
    const outcomes = await pipeline.run(pipeline.ids(10));
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    const rows = await pipeline.rows();
    expect(rows).toHaveLength(10);
    expect(new Set(rows.map((r) => r.request_id))).toEqual(new Set(outcomes.map((o) => requestIdFor(o.workflowId))));
    expect(rowsPerBatch(rows).size).toBe(1);
    const stats = await pipeline.stats();
    expect(stats.batchesWritten).toBe(1);
    expect(stats.rowsWritten).toBe(10);
  });

  it('when 250 workflows write, then every batch holds at most 100 rows and exactly 250 rows exist', async (ctx) => {
    const pipeline = await startPipeline({ title: ctx.task.name, env: { BATCH_FLUSH_INTERVAL_MS: '5000' } });
    const outcomes = await pipeline.run(pipeline.ids(250));
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    const rows = await pipeline.rows();
    expect(rows).toHaveLength(250);
    expect(new Set(rows.map((r) => r.request_id)).size).toBe(250);
    const perBatch = rowsPerBatch(rows);
    expect(Math.max(...perBatch.values())).toBeLessThanOrEqual(100);
    expect(perBatch.size).toBeGreaterThanOrEqual(3);
  });

  it('when three shards run, then each request goes to the shard its id hashes to and all rows are written', async (ctx) => {
    const pipeline = await startPipeline({ title: ctx.task.name, env: { BATCHER_SHARDS: '3' } });
    const ids = pipeline.ids(45);
    const outcomes = await pipeline.run(ids);
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    const rows = await pipeline.rows();
    expect(rows).toHaveLength(45);
    for (const row of rows) expect(row.shard).toBe(shardFor(row.request_id, 3));
    for (const o of outcomes) expect(o.result?.shard).toBe(shardFor(requestIdFor(o.workflowId), 3));
    // Every shard served its share, and the shards' own counters add up to the rows.
    const perShard = [0, 1, 2].map((s) => rows.filter((r) => r.shard === s).length);
    expect(perShard.every((n) => n > 0)).toBe(true);
    const stats = await Promise.all([0, 1, 2].map((s) => pipeline.stats(s)));
    expect(stats.map((s) => s.rowsWritten)).toEqual(perShard);
  });

  it('when one shard is stuck, then requests routed to the other shard are still written and the stuck ones fail typed with no row', async (ctx) => {
    const pipeline = await startPipeline({
      title: ctx.task.name,
      env: { BATCHER_SHARDS: '2', BATCH_FLUSH_INTERVAL_MS: '1000' },
      businessStepMs: 0,
    });
    // Shard 1 runs on a task queue no worker polls: it accepts signals but never writes.
    await pipeline.client.workflow.start(BATCHER_WORKFLOW_TYPE, {
      workflowId: batcherWorkflowId(pipeline.batcher.workflowIdPrefix, 1),
      taskQueue: `${pipeline.batcher.taskQueue}-nobody`,
      args: [{ shard: 1 }],
    });
    const ids = pipeline.ids(16);
    const outcomes = await pipeline.run(ids, 8_000);
    const byShard = (s: number) => outcomes.filter((o) => shardFor(requestIdFor(o.workflowId), 2) === s);
    expect(byShard(0).length).toBeGreaterThan(0);
    expect(byShard(1).length).toBeGreaterThan(0);
    expect(byShard(0).every((o) => o.ok)).toBe(true);
    expect(byShard(1).map((o) => o.errorType)).toEqual(byShard(1).map(() => BatcherErrorTypes.ConfirmationTimeout));
    const rows = await pipeline.rows();
    expect(
      rows
        .filter((r) => r.status === 'committed')
        .map((r) => r.request_id)
        .sort(),
    ).toEqual(
      byShard(0)
        .map((o) => requestIdFor(o.workflowId))
        .sort(),
    );
    expect(
      rows
        .filter((r) => r.status === 'abandoned')
        .map((r) => r.request_id)
        .sort(),
    ).toEqual(
      byShard(1)
        .map((o) => requestIdFor(o.workflowId))
        .sort(),
    );
  });

  it('when the threshold is lowered, then the batcher continues as new several times and loses or doubles nothing', async (ctx) => {
    // SUBMIT_LINGER_MS=0: one signal per request, so the signal count is known.
    const pipeline = await startPipeline({
      title: ctx.task.name,
      env: { CONTINUE_AS_NEW_SIGNALS: '20', BATCH_MAX_SIZE: '25', BATCH_FLUSH_INTERVAL_MS: '1500', SUBMIT_LINGER_MS: '0' },
    });
    // Six waves of 50: each wave alone passes the threshold. A run continues as new only in a pause
    // in the signals (200 ms, see batcher.ts), so the test leaves one after each wave and waits for
    // that run to end before the next: every wave ends a run, however fast the machine answers and
    // however Temporal groups the signals of one wave into activations.
    const ids = pipeline.ids(300);
    const outcomes = [];
    for (let wave = 0; wave < 6; wave++) {
      outcomes.push(...(await pipeline.run(ids.slice(wave * 50, wave * 50 + 50))));
      await vi.waitFor(async () => expect((await pipeline.stats()).continueAsNewCount).toBeGreaterThanOrEqual(wave + 1), {
        timeout: 20_000,
        interval: 100,
      });
    }
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    const rows = await pipeline.rows();
    expect(rows).toHaveLength(300);
    expect(new Set(rows.map((r) => r.request_id)).size).toBe(300);
    const stats = await pipeline.stats();
    expect(stats.continueAsNewCount).toBeGreaterThanOrEqual(6);
    expect(stats.signalsTotal).toBe(300);
    expect(stats.rowsWritten).toBe(300);
    expect(stats.requestsTotal).toBe(300);
    expect(stats.largestContinueAsNewPayloadBytes).toBeGreaterThan(0);
    // Carried state stays bounded: the dedup window (64 KiB) plus what was pending.
    expect(stats.largestContinueAsNewPayloadBytes).toBeLessThan(200_000);
  });
});
