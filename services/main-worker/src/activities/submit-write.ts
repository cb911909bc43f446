// Hands a write request to its batcher shard with signal-with-start, so a stopped shard is started.
import { status } from '@grpc/grpc-js';
import { isGrpcServiceError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { BatcherErrorTypes, shardFor, type WriteRequest } from '@batcher/shared/workflow';
import { signalWithStartBatcher, type BatcherConfig } from '@batcher/shared/node';

/** gRPC codes that no retry can change: the request or the configuration is wrong. */
const PERMANENT = new Set([status.INVALID_ARGUMENT, status.PERMISSION_DENIED, status.UNAUTHENTICATED, status.UNIMPLEMENTED]);

export function createSubmitActivities(deps: { client: Client; batcher: BatcherConfig; traceCarrier?: () => Record<string, string> }) {
  return {
    async submitWriteRequest(request: Omit<WriteRequest, 'trace'>): Promise<{ shard: number; batcherWorkflowId: string }> {
      const shard = shardFor(request.requestId, deps.batcher.shards);
      try {
        const batcherWorkflowId = await signalWithStartBatcher(deps.client, deps.batcher, shard, { ...request, trace: deps.traceCarrier?.() });
        return { shard, batcherWorkflowId };
      } catch (err) {
        const grpc = isGrpcServiceError(err) ? err : isGrpcServiceError((err as Error).cause) ? ((err as Error).cause as { code: number; details?: string }) : undefined;
        if (grpc && PERMANENT.has(grpc.code)) {
          // Unavailable servers and timeouts are retried by the activity's policy; these are not.
          throw ApplicationFailure.create({
            type: BatcherErrorTypes.SubmissionFailed,
            message: `Temporal refused the submission to shard ${shard}: ${(err as Error).message}`,
            nonRetryable: true,
            cause: err as Error,
          });
        }
        throw err;
      }
    },
  };
}
