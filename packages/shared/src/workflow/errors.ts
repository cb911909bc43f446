// Error types shared by workflows, activities and clients: each is the `type` of an ApplicationFailure.

export const BatcherErrorTypes = {
  /** The write request could not be handed to a batcher after all retries. */
  SubmissionFailed: 'WriteSubmissionFailed',
  /** No confirmation arrived within the confirmation timeout; the row is guaranteed never to appear. */
  ConfirmationTimeout: 'WriteConfirmationTimeout',
  /** The database refused this row's data (too long, wrong type, constraint). Never retried. */
  DataRejected: 'WriteDataRejected',
  /** The request was abandoned by its requester before the batch wrote it. */
  Abandoned: 'WriteAbandoned',
  /** The shard holds too much pending data to accept more (for example while the database is down). */
  Overloaded: 'BatcherOverloaded',
  /** The request itself is malformed (missing id, payload not an object...). */
  InvalidRequest: 'InvalidWriteRequest',
  /** The database could not be reached or the transaction failed transiently; retried. */
  DatabaseUnavailable: 'DatabaseUnavailable',
} as const;

export type BatcherErrorType = (typeof BatcherErrorTypes)[keyof typeof BatcherErrorTypes];
