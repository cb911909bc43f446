// The poller alone against the run's real Temporal dev server: what describe, the statistics query
// and a start report for a shard. No batcher worker runs here, so every workflow of this file waits
// on a task queue nobody polls, which is exactly what a shard with its worker down looks like.
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCHER_WORKFLOW_TYPE } from '@batcher/shared/workflow';
import { ShardPoller } from '@batcher/health-monitor';
import { globalTemporal } from '../support/global-servers';
import { slugOf } from '../support/naming';

let connection: Connection;
let client: Client;
beforeAll(async () => {
  connection = await Connection.connect({ address: globalTemporal().address });
  client = new Client({ connection, namespace: globalTemporal().namespace });
});
afterAll(async () => {
  await connection?.close();
});

/** Workflow ids and a task queue of the test's own, unique per run. */
const idsFor = (title: string) => {
  const slug = `poller-${slugOf(title)}-${Date.now().toString(36)}`;
  return { workflowId: `${slug}-0`, taskQueue: slug };
};

describe('shard poller', () => {
  it('when the workflow id has never been used, then the observation says NOT_FOUND and no query is made', async (ctx) => {
    const { workflowId } = idsFor(ctx.task.name);
    const poller = new ShardPoller({ client, rpcTimeoutMs: 2000 });
    expect(await poller.checkTemporal()).toEqual({ reachable: true });
    expect(await poller.observe(workflowId)).toEqual({ kind: 'described', runId: null, status: 'NOT_FOUND', historyLength: null, pendingWorkflowTask: null, stats: null, statsError: null });
  });

  it('when a shard runs on a task queue no worker polls, then describe shows its workflow task scheduled and not started, and the statistics query fails at the deadline', async (ctx) => {
    const { workflowId, taskQueue } = idsFor(ctx.task.name);
    const before = Date.now();
    const handle = await client.workflow.start(BATCHER_WORKFLOW_TYPE, { workflowId, taskQueue, args: [{ shard: 0 }] });
    const poller = new ShardPoller({ client, rpcTimeoutMs: 1000 });
    try {
      const startedObserving = Date.now();
      const o = await poller.observe(workflowId);
      const tookMs = Date.now() - startedObserving;
      if (o.kind !== 'described') throw new Error(`expected a description, got ${JSON.stringify(o)}`);
      expect(o).toMatchObject({ runId: handle.firstExecutionRunId, status: 'RUNNING', stats: null });
      expect(o.historyLength).toBeGreaterThanOrEqual(2); // started + workflow task scheduled
      expect(o.pendingWorkflowTask).toMatchObject({ attempt: 1, startedAtMs: null });
      // Temporal's clock and ours are the same machine's: allow a little rounding either side.
      expect(o.pendingWorkflowTask?.scheduledAtMs).toBeGreaterThanOrEqual(before - 1000);
      expect(o.pendingWorkflowTask?.scheduledAtMs).toBeLessThanOrEqual(Date.now());
      expect(o.statsError).toBeTruthy();
      // The query waited for a worker until its own deadline, not longer.
      expect(tookMs).toBeGreaterThanOrEqual(900);
      expect(tookMs).toBeLessThan(5000);
    } finally {
      await handle.terminate('test finished');
    }
  });

  it('when a shard was terminated, then start() begins a new run with { shard } as its only input; a second start() while it runs reports that it did not start one', async (ctx) => {
    const { workflowId, taskQueue } = idsFor(ctx.task.name);
    const first = await client.workflow.start(BATCHER_WORKFLOW_TYPE, { workflowId, taskQueue, args: [{ shard: 0 }] });
    await first.terminate('test: lost shard');
    const poller = new ShardPoller({ client, rpcTimeoutMs: 2000 });
    const closed = await poller.observe(workflowId);
    expect(closed).toMatchObject({ kind: 'described', status: 'TERMINATED', runId: first.firstExecutionRunId, stats: null, statsError: null });

    const outcome = await poller.start(workflowId, taskQueue, { shard: 0 });
    try {
      if (!outcome.started) throw new Error('expected a new run');
      expect(outcome.runId).not.toBe(first.firstExecutionRunId);
      const history = await client.workflow.getHandle(workflowId, outcome.runId).fetchHistory();
      const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
      expect(started?.taskQueue?.name).toBe(taskQueue);
      expect(started?.workflowType?.name).toBe(BATCHER_WORKFLOW_TYPE);
      const input = started?.input?.payloads?.map((p) => JSON.parse(Buffer.from(p.data ?? new Uint8Array()).toString('utf8')));
      expect(input).toEqual([{ shard: 0 }]);

      expect(await poller.start(workflowId, taskQueue, { shard: 0 })).toEqual({ started: false });
    } finally {
      await client.workflow.getHandle(workflowId).terminate('test finished');
    }
  });
});
