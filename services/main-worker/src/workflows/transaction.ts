// The transactional main workflow: a business step, one row written through the batcher
// (`batchedWrite`), then the final business step. Every way it can end is settled: it completes
// only when its row is committed, and fails typed only when its row never will be.
import { CancellationScope, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { BatcherErrorTypes, batchedWrite, writeFailure, type TransactionInput, type TransactionResult } from '@batcher/shared/workflow';
import type { createActivities } from '../activities';

type Activities = ReturnType<typeof createActivities>;

const { prepareTransaction } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5 },
});

const { finalizeTransaction } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  // The row is committed by now: the workflow must reach its end, so this is retried until it succeeds.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/** Why a transaction's input is unusable, or undefined. Checked before anything happens. */
export function transactionInputProblem(input: unknown): string | undefined {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return 'input must be an object { payload, confirmationTimeoutMs? }';
  const { payload, confirmationTimeoutMs } = input as Partial<TransactionInput>;
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return 'payload must be a JSON object';
  if (confirmationTimeoutMs !== undefined && !(Number.isInteger(confirmationTimeoutMs) && confirmationTimeoutMs >= 1000 && confirmationTimeoutMs <= 7 * 24 * 3_600_000)) {
    return `confirmationTimeoutMs must be a whole number of ms from 1000 to 604800000, got ${JSON.stringify(confirmationTimeoutMs)}`;
  }
  return undefined;
}

export async function transactionWorkflow(input: TransactionInput): Promise<TransactionResult> {
  const problem = transactionInputProblem(input);
  if (problem !== undefined) throw writeFailure(BatcherErrorTypes.InvalidRequest, `transaction input rejected: ${problem}`);
  const { workflowId } = workflowInfo();

  await prepareTransaction({ workflowId, payload: input.payload });
  const write = await batchedWrite(input.payload, { timeout: input.confirmationTimeoutMs });
  const result: TransactionResult = {
    requestId: write.requestId,
    status: write.status,
    batchId: write.batchId,
    shard: write.shard,
    confirmationLatencyMs: write.latencyMs,
    ...(write.settledAfter ? { verifiedAfterTimeout: true } : {}),
  };
  // Not cancellable: once the row is committed, the transaction finishes.
  await CancellationScope.nonCancellable(() => finalizeTransaction({ workflowId, batchId: result.batchId }));
  return result;
}
