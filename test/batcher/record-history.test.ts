// Records a batcher history for test/batcher/replay.test.ts (skipped unless RECORD_BATCHER_HISTORY
// names the fixture to write). The baseline fixture was recorded with
//   RECORD_BATCHER_HISTORY=batcher-history-baseline.bin node_modules/.bin/vitest run test/batcher/record-history.test.ts
// A later change that needs `patched()` records a fixture of its own from its code and keeps the
// baseline, so the workflow must replay both (BATCHER_WORKFLOWS_PATH=<dir>/index.ts records from
// another copy of the workflow code).
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { BATCHER_WORKFLOW_TYPE, submitWritesSignal, type WriteRequest } from '@write-batcher/protocol';
import {
  BATCHER_SANDBOX_OPTIONS,
  DEFAULT_BATCHER_SETTINGS,
  batcherStatsQuery,
  workflowsPath,
  type BulkWriteInput,
  type BulkWriteResult,
} from '@write-batcher/batcher';
import { waitUntil } from '../support/processes';
import { demoRequests } from '../support/requests';
import { timeSkippingServerPath } from '../support/temporal';

const fixture = process.env.RECORD_BATCHER_HISTORY;

describe.runIf(fixture)('record a batcher history (runs only when RECORD_BATCHER_HISTORY names a fixture)', () => {
  it('runs one shard to its continue-as-new with writes in flight and saves the run', async () => {
    const env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: timeSkippingServerPath() } },
    });
    const taskQueue = `record-${randomUUID()}`;
    const workflowId = `batcher-record-${randomUUID().slice(0, 8)}`;
    const worker = await Worker.create({
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
