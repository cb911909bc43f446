// Hands a write request to its batcher shard with signal-with-start, so a stopped shard is started.
import type { Client } from '@temporalio/client';
import { shardFor, type WriteRequest } from '@batcher/shared/workflow';
import { signalWithStartBatcher, type BatcherConfig } from '@batcher/shared/node';

export function createSubmitActivities(deps: { client: Client; batcher: BatcherConfig; traceCarrier?: () => Record<string, string> }) {
  return {
    async submitWriteRequest(request: Omit<WriteRequest, 'trace'>): Promise<{ shard: number; batcherWorkflowId: string }> {
      const shard = shardFor(request.requestId, deps.batcher.shards);
      const batcherWorkflowId = await signalWithStartBatcher(deps.client, deps.batcher, shard, { ...request, trace: deps.traceCarrier?.() });
      return { shard, batcherWorkflowId };
    },
  };
}
