// The benchmark's reference workflows, run by the bare baseline worker (baseline-worker.ts):
// the same transaction as transactionWorkflow with the write step removed (the no-write ceiling),
// and with one INSERT activity per workflow (the naive pipeline). Benchmark code only.
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import { batchedWrite, writeErrorType } from '@write-batcher/requester';
import type { TransactionInput, TransactionResult } from '@batcher/demo';
import type { BaselineActivities } from './activities';

const acts = proxyActivities<BaselineActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

export async function noWriteWorkflow(input: TransactionInput): Promise<TransactionResult> {
  const { workflowId } = workflowInfo();
  await acts.prepareTransaction({ workflowId, payload: input.payload });
  await acts.finalizeTransaction({ workflowId });
  return { requestId: `write:${workflowId}`, table: 'none', status: 'committed', shard: -1, confirmationLatencyMs: 0 };
}

export async function directWriteWorkflow(input: TransactionInput): Promise<TransactionResult> {
  const { workflowId } = workflowInfo();
  const requestId = `write:${workflowId}`;
  await acts.prepareTransaction({ workflowId, payload: input.payload });
  const submittedAt = Date.now();
  await acts.insertRowDirect({ requestId, requesterWorkflowId: workflowId, payload: input.payload });
  const result: TransactionResult = {
    requestId,
    table: 'batched_writes',
    status: 'committed',
    shard: -1,
    confirmationLatencyMs: Date.now() - submittedAt,
  };
  await acts.finalizeTransaction({ workflowId });
  return result;
}

/**
 * A requester and nothing else: one row through batchedWrite, no business steps. The requesters
 * flood starts thousands at once; it returns the outcome or the failure's type.
 */
export async function floodWriteWorkflow(input: { batcherTaskQueue: string; n: number }): Promise<string> {
  try {
    return (await batchedWrite('batched_writes', { payload: { n: input.n } }, { taskQueue: input.batcherTaskQueue })).status;
  } catch (err) {
    return writeErrorType(err) ?? 'untyped';
  }
}
