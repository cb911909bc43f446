// The transactional main workflow: a business step, one row written through the batcher
// (`batchedWrite`), then the final business step. Every way it can end is settled: it completes
// only when its row is committed, and fails typed only when its row never will be.
import { ApplicationFailure, CancellationScope, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { BatcherErrorTypes, batchedWrite, batchedWriteUnit, type JsonValue } from '@write-batcher/requester';
import { DEMO_ORDERS_TABLE, DEMO_TABLE, orderRequestIdFor, type TransactionInput, type TransactionResult } from '@batcher/demo';
import type { createActivities } from '../activities';

type Activities = ReturnType<typeof createActivities>;

/** A row of the demo's typed table, as the workflow writes it. */
interface DemoOrderRow {
  order_id: string;
  amount_cents: bigint;
  currency: string;
  placed_at: Date;
  items: Array<{ sku: string; qty: number }> | null;
}

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
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    return 'input must be an object { payload, confirmationTimeoutMs?, submitAttemptTimeoutMs?, batcherTaskQueue?, table? }';
  const { payload, confirmationTimeoutMs, submitAttemptTimeoutMs, batcherTaskQueue, table } = input as Partial<TransactionInput>;
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return 'payload must be a JSON object';
  for (const [name, ms] of [
    ['confirmationTimeoutMs', confirmationTimeoutMs],
    ['submitAttemptTimeoutMs', submitAttemptTimeoutMs],
  ] as const) {
    if (ms !== undefined && !(Number.isInteger(ms) && ms >= 1000 && ms <= 7 * 24 * 3_600_000))
      return `${name} must be a whole number of ms from 1000 to 604800000, got ${JSON.stringify(ms)}`;
  }
  if (
    batcherTaskQueue !== undefined &&
    !(typeof batcherTaskQueue === 'string' && batcherTaskQueue.length > 0 && batcherTaskQueue.length <= 200)
  )
    return 'batcherTaskQueue must be a task queue name';
  if (table !== undefined && typeof table !== 'string') return 'table must be a table name';
  const { order } = input as Partial<TransactionInput>;
  if (order !== undefined) {
    if (typeof order !== 'object' || order === null) return 'order must be an object { amountCents, currency, placedAt, lines? }';
    if (typeof order.amountCents !== 'string' || !/^-?\d{1,19}$/.test(order.amountCents))
      return 'order.amountCents must be a whole number as a string';
    if (typeof order.currency !== 'string') return 'order.currency must be a string';
    if (typeof order.placedAt !== 'string' || Number.isNaN(Date.parse(order.placedAt))) return 'order.placedAt must be an ISO 8601 date';
  }
  return undefined;
}

/** A transaction input that can never succeed: failed as the batcher fails an invalid request (non-retryable). */
function invalidInput(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: BatcherErrorTypes.InvalidRequest, message, nonRetryable: true });
}

export async function transactionWorkflow(input: TransactionInput): Promise<TransactionResult> {
  const problem = transactionInputProblem(input);
  if (problem !== undefined) throw invalidInput(`transaction input rejected: ${problem}`);
  const { workflowId } = workflowInfo();

  await prepareTransaction({ workflowId, payload: input.payload });
  const options = { timeout: input.confirmationTimeoutMs, attemptTimeout: input.submitAttemptTimeoutMs, taskQueue: input.batcherTaskQueue };
  const orderRow = (order: NonNullable<TransactionInput['order']>): DemoOrderRow => ({
    order_id: workflowId,
    amount_cents: BigInt(order.amountCents),
    currency: order.currency,
    placed_at: new Date(order.placedAt),
    items: order.lines ?? null,
  });
  if (input.asUnit && input.order && input.writeJsonRow !== false) {
    // Both rows as one unit: one request id, one wait, one transaction.
    const unit = await batchedWriteUnit(
      [
        { table: input.table ?? DEMO_TABLE, row: { payload: input.payload as { [key: string]: JsonValue } } },
        { table: DEMO_ORDERS_TABLE, row: orderRow(input.order) },
      ],
      options,
    );
    const result: TransactionResult = {
      requestId: unit.requestId,
      table: unit.table,
      status: unit.status,
      batchId: unit.batchId,
      shard: unit.shard,
      confirmationLatencyMs: unit.latencyMs,
      ...(unit.settledAfter ? { verifiedAfterTimeout: true } : {}),
      order: { requestId: unit.requestId, status: unit.rows?.[1]?.status ?? unit.status, batchId: unit.batchId },
    };
    await CancellationScope.nonCancellable(() => finalizeTransaction({ workflowId, batchId: result.batchId }));
    return result;
  }
  // The JSON row and, when asked, the typed order row, in parallel; each settles before the
  // transaction reports, so a failure names what happened to both.
  const [json, order] = await Promise.allSettled([
    // Checked to be a JSON object above; its values are measured by batchedWrite.
    input.writeJsonRow === false
      ? Promise.resolve(undefined)
      : batchedWrite(input.table ?? DEMO_TABLE, { payload: input.payload as { [key: string]: JsonValue } }, options),
    input.order
      ? batchedWrite<DemoOrderRow>(DEMO_ORDERS_TABLE, orderRow(input.order), { ...options, requestId: orderRequestIdFor(workflowId) })
      : Promise.resolve(undefined),
  ]);
  if (json.status === 'rejected') throw json.reason;
  if (order.status === 'rejected') throw order.reason;
  const write = json.value ?? order.value;
  if (!write) throw invalidInput('transaction input rejected: writeJsonRow is false and there is no order');
  const result: TransactionResult = {
    requestId: write.requestId,
    table: write.table,
    status: write.status,
    batchId: write.batchId,
    shard: write.shard,
    confirmationLatencyMs: write.latencyMs,
    ...(write.settledAfter ? { verifiedAfterTimeout: true } : {}),
    ...(order.value ? { order: { requestId: order.value.requestId, status: order.value.status, batchId: order.value.batchId } } : {}),
  };
  // Not cancellable: once the row is committed, the transaction finishes.
  await CancellationScope.nonCancellable(() => finalizeTransaction({ workflowId, batchId: result.batchId }));
  return result;
}
