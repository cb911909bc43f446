// @batcher/demo, workflow-safe entry: the demo's transactional workflow (its type name, task queue
// and input/result shapes) and the names of the demo's tables, shared by the main worker, the
// starter, the harness, the bench and the tests. No Node built-ins here: workflow bundles import it.

/** Default task queue of the main (transactional) workers. */
export const DEFAULT_MAIN_TASK_QUEUE = 'main-workflow-queue';
export const TRANSACTION_WORKFLOW_TYPE = 'transactionWorkflow';
/** The demo's JSON table: one row per transaction, its `payload` a JSON object. */
export const DEMO_TABLE = 'batched_writes';
/** The demo's typed table: one order per transaction, written beside the JSON row. */
export const DEMO_ORDERS_TABLE = 'demo_orders';

export interface TransactionInput {
  /** Business content of the row to write (the demo table's JSON `payload` column). */
  payload: Record<string, unknown>;
  /** Give up waiting for the confirmation after this many ms. @default batchedWrite's (2 minutes) */
  confirmationTimeoutMs?: number;
  /** One submission attempt waits this long before it is sent again (ms). @default batchedWrite's (1 minute) */
  submitAttemptTimeoutMs?: number;
  /** Task queue of the batcher workers. @default 'batcher-queue' */
  batcherTaskQueue?: string;
  /** Table to write to. @default 'batched_writes' */
  table?: string;
  /**
   * Also write this order into the typed table `demo_orders` (request id `order:<workflow id>`), in
   * parallel with the JSON row: the transaction completes only when both are committed.
   */
  order?: DemoOrder;
  /** Write the JSON row (false: only the order row, which `order` must then give). @default true */
  writeJsonRow?: boolean;
  /**
   * Write the JSON row and the order as ONE unit (batchedWriteUnit, request id `write:<workflow id>`):
   * one wait, both rows in one transaction or neither. @default false (two requests, in parallel)
   */
  asUnit?: boolean;
}

/** A row of `demo_orders` as the transaction's input carries it (JSON-safe: the date as ISO text). */
export interface DemoOrder {
  /** Exact amount; may exceed 2^53 (a decimal string). */
  amountCents: string;
  currency: string;
  /** ISO 8601, UTC. */
  placedAt: string;
  lines?: Array<{ sku: string; qty: number }>;
}

export interface TransactionResult {
  requestId: string;
  table: string;
  /** What happened to the row (WriteStatus of @write-batcher/protocol; the demo's tables are mode insert). */
  status: 'committed' | 'duplicate' | 'ignored' | 'updated';
  batchId?: string;
  shard: number;
  /** ms from submission to confirmation, measured in the workflow when the outcome arrived. */
  confirmationLatencyMs: number;
  /** True when the confirmation never arrived but the row was found committed in the ledger. */
  verifiedAfterTimeout?: boolean;
  /** The order row's outcome, when the input had one. */
  order?: { requestId: string; status: 'committed' | 'duplicate' | 'ignored' | 'updated'; batchId?: string };
}

/** The request id of a transaction's order row. */
export function orderRequestIdFor(workflowId: string): string {
  return `order:${workflowId}`;
}
