// @write-batcher/requester: write rows into your own MySQL tables from any Temporal workflow,
// batched and exactly once. Workflow-safe: import it from workflow code.
//
//   import { batchedWrite } from '@write-batcher/requester';
//   await batchedWrite<Order>('orders', order, { requestId: `order:${order.order_id}` });
//
// The batcher side (the shards, the bulk writes, the ledger) is @write-batcher/batcher.
export {
  batchedWrite,
  writeErrorType,
  DEFAULT_WRITE_TIMEOUT,
  DEFAULT_ATTEMPT_TIMEOUT,
  type BatchedWriteOptions,
  type BatchedWriteResult,
} from './batched-write';
export { BatcherErrorTypes, isBatcherErrorType, type BatcherErrorType } from './errors';
export { retryRequestId, requestIdFor } from './protocol/routing';
export { DEFAULT_BATCHER_TASK_QUEUE, type WriteOutcome, type WriteStatus } from './protocol/messages';
export type { ColumnValue, JsonValue, RowOf } from './protocol/values';
