// `batchedWrite()`: the requester side of the batcher, for any workflow. One row for one of the
// batcher's tables in, a typed outcome out, and a definite answer on every path: the ledger decides
// every negative answer. Before it reports "not written", whatever the failure said, the request id
// is settled in the batcher's ledger: claimed as abandoned (the row can never appear later), or
// found committed, and then the commit is what it reports.
//
// Nothing runs on the requester's own worker: both activities (hand the request over and wait;
// settle the id) run on the batcher's task queue, where the database and the shards are. The
// requester's worker needs no registration and no database credentials.
import { RetryState, type Duration } from '@temporalio/common';
import ms, { type StringValue } from 'ms';
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  TimeoutFailure,
  isCancellation,
  patched,
  proxyActivities,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import {
  BatcherErrorTypes,
  DEFAULT_BATCHER_TASK_QUEUE,
  MAX_REQUESTER_WORKFLOW_ID_BYTES,
  MAX_REQUEST_ID_BYTES,
  MAX_UNIT_ROWS,
  TABLE_NAME_PATTERN,
  awaitActivityIdFor,
  encodeRow,
  idProblem,
  isBatcherErrorType,
  jsonBytes,
  measurePayload,
  moreRowsProblem,
  requestIdFor,
  writeFailure,
  type AwaitWriteInput,
  type BatcherErrorType,
  type RowOf,
  type SettleWriteInput,
  type SettleWriteResult,
  type UnitRow,
  type WriteOutcome,
} from '@write-batcher/protocol';

/** The activities batchedWrite schedules on the batcher's task queue (implemented by @write-batcher/batcher). */
interface BatcherSideActivities {
  awaitBatchedWrite(input: AwaitWriteInput): Promise<WriteOutcome>;
  settleBatchedWrite(input: SettleWriteInput): Promise<SettleWriteResult>;
}

/** Default of {@link BatchedWriteOptions.timeout}. */
export const DEFAULT_WRITE_TIMEOUT = '2 minutes';
/** Default of {@link BatchedWriteOptions.attemptTimeout}. */
export const DEFAULT_ATTEMPT_TIMEOUT = '1 minute';
const MAX_TIMEOUT_MS = 7 * 24 * 3_600_000;

/** Units `ms` reads (any case): `'30 seconds'`, `'2m'`, `'1 hour'`. */
type DurationUnit =
  | 'Years'
  | 'Year'
  | 'Yrs'
  | 'Yr'
  | 'Y'
  | 'Weeks'
  | 'Week'
  | 'W'
  | 'Days'
  | 'Day'
  | 'D'
  | 'Hours'
  | 'Hour'
  | 'Hrs'
  | 'Hr'
  | 'H'
  | 'Minutes'
  | 'Minute'
  | 'Mins'
  | 'Min'
  | 'M'
  | 'Seconds'
  | 'Second'
  | 'Secs'
  | 'Sec'
  | 'S'
  | 'Milliseconds'
  | 'Millisecond'
  | 'Msecs'
  | 'Msec'
  | 'Ms';
type AnyCaseUnit = DurationUnit | Lowercase<DurationUnit> | Uppercase<DurationUnit>;

/**
 * A duration: ms, or text `ms` reads (`'2 minutes'`, `'30s'`). Its own type, not the SDK's
 * `Duration`, whose text type is `string` where the `ms` package's types are not installed: so
 * `timeout: 'two minutes'` does not compile whatever the application's dependencies.
 */
export type WriteDuration = number | `${number}` | `${number}${AnyCaseUnit}` | `${number} ${AnyCaseUnit}`;

export interface BatchedWriteOptions {
  /**
   * Give up waiting after this long; the id is then claimed as abandoned (unless a batch wrote it
   * meanwhile) and batchedWrite throws WriteConfirmationTimeout.
   * @default '2 minutes'
   */
  timeout?: WriteDuration;
  /**
   * One submission attempt waits this long before it is sent again (covers a batcher worker that
   * died holding the request, or a shard that lost it). Capped at `timeout`.
   * @default '1 minute'
   */
  attemptTimeout?: WriteDuration;
  /**
   * The request id: the unit of exactly-once. The same id with the same table and row is written
   * once; with another row it is a WriteConflict. Derive it from your business key.
   * @default `write:<workflow id>` for the workflow's first call, `write:<workflow id>#<n>` for its n-th
   */
  requestId?: string;
  /**
   * Task queue of the batcher workers (where the activities run).
   * @default 'batcher-queue'
   */
  taskQueue?: string;
}

export interface BatchedWriteResult extends WriteOutcome {
  /** ms from submission to the batcher's answer (or, after a settle step, to the settle's result). */
  latencyMs: number;
  /** Set when the outcome came from the settle step (after a timeout, a cancellation or a failure), not from the batch. */
  settledAfter?: 'timeout' | 'cancellation' | 'failure';
}

/** The batcher error type of a failure thrown by batchedWrite (or found in its causes), if any. */
export function writeErrorType(err: unknown): BatcherErrorType | undefined {
  for (let cause: unknown = err, depth = 0; cause instanceof Error && depth < 10; cause = cause.cause, depth++) {
    if (cause instanceof ApplicationFailure && isBatcherErrorType(cause.type)) return cause.type;
  }
  return undefined;
}

/**
 * The patch behind "the ledger decides every negative answer": a WriteConflict or WriteAbandoned
 * answer, or an answer that is not an outcome, is settled in the ledger (and a conflict with a request
 * still undecided is asked again). A history recorded before it replays as it was.
 */
export const SETTLE_EVERY_FAILURE_PATCH = 'batched-write-settles-every-failure';

/** The longest pause between two attempts of awaitBatchedWrite (its retry policy's maximumInterval). */
const MAX_RETRY_INTERVAL_MS = 10_000;

/** What stopped an awaitBatchedWrite: a typed refusal, its deadline, or anything else. */
type Stop = { kind: 'refused'; type: BatcherErrorType; message: string } | { kind: 'deadline' } | { kind: 'other'; message: string };

/**
 * Reads an awaitBatchedWrite failure. In SDK 1.24 an ActivityFailure's own cause says why it ended:
 * a TimeoutFailure (schedule-to-close, or schedule-to-start, which Temporal derives from
 * schedule-to-close when only that is set, or start-to-close on the last attempt) or a retry state
 * TIMEOUT (no retry fitted before schedule-to-close; the cause is then the last attempt's failure):
 * the deadline. Otherwise a non-retryable ApplicationFailure of a batcher type is a refusal. A type
 * found deeper (the last attempt's failure under a timeout) is not the outcome.
 */
function stopOf(err: unknown): Stop {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof TimeoutFailure || (err instanceof ActivityFailure && err.retryState === RetryState.TIMEOUT))
    return { kind: 'deadline' };
  if (cause instanceof ApplicationFailure && isBatcherErrorType(cause.type) && cause.type !== BatcherErrorTypes.DatabaseUnavailable)
    return { kind: 'refused', type: cause.type, message: cause.message };
  return { kind: 'other', message: (cause ?? err) instanceof Error ? ((cause ?? err) as Error).message : String(err) };
}

/**
 * A shard's conflict with a request still waiting under the same id (shard-book.ts, `offer`): not
 * decided yet, since that request may still be refused. Asked again after a pause, not settled at
 * once, so a second requester's claim never abandons the first one's row.
 */
const UNDECIDED_CONFLICT = /is (already queued|being written) with a different table or row/;

/** Whether an answer is an outcome for this request (anything else was not sent by a batcher). */
function isOutcomeFor(outcome: unknown, requestId: string, table: string): outcome is WriteOutcome {
  if (typeof outcome !== 'object' || outcome === null) return false;
  const o = outcome as Partial<WriteOutcome>;
  return (
    o.requestId === requestId &&
    o.table === table &&
    (o.status === 'committed' || o.status === 'duplicate' || o.status === 'ignored' || o.status === 'updated')
  );
}

function toMs(what: string, d: WriteDuration | Duration | undefined, fallback: string): number {
  const value: unknown = d ?? fallback;
  let parsed = Number.NaN;
  try {
    parsed = typeof value === 'number' ? value : typeof value === 'string' ? ms(value as StringValue) : Number.NaN;
  } catch {
    // ms throws on an empty string: the check below names it.
  }
  if (!Number.isFinite(parsed) || parsed < 1000 || parsed > MAX_TIMEOUT_MS) {
    throw writeFailure(
      BatcherErrorTypes.InvalidRequest,
      `${what} ${JSON.stringify(d)} is not a duration from 1 second to 7 days, such as "30 seconds" or 30000`,
    );
  }
  return parsed;
}

/** Calls of batchedWrite in this workflow run without a requestId, for the default ids. */
let defaultIdCalls = 0;
/** Request ids this workflow run is writing now: one activity id per request id, so one call at a time. */
const writing = new Set<string>();

/**
 * Writes one row into `table` through the batcher and returns once it is committed (or was
 * already, under the same request id and row). Throws a non-retryable ApplicationFailure of a
 * {@link BatcherErrorTypes} type when the row is not written, and only once the id is settled:
 * the row will never appear under that id (errors.ts says what to do after each).
 * On cancellation it settles the same way, then rethrows the cancellation (or returns the outcome
 * when the row turned out to be committed).
 *
 * @example
 * interface Order { order_id: string; customer: string; total: string; placed_at: Date }
 * await batchedWrite<Order>('orders', { order_id: 'o-1', customer: 'c-9', total: '12.30', placed_at: new Date() },
 *   { requestId: `order:o-1` });
 */
export async function batchedWrite<Row>(
  table: string,
  row: Row & RowOf<Row>,
  options: BatchedWriteOptions = {},
): Promise<BatchedWriteResult> {
  return writeRows([{ table, row }], options);
}

/** One row of a unit, for {@link batchedWriteUnit}. */
export interface UnitRowInput {
  table: string;
  row: object;
}

/**
 * Writes several rows, for one table or several, as ONE request: one request id, one wait, and all
 * rows committed in the same transaction or none of them. A row the batcher refuses (its values,
 * a key it finds taken, a constraint) refuses the whole unit, typed, naming the row by its place
 * (`row 2 of the unit`). Rows go in foreign-key order (parents first) whatever their order here.
 * The result is the unit's: `status` committed (or duplicate: written earlier under this id), and
 * `rows`, each row's own outcome (committed, updated, ignored) in the order given. Exactly-once, the
 * ledger and the settle step hold per unit, as for one row. At most {@link MAX_UNIT_ROWS} rows.
 *
 * @example
 * await batchedWriteUnit([
 *   { table: 'orders', row: { order_id: 'o-1', total: '12.30' } },
 *   { table: 'order_lines', row: { order_id: 'o-1', line: 1, sku: 'A-7' } },
 * ], { requestId: 'order:o-1' });
 */
export async function batchedWriteUnit(rows: readonly UnitRowInput[], options: BatchedWriteOptions = {}): Promise<BatchedWriteResult> {
  return writeRows(rows, options);
}

/** The write behind batchedWrite (one row) and batchedWriteUnit (several). */
async function writeRows(rows: readonly UnitRowInput[], options: BatchedWriteOptions): Promise<BatchedWriteResult> {
  const info = workflowInfo();
  const requestId =
    options.requestId ?? (++defaultIdCalls === 1 ? requestIdFor(info.workflowId) : `${requestIdFor(info.workflowId)}#${defaultIdCalls}`);
  const label = typeof requestId === 'string' ? requestId.slice(0, 80) : String(requestId);
  const refuse = (problem: string) => writeFailure(BatcherErrorTypes.InvalidRequest, `write ${label} cannot be accepted: ${problem}`);
  const idIssue =
    idProblem('requester workflow id', info.workflowId, MAX_REQUESTER_WORKFLOW_ID_BYTES) ??
    idProblem('request id', requestId, MAX_REQUEST_ID_BYTES);
  if (idIssue !== undefined) throw refuse(idIssue);
  if (!Array.isArray(rows) || rows.length === 0) throw refuse('a unit needs at least one row: [{ table, row }, …]');
  if (rows.length > MAX_UNIT_ROWS) throw refuse(`a unit holds ${rows.length} rows; the limit is ${MAX_UNIT_ROWS}`);
  const encodedRows: UnitRow[] = [];
  for (const [i, given] of rows.entries()) {
    const where = rows.length > 1 ? `row ${i + 1} of the unit: ` : '';
    const { table, row } = (typeof given === 'object' && given !== null ? given : {}) as Partial<UnitRowInput>;
    if (typeof table !== 'string' || !TABLE_NAME_PATTERN.test(table))
      throw refuse(
        `${where}table ${JSON.stringify(String(table).slice(0, 80))} is not a table name (letters, digits, _ or $; optionally database.table)`,
      );
    // Encoded and measured here, before anything is serialised: a value JSON cannot carry, or a row
    // too large or too deep, is refused typed instead of failing the workflow task.
    const encoded = encodeRow(row);
    if ('problem' in encoded) throw refuse(`${where}${encoded.problem}`);
    const measured = measurePayload(encoded.row);
    if ('problem' in measured) throw refuse(`${where}${measured.problem.replace(/^payload/, 'row')}`);
    encodedRows.push({ table, row: encoded.row });
  }
  const [first, ...more] = encodedRows as [UnitRow, ...UnitRow[]];
  const table = first.table;
  const moreRows = more.length > 0 ? more : undefined;
  const unitIssue = moreRowsProblem(moreRows, jsonBytes(first.row));
  if (unitIssue !== undefined) throw refuse(unitIssue);
  const timeoutMs = toMs('timeout', options.timeout, DEFAULT_WRITE_TIMEOUT);
  const attemptMs = Math.min(timeoutMs, toMs('attemptTimeout', options.attemptTimeout, DEFAULT_ATTEMPT_TIMEOUT));
  const taskQueue = options.taskQueue ?? DEFAULT_BATCHER_TASK_QUEUE;

  // A fixed activity id, derived from the request id: the batcher completes whichever attempt is
  // current by that id, and accepts no other reply address for this request.
  const { awaitBatchedWrite } = proxyActivities<BatcherSideActivities>({
    taskQueue,
    activityId: awaitActivityIdFor(requestId),
    scheduleToCloseTimeout: timeoutMs,
    startToCloseTimeout: attemptMs,
    // Transient failures (Temporal unreachable, a batcher worker gone) are retried until the
    // deadline; the typed refusals are non-retryable.
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds' },
  });
  /** awaitBatchedWrite again, within what is left of the write's deadline. */
  const awaitWithin = (leftMs: number) =>
    proxyActivities<BatcherSideActivities>({
      taskQueue,
      activityId: awaitActivityIdFor(requestId),
      scheduleToCloseTimeout: leftMs,
      startToCloseTimeout: Math.min(attemptMs, leftMs),
      retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds' },
    }).awaitBatchedWrite;
  const { settleBatchedWrite } = proxyActivities<BatcherSideActivities>({
    taskQueue,
    startToCloseTimeout: '30 seconds',
    // Must eventually succeed: until it does, the workflow cannot know whether its row exists.
    retry: {
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '30 seconds',
      nonRetryableErrorTypes: [BatcherErrorTypes.InvalidRequest],
    },
  });

  if (writing.has(requestId)) throw refuse(`this workflow is already writing request id ${label}; give each row its own id`);
  writing.add(requestId);
  const submittedAtMs = Date.now();
  const deadlineMs = submittedAtMs + timeoutMs;
  try {
    let failure: unknown;
    let answer: unknown;
    for (let pauseMs = 1000; ; pauseMs = Math.min(pauseMs * 2, MAX_RETRY_INTERVAL_MS)) {
      try {
        // A repeat (after an undecided conflict) gets what is left of the deadline.
        const call = failure === undefined ? awaitBatchedWrite : awaitWithin(deadlineMs - Date.now());
        answer = await call({ requestId, table, row: first.row, ...(moreRows ? { moreRows } : {}), submittedAtMs });
        failure = undefined;
      } catch (err) {
        failure = err;
      }
      const stop = failure === undefined || isCancellation(failure) ? undefined : stopOf(failure);
      // Asked again only while a pause and a real wait still fit before the deadline.
      const again =
        stop?.kind === 'refused' &&
        stop.type === BatcherErrorTypes.Conflict &&
        UNDECIDED_CONFLICT.test(stop.message) &&
        deadlineMs - Date.now() > pauseMs + 2000 &&
        patched(SETTLE_EVERY_FAILURE_PATCH);
      if (!again) break;
      try {
        await sleep(pauseMs);
      } catch (err) {
        failure = err; // cancelled while pausing: settled below like any cancellation
        break;
      }
    }
    if (failure === undefined && (isOutcomeFor(answer, requestId, table) || !patched(SETTLE_EVERY_FAILURE_PATCH))) {
      const outcome = answer as WriteOutcome;
      // Measured to when the batcher answered (its clock), not to when this workflow next ran: after a
      // requester worker was down, those differ by the outage. Bounded by the workflow's own view.
      const answeredAt =
        typeof outcome.answeredAtMs === 'number' && outcome.answeredAtMs >= submittedAtMs
          ? Math.min(outcome.answeredAtMs, Date.now())
          : Date.now();
      return { ...outcome, latencyMs: answeredAt - submittedAtMs };
    }
    // Not written, or not known to be: an answer that is not an outcome (no batcher sends one) counts as a failure.
    const err = (failure ??
      writeFailure(BatcherErrorTypes.SubmissionFailed, `the answer to write ${requestId} is not a write outcome`)) as Error;
    const cancelled = isCancellation(err);
    const stop: Stop = failure === undefined ? { kind: 'other', message: 'its answer was not a write outcome' } : stopOf(err);
    const ledgerAnswer = stop.kind === 'refused' && (stop.type === BatcherErrorTypes.Abandoned || stop.type === BatcherErrorTypes.Conflict);
    // Before the patch, WriteConflict and WriteAbandoned were taken as the ledger's word, unsettled.
    const settle = cancelled || !ledgerAnswer || failure === undefined || patched(SETTLE_EVERY_FAILURE_PATCH);
    // Settle whatever stopped the write: claim the id, or find the row committed. Anything the
    // requester was told may be false (a forged answer, a failure from outside); the ledger is not.
    const settled = settle
      ? await CancellationScope.nonCancellable(() =>
          settleBatchedWrite({ requestId, table, row: first.row, ...(moreRows ? { moreRows } : {}) }),
        )
      : undefined;
    const latencyMs = Date.now() - submittedAtMs;
    const settledAfter = cancelled ? 'cancellation' : stop.kind === 'deadline' ? 'timeout' : 'failure';
    if (settled !== undefined && settled.status !== 'abandoned' && settled.conflict === undefined) {
      // The ledger's word on the row: written (inserted or updated), or not written because another row holds its key.
      return {
        requestId,
        table,
        status: settled.status,
        batchId: settled.batchId,
        ...(settled.rows ? { rows: settled.rows } : {}),
        shard: settled.shard,
        latencyMs,
        settledAfter,
      };
    }
    if (cancelled) throw err;
    const details = { requestId, table, shard: settled?.shard, settled: settled ? settled.status : undefined };
    if (settled?.conflict !== undefined) {
      throw writeFailure(BatcherErrorTypes.Conflict, `write ${requestId}: ${settled.conflict}`, details, err);
    }
    if (settled?.abandonedEarlier) {
      throw writeFailure(
        BatcherErrorTypes.Abandoned,
        `write ${requestId}: its request id was claimed as abandoned by an earlier write under it that was refused, timed out or was cancelled; it can never be written: use a new request id (retryRequestId)`,
        details,
        err,
      );
    }
    const afterwards =
      'its id is claimed as abandoned and this row will never be written under it; retry with a new request id (retryRequestId)';
    if (stop.kind === 'refused') {
      if (!settled || !ledgerAnswer) throw writeFailure(stop.type, stop.message, details, err);
      // Answered WriteConflict or WriteAbandoned, yet the ledger held nothing for the id until this
      // claim: the answer was not the ledger's (a forgery, or a failure sent from outside).
      throw writeFailure(
        BatcherErrorTypes.Abandoned,
        `write ${requestId} was answered ${stop.type}, but the ledger held no entry for its id; ${afterwards}`,
        details,
        err,
      );
    }
    if (stop.kind === 'deadline') {
      throw writeFailure(
        BatcherErrorTypes.ConfirmationTimeout,
        `no outcome for write ${requestId} within ${timeoutMs} ms; ${afterwards}`,
        details,
        err,
      );
    }
    // Not a refusal and not the deadline: the batcher side failed in a way it did not type (a
    // batcher worker that crashed, Temporal refusing the submission...). Named for what happened.
    throw writeFailure(
      BatcherErrorTypes.SubmissionFailed,
      `write ${requestId} got no outcome from the batcher (${stop.message}); ${afterwards}`,
      details,
      err,
    );
  } finally {
    writing.delete(requestId);
  }
}

/** The writers {@link defineTables} gives: `batchedWrite` with the table name and its row type checked. */
export interface TableWriters<Tables> {
  batchedWrite<T extends keyof Tables & string>(
    table: T,
    row: Tables[T] & RowOf<Tables[T]>,
    options?: BatchedWriteOptions,
  ): Promise<BatchedWriteResult>;
  /** batchedWriteUnit with each row's table and type checked. */
  batchedWriteUnit(rows: ReadonlyArray<UnitRowOf<Tables>>, options?: BatchedWriteOptions): Promise<BatchedWriteResult>;
}

/** A row of a unit for one of `Tables`: its table name and a row of that table's type. */
export type UnitRowOf<Tables> = { [T in keyof Tables & string]: { table: T; row: Tables[T] & RowOf<Tables[T]> } }[keyof Tables & string];

/**
 * A typed map of your tables to their row types, so a call names a table that exists and gives it
 * a row of its type (both checked at compile time; the batcher checks them again at run time):
 *
 * @example
 * interface Order { order_id: string; total: string; meta: { source: string } }
 * const tables = defineTables<{ orders: Order; customers: Customer }>();
 * await tables.batchedWrite('orders', order, { requestId: `order:${order.order_id}` });
 */
export function defineTables<Tables>(): TableWriters<Tables> {
  return {
    // The row's type was checked at the call against its table's; here it is any row.
    batchedWrite: (table, row, options) => batchedWrite<Record<string, unknown>>(table, row, options),
    batchedWriteUnit: (rows, options) => batchedWriteUnit(rows, options),
  };
}
