// The poller alone against the run's real Temporal dev server: what describe, the statistics in
// the shard's memo and a start report for a shard (it never queries one). Workflows here mostly wait on a task queue nobody
// polls, which is exactly what a shard with its worker down looks like; one test runs a stand-in
// batcher worker in a process of its own first, and kills it.
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BATCHER_WORKFLOW_TYPE, submitWritesSignal } from '@write-batcher/protocol';
import { publishedStats } from '@write-batcher/batcher';
import { ShardPoller } from '@batcher/health-monitor';
import { globalTemporal } from '../support/global-servers';
import { slugOf } from '../support/naming';
import { waitUntil } from '../support/processes';
import { demoRequests } from '../support/requests';
import { startStandInBatcher } from '../support/stand-in-batcher';

let connection: Connection;
let client: Client;
beforeAll(async () => {
  connection = await Connection.connect({ address: globalTemporal().address });
  client = new Client({ connection, namespace: globalTemporal().namespace });
});
afterAll(async () => {
  await connection?.close();
});

/**
 * What `fn` returned, and how many queries this process sent meanwhile. Counted, not timed: a query
 * to a shard no worker serves would wait for the RPC deadline, but how long a describe takes
 * depends on how busy the machine is.
 */
async function countingQueries<T>(fn: () => Promise<T>): Promise<{ result: T; queries: number }> {
  const spy = vi.spyOn(connection.workflowService, 'queryWorkflow');
  try {
    const result = await fn();
    return { result, queries: spy.mock.calls.length };
  } finally {
    spy.mockRestore();
  }
}

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
    expect(await poller.observe(workflowId)).toEqual({
      kind: 'described',
      runId: null,
      status: 'NOT_FOUND',
      historyLength: null,
      pendingWorkflowTask: null,
      stats: null,
    });
  });

  it('when a shard runs on a task queue no worker polls, then describe shows its workflow task scheduled and not started, and the poller does not query it (no statistics, no error, no wait)', async (ctx) => {
    const { workflowId, taskQueue } = idsFor(ctx.task.name);
    const before = Date.now();
    const handle = await client.workflow.start(BATCHER_WORKFLOW_TYPE, { workflowId, taskQueue, args: [{ shard: 0 }] });
    const poller = new ShardPoller({ client, rpcTimeoutMs: 1000 });
    try {
      const { result: o, queries } = await countingQueries(() => poller.observe(workflowId));
      if (o.kind !== 'described') throw new Error(`expected a description, got ${JSON.stringify(o)}`);
      expect(o).toMatchObject({ runId: handle.firstExecutionRunId, status: 'RUNNING', stats: null });
      expect(o.historyLength).toBeGreaterThanOrEqual(2); // started + workflow task scheduled
      expect(o.pendingWorkflowTask).toMatchObject({ attempt: 1, startedAtMs: null });
      // Temporal's clock and ours are the same machine's: allow a little rounding either side.
      expect(o.pendingWorkflowTask?.scheduledAtMs).toBeGreaterThanOrEqual(before - 1000);
      expect(o.pendingWorkflowTask?.scheduledAtMs).toBeLessThanOrEqual(Date.now());
      // No query: it would have waited for a worker until the 1 s deadline.
      expect(queries).toBe(0);
    } finally {
      await handle.terminate('test finished');
    }
  });

  it("when a shard's worker is gone, then its statistics come from its memo at once, with a workflow task waiting or not, and the poller sends it no query", async (ctx) => {
    const { workflowId, taskQueue } = idsFor(ctx.task.name);
    const worker = await startStandInBatcher(taskQueue, 'poller', { flushIntervalMs: 300 });
    const poller = new ShardPoller({ client, rpcTimeoutMs: 1000 });
    try {
      await client.workflow.signalWithStart(BATCHER_WORKFLOW_TYPE, {
        workflowId,
        taskQueue,
        args: [{ shard: 0 }],
        signal: submitWritesSignal,
        signalArgs: [demoRequests(2, workflowId)],
      });
      await waitUntil(
        'the shard quiet with its statistics published',
        async () => {
          const d = await client.workflow.getHandle(workflowId).describe();
          return publishedStats(d)?.rowsWritten === 2 && !d.raw.pendingWorkflowTask;
        },
        { timeoutMs: 30_000 },
      );
      await worker.kill();

      // No task waits, and no query is sent (one would wait for a worker until the 1 s deadline).
      const { result: quiet, queries: quietQueries } = await countingQueries(() => poller.observe(workflowId));
      expect(quietQueries).toBe(0);
      expect(quiet).toMatchObject({
        kind: 'described',
        status: 'RUNNING',
        pendingWorkflowTask: null,
        stats: { rowsWritten: 2, batchesWritten: 1 },
      });
      if (quiet.kind === 'described') expect(quiet.stats?.recentBatches.map((b) => b.rows)).toEqual([2]);

      // A signal makes a task wait that no worker takes.
      await client.workflow.getHandle(workflowId).signal(submitWritesSignal, demoRequests(1, `${workflowId}-late`));
      const { result: waiting, queries: waitingQueries } = await countingQueries(() => poller.observe(workflowId));
      expect(waitingQueries).toBe(0);
      expect(waiting).toMatchObject({
        kind: 'described',
        status: 'RUNNING',
        pendingWorkflowTask: { startedAtMs: null },
        stats: { rowsWritten: 2 },
      });
    } finally {
      await worker.kill();
      await client.workflow
        .getHandle(workflowId)
        .terminate('test finished')
        .catch(() => undefined);
    }
  });

  it('when a shard was terminated, then start() begins a new run with { shard } as its only input; a second start() while it runs reports that it did not start one', async (ctx) => {
    const { workflowId, taskQueue } = idsFor(ctx.task.name);
    const first = await client.workflow.start(BATCHER_WORKFLOW_TYPE, { workflowId, taskQueue, args: [{ shard: 0 }] });
    await first.terminate('test: lost shard');
    const poller = new ShardPoller({ client, rpcTimeoutMs: 2000 });
    const closed = await poller.observe(workflowId);
    expect(closed).toMatchObject({ kind: 'described', status: 'TERMINATED', runId: first.firstExecutionRunId, stats: null });

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
