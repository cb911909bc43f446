// What happens when parts go away: the database mid-run, or the batcher altogether.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { BatcherErrorTypes, requestIdFor } from '@batcher/shared/workflow';
import { startMariaDb, type MariaDb } from '../support/mariadb';
import { delay, waitUntil } from '../support/processes';
import { timeSkippingServerPath } from '../support/temporal';
import { startPipeline, type Pipeline } from './pipeline';

let pipeline: Pipeline | undefined;
let db: MariaDb | undefined;
let env: TestWorkflowEnvironment | undefined;
afterEach(async () => {
  await pipeline?.stop();
  await db?.stop();
  await env?.teardown();
  pipeline = db = env = undefined;
});

describe('resilience', () => {
  it('when MariaDB stops in the middle of a run and comes back, then every row is written exactly once', async (ctx) => {
    db = await startMariaDb(); // a server of this test's own, so stopping it harms no other test
    pipeline = await startPipeline({ title: ctx.task.name, mysql: db, env: { BATCH_MAX_SIZE: '20', BATCH_FLUSH_INTERVAL_MS: '1000' }, businessStepMs: 100 });
    const ids = pipeline.ids(80);
    const running = pipeline.run(ids);
    // Stop the database once the first batch is in, so the outage cuts the run in two.
    await waitUntil('a first batch', async () => ((await pipeline!.stats().catch(() => undefined))?.batchesWritten ?? 0) >= 1, { timeoutMs: 60_000 });
    await db.stopServer();
    await delay(8_000);
    await db.startServer();
    const outcomes = await running;
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    const rows = await pipeline.rows();
    expect(rows).toHaveLength(80);
    expect(rows.map((r) => r.request_id).sort()).toEqual(ids.map(requestIdFor).sort());
    expect(rows.every((r) => r.status === 'committed')).toBe(true);
  }, 240_000);

  it('when no confirmation comes (no batcher worker), then the workflow fails with the timeout error after 2 minutes of workflow time and its row can never appear', async (ctx) => {
    // The time-skipping test server (a real Temporal test server) makes the 2 minutes pass at once.
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: timeSkippingServerPath() } } });
    pipeline = await startPipeline({ title: ctx.task.name, batcherWorker: false, connection: env.nativeConnection, client: env.client, businessStepMs: 0 });
    const [workflowId] = pipeline.ids(1) as [string];
    const startedAt = await env.currentTimeMs();
    const running = pipeline.run([workflowId]); // default confirmation timeout: 120 000 ms
    // The open batcher run (no worker to take its task) keeps the server from skipping time on its
    // own, so skip it explicitly, past the 2 minutes, once the write is waiting.
    await waitUntil('the waiting write activity', async () => {
      const { events } = await pipeline!.client.workflow.getHandle(workflowId).fetchHistory();
      return events?.some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'awaitBatchedWrite');
    }, { timeoutMs: 30_000 });
    await env.sleep(125_000);
    const [outcome] = await running;
    expect(outcome?.ok).toBe(false);
    expect(outcome?.errorType).toBe(BatcherErrorTypes.ConfirmationTimeout);
    expect((await env.currentTimeMs()) - startedAt).toBeGreaterThanOrEqual(120_000);
    expect(await pipeline.rows()).toEqual([expect.objectContaining({ request_id: requestIdFor(workflowId), status: 'abandoned' })]);

    // Now the batcher comes back and writes its pending batch: the abandoned id stays abandoned.
    const { createBatcherWorker } = await import('@batcher/batcher-worker/worker');
    const worker = await createBatcherWorker({ connection: env.nativeConnection, namespace: 'default', taskQueue: pipeline.batcher.taskQueue, pool: pipeline.pool, settings: pipeline.batcher.batching, client: env.client, shutdownGraceMs: 500 });
    // Queries need a running worker, so read the statistics before it stops.
    const stats = await worker.runUntil(async () => {
      await waitUntil('the late batch', async () => {
        await env!.sleep(30_000); // let the flush timer fire in skipped time
        return (await pipeline!.stats()).batchesWritten >= 1;
      }, { timeoutMs: 60_000, intervalMs: 500 });
      return pipeline!.stats();
    });
    expect(stats.rejected).toBe(1);
    expect(stats.rowsWritten).toBe(0);
    expect(stats.confirmationsUndeliverable).toBeGreaterThanOrEqual(1); // the requester had stopped waiting
    expect(await pipeline.rows()).toEqual([expect.objectContaining({ request_id: requestIdFor(workflowId), status: 'abandoned', batch_id: null })]);
  }, 240_000);
});
