// The shard's own types: its start input, the state continue-as-new carries, its settings and
// statistics, the bulk-write and answer-delivery contracts between the workflow and its activities,
// and the statistics query and memo key. Only the batcher side uses them (services read the
// statistics through @write-batcher/batcher); what crosses between requesters and batchers is in
// @write-batcher/protocol. Workflow-safe: imports nothing but @temporalio/workflow and the protocol.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { BatcherErrorType, ReplyAddress, TraceCarrier, UnitRow, UnitRowOutcome, WireRow, WriteStatus } from '@write-batcher/protocol';

/** Per-row outcome of a bulk write, as returned by the bulk-write activity. */
export interface RowOutcome {
  requestId: string;
  status: WriteStatus | 'rejected';
  batchId?: string;
  /** A unit's rows, each with what the batch did with it (a unit written by this batch). */
  rows?: UnitRowOutcome[];
  reason?: string;
  errorType?: BatcherErrorType;
}

/** A row of a batch: the request, plus every requester waiting for it. */
export interface BatchRow {
  requestId: string;
  requesterWorkflowId: string;
  table: string;
  row: WireRow;
  /** A unit's further rows: written in the same transaction as `row`, or none of them is. */
  moreRows?: UnitRow[];
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
  /** Signals of a name the shard does not know, dropped unread (absent from statistics published by earlier releases). */
  unknownSignalsDropped?: number;
  /** Continue-as-new runs a batcher worker's announcement of other settings caused ({@link settingsChangedSignal}); absent until the first. */
  settingsReloads?: number;
  /** Fingerprint of this run's settings (settings-fingerprint.ts), as a batcher worker announces them; absent from earlier releases. */
  settingsFingerprint?: string;
  /**
   * Signals the SDK could not have delivered (a reserved or empty name, an input that does not decode), dropped by
   * the inbound guard (workflows/inbound-guard.ts); absent from statistics published by earlier releases.
   */
  undecodableSignalsDropped?: number;
  /**
   * Requests dropped unanswered because their reply address already waits for another row under the
   * same id (an address is answered for the first request queued under it); absent from earlier releases.
   */
  forgedRepliesDropped?: number;
  /** Rows not written because another row held their key (mode insert-ignore). */
  ignored?: number;
  flushPolicy: FlushPolicy;
  flushIntervalMs: number;
  maxBatchSize: number;
  /** Recent batches, newest last (bounded), for charts. */
  recentBatches: Array<{ batchId: string; rows: number; atMs: number; pendingAfter: number; durationMs: number }>;
}

/** A pending request: one row, every requester waiting for it, when it arrived and its size. */
export interface PendingRequest extends BatchRow {
  receivedAtMs: number;
  /**
   * When its requester submitted it, as far as the shard trusts that (within one flush interval
   * before it arrived): the interval counts from here, so time spent in a submission group is not
   * added to it. Unset in runs before the thin-traffic patch: the interval counts from arrival.
   */
  sinceMs?: number;
  /** Fingerprint of table and row (see shard-book.ts): a repeat with another row is a conflict. */
  fp: string;
  /** UTF-8 bytes this entry adds to the carried state. */
  bytes: number;
}

/** A finished id in the dedup window: its outcome and the fingerprint of its table and row. */
export interface RecentOutcome {
  status: WriteStatus;
  batchId?: string;
  fp: string;
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
  /** Signals of a name the shard does not know, dropped unread. */
  unknownSignalsDropped: number;
  /** Signals the inbound guard turned into a drop (see BatcherStats.undecodableSignalsDropped). */
  undecodableSignalsDropped: number;
  /**
   * Requests dropped unanswered because their reply address already waits on the same request id
   * for another row: the address belongs to the request first queued under it (a forgery).
   */
  forgedRepliesDropped: number;
  /** Rows not written because another row held their key (mode insert-ignore); absent from runs of earlier releases. */
  ignored?: number;
  largestContinueAsNewPayloadBytes: number;
  /** Continue-as-new runs a batcher worker's announcement of other settings caused; absent until the first. */
  settingsReloads?: number;
}

/** Everything a batcher carries across continue-as-new; bounded in bytes by construction. */
export interface BatcherState {
  pending: PendingRequest[];
  /** Recently finished request ids, their outcome and fingerprint, oldest first, bounded by dedupWindowBytes. */
  recent: Array<[string, RecentOutcome]>;
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

/** Statistics of a batcher shard (tests and tools; the project's own readers read the memo). */
export const batcherStatsQuery = defineQuery<BatcherStats>('batcherStats');
/**
 * A batcher worker, when it starts, tells each running shard the fingerprint of the settings it
 * serves (settings-fingerprint.ts); a shard whose run has others continues as new at its next safe
 * point and reads them (one continue-as-new per signal at most; the same fingerprint changes nothing).
 */
export const settingsChangedSignal = defineSignal<[fingerprint: string]>('settingsChanged');
/**
 * Memo key under which a shard publishes its statistics (with only its latest 10 batches), at most
 * every 2 s while they change: `describe()` reads them from the server without a turn in the shard's worker.
 */
export const BATCHER_STATS_MEMO_KEY = 'batcherStats';

/**
 * The task queue of a shard's own activities (bulk write, answers, settings) beside the batcher's
 * queue `taskQueue`: every batcher worker serves it with slots of their own, which the requesters'
 * submissions and settle claims on `taskQueue` cannot take.
 */
export function shardTaskQueue(taskQueue: string): string {
  return `${taskQueue}-shard`;
}
/** The patch that moved a shard's activities to {@link shardTaskQueue}. */
export const SHARD_TASK_QUEUE_PATCH = 'shard-activities-own-queue';
