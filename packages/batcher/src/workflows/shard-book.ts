// The state of one batcher shard and every decision about it, without Temporal: which requests are
// accepted, refused or answered from memory, when a batch is due and what it holds, what a finished
// batch changes, and what continue-as-new carries. The loop's own state (timers, memo, continue-as-new
// timing) is ShardLoop's (shard-loop.ts); the workflow (batcher.ts) is a thin loop around both.
//
// Every limit is counted in bytes (UTF-8 JSON) and checked before a request is queued, so no input
// can make a payload Temporal refuses: not the carried state, not a bulk-write input, not a reply.
import {
  BatcherErrorTypes,
  type BatcherErrorType,
  MAX_ACTIVITY_ID_BYTES,
  MAX_REQUESTER_WORKFLOW_ID_BYTES,
  MAX_REQUEST_ID_BYTES,
  TEMPORAL_PAYLOAD_BUDGET_BYTES,
  TABLE_NAME_PATTERN,
  awaitActivityIdFor,
  canonicalUnitText,
  idProblem,
  jsonBytes,
  measurePayload,
  moreRowsProblem,
  wireRowProblem,
  type UnitRow,
  type WireRow,
  type ReplyAddress,
  type TraceCarrier,
} from '@write-batcher/protocol';
import type {
  BatchRow,
  BatcherCounters,
  BatcherSettings,
  BatcherState,
  BatcherStats,
  BulkWriteResult,
  DirectAnswer,
  PendingRequest,
  RecentOutcome,
  RowOutcome,
} from './types';
import { textHash } from './text-hash';

/** How many recent batches the statistics keep for charts. */
const RECENT_BATCHES = 30;
/** Most requesters waiting on one request id (a repeat from the same requester is not counted twice). */
const MAX_REPLIES_PER_REQUEST = 8;
/** Largest bulk-write input, in bytes: a batch is cut here even below maxBatchSize. */
export const MAX_BATCH_BYTES = 1_000_000;
/** Largest group of answers handed to one delivery activity, in bytes. */
const MAX_ANSWER_GROUP_BYTES = 1_000_000;
/** Most bytes of undelivered answers carried across continue-as-new; the rest are dropped (their requesters send again). */
const MAX_CARRIED_ANSWER_BYTES = 200_000;
/** Largest trace carrier kept with a request; a bigger one is dropped (the write still happens). */
const MAX_TRACE_BYTES = 1024;

/**
 * FNV-1a and djb2 (text-hash.ts) over a request's canonical text, 64 bits in all, plus its length: tells rows (and
 * units) apart without keeping them.
 */
export function fingerprint(table: string, row: WireRow, moreRows?: readonly UnitRow[]): string {
  const text = canonicalUnitText(table, row, moreRows);
  const [a, b] = textHash(text);
  return `${a.toString(16)}${b.toString(16)}:${text.length}`;
}

/** A problem named by where it was found, or undefined. */
const prefixed = (where: string, problem: string | undefined): string | undefined =>
  problem === undefined ? undefined : `${where}: ${problem}`;

/** The batcher family of a shard's workflow id (`prefix-<n>` → a test for any `prefix-<digits>`). */
export function batcherFamilyTest(shardWorkflowId: string): (workflowId: string) => boolean {
  const prefix = shardWorkflowId.replace(/-\d+$/, '-');
  return (workflowId) => workflowId.startsWith(prefix) && /^\d+$/.test(workflowId.slice(prefix.length));
}

export function emptyCounters(): BatcherCounters {
  return {
    batchesWritten: 0,
    rowsWritten: 0,
    duplicates: 0,
    rejected: 0,
    refused: 0,
    signalsTotal: 0,
    requestsTotal: 0,
    continueAsNewCount: 0,
    confirmationsUndeliverable: 0,
    answersDropped: 0,
    repliesRefused: 0,
    unknownSignalsDropped: 0,
    undecodableSignalsDropped: 0,
    forgedRepliesDropped: 0,
    largestContinueAsNewPayloadBytes: 0,
  };
}

/** Why a reply address is unusable, or undefined. Without a usable address nobody can be answered. */
function replyProblem(reply: unknown): string | undefined {
  if (typeof reply !== 'object' || reply === null) return 'reply must be an object';
  const r = reply as Partial<ReplyAddress>;
  return (
    idProblem('reply.workflowId', r.workflowId, MAX_REQUESTER_WORKFLOW_ID_BYTES) ??
    idProblem('reply.runId', r.runId, 64) ??
    idProblem('reply.activityId', r.activityId, MAX_ACTIVITY_ID_BYTES)
  );
}

const sameReply = (a: ReplyAddress, b: ReplyAddress): boolean =>
  a.workflowId === b.workflowId && a.runId === b.runId && a.activityId === b.activityId;

function cleanTrace(trace: unknown): TraceCarrier | undefined {
  if (typeof trace !== 'object' || trace === null || Array.isArray(trace)) return undefined;
  const entries = Object.entries(trace as Record<string, unknown>);
  if (entries.length > 4 || !entries.every(([, v]) => typeof v === 'string')) return undefined;
  return jsonBytes(trace) <= MAX_TRACE_BYTES ? (trace as TraceCarrier) : undefined;
}

/**
 * A request's submission time as the shard trusts it: a time before its arrival, at most two flush
 * intervals before (a group lingers up to one, plus the signal's own way), else its arrival: a
 * stale, future or missing time never makes a batch due earlier than the interval after arrival.
 */
function submittedWithin(submittedAtMs: unknown, receivedAtMs: number, intervalMs: number): number {
  if (typeof submittedAtMs !== 'number' || !Number.isFinite(submittedAtMs)) return receivedAtMs;
  if (submittedAtMs > receivedAtMs || submittedAtMs < receivedAtMs - 2 * intervalMs) return receivedAtMs;
  return Math.floor(submittedAtMs);
}

export interface Batch {
  batchId: string;
  rows: BatchRow[];
}

/**
 * How a run of this release names its batches and meets the per-task request limit (the
 * `reset-safe-shard` patch in batcher.ts). A run started before the patch passes its run id instead:
 * batch ids `s<shard>-<runId>-<n>`, and requests beyond the limit refused.
 */
export interface ShardRunStyle {
  /**
   * A fresh unique token per batch (`s<shard>-<token>`), the same on every replay: the workflow's
   * `uuid4()`. Its seed comes from the execution's original run id, so a run reset to any point
   * replays the ids it had before that point (its recorded bulk-write results match), and the reset
   * point reseeds it, so the new branch never reuses an id the abandoned branch wrote.
   */
  batchToken: () => string;
  /**
   * The flush interval counts from when a request was submitted (PendingRequest.sinceMs), not from
   * when it reached the shard, so the batcher worker may hold a group of submissions for up to the
   * interval (fewer signals, each a Temporal action) without adding that time to the wait.
   */
  dueFromSubmission?: boolean;
}

export class ShardBook {
  readonly counters: BatcherCounters;
  lastFlushAtMs: number | null;
  recentBatches: BatcherStats['recentBatches'];
  writesInFlight = 0;
  signalsThisRun = 0;
  /** When the last submit signal arrived in this run (workflow time); null before the first. */
  lastSignalAtMs: number | null = null;
  /** When the last request was accepted (workflow time). */
  private lastRequestAtMs: number | null = null;
  /** Batches started in this run (a pre-patch run's batch ids are `s<shard>-<runId>-<n>`). */
  private batchSeq = 0;

  private pending: PendingRequest[];
  private pendingBytes: number;
  private readonly pendingById = new Map<string, PendingRequest>();
  /** Ids being written now, with their fingerprint and requesters that asked again meanwhile (answered after the write). */
  private readonly inFlight = new Map<string, { fp: string; table: string; replies: ReplyAddress[]; owners?: ReplyAddress[] }>();
  /** Recently finished ids, oldest first, bounded by settings.dedupWindowBytes. */
  private readonly recent = new Map<string, RecentOutcome>();
  private recentBytes = 0;
  private answers: DirectAnswer[] = [];
  /** Requests taken in during the current workflow task (Date.now() is fixed within one task). */
  private task = { stamp: Number.NaN, requests: 0 };
  /**
   * Requests past this task's limit (maxRequestsPerTask), oldest first, each to be taken in by a later
   * task (takeDeferred): a run reset to an earlier point gets every later signal again in one task,
   * and those requests were not refused the first time. At most maxPendingRequests wait here.
   */
  private readonly deferred: unknown[] = [];
  private readonly run: ShardRunStyle | undefined;

  /** Whether a workflow id belongs to the batcher family (a reply there is never accepted). */
  private readonly isBatcherId: (workflowId: string) => boolean;

  constructor(
    readonly shard: number,
    readonly settings: BatcherSettings,
    /** This run's style, or (a run started before the `reset-safe-shard` patch) its run id. */
    private readonly runStyle: ShardRunStyle | string,
    state?: BatcherState,
    /** This shard's own workflow id. @default `write-batcher-<shard>` */
    shardWorkflowId = `write-batcher-${shard}`,
  ) {
    this.isBatcherId = batcherFamilyTest(shardWorkflowId);
    this.run = typeof runStyle === 'string' ? undefined : runStyle;
    this.counters = { ...emptyCounters(), ...state?.counters };
    this.lastFlushAtMs = state?.lastFlushAtMs ?? null;
    this.recentBatches = state?.recentBatches ?? [];
    this.pending = state?.pending ?? [];
    this.pendingBytes = this.pending.reduce((n, r) => n + r.bytes, 0);
    for (const p of this.pending) this.pendingById.set(p.requestId, p);
    for (const [id, outcome] of state?.recent ?? []) this.remember(id, outcome);
    this.answers = state?.answers ?? [];
  }

  /**
   * Takes in one submit signal's argument: a group of requests (anything a hostile sender sent). A
   * lone request not wrapped in an array is taken as a group of one.
   */
  offerSignal(requests: unknown, nowMs: number): void {
    this.signalsThisRun++;
    this.lastSignalAtMs = nowMs;
    this.counters.signalsTotal++;
    const list = Array.isArray(requests) ? requests : typeof requests === 'object' && requests !== null ? [requests] : undefined;
    if (!list) {
      this.counters.rejected++;
      return;
    }
    for (const raw of list) this.offer(raw, nowMs);
  }

  /**
   * Why a reply address may not be answered, or undefined. An answer completes the activity the
   * address names, so the batcher accepts only the one batchedWrite schedules for this request: in
   * the requester's own workflow, with the activity id derived from the request id, and never in a
   * batcher's workflow (a shard's own bulk write would be completed by a forged request).
   */
  private replyBindingProblem(reply: ReplyAddress, requestId: unknown, requesterWorkflowId: unknown): string | undefined {
    if (reply.workflowId !== requesterWorkflowId) return 'reply.workflowId is not the requester workflow id';
    if (typeof requestId !== 'string' || reply.activityId !== awaitActivityIdFor(requestId))
      return 'reply.activityId is not the activity batchedWrite derives from the request id';
    if (this.isBatcherId(reply.workflowId)) return 'reply names a batcher workflow';
    return undefined;
  }

  /** A signal of a name the shard does not know: dropped unread (its arguments may hold row values). */
  dropUnknownSignal(): void {
    this.counters.unknownSignalsDropped++;
  }

  /** Takes in one request: queued, attached to the same id in progress, answered, refused, or deferred to a later task. */
  offer(raw: unknown, nowMs: number, deferredBefore = false): void {
    if (!deferredBefore) this.counters.requestsTotal++;
    if (this.task.stamp !== nowMs) this.task = { stamp: nowMs, requests: 0 };
    this.task.requests++;
    const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    if (
      replyProblem(r.reply) !== undefined ||
      this.replyBindingProblem(r.reply as ReplyAddress, r.requestId, r.requesterWorkflowId) !== undefined
    ) {
      // Nobody this shard may answer: count it and drop it. batchedWrite never sends such a request.
      this.counters.repliesRefused++;
      return;
    }
    const reply = r.reply as ReplyAddress;
    const requestId = typeof r.requestId === 'string' ? r.requestId.slice(0, MAX_REQUEST_ID_BYTES + 1) : '';
    const table = typeof r.table === 'string' ? r.table.slice(0, 130) : '';
    const refuse = (errorType: BatcherErrorType, reason: string) => {
      if (errorType === BatcherErrorTypes.Overloaded) this.counters.refused++;
      else this.counters.rejected++;
      this.answer({ reply, requestId, table, shard: this.shard, outcome: { status: 'rejected', errorType, reason } });
    };
    // A reply address is answered for the one request first queued under it. The address is the
    // requester's waiting activity, and its id follows from the request id, so anyone who can signal
    // the shard can name a live request's address. The orders:
    // - victim first, then another (or unreadable) row under the same id and address, while the
    //   victim's request is pending or being written: dropped and counted, never answered (before,
    //   the victim was told WriteConflict or InvalidWriteRequest for a row it never sent);
    // - the same row again from the same address (the requester's own retry, or a replay): nothing
    //   to answer, the write under way answers it, even past the task limit;
    // - another address (another requester, or a made-up run id): answered as usual, a conflict
    //   to that address only;
    // - after the victim's write (the id in the recent window): nobody waits under the address any
    //   more; a conflict answer finds no activity, or a retry attempt that settles in the ledger;
    // - forger first, with the victim's real run id before the victim's own request arrives: the
    //   forger's row holds the address and the victim's is dropped. That is a forged completion by
    //   another route; docs/reliability.md, "Trust boundary", says what shuts it.
    const queued = this.pendingById.get(requestId);
    const flying = queued ? undefined : this.inFlight.get(requestId);
    const holder = queued ?? flying;
    if (holder && [...holder.replies, ...(flying?.owners ?? [])].some((x) => sameReply(x, reply))) {
      let fp: string | undefined;
      try {
        if (r.table === holder.table && !('problem' in measurePayload(r.row)) && moreRowsProblem(r.moreRows) === undefined)
          fp = fingerprint(holder.table, r.row as WireRow, r.moreRows as UnitRow[] | undefined);
      } catch {
        fp = undefined; // a row that cannot even be read is another row
      }
      if (fp === holder.fp) this.counters.duplicates++;
      else this.counters.forgedRepliesDropped++;
      return;
    }
    // The limit keeps every task short: past it a request is only set aside (one check of its reply
    // address), and a later task takes it in. Behind requests set aside, a new one waits its turn too.
    if (this.task.requests > this.settings.maxRequestsPerTask || (!deferredBefore && this.deferred.length > 0)) {
      if (this.run && this.deferred.length + this.pending.length < this.settings.maxPendingRequests) {
        this.deferred.push(raw);
        return;
      }
      refuse(
        BatcherErrorTypes.Overloaded,
        this.run
          ? `shard ${this.shard} holds ${this.pending.length} pending requests and ${this.deferred.length} for its next tasks (limit ${this.settings.maxPendingRequests}); try again later`
          : `shard ${this.shard} took ${this.settings.maxRequestsPerTask} requests in this workflow task already; try again later`,
      );
      return;
    }
    const tables = this.settings.tables;
    const measured = (value: unknown, what: string) => {
      const m = measurePayload(value);
      return 'problem' in m ? m.problem.replace(/^payload/, what) : undefined;
    };
    const notDeclared = (t: string, where = '') =>
      tables && !tables.includes(t) ? `${where}table ${t} is not one of this batcher's tables (${tables.join(', ')})` : undefined;
    const first = measurePayload(r.row);
    const problem =
      idProblem('request id', r.requestId, MAX_REQUEST_ID_BYTES) ??
      idProblem('requester workflow id', r.requesterWorkflowId, MAX_REQUESTER_WORKFLOW_ID_BYTES) ??
      (typeof r.table !== 'string' || !TABLE_NAME_PATTERN.test(r.table) ? 'table must be a table name' : undefined) ??
      notDeclared(table) ??
      measured(r.row, 'row') ??
      // The values' wire form, in runs of the reset-safe style only: an older run's recorded batches may hold such a row.
      (this.run ? wireRowProblem(r.row) : undefined) ??
      // A unit's further rows: the same checks, each named by its place in the unit.
      moreRowsProblem(r.moreRows, 'bytes' in first ? first.bytes : 0) ??
      ((r.moreRows as UnitRow[] | undefined) ?? [])
        .map(
          (m, i) =>
            notDeclared(m.table, `row ${i + 2} of the unit: `) ??
            (this.run ? prefixed(`row ${i + 2} of the unit`, wireRowProblem(m.row)) : undefined),
        )
        .find((p) => p !== undefined);
    if (problem !== undefined) {
      refuse(BatcherErrorTypes.InvalidRequest, problem);
      return;
    }
    const row = r.row as WireRow;
    const moreRows = Array.isArray(r.moreRows) && r.moreRows.length > 0 ? (r.moreRows as UnitRow[]) : undefined;
    const fp = fingerprint(table, row, moreRows);
    // batchedWrite asks again after "already queued" or "being written" (not decided yet): keep the words.
    const conflict = (where: string) =>
      refuse(BatcherErrorTypes.Conflict, `request id ${requestId} is ${where} with a different table or row; the first one stays`);

    const waiting = this.pendingById.get(requestId);
    if (waiting) {
      if (waiting.fp !== fp) return conflict('already queued');
      this.counters.duplicates++;
      if (waiting.replies.some((x) => sameReply(x, reply))) return;
      if (waiting.replies.length >= MAX_REPLIES_PER_REQUEST) {
        refuse(BatcherErrorTypes.InvalidRequest, `more than ${MAX_REPLIES_PER_REQUEST} requesters wait for request id ${requestId}`);
        return;
      }
      const added = jsonBytes(reply) + 1;
      waiting.replies.push(reply);
      waiting.bytes += added;
      this.pendingBytes += added;
      return;
    }
    const writing = this.inFlight.get(requestId);
    if (writing) {
      if (writing.fp !== fp) return conflict('being written');
      this.counters.duplicates++;
      if (!writing.replies.some((x) => sameReply(x, reply)) && writing.replies.length < MAX_REPLIES_PER_REQUEST)
        writing.replies.push(reply);
      return;
    }
    const known = this.recent.get(requestId);
    if (known && known.fp === fp) {
      this.counters.duplicates++;
      // Written earlier under this id: a duplicate; settled as not written (insert-ignore): ignored again.
      const status = known.status === 'ignored' ? 'ignored' : 'duplicate';
      this.answer({ reply, requestId, table, shard: this.shard, outcome: { status, batchId: known.batchId } });
      return;
    }
    if (known) return conflict('already written');

    const entry: PendingRequest = {
      requestId,
      requesterWorkflowId: r.requesterWorkflowId as string,
      table,
      row,
      ...(moreRows ? { moreRows } : {}),
      fp,
      replies: [reply],
      trace: cleanTrace(r.trace),
      receivedAtMs: nowMs,
      ...(this.run?.dueFromSubmission ? { sinceMs: submittedWithin(r.submittedAtMs, nowMs, this.settings.flushIntervalMs) } : {}),
      bytes: 0,
    };
    entry.bytes = jsonBytes(entry) + 16;
    if (entry.bytes > this.settings.maxPendingBytes || entry.bytes > MAX_BATCH_BYTES) {
      refuse(
        BatcherErrorTypes.InvalidRequest,
        `request is ${entry.bytes} bytes and can never fit a batch (limit ${Math.min(this.settings.maxPendingBytes, MAX_BATCH_BYTES)})`,
      );
      return;
    }
    if (this.pending.length >= this.settings.maxPendingRequests) {
      refuse(
        BatcherErrorTypes.Overloaded,
        `shard ${this.shard} holds ${this.pending.length} pending requests (limit ${this.settings.maxPendingRequests}); try again later`,
      );
      return;
    }
    if (this.pendingBytes + entry.bytes > this.settings.maxPendingBytes) {
      refuse(
        BatcherErrorTypes.Overloaded,
        `shard ${this.shard} holds ${this.pendingBytes} bytes of pending requests (limit ${this.settings.maxPendingBytes}); try again later`,
      );
      return;
    }
    this.pending.push(entry);
    this.lastRequestAtMs = nowMs;
    this.pendingById.set(requestId, entry);
    this.pendingBytes += entry.bytes;
  }

  /**
   * Takes in deferred requests, oldest first, while this task's limit and the pending limit leave
   * room. Returns whether the task's limit stopped it: the loop then wakes for a next task at once.
   * (When the pending limit stops it, a finished write brings the loop back.)
   */
  takeDeferred(nowMs: number): boolean {
    while (this.deferred.length > 0) {
      if (this.task.stamp === nowMs && this.task.requests >= this.settings.maxRequestsPerTask) return true;
      if (this.pending.length >= this.settings.maxPendingRequests) return false;
      this.offer(this.deferred.shift(), nowMs, true);
    }
    return false;
  }

  /** Requests set aside for a later task. */
  get deferredCount(): number {
    return this.deferred.length;
  }

  private answer(a: DirectAnswer): void {
    this.answers.push(a);
  }

  hasAnswers(): boolean {
    return this.answers.length > 0;
  }

  /** The next group of answers to deliver (bounded in bytes), removed from the queue. */
  takeAnswers(): DirectAnswer[] {
    let bytes = 0;
    let n = 0;
    while (n < this.answers.length && bytes < MAX_ANSWER_GROUP_BYTES) bytes += jsonBytes(this.answers[n++]);
    return this.answers.splice(0, n);
  }

  countUndeliverable(n: number): void {
    this.counters.confirmationsUndeliverable += n;
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  /** When the oldest pending request becomes due under size-or-interval; undefined when none or eager. */
  nextDueAtMs(): number | undefined {
    const oldest = this.pending[0];
    if (!oldest || this.settings.flushPolicy === 'eager') return undefined;
    return (oldest.sinceMs ?? oldest.receivedAtMs) + this.settings.flushIntervalMs;
  }

  /** Whether a write should start now. Full batches go in parallel up to maxWritesInFlight. */
  writeDue(nowMs: number): boolean {
    if (this.pending.length === 0 || this.writesInFlight >= this.settings.maxWritesInFlight) return false;
    const full = this.pending.length >= this.settings.maxBatchSize || this.pendingBytes >= MAX_BATCH_BYTES;
    if (full) return true;
    if (this.settings.flushPolicy === 'eager') return this.writesInFlight === 0;
    return nowMs >= (this.nextDueAtMs() ?? Number.POSITIVE_INFINITY);
  }

  /** Takes the next batch (≤ maxBatchSize rows, ≤ MAX_BATCH_BYTES) out of pending. */
  takeBatch(): Batch {
    let bytes = 0;
    let n = 0;
    while (n < this.pending.length && n < this.settings.maxBatchSize) {
      const next = (this.pending[n] as PendingRequest).bytes;
      if (n > 0 && bytes + next > MAX_BATCH_BYTES) break;
      bytes += next;
      n++;
    }
    const taken = this.pending.splice(0, n);
    this.pendingBytes -= bytes;
    this.writesInFlight++;
    const rows = taken.map(({ requestId, requesterWorkflowId, table, row, moreRows, fp, replies, trace }): BatchRow => {
      this.pendingById.delete(requestId);
      this.inFlight.set(requestId, { fp, table, replies: [], owners: replies });
      return { requestId, requesterWorkflowId, table, row, ...(moreRows ? { moreRows } : {}), replies, ...(trace ? { trace } : {}) };
    });
    ++this.batchSeq;
    // Unique even if a shard is terminated and started afresh; see ShardRunStyle for resets.
    const batchId = this.run ? `s${this.shard}-${this.run.batchToken()}` : `s${this.shard}-${this.runStyle as string}-${this.batchSeq}`;
    return { batchId, rows };
  }

  /** Applies a finished bulk write: counters, the dedup window, answers for requesters that asked meanwhile. */
  finishBatch(batch: Batch, result: BulkWriteResult, nowMs: number): void {
    this.writesInFlight--;
    const byId = new Map<string, RowOutcome>(result.outcomes.map((o) => [o.requestId, o]));
    let written = 0;
    for (const row of batch.rows) {
      const o = byId.get(row.requestId) ?? {
        requestId: row.requestId,
        status: 'rejected',
        errorType: BatcherErrorTypes.DataRejected,
        reason: 'bulk write returned no outcome for this request',
      };
      // A unit counts its rows the batch wrote (not those it found held by another row).
      if (o.status === 'committed' || o.status === 'updated') written += o.rows ? o.rows.filter((x) => x.status !== 'ignored').length : 1;
      else if (o.status === 'duplicate') this.counters.duplicates++;
      else if (o.status === 'ignored') this.counters.ignored = (this.counters.ignored ?? 0) + 1;
      else this.counters.rejected++;
      const flight = this.inFlight.get(row.requestId);
      if (o.status !== 'rejected')
        this.remember(row.requestId, {
          status: o.status,
          batchId: o.batchId,
          fp: flight?.fp ?? fingerprint(row.table, row.row, row.moreRows),
        });
      for (const reply of flight?.replies ?? []) {
        this.answer({
          reply,
          requestId: row.requestId,
          table: row.table,
          shard: this.shard,
          outcome:
            o.status === 'rejected'
              ? { status: 'rejected', errorType: o.errorType ?? BatcherErrorTypes.DataRejected, reason: o.reason ?? 'rejected' }
              : { status: o.status === 'ignored' ? 'ignored' : 'duplicate', batchId: o.batchId },
        });
      }
      this.inFlight.delete(row.requestId);
    }
    this.counters.batchesWritten++;
    this.counters.rowsWritten += written;
    this.counters.confirmationsUndeliverable += result.repliesUndeliverable;
    this.lastFlushAtMs = nowMs;
    this.recentBatches = [
      ...this.recentBatches,
      { batchId: batch.batchId, rows: written, atMs: nowMs, pendingAfter: this.pending.length, durationMs: result.durationMs },
    ].slice(-RECENT_BATCHES);
  }

  /**
   * A bulk write that failed for good (not a database outage: those are retried until it is back).
   * Every requester is told "rejected"; each settles its id against the table before it reports.
   */
  failBatch(batch: Batch, reason: string, errorType: BatcherErrorType = BatcherErrorTypes.DataRejected): void {
    this.writesInFlight--;
    for (const row of batch.rows) {
      this.counters.rejected++;
      for (const reply of [...row.replies, ...(this.inFlight.get(row.requestId)?.replies ?? [])]) {
        this.answer({
          reply,
          requestId: row.requestId,
          table: row.table,
          shard: this.shard,
          outcome: { status: 'rejected', errorType, reason },
        });
      }
      this.inFlight.delete(row.requestId);
    }
  }

  private remember(requestId: string, outcome: RecentOutcome): void {
    // Exactly what the entry adds to the carried window as JSON (plus its comma).
    const cost = (id: string, o: RecentOutcome) => jsonBytes([id, o]) + 1;
    const old = this.recent.get(requestId);
    if (old) {
      this.recent.delete(requestId);
      this.recentBytes -= cost(requestId, old);
    }
    this.recent.set(requestId, outcome);
    this.recentBytes += cost(requestId, outcome);
    while (this.recentBytes > this.settings.dedupWindowBytes && this.recent.size > 0) {
      const [id, o] = this.recent.entries().next().value as [string, RecentOutcome];
      this.recent.delete(id);
      this.recentBytes -= cost(id, o);
    }
  }

  /** Whether the run has no write in progress that continue-as-new would cut off. */
  quiescent(): boolean {
    return this.writesInFlight === 0;
  }

  /** The state continue-as-new carries: pending requests, the dedup window, undelivered answers, counters. */
  carried(): BatcherState {
    let bytes = 0;
    let n = 0;
    while (n < this.answers.length && bytes < MAX_CARRIED_ANSWER_BYTES) bytes += jsonBytes(this.answers[n++]);
    return {
      pending: this.pending,
      recent: [...this.recent.entries()],
      // Answers beyond the budget are dropped, and counted apart from requesters that were gone. The
      // batcher delivers every answer before it continues as new unless the run must end at once.
      counters: { ...this.counters, answersDropped: this.counters.answersDropped + (this.answers.length - n) },
      lastFlushAtMs: this.lastFlushAtMs,
      recentBatches: this.recentBatches,
      ...(n > 0 ? { answers: this.answers.slice(0, n) } : {}),
      settings: this.settings,
    };
  }

  /** The carried state for the next run, with its size recorded in the counters it carries. */
  carriedForNextRun(): { state: BatcherState; bytes: number } {
    const state = this.carried();
    const bytes = jsonBytes(state);
    state.counters = {
      ...state.counters,
      continueAsNewCount: state.counters.continueAsNewCount + 1,
      largestContinueAsNewPayloadBytes: Math.max(state.counters.largestContinueAsNewPayloadBytes, bytes),
    };
    if (bytes > TEMPORAL_PAYLOAD_BUDGET_BYTES)
      throw new Error(
        `carried state is ${bytes} bytes, over the ${TEMPORAL_PAYLOAD_BUDGET_BYTES}-byte budget: the limits are misconfigured`,
      );
    return { state, bytes };
  }

  /**
   * Statistics, computed once per change of state and workflow time: a thousand queries at once
   * cost one computation (the carried-state size is a serialisation of up to a megabyte).
   */
  stats(nowMs: number): BatcherStats {
    const key = `${nowMs}:${this.counters.requestsTotal}:${this.counters.batchesWritten}:${this.writesInFlight}:${this.answers.length}:${this.pending.length}:${this.counters.confirmationsUndeliverable}:${this.counters.unknownSignalsDropped}:${this.counters.undecodableSignalsDropped}:${this.counters.forgedRepliesDropped}:${this.counters.repliesRefused}`;
    if (this.statsCache?.key !== key) this.statsCache = { key, stats: this.computeStats(nowMs) };
    return this.statsCache.stats;
  }

  private statsCache?: { key: string; stats: BatcherStats };

  private computeStats(nowMs: number): BatcherStats {
    const last = this.recentBatches[this.recentBatches.length - 1];
    const oldest = this.pending[0];
    return {
      shard: this.shard,
      pending: this.pending.length,
      pendingBytes: this.pendingBytes,
      oldestPendingAgeMs: oldest ? nowMs - oldest.receivedAtMs : null,
      lastRequestAtMs: this.lastRequestAtMs,
      writesInFlight: this.writesInFlight,
      batchesWritten: this.counters.batchesWritten,
      rowsWritten: this.counters.rowsWritten,
      duplicates: this.counters.duplicates,
      rejected: this.counters.rejected,
      refused: this.counters.refused,
      signalsThisRun: this.signalsThisRun,
      signalsTotal: this.counters.signalsTotal,
      requestsTotal: this.counters.requestsTotal,
      continueAsNewCount: this.counters.continueAsNewCount,
      dedupWindowSize: this.recent.size,
      continueAsNewPayloadBytes: jsonBytes(this.carried()),
      largestContinueAsNewPayloadBytes: this.counters.largestContinueAsNewPayloadBytes,
      lastFlushAtMs: this.lastFlushAtMs,
      lastBatch: last ? { batchId: last.batchId, rows: last.rows, durationMs: last.durationMs } : null,
      confirmationsUndeliverable: this.counters.confirmationsUndeliverable,
      answersDropped: this.counters.answersDropped,
      repliesRefused: this.counters.repliesRefused,
      unknownSignalsDropped: this.counters.unknownSignalsDropped,
      undecodableSignalsDropped: this.counters.undecodableSignalsDropped,
      forgedRepliesDropped: this.counters.forgedRepliesDropped,
      ignored: this.counters.ignored ?? 0,
      flushPolicy: this.settings.flushPolicy,
      flushIntervalMs: this.settings.flushIntervalMs,
      maxBatchSize: this.settings.maxBatchSize,
      recentBatches: this.recentBatches,
    };
  }
}
