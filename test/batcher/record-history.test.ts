// Records a batcher history for test/batcher/replay.test.ts (skipped unless RECORD_BATCHER_HISTORY
// names the fixture to write). The baseline fixture was recorded with
//   RECORD_BATCHER_HISTORY=batcher-history-baseline.bin node_modules/.bin/vitest run test/batcher/record-history.test.ts
// and batcher-history-thin.bin (every patch of the release after it on) the same way, with
//   RECORD_BATCHER_HISTORY=batcher-history-thin.bin
// A later change that needs `patched()` records a fixture of its own from its code and keeps the
// baseline, so the workflow must replay both (BATCHER_WORKFLOWS_PATH=<dir>/index.ts records from
// another copy of the workflow code). The reset fixture (a run reset to a workflow task in the
// middle of its batches, on the run's dev server: the time-skipping server has no reset) with
//   RECORD_BATCHER_RESET_HISTORY=batcher-history-reset.bin node_modules/.bin/vitest run test/batcher/record-history.test.ts
// and the units fixture (a unit of three rows, then a settings announcement that continues the run as new) with
//   RECORD_BATCHER_UNITS_HISTORY=batcher-history-units.bin node_modules/.bin/vitest run test/batcher/record-history.test.ts
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { BATCHER_WORKFLOW_TYPE, submitWritesSignal, type WriteRequest } from '@write-batcher/protocol';
import {
  BATCHER_SANDBOX_OPTIONS,
  DEFAULT_BATCHER_SETTINGS,
  batcherStatsQuery,
  settingsChangedSignal,
  workflowsPath,
  type BatcherSettings,
  type BulkWriteInput,
  type BulkWriteResult,
} from '@write-batcher/batcher';
import { globalTemporal } from '../support/global-servers';
import { waitUntil } from '../support/processes';
import { createStandInWorkers } from '../support/shard-workers';
import { demoRequests } from '../support/requests';
import { timeSkippingServerPath } from '../support/temporal';

const fixture = process.env.RECORD_BATCHER_HISTORY;
/** A run holding a unit (a request with further rows) that ends in a settings reload: batcher-history-units.bin. */
const unitsFixture = process.env.RECORD_BATCHER_UNITS_HISTORY;
const resetFixture = process.env.RECORD_BATCHER_RESET_HISTORY;

/** Stand-ins for the shard's activities: every row committed after 300 ms, every answer delivered. */
const standIns = (settings: Partial<BatcherSettings>) => ({
  batcherSettings: async () => ({ ...DEFAULT_BATCHER_SETTINGS, ...settings }),
  bulkWrite: async (input: BulkWriteInput): Promise<BulkWriteResult> => {
    await new Promise((r) => setTimeout(r, 300));
    return {
      batchId: input.batchId,
      outcomes: input.rows.map((r) => ({ requestId: r.requestId, status: 'committed', batchId: input.batchId })),
      statements: 4,
      durationMs: 1,
      repliesUndeliverable: 0,
    };
  },
  deliverAnswers: async (a: unknown[]) => ({ delivered: a.length, undeliverable: 0 }),
});

describe.runIf(fixture)('record a batcher history (runs only when RECORD_BATCHER_HISTORY names a fixture)', () => {
  it('runs one shard to its continue-as-new with writes in flight and saves the run', async () => {
    const env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: timeSkippingServerPath() } },
    });
    const taskQueue = `record-${randomUUID()}`;
    const workflowId = `batcher-record-${randomUUID().slice(0, 8)}`;
    const worker = await createStandInWorkers({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: process.env.BATCHER_WORKFLOWS_PATH ?? workflowsPath,
      ...BATCHER_SANDBOX_OPTIONS,
      activities: {
        batcherSettings: async () => ({ ...DEFAULT_BATCHER_SETTINGS, continueAsNewSignals: 3, maxBatchSize: 5, flushIntervalMs: 1000 }),
        bulkWrite: async (input: BulkWriteInput): Promise<BulkWriteResult> => {
          await new Promise((r) => setTimeout(r, 300));
          return {
            batchId: input.batchId,
            outcomes: input.rows.map((r) => ({ requestId: r.requestId, status: 'committed', batchId: input.batchId })),
            statements: 4,
            durationMs: 1,
            repliesUndeliverable: 0,
          };
        },
        deliverAnswers: async (a: unknown[]) => ({ delivered: a.length, undeliverable: 0 }),
      },
    });
    // Requests as batchedWrite sends them (typed rows, reply addresses bound to the requester); the
    // second group also holds one the shard refuses (an answer for the delivery activity).
    const group = (tag: string): WriteRequest[] => {
      const requests = demoRequests(7, tag);
      if (tag === 'b') requests.push({ ...demoRequests(1, 'refused')[0]!, table: 'no such; table' });
      return requests;
    };
    const send = (tag: string) =>
      env.client.workflow.signalWithStart(BATCHER_WORKFLOW_TYPE, {
        workflowId,
        taskQueue,
        args: [{ shard: 0 }],
        signal: submitWritesSignal,
        signalArgs: [group(tag)],
      });
    try {
      await worker.runUntil(async () => {
        const first = await send('a');
        // A signal of a name the shard does not know: dropped by its default handler.
        await env.client.workflow.getHandle(workflowId).signal('submitWritesUnknown', group('x'));
        for (const tag of ['b', 'c', 'd']) await send(tag);
        await waitUntil(
          'the run continued as new',
          async () => (await env.client.workflow.getHandle(workflowId).query(batcherStatsQuery)).continueAsNewCount >= 1,
          { timeoutMs: 60_000 },
        );
        const history = await env.client.workflow.getHandle(workflowId, first.signaledRunId).fetchHistory();
        expect(history.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
        fs.writeFileSync(
          path.join(__dirname, 'fixtures', path.basename(fixture!)),
          temporal.api.history.v1.History.encode(temporal.api.history.v1.History.fromObject(history)).finish(),
        );
        await env.client.workflow.getHandle(workflowId).terminate('recorded');
      });
    } finally {
      await env.teardown();
    }
  });
});

describe.runIf(resetFixture)('record a reset batcher history (runs only when RECORD_BATCHER_RESET_HISTORY names a fixture)', () => {
  it('runs one shard through several batches and a group past its per-task limit, resets it to a task in the middle, and saves the reset run', async () => {
    const { address, namespace } = globalTemporal();
    const connection = await NativeConnection.connect({ address });
    const client = new Client({ connection, namespace });
    const taskQueue = `record-reset-${randomUUID()}`;
    const workflowId = `batcher-record-reset-${randomUUID().slice(0, 8)}`;
    const workers = await createStandInWorkers({
      connection,
      namespace,
      taskQueue,
      workflowsPath: process.env.BATCHER_WORKFLOWS_PATH ?? workflowsPath,
      ...BATCHER_SANDBOX_OPTIONS,
      activities: standIns({ maxBatchSize: 5, flushIntervalMs: 500, maxRequestsPerTask: 10, continueAsNewSignals: 1000 }),
    });
    const send = (requests: WriteRequest[]) =>
      client.workflow.signalWithStart(BATCHER_WORKFLOW_TYPE, {
        workflowId,
        taskQueue,
        args: [{ shard: 0 }],
        signal: submitWritesSignal,
        signalArgs: [requests],
      });
    const drained = (runId: string | undefined, what: string) =>
      waitUntil(
        what,
        async () => {
          const stats = await client.workflow.getHandle(workflowId, runId).query(batcherStatsQuery);
          return stats.pending === 0 && stats.writesInFlight === 0 && stats.batchesWritten > 0;
        },
        { timeoutMs: 60_000 },
      );
    try {
      await workers.runUntil(async () => {
        const first = await send(demoRequests(7, 'a'));
        await drained(first.signaledRunId, 'the first group written');
        for (const tag of ['b', 'c', 'd']) {
          await send(demoRequests(7, tag));
          await drained(first.signaledRunId, `group ${tag} written`);
        }
        await send(demoRequests(25, 'over')); // past the per-task limit of 10: two more tasks take it in
        await drained(first.signaledRunId, 'the group past the limit written');
        const base = await client.workflow.getHandle(workflowId, first.signaledRunId).fetchHistory();
        const completed = (base.events ?? []).filter(
          (e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
        );
        const point = completed[Math.floor(completed.length / 2)]!;
        const { runId } = await client.workflowService.resetWorkflowExecution({
          namespace,
          workflowExecution: { workflowId, runId: first.signaledRunId },
          workflowTaskFinishEventId: point.eventId,
          requestId: randomUUID(),
          reason: 'recording a reset history',
        });
        await send(demoRequests(7, 'after'));
        await drained(runId, 'the reset run wrote on');
        const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
        const failed = (history.events ?? []).flatMap((e) => e.workflowTaskFailedEventAttributes ?? []);
        expect(failed.map((f) => f.cause)).toEqual([
          temporal.api.enums.v1.WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW,
        ]);
        fs.writeFileSync(
          path.join(__dirname, 'fixtures', path.basename(resetFixture!)),
          temporal.api.history.v1.History.encode(temporal.api.history.v1.History.fromObject(history)).finish(),
        );
        await client.workflow.getHandle(workflowId).terminate('recorded');
      });
    } finally {
      await connection.close();
    }
  });
});

describe.runIf(unitsFixture)(
  'record a batcher history with a unit and a settings reload (runs only when RECORD_BATCHER_UNITS_HISTORY names a fixture)',
  () => {
    it('runs one shard through a unit and a plain request, then a settings announcement, and saves the run', async () => {
      const env = await TestWorkflowEnvironment.createTimeSkipping({
        server: { executable: { type: 'existing-path', path: timeSkippingServerPath() } },
      });
      const taskQueue = `record-${randomUUID()}`;
      const workflowId = `batcher-record-units-${randomUUID().slice(0, 8)}`;
      const worker = await createStandInWorkers({
        connection: env.nativeConnection,
        taskQueue,
        workflowsPath: process.env.BATCHER_WORKFLOWS_PATH ?? workflowsPath,
        ...BATCHER_SANDBOX_OPTIONS,
        activities: standIns({ maxBatchSize: 5, flushIntervalMs: 1000 }),
      });
      const [plain, unit] = demoRequests(2, 'u') as [WriteRequest, WriteRequest];
      unit.moreRows = [
        { table: 'batched_writes', row: plain.row },
        { table: 'demo_orders', row: { order_id: 'o-1', amount_cents: '5', currency: 'EUR' } },
      ];
      try {
        await worker.runUntil(async () => {
          const first = await env.client.workflow.signalWithStart(BATCHER_WORKFLOW_TYPE, {
            workflowId,
            taskQueue,
            args: [{ shard: 0 }],
            signal: submitWritesSignal,
            signalArgs: [[unit, plain]],
          });
          const handle = env.client.workflow.getHandle(workflowId);
          await waitUntil('the batch was written', async () => (await handle.query(batcherStatsQuery)).batchesWritten >= 1, {
            timeoutMs: 60_000,
          });
          await handle.signal(settingsChangedSignal, 'another-fingerprint');
          const run = env.client.workflow.getHandle(workflowId, first.signaledRunId);
          await waitUntil('the run continued as new', async () => (await run.describe()).status.name === 'CONTINUED_AS_NEW', {
            timeoutMs: 60_000,
          });
          const history = await run.fetchHistory();
          expect(history.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
          fs.writeFileSync(
            path.join(__dirname, 'fixtures', path.basename(unitsFixture!)),
            temporal.api.history.v1.History.encode(temporal.api.history.v1.History.fromObject(history)).finish(),
          );
          await handle.terminate('recorded');
        });
      } finally {
        await env.teardown();
      }
    });
  },
);
