// The vocabulary every service shares: signals, queries, message shapes and task-queue names.
// Workflow-safe: imports nothing but @temporalio/workflow, so it can enter a workflow bundle.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { BatcherErrorType } from './errors';

/** Default task queue of the batcher workers. */
export const DEFAULT_BATCHER_TASK_QUEUE = 'batcher-queue';
/** Default task queue of the main (transactional) workers. */
export const DEFAULT_MAIN_TASK_QUEUE = 'main-workflow-queue';
/** Default prefix of batcher workflow ids; shard n runs as `${prefix}-${n}`. */
export const DEFAULT_BATCHER_WORKFLOW_ID_PREFIX = 'write-batcher';

/** Workflow type names, for clients that start workflows without importing their code. */
export const BATCHER_WORKFLOW_TYPE = 'batcherWorkflow';
export const TRANSACTION_WORKFLOW_TYPE = 'transactionWorkflow';

/** Largest accepted JSON payload of one request, in bytes: keeps carried state bounded. */
export const MAX_PAYLOAD_BYTES = 16 * 1024;

/** W3C trace-context carrier (`traceparent`, `tracestate`), kept as plain strings so it survives continue-as-new. */
export type TraceCarrier = Record<string, string>;

/** One row a requester wants written. */
export interface WriteRequest {
  /** Deterministic id of the write, derived from the business transaction; the unique key in MySQL. */
  requestId: string;
  /** Workflow to signal with the outcome. */
  requesterWorkflowId: string;
  /** The row's business content, stored as JSON. */
  payload: Record<string, unknown>;
  /** When the requester submitted it (ms since epoch), for latency figures. */
  submittedAtMs: number;
  /** Trace context of the requester, so the batch and the confirmation join its trace. */
  trace?: TraceCarrier;
}

export type WriteStatus = 'committed' | 'duplicate' | 'rejected';

/** What the batcher tells a requester once its request has been dealt with. */
export interface WriteConfirmation {
  requestId: string;
  /**
   * committed: written by this batch; duplicate: the row already existed (written earlier), so the
   * write is committed; rejected: will never be written (see reason).
   */
  status: WriteStatus;
  /** Batch that wrote the row (for duplicate: the batch that wrote it originally). */
  batchId?: string;
  shard: number;
  /** Why a request was rejected, e.g. the database's data error. */
  reason?: string;
  /** Error type for a rejection, one of {@link BatcherErrorType}. */
  errorType?: BatcherErrorType;
}

/** Per-row outcome of a bulk write, as returned by the bulk-write activity. */
export interface RowOutcome {
  requestId: string;
  status: WriteStatus;
  batchId?: string;
  reason?: string;
  errorType?: BatcherErrorType;
}

export interface BulkWriteInput {
  batchId: string;
  shard: number;
  rows: Array<Pick<WriteRequest, 'requestId' | 'requesterWorkflowId' | 'payload' | 'trace'>>;
}

export interface BulkWriteResult {
  batchId: string;
  outcomes: RowOutcome[];
  /** SQL statements the activity sent for this batch (including transaction control). */
  statements: number;
  durationMs: number;
}

/** Tunables of a batcher workflow; the worker's config supplies them when a shard is started. */
export interface BatcherSettings {
  /** Flush when this many requests are pending. @default 100 */
  maxBatchSize: number;
  /** Flush at least this often while requests are pending, in ms. @default 20000 */
  flushIntervalMs: number;
  /** Continue-as-new after this many signals in one run (or earlier if Temporal suggests). @default 1000 */
  continueAsNewSignals: number;
  /** How many recently written request ids the workflow remembers to answer duplicates fast. @default 500 */
  dedupWindowSize: number;
  /** Refuse new requests (BatcherOverloaded) while pending requests hold more than this many bytes. @default 1000000 */
  maxPendingBytes: number;
}

export interface BatcherStats {
  shard: number;
  pending: number;
  pendingBytes: number;
  batchesWritten: number;
  rowsWritten: number;
  duplicates: number;
  rejected: number;
  signalsThisRun: number;
  signalsTotal: number;
  continueAsNewCount: number;
  dedupWindowSize: number;
  /** Size in bytes of the state the next continue-as-new would carry (JSON estimate). */
  continueAsNewPayloadBytes: number;
  largestContinueAsNewPayloadBytes: number;
  lastFlushAtMs: number | null;
  lastBatch: { batchId: string; rows: number; durationMs: number } | null;
  /** Confirmations whose requester no longer existed. */
  confirmationsUndeliverable: number;
  /** Recent batches, newest last (bounded), for charts. */
  recentBatches: Array<{ batchId: string; rows: number; atMs: number; pendingAfter: number; durationMs: number }>;
}

/** A pending request plus the time the batcher received it. */
export interface PendingRequest extends WriteRequest {
  receivedAtMs: number;
}

/** Everything a batcher carries across continue-as-new; bounded by construction. */
export interface BatcherState {
  pending: PendingRequest[];
  /** Recently finished request ids and their outcome, oldest first, at most dedupWindowSize. */
  recent: Array<[string, Pick<WriteConfirmation, 'status' | 'batchId' | 'reason' | 'errorType'>]>;
  counters: {
    batchesWritten: number;
    rowsWritten: number;
    duplicates: number;
    rejected: number;
    signalsTotal: number;
    continueAsNewCount: number;
    confirmationsUndeliverable: number;
    largestContinueAsNewPayloadBytes: number;
  };
  lastFlushAtMs: number | null;
  recentBatches: BatcherStats['recentBatches'];
}

export interface BatcherInput {
  shard: number;
  settings: BatcherSettings;
  state?: BatcherState;
}

export interface TransactionInput {
  /** Business content of the row to write. */
  payload: Record<string, unknown>;
  /** Give up waiting for the confirmation after this many ms. @default 120000 */
  confirmationTimeoutMs?: number;
}

export interface TransactionResult {
  requestId: string;
  status: WriteStatus;
  batchId?: string;
  shard: number;
  /** ms from submission to confirmation, as the workflow saw it. */
  confirmationLatencyMs: number;
  /** True when the confirmation never arrived but the row was found committed in MySQL. */
  verifiedAfterTimeout?: boolean;
}

/** Sent by a requester (through signal-with-start) to hand a write to a batcher. */
export const submitWriteSignal = defineSignal<[WriteRequest]>('submitWrite');
/** Sent by a batcher to a requester once its write has an outcome. */
export const writeConfirmationSignal = defineSignal<[WriteConfirmation]>('writeConfirmation');
/** Statistics of a batcher shard. */
export const batcherStatsQuery = defineQuery<BatcherStats>('batcherStats');
