// What crosses between requesters and batchers: the submit signal, the request and outcome shapes,
// the contracts of the activities batchedWrite schedules on the batcher's task queue, names and
// task-queue defaults. Workflow-safe: imports nothing but @temporalio/workflow. The shard's own
// types (its state, settings, statistics, bulk-write contract) live with the shard in
// @write-batcher/batcher.
import { defineSignal } from '@temporalio/workflow';
import type { UnitRow, WireRow } from './values';

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
  /**
   * A unit's further rows (batchedWriteUnit): written in the same transaction as `row`, or none of
   * them is. Absent for a one-row request.
   */
  moreRows?: UnitRow[];
  /** When the requester submitted it (ms since epoch), for latency figures. */
  submittedAtMs: number;
  /** The activity that waits for the outcome. */
  reply: ReplyAddress;
  /** Trace context of the requester, so the batch joins its trace. */
  trace?: TraceCarrier;
}

/**
 * What happened to the row, as the ledger records it (a re-run answers the same):
 * - `committed`: written by this request's batch (inserted);
 * - `updated`: written by this request's batch over an existing row with the same key (mode upsert);
 * - `ignored`: not written, because another row already holds the key (mode insert-ignore); the id is
 *   settled: this row will never be written under it;
 * - `duplicate`: written earlier under this request id (by another attempt or requester).
 */
export type WriteStatus = 'committed' | 'duplicate' | 'ignored' | 'updated';

/** What happened to one row of a unit: written (committed), written over a row with its key (updated), or not written because another row holds its key (ignored). */
export interface UnitRowOutcome {
  table: string;
  status: 'committed' | 'updated' | 'ignored';
}

/** What a requester gets when its row is in the table. */
export interface WriteOutcome {
  requestId: string;
  /** The table the row is in (a unit: its first row's). */
  table: string;
  /**
   * What happened to the row (see {@link WriteStatus}). A unit is `committed` when its transaction
   * wrote it (each row's own outcome is in `rows`) and `duplicate` when it was written earlier.
   */
  status: WriteStatus;
  /** A unit's rows, in the order given, each with what its batch did with it (absent for a duplicate when the shard answered from memory). */
  rows?: UnitRowOutcome[];
  /** Batch that wrote the row (for duplicate: the batch that wrote it originally, when known). */
  batchId?: string;
  shard: number;
  /** When the batcher sent this answer (ms since epoch, the batcher worker's clock). */
  answeredAtMs?: number;
}

/** Input of the waiting activity (run on the batcher's task queue): the request, minus what the activity adds itself. */
export interface AwaitWriteInput {
  requestId: string;
  table: string;
  row: WireRow;
  moreRows?: UnitRow[];
  submittedAtMs: number;
}

/** Input of the settle step (run on the batcher's task queue): which id to claim. */
export interface SettleWriteInput {
  requestId: string;
  table: string;
  /** The row: an abandoned claim records its digest, and a committed id is told from one committed for another row (a conflict). */
  row: WireRow;
  /** A unit's further rows (part of the digest). */
  moreRows?: UnitRow[];
}

export interface SettleWriteResult {
  /**
   * committed / updated: a batch wrote the row (updated: over an existing row, mode upsert); ignored:
   * a batch found its key held by another row and did not write it (mode insert-ignore); abandoned:
   * the id is claimed and the row never will be written.
   */
  status: 'committed' | 'updated' | 'ignored' | 'abandoned';
  /** Set when status is abandoned by an earlier claim (not this one): the id was unusable before this write. */
  abandonedEarlier?: boolean;
  /** Set when status is committed and the id was committed for another table or row. */
  conflict?: string;
  batchId?: string;
  /** A unit's rows, each with what its batch did with it (committed, updated or ignored). */
  rows?: UnitRowOutcome[];
  /** The shard that owns the id. */
  shard: number;
}

/** Sent by a requester's worker (through signal-with-start) to hand a group of writes to a batcher. */
export const submitWritesSignal = defineSignal<[WriteRequest[]]>('submitWrites');
