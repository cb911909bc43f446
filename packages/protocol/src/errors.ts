// Error types of batchedWrite: each is the `type` of the non-retryable ApplicationFailure it throws.
// Every one batchedWrite throws means "this row is not in the table, and never will be under this
// request id"; DatabaseUnavailable is the batcher's own, retried, and never thrown to a requester.
import { ApplicationFailure } from '@temporalio/common';

export const BatcherErrorTypes = {
  /**
   * The request could not be handed to a batcher before its deadline (Temporal refused it, or no
   * batcher worker took it). What to do: fix the deployment; retry with a new request id.
   */
  SubmissionFailed: 'WriteSubmissionFailed',
  /**
   * No outcome arrived within the timeout; the id was then claimed as abandoned in the ledger, so
   * the row is guaranteed never to appear under it. What to do: retry with a new request id
   * (see `retryRequestId`); look at the batcher's health.
   */
  ConfirmationTimeout: 'WriteConfirmationTimeout',
  /**
   * The database refused this row's data (too long, out of range, constraint). Never retried.
   * What to do: fix the row; write it with a new request id.
   */
  DataRejected: 'WriteDataRejected',
  /**
   * The request id was claimed as abandoned: by an earlier write under the same id that was
   * refused, timed out or was cancelled, or by this write when the answer it got (a WriteConflict
   * or WriteAbandoned) was not borne out by the ledger. It can never be written. What to do: use a
   * new request id.
   */
  Abandoned: 'WriteAbandoned',
  /**
   * The request id was already used for a different row (another table, or other values), as the
   * ledger says. The row written first stays; this one is not written. What to do: give each
   * distinct row its own id.
   */
  Conflict: 'WriteConflict',
  /**
   * Mode `insert`: the target table already holds a row with this key (or the row collides with
   * another unique key of the table). Not written. What to do: use mode `upsert` or
   * `insert-ignore`, or a new key.
   */
  KeyExists: 'WriteKeyExists',
  /**
   * The shard is at capacity (pending requests or bytes): refused at once, not written.
   * What to do: retry later with a new request id, or add shards.
   */
  Overloaded: 'BatcherOverloaded',
  /**
   * The request is malformed or can never be written: a table not in the batcher's allow-list, a
   * column the table does not have, a missing required column, a value of the wrong type, a bad
   * id, a row too large. The message names what is wrong. Never retried.
   */
  InvalidRequest: 'InvalidWriteRequest',
  /** The database could not be reached or the transaction failed transiently; retried by the batcher, never thrown by batchedWrite. */
  DatabaseUnavailable: 'DatabaseUnavailable',
} as const;

export type BatcherErrorType = (typeof BatcherErrorTypes)[keyof typeof BatcherErrorTypes];

const ALL_TYPES = new Set<string>(Object.values(BatcherErrorTypes));

/** Whether a string is one of the {@link BatcherErrorTypes}. */
export function isBatcherErrorType(type: unknown): type is BatcherErrorType {
  return typeof type === 'string' && ALL_TYPES.has(type);
}

/** An ApplicationFailure of one of the batcher's types, non-retryable. */
export function writeFailure(type: BatcherErrorType, message: string, details?: unknown, cause?: Error): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, details: details === undefined ? undefined : [details], cause });
}
