// The batcher workflow's loop on the real time-skipping test server, with a stand-in bulk write
// (it records batches instead of touching a database: the database is not what these tests are
// about; test/pipeline covers it) so flush timing in workflow time can be checked exactly. One test
// runs on the run's dev server instead, where a pause between signals is a real pause.
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCHER_WORKFLOW_TYPE, BatcherErrorTypes, submitWritesSignal, type WriteRequest } from '@write-batcher/protocol';
import {
  BATCHER_SANDBOX_OPTIONS,
  DEFAULT_BATCHER_SETTINGS,
  batcherStatsQuery,
  workflowsPath,
  type BatcherSettings,
  type BatcherStats,
  type BulkWriteInput,
  type BulkWriteResult,
  type DirectAnswer,
} from '@write-batcher/batcher';
import { globalTemporal } from '../support/global-servers';
import { slugOf } from '../support/naming';
import { waitUntil } from '../support/processes';
import { createStandInWorkers } from '../support/shard-workers';
import { demoRequests } from '../support/requests';
import { timeSkippingServerPath } from '../support/temporal';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: timeSkippingServerPath() } },
  });
});
afterAll(async () => {
  await env?.teardown();
});

/** The batcher package's defaults. */
const defaults: BatcherSettings = DEFAULT_BATCHER_SETTINGS;

interface Harness {
  batches: Array<{ input: BulkWriteInput; atMs: number }>;
  answers: DirectAnswer[];
  /** Sends one submit signal carrying `requests` (signal-with-start); resolves with the run id it reached. */
  send(requests: WriteRequest[]): Promise<string>;
  /** Sends `requests` under another signal name. */
  sendAs(signalName: string, requests: WriteRequest[]): Promise<void>;
  stats(): Promise<BatcherStats>;
  workflowId: string;
}

/** Where a test's batcher runs: the time-skipping server (default), or the run's dev server, where time is real. */
interface LoopServer {
  nativeConnection: NativeConnection;
  client: Client;
}

/** Runs `body` on the run's dev server: for what time skipping would hide (real pauses between signals). */
async function onDevServer(body: (server: LoopServer) => Promise<void>): Promise<void> {
  const { address, namespace } = globalTemporal();
  const nativeConnection = await NativeConnection.connect({ address });
  const connection = await Connection.connect({ address });
  try {
    await body({ nativeConnection, client: new Client({ connection, namespace }) });
  } finally {
    await connection.close();
    await nativeConnection.close();
  }
}

/** Runs `body` with a batcher worker whose activities are stand-ins, on a task queue of the test's own. */
async function withBatcher(
  title: string,
  settings: Partial<BatcherSettings>,
  body: (h: Harness) => Promise<void>,
  server?: LoopServer,
): Promise<void> {
  const { nativeConnection, client } = server ?? { nativeConnection: env.nativeConnection, client: env.client };
  const nowMs = async (): Promise<number> => (server ? Date.now() : env.currentTimeMs());
  const taskQueue = `loop-${slugOf(title)}-${randomUUID().slice(0, 8)}`;
  const workflowId = `batcher-${slugOf(title)}-${randomUUID().slice(0, 8)}`;
  const batches: Harness['batches'] = [];
  const answers: DirectAnswer[] = [];
  const worker = await createStandInWorkers({
    connection: nativeConnection,
    taskQueue,
    workflowsPath,
    ...BATCHER_SANDBOX_OPTIONS,
    activities: {
      batcherSettings: async () => ({ ...defaults, ...settings }),
      bulkWrite: async (input: BulkWriteInput): Promise<BulkWriteResult> => {
        batches.push({ input, atMs: await nowMs() });
        return {
          batchId: input.batchId,
          outcomes: input.rows.map((r) => ({ requestId: r.requestId, status: 'committed', batchId: input.batchId })),
          statements: 4,
          durationMs: 1,
          repliesUndeliverable: 0,
        };
      },
      deliverAnswers: async (a: DirectAnswer[]) => {
        answers.push(...a);
        return { delivered: a.length, undeliverable: 0 };
      },
    },
  });
  const handle = client.workflow.getHandle(workflowId);
  await worker.runUntil(async () => {
    await body({
      batches,
      answers,
      workflowId,
      async send(requests) {
        const sent = await client.workflow.signalWithStart(BATCHER_WORKFLOW_TYPE, {
          workflowId,
          taskQueue,
          args: [{ shard: 0 }],
          signal: submitWritesSignal,
          signalArgs: [requests],
        });
        return sent.signaledRunId;
      },
      sendAs: (signalName, requests) => handle.signal(signalName, requests),
      stats: () => handle.query(batcherStatsQuery),
    });
    await handle.terminate('test finished').catch(() => undefined);
  });
}

/** n requests of the demo table, each from its own requester with the reply address batchedWrite gives it. */
const requests = (n: number, tag: string): WriteRequest[] => demoRequests(n, tag);

describe('batcher loop (time-skipping server unless said, stand-in bulk write)', () => {
  it('when 250 requests arrive at once, then two full batches go out at once and the last 50 after the flush interval', async (ctx) => {
    await withBatcher(ctx.task.name, {}, async (h) => {
      const t0 = await env.currentTimeMs();
      await h.send(requests(250, 'size'));
      await waitUntil('two full batches', async () => h.batches.length >= 2, { timeoutMs: 30_000 });
      expect(h.batches.slice(0, 2).map((b) => b.input.rows.length)).toEqual([100, 100]);
      await env.sleep(25_000);
      await waitUntil('the interval batch', async () => h.batches.length >= 3, { timeoutMs: 30_000 });
      expect(h.batches[2]?.input.rows).toHaveLength(50);
      expect((h.batches[2]?.atMs ?? 0) - t0).toBeGreaterThanOrEqual(20_000);
      expect((await h.stats()).rowsWritten).toBe(250);
    });
  });

  it('when the policy is eager, then a lone request is written without waiting for the interval', async (ctx) => {
    await withBatcher(ctx.task.name, { flushPolicy: 'eager' }, async (h) => {
      const t0 = await env.currentTimeMs();
      await h.send(requests(3, 'eager'));
      await waitUntil('a batch', async () => h.batches.length >= 1, { timeoutMs: 30_000 });
      expect(h.batches[0]?.input.rows).toHaveLength(3);
      expect((h.batches[0]?.atMs ?? 0) - t0).toBeLessThan(20_000);
    });
  });

  it('when a request repeats after its batch, then it is answered from the dedup window without a second write', async (ctx) => {
    await withBatcher(ctx.task.name, { flushPolicy: 'eager' }, async (h) => {
      const [one] = requests(1, 'dedup') as [WriteRequest];
      await h.send([one]);
      await waitUntil('the batch', async () => (await h.stats()).rowsWritten === 1, { timeoutMs: 30_000 });
      await h.send([{ ...one, reply: { ...one.reply, runId: randomUUID() } }]);
      await waitUntil('the answer', async () => h.answers.length >= 1, { timeoutMs: 30_000 });
      expect(h.answers[0]?.outcome).toEqual({ status: 'duplicate', batchId: h.batches[0]?.input.batchId });
      expect(h.batches).toHaveLength(1);
    });
  });

  it('when the shard is full, then new requests are refused as BatcherOverloaded at once', async (ctx) => {
    await withBatcher(ctx.task.name, { maxPendingRequests: 5 }, async (h) => {
      await h.send(requests(8, 'full'));
      await waitUntil('the refusals', async () => h.answers.length >= 3, { timeoutMs: 30_000 });
      expect(h.answers.map((a) => a.outcome)).toEqual(
        [0, 1, 2].map(() => expect.objectContaining({ status: 'rejected', errorType: BatcherErrorTypes.Overloaded })),
      );
      expect(h.batches).toHaveLength(0); // nothing due yet: the accepted five wait for the interval
      expect((await h.stats()).pending).toBe(5);
    });
  });

  it('when requests arrive under another signal name, then they are dropped unread and the shard goes on', async (ctx) => {
    await withBatcher(ctx.task.name, { flushPolicy: 'eager' }, async (h) => {
      await h.send(requests(1, 'named'));
      await waitUntil('the first batch', async () => (await h.stats()).rowsWritten === 1, { timeoutMs: 30_000 });
      // 'submitWrite' and 'submit' stand for any name but submitWrites (no release ever took another).
      await h.sendAs('submitWrite', requests(3, 'other-name'));
      await h.sendAs('submit', requests(3, 'other-name-2'));
      await h.send(requests(1, 'after'));
      await waitUntil('the second batch', async () => (await h.stats()).rowsWritten === 2, { timeoutMs: 30_000 });
      const stats = await h.stats();
      expect(stats.requestsTotal).toBe(2);
      expect(stats.signalsTotal).toBe(2);
      expect(h.batches.flatMap((b) => b.input.rows.map((r) => r.requestId))).toEqual(['write:named-0', 'write:after-0']);
      expect(h.answers).toEqual([]);
    });
  });

  it('when the run continues as new, then pending requests are carried and written by the next run', async (ctx) => {
    await withBatcher(ctx.task.name, { continueAsNewSignals: 3 }, async (h) => {
      const firstRunId = await h.send(requests(5, 'can0'));
      for (let i = 1; i < 4; i++) await h.send(requests(5, `can${i}`));
      // The run continues as new after a pause in the signals (200 ms of workflow time).
      await env.sleep(1_000);
      await waitUntil('a new run', async () => (await h.stats()).continueAsNewCount >= 1, { timeoutMs: 30_000 });
      await env.sleep(25_000);
      await waitUntil('the carried batch', async () => (await h.stats()).rowsWritten === 20, { timeoutMs: 30_000 });
      const ids = h.batches.flatMap((b) => b.input.rows.map((r) => r.requestId));
      expect(new Set(ids).size).toBe(20);
      expect(ids).toHaveLength(20);
      // Written by a later run (batch ids name their run), so they were carried.
      expect(h.batches.filter((b) => b.input.batchId.includes(firstRunId))).toEqual([]);
    });
  });

  it('when signals keep coming, then the run continues as new only in a pause of them', async (ctx) => {
    // Temporal fails a task that closes a run while signals wait (and the next task replays the run):
    // the batcher must not try while they stream in.
    await onDevServer((server) =>
      withBatcher(
        ctx.task.name,
        { continueAsNewSignals: 3, flushIntervalMs: 1000 },
        async (h) => {
          const firstRunId = await h.send(requests(2, 'stream0'));
          // Sent together rather than one after another: a 200 ms stall of a busy machine between two
          // sends would be a real pause, and the run would rightly continue as new in it.
          await Promise.all(Array.from({ length: 29 }, (_, i) => h.send(requests(2, `stream${i + 1}`))));
          await waitUntil('a new run', async () => (await h.stats()).continueAsNewCount >= 1, { timeoutMs: 30_000 });
          const { events } = await server.client.workflow.getHandle(h.workflowId, firstRunId).fetchHistory();
          const list = events ?? [];
          const ms = (e: (typeof list)[number]) => Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
          const signals = list.filter((e) => e.workflowExecutionSignaledEventAttributes);
          const lastSignalMs = Math.max(...signals.map(ms));
          const canAt = list.findIndex((e) => e.workflowExecutionContinuedAsNewEventAttributes);
          const lastTaskStart = list
            .slice(0, canAt)
            .reverse()
            .find((e) => e.workflowTaskStartedEventAttributes);
          expect(canAt).toBeGreaterThan(0);
          expect(list.filter((e) => e.workflowTaskFailedEventAttributes)).toEqual([]);
          // The stream was not cut at the third signal, and the run closed only after a 200 ms pause.
          expect(signals.length).toBeGreaterThan(3);
          expect(lastTaskStart).toBeDefined();
          expect(ms(lastTaskStart ?? {}) - lastSignalMs).toBeGreaterThanOrEqual(200);
          await waitUntil('every request written', async () => (await h.stats()).rowsWritten === 60, { timeoutMs: 30_000 });
          const ids = h.batches.flatMap((b) => b.input.rows.map((r) => r.requestId));
          expect(new Set(ids).size).toBe(60);
          expect(ids).toHaveLength(60);
        },
        server,
      ),
    );
  });
});
