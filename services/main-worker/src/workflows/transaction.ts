// The transactional main workflow: a business step, one row written through the batcher
// (`batchedWrite`), then the final business step. Every way it can end is settled: it completes
// only when its row is committed, and fails typed only when its row never will be.
import { CancellationScope, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { BatcherErrorTypes, DEMO_TABLE_NAME, batchedWrite, writeFailure, type JsonValue, type TransactionInput, type TransactionResult } from '@batcher/shared/workflow';
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
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return 'input must be an object { payload, confirmationTimeoutMs?, submitAttemptTimeoutMs?, batcherTaskQueue?, table? }';
  const { payload, confirmationTimeoutMs, submitAttemptTimeoutMs, batcherTaskQueue, table } = input as Partial<TransactionInput>;
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return 'payload must be a JSON object';
  for (const [name, ms] of [['confirmationTimeoutMs', confirmationTimeoutMs], ['submitAttemptTimeoutMs', submitAttemptTimeoutMs]] as const) {
    if (ms !== undefined && !(Number.isInteger(ms) && ms >= 1000 && ms <= 7 * 24 * 3_600_000)) return `${name} must be a whole number of ms from 1000 to 604800000, got ${JSON.stringify(ms)}`;
  }
  if (batcherTaskQueue !== undefined && !(typeof batcherTaskQueue === 'string' && batcherTaskQueue.length > 0 && batcherTaskQueue.length <= 200)) return 'batcherTaskQueue must be a task queue name';
  if (table !== undefined && typeof table !== 'string') return 'table must be a table name';
  return undefined;
}

export async function transactionWorkflow(input: TransactionInput): Promise<TransactionResult> {
  const problem = transactionInputProblem(input);
  if (problem !== undefined) throw writeFailure(BatcherErrorTypes.InvalidRequest, `transaction input rejected: ${problem}`);
  const { workflowId } = workflowInfo();

  await prepareTransaction({ workflowId, payload: input.payload });
  const write = await batchedWrite(
    input.table ?? DEMO_TABLE_NAME,
    // Checked to be a JSON object above; its values are measured by batchedWrite.
    { payload: input.payload as { [key: string]: JsonValue } },
    { timeout: input.confirmationTimeoutMs, attemptTimeout: input.submitAttemptTimeoutMs, taskQueue: input.batcherTaskQueue },
  );
  const result: TransactionResult = {
    requestId: write.requestId,
    table: write.table,
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
