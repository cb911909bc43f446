// How the submit activity (awaitBatchedWrite) treats Temporal's refusals of its signal, in the SDK's
// activity environment. The client is a stand-in that refuses every signal with the error the server
// sends: reaching a shard's real limit takes a run of 10,000 signals, and what is under test is only
// the classification — a refusal that lasts until the shard continues as new is retried, one that
// no retry can change fails typed at once.
import { Metadata } from '@grpc/grpc-js';
import { ServiceError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { BatcherErrorTypes, awaitActivityIdFor, type AwaitWriteInput } from '@write-batcher/protocol';
import type { Pool } from '@batcher/service-kit';
import { createSubmitActivities, isSignalLimitRefusal, type Catalog } from '@write-batcher/batcher/testing';
import { demoRow } from './pipeline';

/** The error the TypeScript client raises when the server answers signal-with-start with `details`. */
function refusal(code: number, details: string): ServiceError {
  const grpc = Object.assign(new Error(`${code} ${code === 3 ? 'INVALID_ARGUMENT' : 'UNKNOWN'}: ${details}`), {
    code,
    details,
    metadata: new Metadata(),
  });
  return new ServiceError('Failed to signalWithStart Workflow', { cause: grpc });
}

async function submitAgainst(err: ServiceError): Promise<unknown> {
  const client = { workflow: { signalWithStart: () => Promise.reject(err) } } as unknown as Client;
  const activities = createSubmitActivities({
    client,
    pool: {} as Pool, // never reached: the submission fails first
    // The demo table's columns are not what is under test: every row is taken.
    catalog: { problem: () => undefined, freshProblem: () => Promise.resolve(undefined) } as unknown as Catalog,
    routing: { shards: 1, taskQueue: 'batcher', workflowIdPrefix: 'batcher' },
    submit: { lingerMs: 0, maxRequests: 500 },
  });
  const requestId = 'write:refusals-1';
  const input: AwaitWriteInput = { requestId, table: 'batched_writes', row: demoRow({ n: 1 }), submittedAtMs: 0 };
  // The activity runs on the batcher's task queue, scheduled by batchedWrite in the requester's workflow.
  const env = new MockActivityEnvironment({
    activityId: awaitActivityIdFor(requestId),
    workflowExecution: { workflowId: 'refusals-1', runId: '00000000-0000-4000-8000-000000000000' },
  });
  return env
    .run((i: AwaitWriteInput) => activities.awaitBatchedWrite(i), input)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
}

describe('submission refusals', () => {
  it('when a shard is at its per-run signal limit, then the attempt fails retryably (the shard continues as new)', async () => {
    const err = refusal(3, 'exceeded workflow execution limit for signal events');
    expect(isSignalLimitRefusal(err)).toBe(true);
    const thrown = await submitAgainst(err);
    expect(thrown).toBe(err);
    expect(thrown).not.toBeInstanceOf(ApplicationFailure);
  });

  it('when Temporal refuses the signal for good, then the write fails at once as WriteSubmissionFailed', async () => {
    const err = refusal(3, 'signal input size is over 256K');
    expect(isSignalLimitRefusal(err)).toBe(false);
    const thrown = await submitAgainst(err);
    expect(thrown).toBeInstanceOf(ApplicationFailure);
    expect(thrown).toMatchObject({ type: BatcherErrorTypes.SubmissionFailed, nonRetryable: true });
    expect((thrown as Error).message).toMatch(/signal input size is over 256K/);
  });
});
