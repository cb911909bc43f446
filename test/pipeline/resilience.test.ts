// What happens when parts go away: the database mid-run, or the batcher altogether.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createBatcherWorker } from '@write-batcher/batcher';
import { DEMO_TARGET } from '@batcher/demo/tables';
import { Catalog, createSubmitActivities, databaseOf } from '@write-batcher/batcher/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { BatcherErrorTypes, batcherWorkflowId, requestIdFor, shardFor } from '@write-batcher/protocol';
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
    pipeline = await startPipeline({
      title: ctx.task.name,
      mysql: db,
      env: { BATCH_MAX_SIZE: '20', BATCH_FLUSH_INTERVAL_MS: '1000' },
      businessStepMs: 100,
    });
    const ids = pipeline.ids(80);
    const running = pipeline.run(ids);
    // Stop the database once the first batch is in, so the outage cuts the run in two.
    await waitUntil('a first batch', async () => ((await pipeline!.stats().catch(() => undefined))?.batchesWritten ?? 0) >= 1, {
      timeoutMs: 60_000,
    });
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

  it('when no confirmation comes (no batcher workflow worker), then the workflow fails with the timeout error after 2 minutes of workflow time and its row can never appear', async (ctx) => {
    // The time-skipping test server (a real Temporal test server) makes the 2 minutes pass at once.
    env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: timeSkippingServerPath() } },
    });
    pipeline = await startPipeline({
      title: ctx.task.name,
      batcherWorker: false,
      connection: env.nativeConnection,
      client: env.client,
      businessStepMs: 0,
    });
    const routing = {
      taskQueue: pipeline.batcher.taskQueue,
      shards: pipeline.batcher.shards,
      workflowIdPrefix: pipeline.batcher.workflowIdPrefix,
    };
    // Since the redesign the submission and the settle step are activities on the batcher's task
    // queue: a worker with those activities only hands the request to its shard and settles the id,
    // and no worker runs the shard (its workflow tasks wait), so no confirmation ever comes.
    const catalog = new Catalog(pipeline.pool, [DEMO_TARGET], databaseOf(pipeline.pool) ?? '');
    await catalog.load(true);
    const submitOnly = await Worker.create({
      connection: env.nativeConnection,
      namespace: 'default',
      taskQueue: routing.taskQueue,
      activities: createSubmitActivities({
        client: env.client,
        pool: pipeline.pool,
        catalog,
        routing,
        submit: { lingerMs: 20, maxRequests: 500 },
      }),
      shutdownGraceTime: 500,
    });
    const submitOnlyRun = submitOnly.run();
    const [workflowId] = pipeline.ids(1) as [string];
    const startedAt = await env.currentTimeMs();
    const running = pipeline.run([workflowId]); // default confirmation timeout: 120 000 ms
    // The open batcher run (no worker to take its task) keeps the server from skipping time on its
    // own, so skip it explicitly, past the 2 minutes, once the write is waiting.
    await waitUntil(
      'the waiting write activity',
      async () => {
        const { events } = await pipeline!.client.workflow.getHandle(workflowId).fetchHistory();
        return events?.some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'awaitBatchedWrite');
      },
      { timeoutMs: 30_000 },
    );
    // … and the request is in its shard (the submit activity's signal arrived).
    await waitUntil(
      'the request in its shard',
      async () => {
        const shard = pipeline!.client.workflow.getHandle(
          batcherWorkflowId(routing.workflowIdPrefix, shardFor(requestIdFor(workflowId), routing.shards)),
        );
        const history = await shard.fetchHistory().catch(() => undefined);
        return history?.events?.some((e) => e.workflowExecutionSignaledEventAttributes);
      },
      { timeoutMs: 30_000 },
    );
    await env.sleep(125_000);
    const [outcome] = await running;
    expect(outcome?.ok).toBe(false);
    expect(outcome?.errorType).toBe(BatcherErrorTypes.ConfirmationTimeout);
    expect((await env.currentTimeMs()) - startedAt).toBeGreaterThanOrEqual(120_000);
    expect(await pipeline.rows()).toEqual([expect.objectContaining({ request_id: requestIdFor(workflowId), status: 'abandoned' })]);

    submitOnly.shutdown();
    await submitOnlyRun;

    // Now the batcher comes back and writes its pending batch: the abandoned id stays abandoned.
    const worker = await createBatcherWorker({
      connection: env.nativeConnection,
      namespace: 'default',
      pool: pipeline.pool,
      tables: [DEMO_TARGET],
      routing,
      settings: pipeline.batcher.batching,
      client: env.client,
      shutdownGraceMs: 500,
    });
    // Queries need a running worker, so read the statistics before it stops.
    const stats = await worker.runUntil(async () => {
      await waitUntil(
        'the late batch',
        async () => {
          await env!.sleep(30_000); // let the flush timer fire in skipped time
          return (await pipeline!.stats()).batchesWritten >= 1;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      return pipeline!.stats();
    });
    expect(stats.rejected).toBe(1);
    expect(stats.rowsWritten).toBe(0);
    expect(stats.confirmationsUndeliverable).toBeGreaterThanOrEqual(1); // the requester had stopped waiting
    expect(await pipeline.rows()).toEqual([
      expect.objectContaining({ request_id: requestIdFor(workflowId), status: 'abandoned', batch_id: null }),
    ]);
  }, 240_000);
});
