// The protocol between requesters and batchers: signals, queries, message shapes, task-queue names
// and the activity contracts. Workflow-safe: imports nothing but @temporalio/workflow.
// For the batcher package and tools; a workflow that writes rows needs only the package's main entry.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { BatcherErrorType } from '../errors';
import type { WireRow } from './values';

/** Default task queue of the batcher workers. */
export const DEFAULT_BATCHER_TASK_QUEUE = 'batcher-queue';
/** Default prefix of batcher workflow ids; shard n runs as `${prefix}-${n}`. */
export const DEFAULT_BATCHER_WORKFLOW_ID_PREFIX = 'write-batcher';

/** Workflow type name of the batcher, for clients that start it without importing its code. */
export const BATCHER_WORKFLOW_TYPE = 'batcherWorkflow';
/** Activity type names the requester schedules on the batcher's task queue. */
export const AWAIT_WRITE_ACTIVITY = 'awaitBatchedWrite';
export const SETTLE_WRITE_ACTIVITY = 'settleBatchedWrite';

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
  /** Workflow that asked for the write; its waiting activity is the only reply address accepted. */
  requesterWorkflowId: string;
  /** Target table, one of the batcher's declared tables. */
  table: string;
  /** The row, column → value (see values.ts). */
  row: WireRow;
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
  /** The table the row is in. */
  table: string;
  /** committed: written by this batch; duplicate: the row already existed (written earlier), so the write is committed. */
  status: WriteStatus;
  /** Batch that wrote the row (for duplicate: the batch that wrote it originally, when known). */
  batchId?: string;
  shard: number;
  /** When the batcher sent this answer (ms since epoch, the batcher worker's clock). */
  answeredAtMs?: number;
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
  table: string;
  row: WireRow;
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
  table: string;
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
  /** The tables this batcher may write (its allow-list); a request for another is refused before it is queued. Filled in by the worker. */
  tables?: string[];
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
  /** Replies whose requester no longer waited (its activity finished or timed out, its workflow was gone). */
  confirmationsUndeliverable: number;
  /** Answers the shard had but dropped (beyond what continue-as-new carries when a run had to end at once). */
  answersDropped: number;
  /** Requests dropped unanswered because their reply address was not the requester's own waiting activity. */
  repliesRefused: number;
  flushPolicy: FlushPolicy;
  flushIntervalMs: number;
  maxBatchSize: number;
  /** Recent batches, newest last (bounded), for charts. */
  recentBatches: Array<{ batchId: string; rows: number; atMs: number; pendingAfter: number; durationMs: number }>;
}

/** A pending request: one row, every requester waiting for it, when it arrived and its size. */
export interface PendingRequest extends BatchRow {
  receivedAtMs: number;
  /** Fingerprint of table and row (see the batcher's shard book); absent in state carried by an earlier release. */
  fp?: string;
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
  answersDropped: number;
  repliesRefused: number;
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

/** Input of the waiting activity (run on the batcher's task queue): the request, minus what the activity adds itself. */
export interface AwaitWriteInput {
  requestId: string;
  table: string;
  row: WireRow;
  submittedAtMs: number;
}

/** Input of the settle step (run on the batcher's task queue): which id to claim. */
export interface SettleWriteInput {
  requestId: string;
  table: string;
  /** The row, to tell "committed" from "committed for another row" (a conflict). */
  row?: WireRow;
}

export interface SettleWriteResult {
  /** committed: a batch wrote the row; abandoned: the id is claimed and the row never will be written. */
  status: 'committed' | 'abandoned';
  /** Set when status is abandoned by an earlier claim (not this one): the id was unusable before this write. */
  abandonedEarlier?: boolean;
  /** Set when status is committed and the id was committed for another table or row. */
  conflict?: string;
  batchId?: string;
  /** The shard that owns the id. */
  shard: number;
}

/** What starts a shard: only where it is. Its settings come from its own worker. */
export interface BatcherInput {
  shard: number;
  state?: BatcherState;
}

/** Sent by a requester's worker (through signal-with-start) to hand a group of writes to a batcher. */
export const submitWritesSignal = defineSignal<[WriteRequest[]]>('submitWrites');
/** Statistics of a batcher shard. */
export const batcherStatsQuery = defineQuery<BatcherStats>('batcherStats');
/**
 * Memo key under which a shard publishes its statistics (without recentBatches), at most every 2 s
 * while they change: `describe()` reads them from the server without a turn in the shard's worker.
 */
export const BATCHER_STATS_MEMO_KEY = 'batcherStats';
