// @write-batcher/requester: write rows into your own MySQL tables from any Temporal workflow,
// batched and exactly once. Workflow-safe: import it from workflow code.
//
//   import { batchedWrite } from '@write-batcher/requester';
//   await batchedWrite<Order>('orders', order, { requestId: `order:${order.order_id}` });
//
// The batcher side (the shards, the bulk writes, the ledger) is @write-batcher/batcher; the wire
// format both share is @write-batcher/protocol.
export {
  batchedWrite,
  batchedWriteUnit,
  defineTables,
  writeErrorType,
  DEFAULT_WRITE_TIMEOUT,
  DEFAULT_ATTEMPT_TIMEOUT,
  type BatchedWriteOptions,
  type BatchedWriteResult,
  type TableWriters,
  type UnitRowInput,
  type UnitRowOf,
  type WriteDuration,
} from './batched-write';
// The public part of the wire format (@write-batcher/protocol), so a requester needs one import.
export {
  BatcherErrorTypes,
  isBatcherErrorType,
  retryRequestId,
  requestIdFor,
  DEFAULT_BATCHER_TASK_QUEUE,
  type BatcherErrorType,
  type WriteOutcome,
  type WriteStatus,
  type UnitRowOutcome,
  MAX_UNIT_ROWS,
  type ColumnValue,
  type JsonValue,
  type RowOf,
  type ColumnValueOf,
  type JsonCompatible,
} from '@write-batcher/protocol';
