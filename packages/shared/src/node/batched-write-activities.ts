// The activities behind `batchedWrite()` (../workflow/batched-write.ts), for any requester's worker:
// hand a request to its shard and wait for the batcher to complete the activity, settle an id
// against the table, and the worker's own defaults.
import { status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { CompleteAsyncError, activityInfo } from '@temporalio/activity';
import { isGrpcServiceError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  BATCHER_WORKFLOW_TYPE,
  BatcherErrorTypes,
  jsonBytes,
  rowProblem,
  shardFor,
  type AwaitWriteInput,
  type BatchedWriteActivities,
  type SettleWriteInput,
  type SettleWriteResult,
  type TraceCarrier,
  type WriteOutcome,
  type WriteRequest,
} from '../workflow';
import { isBatcherWorkflowId, signalWithStartBatcher, type BatcherConfig } from './batchers';
import type { Config } from './config';
import type { Pool } from './mysql';
import { SubmitGroups } from './submit-groups';
import { claimAbandoned } from './writes-table';

/** gRPC codes that no retry can change: the request or the configuration is wrong. */
const PERMANENT = new Set([grpcStatus.INVALID_ARGUMENT, grpcStatus.PERMISSION_DENIED, grpcStatus.UNAUTHENTICATED, grpcStatus.UNIMPLEMENTED]);

/** The largest submit signal a worker sends, in JSON bytes (Temporal refuses a payload over 2 MB). */
const MAX_GROUP_BYTES = 512 * 1024;

/** MySQL errors caused by the statement's own data (an id too long for its column...). */
const DATA_ERRNOS = new Set([1048, 1264, 1292, 1300, 1366, 1406]);

export interface BatchedWriteDeps {
  client: Client;
  pool: Pool;
  batcher: BatcherConfig;
  requester: Pick<Config<'main'>['main'], 'confirmationTimeoutMs' | 'submitAttemptTimeoutMs' | 'submitLingerMs' | 'submitGroupMaxRequests'>;
  /** The active trace context, so the batch links the requester's trace. */
  traceCarrier?: () => TraceCarrier;
}

/**
 * A refusal that lasts only until the shard continues as new: Temporal takes at most 10,000 signals
 * per run (by default) and answers the next with INVALID_ARGUMENT. The batcher continues as new in
 * the next pause, so the attempt is retried like any transient failure.
 */
export function isSignalLimitRefusal(err: unknown): boolean {
  const grpc = grpcErrorOf(err);
  return grpc?.code === grpcStatus.INVALID_ARGUMENT && String(grpc.details).includes('limit for signal events');
}

/** The gRPC error behind a client error (the client wraps it as a ServiceError's cause). */
function grpcErrorOf(err: unknown): ServiceError | undefined {
  if (isGrpcServiceError(err)) return err;
  const cause = (err as Error | undefined)?.cause;
  return isGrpcServiceError(cause) ? cause : undefined;
}

export function createBatchedWriteActivities(deps: BatchedWriteDeps): BatchedWriteActivities & { batchedWriteDefaults(): Promise<{ timeoutMs: number; attemptTimeoutMs: number }> } {
  /** Runs of each shard already checked to be batchers (a workflow of another type may hold the id). */
  const verifiedRuns = new Map<number, string>();

  const groups = new SubmitGroups<number, WriteRequest>(
    async (shard, requests) => {
      const { workflowId, runId } = await signalWithStartBatcher(deps.client, deps.batcher, shard, requests);
      if (verifiedRuns.get(shard) === runId) return;
      const { type } = await deps.client.workflow.getHandle(workflowId, runId).describe();
      if (type !== BATCHER_WORKFLOW_TYPE) {
        throw ApplicationFailure.create({
          type: BatcherErrorTypes.SubmissionFailed,
          message: `workflow id ${workflowId} is held by a ${type} workflow, not a batcher: shard ${shard} cannot take requests until it ends`,
          nonRetryable: true,
        });
      }
      verifiedRuns.set(shard, runId);
    },
    { lingerMs: deps.requester.submitLingerMs, maxRequests: deps.requester.submitGroupMaxRequests, maxBytes: MAX_GROUP_BYTES },
  );

  return {
    async batchedWriteDefaults() {
      return { timeoutMs: deps.requester.confirmationTimeoutMs, attemptTimeoutMs: deps.requester.submitAttemptTimeoutMs };
    },

    async awaitBatchedWrite(input: AwaitWriteInput): Promise<WriteOutcome> {
      const problem = rowProblem(input.requestId, input.requesterWorkflowId, input.payload);
      if (problem !== undefined) {
        throw ApplicationFailure.create({ type: BatcherErrorTypes.InvalidRequest, message: problem, nonRetryable: true });
      }
      if (isBatcherWorkflowId(deps.batcher, input.requesterWorkflowId)) {
        throw ApplicationFailure.create({
          type: BatcherErrorTypes.InvalidRequest,
          message: `requester workflow id ${input.requesterWorkflowId} is a batcher's id (${deps.batcher.workflowIdPrefix}-<n>); choose another id`,
          nonRetryable: true,
        });
      }
      const shard = shardFor(input.requestId, deps.batcher.shards);
      const request: WriteRequest = { ...input, reply: { ...input.reply, activityId: activityInfo().activityId }, trace: deps.traceCarrier?.() };
      try {
        await groups.submit(shard, request, jsonBytes(request));
      } catch (err) {
        if (err instanceof ApplicationFailure) throw err;
        const grpc = grpcErrorOf(err);
        if (grpc !== undefined && PERMANENT.has(grpc.code) && !isSignalLimitRefusal(err)) {
          throw ApplicationFailure.create({
            type: BatcherErrorTypes.SubmissionFailed,
            message: `Temporal refused the submission to shard ${shard}: ${(err as Error).message}${grpc !== err ? ` (${grpc.details})` : ''}`,
            nonRetryable: true,
            cause: err as Error,
          });
        }
        // Unreachable server, deadline, a shard at its signal limit: this attempt fails and Temporal
        // retries it, within the write's deadline.
        throw err;
      }
      // The batcher completes this activity by its id once the row is written (or refused).
      throw new CompleteAsyncError();
    },

    async settleBatchedWrite(input: SettleWriteInput): Promise<SettleWriteResult> {
      const shard = shardFor(input.requestId, deps.batcher.shards);
      try {
        return { ...(await claimAbandoned(deps.pool, { ...input, shard })), shard };
      } catch (err) {
        const errno = (err as { errno?: number }).errno;
        if (errno !== undefined && DATA_ERRNOS.has(errno)) {
          // The id itself does not fit the table: it can never be written, and retrying cannot help.
          throw ApplicationFailure.create({ type: BatcherErrorTypes.InvalidRequest, message: `request id cannot be stored: ${(err as Error).message}`, nonRetryable: true });
        }
        throw err;
      }
    },
  };
}
