// The naive baseline the benchmark compares against: the same transaction, but each workflow
// inserts its own row with its own activity (N workflows → N single-row INSERTs).
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import { requestIdFor, type TransactionInput, type TransactionResult } from '@batcher/shared/workflow';
import type { createActivities } from '../activities';

const acts = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

export async function directWriteWorkflow(input: TransactionInput): Promise<TransactionResult> {
  const { workflowId } = workflowInfo();
  const requestId = requestIdFor(workflowId);
  await acts.prepareTransaction({ workflowId, payload: input.payload });
  const submittedAt = Date.now();
  await acts.insertRowDirect({ requestId, requesterWorkflowId: workflowId, payload: input.payload });
  const result: TransactionResult = { requestId, status: 'committed', shard: -1, confirmationLatencyMs: Date.now() - submittedAt };
  await acts.finalizeTransaction({ workflowId });
  return result;
}
