// Statistics queries while batcher workers start, stop and die, on the run's dev server, with each
// worker in a process of its own (stand-in activities: the database is not what this is about).
// Two defects of the Temporal SDK (1.24) can leave a shard stuck on a nondeterminism error when a
// query reaches it at the wrong moment (docs/reliability.md, "Queries and a worker change"):
// - a query arriving while a run's first task runs a local activity made the worker report that
//   task with only the activity's marker; the batcher reads its settings with a regular activity,
//   and the first test queries from every run's start;
// - a query handed to a worker that does not have the run cached, while a task of the run waits,
//   makes that worker decide part of the task at the previous task's time. Nothing in the workflow
//   can undo that; the project's readers (health monitor, starter) no longer query shards, and the
//   second test runs the monitor's poller while workers are killed and replaced under load.
// Before the changes, both failed: the first on its one try, the second's scenario with raw
// queries in 3 of 5 tries.
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { BATCHER_WORKFLOW_TYPE, batcherWorkflowId, submitWritesSignal } from '@write-batcher/protocol';
import { ShardPoller } from '@batcher/health-monitor';
import { BATCHER_SANDBOX_OPTIONS, batcherStatsQuery, workflowsPath, type BatcherSettings } from '@write-batcher/batcher';
import { globalTemporal } from '../support/global-servers';
import { waitUntil, type ManagedProcess } from '../support/processes';
import { startStandInBatcher } from '../support/stand-in-batcher';
import { demoRequests } from '../support/requests';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const started: ManagedProcess[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.kill()));
});

async function startWorker(taskQueue: string, identity: string, settings: Partial<BatcherSettings>): Promise<ManagedProcess> {
  const proc = await startStandInBatcher(taskQueue, identity, settings);
  started.push(proc);
  return proc;
}

interface RunAudit {
  runs: number;
  /** Nondeterminism failures of workflow tasks, every run of the shard. */
  taskFailures: string[];
  /** Runs whose history does not replay on this release. */
  replayFailures: string[];
}

/** Follows the shard from its first run through every continue-as-new: failed tasks, and whether each run replays. */
async function auditRuns(client: Client, workflowId: string, firstRunId: string): Promise<RunAudit> {
  const audit: RunAudit = { runs: 0, taskFailures: [], replayFailures: [] };
  let runId: string | undefined = firstRunId;
  while (runId && audit.runs < 500) {
    const history: temporal.api.history.v1.IHistory = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events = history.events ?? [];
    audit.runs++;
    // Nondeterminism only: a task that tried to continue as new while a signal came in fails
    // "UnhandledCommand" and is simply run again with the signal (Temporal's own rule).
    for (const e of events)
      if (/TMPRL1100|[Nn]ondeterminism/.test(e.workflowTaskFailedEventAttributes?.failure?.message ?? ''))
        audit.taskFailures.push(
          `run ${runId} event ${String(e.eventId)}: ${e.workflowTaskFailedEventAttributes?.failure?.message ?? ''}`.slice(0, 400),
        );
    await Worker.runReplayHistory({ workflowsPath, ...BATCHER_SANDBOX_OPTIONS }, { events }, workflowId).catch((err: unknown) =>
      audit.replayFailures.push(`run ${runId}: ${String((err as Error).message).slice(0, 400)}`),
    );
    runId =
      events.find((e) => e.workflowExecutionContinuedAsNewEventAttributes)?.workflowExecutionContinuedAsNewEventAttributes
        ?.newExecutionRunId ?? undefined;
  }
  return audit;
}

/** Signals the shard a few requests at a time, every 150–550 ms, until stopped. */
function streamRequests(client: Client, workflowId: string, taskQueue: string): { stop(): Promise<number> } {
  let sending = true;
  let sent = 0;
  const done = (async () => {
    while (sending) {
      await client.workflow.signalWithStart(BATCHER_WORKFLOW_TYPE, {
        workflowId,
        taskQueue,
        args: [{ shard: 0 }],
        signal: submitWritesSignal,
        signalArgs: [demoRequests(3, `${workflowId}-${sent++}`)],
      });
      await sleep(150 + Math.random() * 400);
    }
  })();
  return {
    async stop() {
      sending = false;
      await done;
      return sent;
    },
  };
}

/** Calls `read` every 20 ms until stopped; counts the answers. */
function readEvery20Ms(read: () => Promise<unknown>): { stop(): Promise<number> } {
  let reading = true;
  let answers = 0;
  const done = (async () => {
    while (reading) {
      if (
        (await read().then(
          () => true,
          () => false,
        )) === true
      )
        answers++;
      await sleep(20);
    }
  })();
  return {
    async stop() {
      reading = false;
      await done;
      return answers;
    },
  };
}

async function withClient<T>(body: (client: Client) => Promise<T>): Promise<T> {
  const { address, namespace } = globalTemporal();
  const connection = await Connection.connect({ address });
  try {
    return await body(new Client({ connection, namespace }));
  } finally {
    await connection.close();
  }
}

describe('statistics queries while batcher workers come and go (dev server, stand-in activities)', () => {
  it('when statistics queries arrive from the start of every run, then no task of the shard fails and every run replays', async () => {
    await withClient(async (client) => {
      const prefix = `cold-start-${randomUUID().slice(0, 8)}`;
      const workflowId = batcherWorkflowId(prefix, 0);
      const taskQueue = prefix;
      // A run per five signals: many run starts, each reading its settings while queries arrive.
      await startWorker(taskQueue, 'only', { flushIntervalMs: 700, continueAsNewSignals: 5 });
      const first = await client.workflow.signalWithStart(BATCHER_WORKFLOW_TYPE, {
        workflowId,
        taskQueue,
        args: [{ shard: 0 }],
        signal: submitWritesSignal,
        signalArgs: [demoRequests(1, `${prefix}-first`)],
      });
      const handle = client.workflow.getHandle(workflowId);
      const queries = readEvery20Ms(() => handle.query(batcherStatsQuery));
      const load = streamRequests(client, workflowId, taskQueue);
      await sleep(25_000);
      const sent = await load.stop();
      const answered = await queries.stop();
      const audit = await auditRuns(client, workflowId, first.signaledRunId);
      expect(sent).toBeGreaterThan(20);
      expect(answered).toBeGreaterThan(100);
      expect(audit.runs).toBeGreaterThan(3);
      expect(audit.taskFailures).toEqual([]);
      expect(audit.replayFailures).toEqual([]);
      await handle.terminate('test finished').catch(() => undefined);
    });
  }, 240_000);

  it("when batcher workers are killed and replaced under load while the health monitor's poller reads the shard every 20 ms, then no task of the shard fails, every run replays and the poller has statistics", async () => {
    await withClient(async (client) => {
      const prefix = `cold-kill-${randomUUID().slice(0, 8)}`;
      const workflowId = batcherWorkflowId(prefix, 0);
      const taskQueue = prefix;
      const settings = { flushIntervalMs: 700 };
      let worker = await startWorker(taskQueue, 'w0', settings);
      const first = await client.workflow.signalWithStart(BATCHER_WORKFLOW_TYPE, {
        workflowId,
        taskQueue,
        args: [{ shard: 0 }],
        signal: submitWritesSignal,
        signalArgs: [demoRequests(1, `${prefix}-first`)],
      });
      const poller = new ShardPoller({ client, rpcTimeoutMs: 2000 });
      const reads = readEvery20Ms(async () => {
        const o = await poller.observe(workflowId);
        if (o.kind !== 'described' || !o.stats) throw new Error('no statistics');
      });
      const load = streamRequests(client, workflowId, taskQueue);
      for (let round = 1; round <= 8; round++) {
        await sleep(3000 + Math.random() * 2000);
        // Killed: its cached runs are gone, and the shard's next task waits on its sticky queue
        // until the server gives up on it; timers fire and signals arrive meanwhile.
        await worker.kill();
        await sleep(1000 + Math.random() * 1500);
        worker = await startWorker(taskQueue, `w${round}`, settings);
      }
      await sleep(3000);
      const sent = await load.stop();
      const answered = await reads.stop();
      // Every request is written in the end: the shard was never stuck.
      await waitUntil(
        'every request written',
        async () => {
          const stats = await client.workflow.getHandle(workflowId).query(batcherStatsQuery);
          return stats.rowsWritten + stats.duplicates === sent * 3 + 1;
        },
        { timeoutMs: 60_000 },
      );
      const audit = await auditRuns(client, workflowId, first.signaledRunId);
      expect(answered).toBeGreaterThan(100);
      expect(audit.taskFailures).toEqual([]);
      expect(audit.replayFailures).toEqual([]);
      await client.workflow
        .getHandle(workflowId)
        .terminate('test finished')
        .catch(() => undefined);
    });
  }, 300_000);
});
