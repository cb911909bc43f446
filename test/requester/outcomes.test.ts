// What batchedWrite reports, with the batcher side replaced by stand-in activities on the
// time-skipping test server: every negative answer is settled in the ledger first (the stand-in
// settle says what the ledger holds), and a deadline that passed is a WriteConfirmationTimeout
// whatever the TimeoutFailure (or retry state) that carried it. No database, no batcher workflow.
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { CompleteAsyncError } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatcherErrorTypes, type AwaitWriteInput, type SettleWriteResult } from '@write-batcher/protocol';
import { timeSkippingServerPath } from '../support/temporal';
import { waitUntil } from '../support/processes';
import type { WriteResult } from '../pipeline/fixtures/row-workflows';

try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // Installed already in this process.
}

const workflowsPath = path.join(__dirname, '..', 'pipeline', 'fixtures', 'row-workflows.ts');
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: timeSkippingServerPath() } },
  });
});
afterAll(async () => {
  await env?.teardown();
});

/** How one stand-in batcher answers: what each awaitBatchedWrite attempt does, and what the ledger says at settle time. */
interface Script {
  /** `call`: 1 for the first awaitBatchedWrite task this write ran, 2 for the next (a retry or a new activity)... */
  attempt: (input: AwaitWriteInput, call: number) => Promise<unknown>;
  ledger: SettleWriteResult;
}

interface Calls {
  attempts: number;
  settles: number;
}

function standIn(script: Script, calls: Calls) {
  return {
    async awaitBatchedWrite(input: AwaitWriteInput): Promise<unknown> {
      return script.attempt(input, ++calls.attempts);
    },
    async settleBatchedWrite(): Promise<SettleWriteResult> {
      calls.settles++;
      return script.ledger;
    },
  };
}

const ROW = { payload: { n: 1 } };
const committedIn = (batchId: string): SettleWriteResult => ({ status: 'committed', batchId, shard: 0 });
const claimedNow: SettleWriteResult = { status: 'abandoned', shard: 0 };
const refusal = (type: string, message: string) => ApplicationFailure.create({ type, message, nonRetryable: true });

/**
 * Runs one write (timeout = attemptTimeout = timeoutMs) against the stand-in. With `lateBatcher`,
 * no worker serves the batcher's queue until the write's activity has timed out: nothing ever starts it.
 */
async function write(
  script: Script,
  timeoutMs: number,
  lateBatcher = false,
): Promise<{ result: WriteResult; calls: Calls; timeoutTypes: string[] }> {
  const id = randomUUID().slice(0, 8);
  const batcherQueue = `batcher-${id}`;
  const calls: Calls = { attempts: 0, settles: 0 };
  const requesterWorker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: `requester-${id}`,
    workflowsPath,
  });
  const batcherWorker = () =>
    Worker.create({
      connection: env.nativeConnection,
      taskQueue: batcherQueue,
      activities: standIn(script, calls),
      shutdownGraceTime: 200,
    });
  const workflowId = `outcome-${id}`;
  const run = async () => {
    const handle = await env.client.workflow.start('writeRowsWorkflow', {
      taskQueue: `requester-${id}`,
      workflowId,
      args: [{ rows: [{ table: 'batched_writes', row: ROW, requestId: `write:${workflowId}` }], taskQueue: batcherQueue, timeoutMs }],
    });
    if (lateBatcher) {
      // Time passes with no batcher worker: the activity is never started, and times out.
      await env.sleep(timeoutMs + 2_000);
      await waitUntil('the write activity timed out', async () =>
        ((await handle.fetchHistory()).events ?? []).some((e) => e.activityTaskTimedOutEventAttributes),
      );
      return (await batcherWorker()).runUntil(handle.result());
    }
    return (await batcherWorker()).runUntil(handle.result());
  };
  const [result] = (await requesterWorker.runUntil(run())) as WriteResult[];
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  const timeoutTypes = (history.events ?? [])
    .map((e) => e.activityTaskTimedOutEventAttributes?.failure?.timeoutFailureInfo?.timeoutType)
    .filter((t) => t !== undefined && t !== null)
    .map(String);
  return { result: result as WriteResult, calls, timeoutTypes };
}

describe('batchedWrite: a deadline that passed is a WriteConfirmationTimeout', () => {
  it('when no batcher worker ever picks the write up before its deadline, then it is WriteConfirmationTimeout, settled once, never started', async () => {
    const { result, calls, timeoutTypes } = await write(
      { attempt: () => Promise.reject(new Error('never started')), ledger: claimedNow },
      30_000,
      true,
    );
    console.log('timeout types in history:', timeoutTypes);
    expect(result.errorType).toBe(BatcherErrorTypes.ConfirmationTimeout);
    expect(calls).toEqual({ attempts: 0, settles: 1 });
    expect(timeoutTypes.length).toBe(1);
  });

  it('when the last attempt waits for an answer past the deadline, then it is WriteConfirmationTimeout', async () => {
    const { result, calls } = await write({ attempt: () => Promise.reject(new CompleteAsyncError()), ledger: claimedNow }, 5_000);
    expect(result.errorType).toBe(BatcherErrorTypes.ConfirmationTimeout);
    expect(calls.attempts).toBeGreaterThanOrEqual(1);
    expect(calls.settles).toBe(1);
  });

  it('when every attempt fails untyped until no retry fits before the deadline, then it is WriteConfirmationTimeout, not WriteSubmissionFailed', async () => {
    const { result, calls } = await write({ attempt: () => Promise.reject(new Error('batcher worker lost')), ledger: claimedNow }, 8_000);
    expect(result.errorType).toBe(BatcherErrorTypes.ConfirmationTimeout);
    expect(calls.attempts).toBeGreaterThanOrEqual(2);
    expect(calls.settles).toBe(1);
  });

  it('when the batcher side refuses the submission typed, then it is WriteSubmissionFailed with its message', async () => {
    const { result } = await write(
      { attempt: () => Promise.reject(refusal(BatcherErrorTypes.SubmissionFailed, 'Temporal refused the submission')), ledger: claimedNow },
      30_000,
    );
    expect(result.errorType).toBe(BatcherErrorTypes.SubmissionFailed);
    expect(result.message).toContain('Temporal refused the submission');
  });

  it('when the ledger says committed after the deadline, then the commit is reported (settledAfter timeout)', async () => {
    const { result } = await write({ attempt: () => Promise.reject(new CompleteAsyncError()), ledger: committedIn('b-late') }, 5_000);
    expect(result).toMatchObject({ status: 'committed', batchId: 'b-late', settledAfter: 'timeout' });
  });
});

describe('batchedWrite: the ledger decides every negative answer', () => {
  const every = [
    BatcherErrorTypes.Conflict,
    BatcherErrorTypes.Abandoned,
    BatcherErrorTypes.InvalidRequest,
    BatcherErrorTypes.DataRejected,
    BatcherErrorTypes.KeyExists,
    BatcherErrorTypes.Overloaded,
    BatcherErrorTypes.SubmissionFailed,
    BatcherErrorTypes.ConfirmationTimeout,
  ];

  it('when any refusal arrives but the ledger holds the row committed, then the commit is reported (settledAfter failure)', async () => {
    for (const type of every) {
      const { result, calls } = await write(
        { attempt: () => Promise.reject(refusal(type, `told ${type}`)), ledger: committedIn('b-1') },
        60_000,
      );
      expect({ type, result }).toMatchObject({ type, result: { status: 'committed', batchId: 'b-1', settledAfter: 'failure' } });
      expect({ type, settles: calls.settles }).toEqual({ type, settles: 1 });
    }
  }, 240_000);

  it('when WriteConflict or WriteAbandoned arrives but the ledger held nothing (this settle claimed the id), then it is WriteAbandoned, saying so', async () => {
    for (const type of [BatcherErrorTypes.Conflict, BatcherErrorTypes.Abandoned]) {
      const { result } = await write(
        { attempt: () => Promise.reject(refusal(type, 'its request id was already used')), ledger: claimedNow },
        60_000,
      );
      expect(result.errorType).toBe(BatcherErrorTypes.Abandoned);
      expect(result.message).toContain(`was answered ${type}, but the ledger held no entry for its id`);
    }
  });

  it('when a refusal of the row (data, key, capacity) is borne out by the ledger, then its own type and message are reported', async () => {
    const { result } = await write(
      { attempt: () => Promise.reject(refusal(BatcherErrorTypes.DataRejected, 'Data too long')), ledger: claimedNow },
      60_000,
    );
    expect(result).toMatchObject({ errorType: BatcherErrorTypes.DataRejected, message: 'Data too long' });
  });

  it('when the ledger says the id was committed for another row, then it is WriteConflict', async () => {
    const { result } = await write(
      {
        attempt: () => Promise.reject(refusal(BatcherErrorTypes.DataRejected, 'x')),
        ledger: {
          ...committedIn('b-2'),
          conflict: 'its request id was already used for a different row (other values); the row written first stays',
        },
      },
      60_000,
    );
    expect(result.errorType).toBe(BatcherErrorTypes.Conflict);
  });

  it('when the id was claimed by an earlier write, then it is WriteAbandoned naming a refusal, a timeout or a cancellation', async () => {
    const { result } = await write(
      { attempt: () => Promise.reject(refusal(BatcherErrorTypes.Overloaded, 'full')), ledger: { ...claimedNow, abandonedEarlier: true } },
      60_000,
    );
    expect(result.errorType).toBe(BatcherErrorTypes.Abandoned);
    expect(result.message).toContain('refused, timed out or was cancelled');
  });

  it('when the answer is not a write outcome (a completion from outside with garbage), then it is settled: not written → WriteSubmissionFailed, committed → the commit', async () => {
    for (const garbage of [
      'garbage',
      { status: 'committed' },
      { requestId: 'write:other', table: 'batched_writes', status: 'committed' },
      null,
    ]) {
      const lost = await write({ attempt: () => Promise.resolve(garbage), ledger: claimedNow }, 60_000);
      expect({ garbage, type: lost.result.errorType }).toEqual({ garbage, type: BatcherErrorTypes.SubmissionFailed });
      const found = await write({ attempt: () => Promise.resolve(garbage), ledger: committedIn('b-3') }, 60_000);
      expect({ garbage, result: found.result }).toMatchObject({ garbage, result: { status: 'committed', batchId: 'b-3' } });
    }
  }, 240_000);

  it('when the shard answers a conflict with a request still queued under the id, then the write asks again (no claim that would abandon the first)', async () => {
    const { result, calls } = await write(
      {
        attempt: (input, call) =>
          call === 1
            ? Promise.reject(
                refusal(
                  BatcherErrorTypes.Conflict,
                  `request id ${input.requestId} is already queued with a different table or row; the first one stays`,
                ),
              )
            : Promise.resolve({ requestId: input.requestId, table: input.table, status: 'duplicate', batchId: 'b-4', shard: 0 }),
        ledger: claimedNow,
      },
      60_000,
    );
    expect(result).toMatchObject({ status: 'duplicate', batchId: 'b-4' });
    expect(calls).toEqual({ attempts: 2, settles: 0 });
  });
});
