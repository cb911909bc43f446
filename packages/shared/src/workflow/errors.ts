// Error types shared by workflows, activities and clients: each is the `type` of an ApplicationFailure.

export const BatcherErrorTypes = {
  /** The write request could not be handed to a batcher before its deadline (Temporal refused or was unreachable). */
  SubmissionFailed: 'WriteSubmissionFailed',
  /** No confirmation arrived within the confirmation timeout; the row is guaranteed never to appear. */
  ConfirmationTimeout: 'WriteConfirmationTimeout',
  /** The database refused this row's data (too long, wrong type, constraint). Never retried. */
  DataRejected: 'WriteDataRejected',
  /** The request was abandoned by its requester before the batch wrote it. */
  Abandoned: 'WriteAbandoned',
  /**
   * The shard is at capacity (pending requests, pending bytes, or requests in one workflow task):
   * the request was refused at once and is not written. Try again later.
   */
  Overloaded: 'BatcherOverloaded',
  /** The request itself is malformed or can never fit (bad id, payload too large or too deep...). Never retried. */
  InvalidRequest: 'InvalidWriteRequest',
  /** The database could not be reached or the transaction failed transiently; retried. */
  DatabaseUnavailable: 'DatabaseUnavailable',
} as const;

export type BatcherErrorType = (typeof BatcherErrorTypes)[keyof typeof BatcherErrorTypes];
