// `batchedWrite()`: the requester side of the batcher, for any workflow. One row in, a typed outcome
// out, and a definite answer on every path: before it reports "not written", the row's id is claimed
// as abandoned in the table, so the row can never appear later.
//
// Its worker must register the activities of `createBatchedWriteActivities` (@batcher/shared/node).
import { TimeoutType, type Duration } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time';
import {
  ApplicationFailure,
  CancellationScope,
  TimeoutFailure,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  workflowInfo,
} from '@temporalio/workflow';
import { BatcherErrorTypes, type BatcherErrorType } from './errors';
import { MAX_REQUESTER_WORKFLOW_ID_BYTES, MAX_REQUEST_ID_BYTES, idProblem, measurePayload } from './limits';
import type { ReplyAddress, TraceCarrier, WriteOutcome } from './messages';
import { requestIdFor } from './routing';

/** Input of the waiting activity: the request, minus what the activity adds itself. */
export interface AwaitWriteInput {
  requestId: string;
  requesterWorkflowId: string;
  payload: Record<string, unknown>;
  submittedAtMs: number;
  reply: Omit<ReplyAddress, 'activityId'> & { activityId: string };
  trace?: TraceCarrier;
}

/** Input of the settle step: which id to claim. */
export interface SettleWriteInput {
  requestId: string;
  requesterWorkflowId: string;
}

export interface SettleWriteResult {
  /** committed: the row is in the table (written by a batch); abandoned: the claim won, it never will be. */
  status: 'committed' | 'abandoned';
  batchId?: string;
  /** The shard that owns the id. */
  shard: number;
}

/** The activities `batchedWrite` calls; implemented by `createBatchedWriteActivities`. */
export interface BatchedWriteActivities {
  /** Hands the request to its shard and waits (completed asynchronously by the batcher) for its outcome. */
  awaitBatchedWrite(input: AwaitWriteInput): Promise<WriteOutcome>;
  /** Claims the id as abandoned, or finds the row committed. Idempotent. */
  settleBatchedWrite(input: SettleWriteInput): Promise<SettleWriteResult>;
  /** The worker's configured timeouts (CONFIRMATION_TIMEOUT_MS, SUBMIT_ATTEMPT_TIMEOUT_MS), read as a local activity. */
  batchedWriteDefaults(): Promise<{ timeoutMs: number; attemptTimeoutMs: number }>;
}

export interface BatchedWriteOptions {
  /**
   * Give up waiting after this long; the id is then settled against the table.
   * @default the worker's CONFIRMATION_TIMEOUT_MS (2 minutes)
   */
  timeout?: Duration;
  /**
   * One submission attempt waits this long before it is sent again (covers a worker that died
   * holding the request, or a shard that lost it). Capped at `timeout`.
   * @default the worker's SUBMIT_ATTEMPT_TIMEOUT_MS (60 seconds)
   */
  attemptTimeout?: Duration;
  /** The request id; it must be unique per row. @default `write:<workflow id>` */
  requestId?: string;
  /** Task queue of the worker that runs the activities. @default the workflow's own task queue */
  taskQueue?: string;
}

export interface BatchedWriteResult extends WriteOutcome {
  /** ms from submission to the outcome, as the workflow saw it. */
  latencyMs: number;
  /** Set when the outcome came from the settle step (timeout, cancellation, refused submission). */
  settledAfter?: 'timeout' | 'cancellation' | 'failure';
}

/** An ApplicationFailure of one of the batcher's types, non-retryable. */
export function writeFailure(type: BatcherErrorType, message: string, details?: unknown, cause?: Error): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, details: details === undefined ? undefined : [details], cause });
}

/** Why a row cannot be handed to a batcher at all, or undefined. Same checks the batcher makes. */
export function rowProblem(requestId: unknown, requesterWorkflowId: unknown, payload: unknown): string | undefined {
  return (
    idProblem('requester workflow id', requesterWorkflowId, MAX_REQUESTER_WORKFLOW_ID_BYTES) ??
    idProblem('request id', requestId, MAX_REQUEST_ID_BYTES) ??
    payloadProblem(payload)
  );
}

function payloadProblem(payload: unknown): string | undefined {
  const measured = measurePayload(payload);
  return 'problem' in measured ? measured.problem : undefined;
}

/** The innermost ApplicationFailure type of an activity failure, and whether its deadline passed. */
function failureType(err: unknown): { type?: string; message: string; timeout: boolean } {
  let cause: unknown = err;
  let timeout = false;
  while (cause instanceof Error) {
    if (cause instanceof TimeoutFailure && cause.timeoutType === TimeoutType.SCHEDULE_TO_CLOSE) timeout = true;
    if (cause instanceof ApplicationFailure && cause.type) return { type: cause.type, message: cause.message, timeout };
    cause = cause.cause;
  }
  return { message: err instanceof Error ? err.message : String(err), timeout };
}

function toMs(what: string, d: Duration | undefined, fallback: number): number {
  if (d === undefined) return fallback;
  try {
    return msToNumber(d);
  } catch {
    throw writeFailure(BatcherErrorTypes.InvalidRequest, `${what} ${JSON.stringify(d)} is not a duration such as "30 seconds" or 30000`);
  }
}

/**
 * Writes one row through the batcher and returns once it is committed (or was already).
 * Throws a non-retryable ApplicationFailure of a {@link BatcherErrorTypes} type when the row is
 * not written, and only after the id was claimed in the table, so it never appears later:
 * InvalidWriteRequest, BatcherOverloaded, WriteDataRejected, WriteConfirmationTimeout,
 * WriteSubmissionFailed. On cancellation it settles the same way, then rethrows the cancellation
 * (or returns the outcome when the row turned out to be committed).
 */
export async function batchedWrite(payload: Record<string, unknown>, options: BatchedWriteOptions = {}): Promise<BatchedWriteResult> {
  const info = workflowInfo();
  const requestId = options.requestId ?? requestIdFor(info.workflowId);
  const problem = rowProblem(requestId, info.workflowId, payload);
  if (problem !== undefined) throw writeFailure(BatcherErrorTypes.InvalidRequest, `write ${requestId.slice(0, 80)} cannot be accepted: ${problem}`);
  const taskQueue = options.taskQueue ?? info.taskQueue;
  // The worker owns the defaults: read them (one local activity) only when the caller gave none.
  const defaults =
    options.timeout === undefined || options.attemptTimeout === undefined
      ? await proxyLocalActivities<BatchedWriteActivities>({ startToCloseTimeout: '10 seconds' }).batchedWriteDefaults()
      : undefined;
  const timeoutMs = toMs('timeout', options.timeout, defaults?.timeoutMs ?? 0);
  const attemptMs = Math.min(timeoutMs, toMs('attemptTimeout', options.attemptTimeout, defaults?.attemptTimeoutMs ?? 0));
  if (!(Number.isFinite(timeoutMs) && timeoutMs >= 1000 && timeoutMs <= 7 * 24 * 3_600_000) || !(attemptMs >= 1000)) {
    throw writeFailure(BatcherErrorTypes.InvalidRequest, `timeout must be between 1 second and 7 days, got ${timeoutMs} ms`);
  }
  // A fixed activity id lets the batcher complete whichever attempt is current, by id.
  const activityId = `batched-write:${requestId}`.slice(0, 300);
  const { awaitBatchedWrite } = proxyActivities<BatchedWriteActivities>({
    taskQueue,
    activityId,
    scheduleToCloseTimeout: timeoutMs,
    startToCloseTimeout: attemptMs,
    // Transient failures (Temporal unreachable) are retried until the deadline; the typed refusals
    // (InvalidWriteRequest, BatcherOverloaded, WriteDataRejected...) are non-retryable.
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds' },
  });
  const { settleBatchedWrite } = proxyActivities<BatchedWriteActivities>({
    taskQueue,
    startToCloseTimeout: '30 seconds',
    // Must eventually succeed: until it does, the workflow cannot know whether its row exists.
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', nonRetryableErrorTypes: [BatcherErrorTypes.InvalidRequest] },
  });

  const submittedAtMs = Date.now();
  const reply = { workflowId: info.workflowId, runId: info.runId, activityId };
  try {
    const outcome = await awaitBatchedWrite({ requestId, requesterWorkflowId: info.workflowId, payload, submittedAtMs, reply });
    return { ...outcome, latencyMs: Date.now() - submittedAtMs };
  } catch (err) {
    const cancelled = isCancellation(err);
    const why = failureType(err);
    // Settle whatever stopped the write: claim the id, or find the row committed.
    const settled = await CancellationScope.nonCancellable(() => settleBatchedWrite({ requestId, requesterWorkflowId: info.workflowId }));
    const latencyMs = Date.now() - submittedAtMs;
    if (settled.status === 'committed') {
      return {
        requestId,
        status: 'committed',
        batchId: settled.batchId,
        shard: settled.shard,
        latencyMs,
        settledAfter: cancelled ? 'cancellation' : why.timeout ? 'timeout' : 'failure',
      };
    }
    if (cancelled) throw err;
    const details = { requestId, shard: settled.shard, settled: 'abandoned' };
    const isOurs = why.type !== undefined && (Object.values(BatcherErrorTypes) as string[]).includes(why.type);
    if (isOurs && why.type !== BatcherErrorTypes.DatabaseUnavailable) {
      throw writeFailure(why.type as BatcherErrorType, why.message, details, err as Error);
    }
    if (why.timeout) {
      throw writeFailure(BatcherErrorTypes.ConfirmationTimeout, `no outcome for write ${requestId} within ${timeoutMs} ms; its id is claimed as abandoned and it will never be written`, details, err as Error);
    }
    throw writeFailure(BatcherErrorTypes.SubmissionFailed, `write ${requestId} could not be handed to a batcher: ${why.message}; its id is claimed as abandoned and it will never be written`, details, err as Error);
  }
}
