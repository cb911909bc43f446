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

/** W3C trace-context carrier (`traceparent`, `tracestate`), kept as plain strings so it survives continue-as-new. */
export type TraceCarrier = Record<string, string>;

/**
 * Where the outcome of a write goes: the requester's waiting activity, completed asynchronously by
 * id. Any attempt of that activity is completed, so a retried submission needs no new address.
 */
export interface ReplyAddress {
  workflowId: string;
  runId: string;
  activityId: string;
}

/** One row a requester wants written. */
export interface WriteRequest {
  /** Deterministic id of the write, derived from the business transaction; the unique key in MySQL. */
  requestId: string;
  /** Workflow that asked for the write (stored with the row). */
  requesterWorkflowId: string;
  /** The row's business content, stored as JSON. */
  payload: Record<string, unknown>;
  /** When the requester submitted it (ms since epoch), for latency figures. */
  submittedAtMs: number;
  /** The activity that waits for the outcome. */
  reply: ReplyAddress;
  /** Trace context of the requester, so the batch joins its trace. */
  trace?: TraceCarrier;
}

export type WriteStatus = 'committed' | 'duplicate';

/** What a requester gets when its row is in the table. */
export interface WriteOutcome {
  requestId: string;
  /** committed: written by this batch; duplicate: the row already existed (written earlier), so the write is committed. */
  status: WriteStatus;
  /** Batch that wrote the row (for duplicate: the batch that wrote it originally, when known). */
  batchId?: string;
  shard: number;
}

/** Per-row outcome of a bulk write, as returned by the bulk-write activity. */
export interface RowOutcome {
  requestId: string;
  status: WriteStatus | 'rejected';
  batchId?: string;
  reason?: string;
  errorType?: BatcherErrorType;
}

/** A row of a batch: the request, plus every requester waiting for it. */
export interface BatchRow {
  requestId: string;
  requesterWorkflowId: string;
  payload: Record<string, unknown>;
  replies: ReplyAddress[];
  trace?: TraceCarrier;
}

export interface BulkWriteInput {
  batchId: string;
  shard: number;
  rows: BatchRow[];
}

export interface BulkWriteResult {
  batchId: string;
  outcomes: RowOutcome[];
  /** SQL statements the activity sent for this batch (including transaction control). */
  statements: number;
  durationMs: number;
  /** Replies whose requester no longer waited (its activity had finished, or the workflow was gone). */
  repliesUndeliverable: number;
}

/** An answer the batcher gives without a write (refusal, or a repeat it already knows the outcome of). */
export interface DirectAnswer {
  reply: ReplyAddress;
  requestId: string;
  shard: number;
  outcome: { status: WriteStatus; batchId?: string } | { status: 'rejected'; errorType: BatcherErrorType; reason: string };
}

export interface DeliverAnswersResult {
  delivered: number;
  undeliverable: number;
}

/** When a shard writes. */
export type FlushPolicy = 'size-or-interval' | 'eager';

/** Tunables of a batcher workflow; the batcher worker reads them from its own config at each run start. */
export interface BatcherSettings {
  /**
   * size-or-interval: write when maxBatchSize requests are pending or the oldest waited
   * flushIntervalMs (the reference design). eager: write whatever is pending as soon as a write slot
   * is free (group commit). @default 'size-or-interval'
   */
  flushPolicy: FlushPolicy;
  /** Most rows in one bulk write. @default 100 */
  maxBatchSize: number;
  /** Flush at least this often while requests are pending, in ms. @default 20000 */
  flushIntervalMs: number;
  /** Bulk writes one shard runs at once. @default 4 */
  maxWritesInFlight: number;
  /** Continue-as-new after this many submit signals in one run (or earlier if Temporal suggests). @default 500 */
  continueAsNewSignals: number;
  /** Bytes of recently finished request ids a shard remembers to answer repeats without a write. @default 65536 */
  dedupWindowBytes: number;
  /** Refuse new requests (BatcherOverloaded) while this many are pending. @default 2000 */
  maxPendingRequests: number;
  /** Refuse new requests (BatcherOverloaded) while pending requests hold more than this many bytes. @default 1000000 */
  maxPendingBytes: number;
  /** Requests one workflow task may take in (accepted or refused); beyond it, BatcherOverloaded. @default 1000 */
  maxRequestsPerTask: number;
}

export interface BatcherStats {
  shard: number;
  pending: number;
  pendingBytes: number;
  /** Age of the oldest pending request, in ms (workflow time). */
  oldestPendingAgeMs: number | null;
  /** When the last request was accepted (workflow time, ms since epoch). */
  lastRequestAtMs: number | null;
  writesInFlight: number;
  batchesWritten: number;
  rowsWritten: number;
  duplicates: number;
  rejected: number;
  /** Requests refused because the shard was full (BatcherOverloaded). */
  refused: number;
  signalsThisRun: number;
  signalsTotal: number;
  requestsTotal: number;
  continueAsNewCount: number;
  dedupWindowSize: number;
  /** Size in bytes of the state the next continue-as-new would carry. */
  continueAsNewPayloadBytes: number;
  largestContinueAsNewPayloadBytes: number;
  lastFlushAtMs: number | null;
  lastBatch: { batchId: string; rows: number; durationMs: number } | null;
  /** Replies whose requester no longer waited. */
  confirmationsUndeliverable: number;
  flushPolicy: FlushPolicy;
  flushIntervalMs: number;
  maxBatchSize: number;
  /** Recent batches, newest last (bounded), for charts. */
  recentBatches: Array<{ batchId: string; rows: number; atMs: number; pendingAfter: number; durationMs: number }>;
}

/** A pending request: one row, every requester waiting for it, when it arrived and its size. */
export interface PendingRequest extends BatchRow {
  receivedAtMs: number;
  /** UTF-8 bytes this entry adds to the carried state. */
  bytes: number;
}

/** Counters a shard keeps across continue-as-new. */
export interface BatcherCounters {
  batchesWritten: number;
  rowsWritten: number;
  duplicates: number;
  rejected: number;
  refused: number;
  signalsTotal: number;
  requestsTotal: number;
  continueAsNewCount: number;
  confirmationsUndeliverable: number;
  largestContinueAsNewPayloadBytes: number;
}

/** Everything a batcher carries across continue-as-new; bounded in bytes by construction. */
export interface BatcherState {
  pending: PendingRequest[];
  /** Recently finished request ids and their outcome, oldest first, bounded by dedupWindowBytes. */
  recent: Array<[string, { status: WriteStatus; batchId?: string }]>;
  counters: BatcherCounters;
  lastFlushAtMs: number | null;
  recentBatches: BatcherStats['recentBatches'];
  /** Answers not yet delivered when the run ended (bounded in bytes). */
  answers?: DirectAnswer[];
  /** The settings the previous run used: statistics use them until this run has read its own. */
  settings?: BatcherSettings;
}

/** What starts a shard: only where it is. Its settings come from its own worker. */
export interface BatcherInput {
  shard: number;
  state?: BatcherState;
}

export interface TransactionInput {
  /** Business content of the row to write. */
  payload: Record<string, unknown>;
  /** Give up waiting for the confirmation after this many ms. @default the main worker's CONFIRMATION_TIMEOUT_MS */
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

/** Sent by a requester's worker (through signal-with-start) to hand a group of writes to a batcher. */
export const submitWritesSignal = defineSignal<[WriteRequest[]]>('submitWrites');
/** Statistics of a batcher shard. */
export const batcherStatsQuery = defineQuery<BatcherStats>('batcherStats');
