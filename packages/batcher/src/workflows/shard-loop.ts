// The batcher loop's own state, beside ShardBook (shard-book.ts): the timers it holds, when it
// publishes its statistics, whether answers are being delivered, and when the run continues as new.
// Without Temporal: workflow time and the history's size are handed in, and `next()` says what the
// loop does now; the workflow (batcher.ts) turns that into commands and awaits the next change.
import { BatcherErrorTypes } from '@write-batcher/protocol';
import type { Batch, ShardBook } from './shard-book';
import { MAX_SETTINGS_FINGERPRINT_LENGTH } from './settings-fingerprint';
import type { BatcherState, BatcherStats, BulkWriteResult, DeliverAnswersResult, DirectAnswer, RowOutcome } from './types';

/** Continue-as-new is due once the history passes this many bytes, whatever Temporal suggests: replays stay short. */
const MAX_HISTORY_BYTES = 4 * 1024 * 1024;
/** … or this many events. */
const MAX_HISTORY_EVENTS = 4000;
/**
 * Continue-as-new waits for this long a pause in the signals. Temporal refuses to close a run while
 * signals wait to be delivered (the task fails "unhandled command"), and the next task replays the
 * whole run: tried in the middle of a flood, every attempt would be longer than the last.
 */
const CONTINUE_AS_NEW_QUIET_MS = 200;
/**
 * Past this size the run continues as new at the first task without a signal, pause or not
 * (Temporal ends a run at 51,200 events or 50 MiB, and refuses its 10,001st signal).
 */
const URGENT_HISTORY_EVENTS = 20_000;
const URGENT_HISTORY_BYTES = 20 * 1024 * 1024;
const URGENT_SIGNALS = 8_000;
/** The memo holds statistics at most this stale (workflow time), while the shard is busy. */
const STATS_MEMO_EVERY_MS = 2_000;
/** … and this many of the latest batches (the monitor's status page and the starter read them there). */
const MEMO_RECENT_BATCHES = 10;

const STATUSES = new Set(['committed', 'updated', 'ignored', 'duplicate', 'rejected']);

/**
 * Whether an activity result has the shape the batcher reads. Anyone who may complete activities in
 * the namespace could complete a shard's own activity with anything: such a result fails that
 * batch typed, and never the run.
 */
export function bulkWriteResultProblem(result: unknown, batchId: string): string | undefined {
  const r = result as Partial<BulkWriteResult> | null | undefined;
  if (typeof r !== 'object' || r === null) return 'the bulk-write result is not an object';
  if (r.batchId !== batchId) return `the bulk-write result is for batch ${String(r.batchId).slice(0, 80)}, not ${batchId}`;
  if (!Array.isArray(r.outcomes)) return 'the bulk-write result has no outcomes';
  const bad = (r.outcomes as unknown[]).some(
    (o) =>
      typeof o !== 'object' || o === null || typeof (o as RowOutcome).requestId !== 'string' || !STATUSES.has((o as RowOutcome).status),
  );
  if (bad) return 'the bulk-write result holds a malformed outcome';
  if (!Number.isFinite(r.durationMs) || !Number.isInteger(r.repliesUndeliverable) || (r.repliesUndeliverable as number) < 0)
    return 'the bulk-write result has malformed counters';
  return undefined;
}

/** What the loop needs to know of its history (Temporal's `workflowInfo()`). */
export interface HistoryInfo {
  historyLength: number;
  historySize: number;
  continueAsNewSuggested: boolean;
}

/** What the loop does in this turn, in this order; then it awaits the next change. */
export interface Step {
  /** Statistics to publish in the memo (with only the latest batches). */
  memo?: BatcherStats;
  /** Answers to hand to the delivery activity (at most one delivery at a time). */
  answers?: DirectAnswer[];
  /** The run ends: continue as new with this state. */
  continueAsNew?: { state: BatcherState; bytes: number };
  /** Bulk writes to start. */
  batches: Batch[];
  /** Timers to start (workflow time they are due at); each fired one must be reported with `timerFired`. */
  timers: number[];
}

export class ShardLoop {
  /** Bumped on every change the loop may need to act on; the loop waits for it to move. */
  version = 0;
  /** Whether a delivery of answers is running. */
  private answering = false;
  /** When the timers started and not yet fired are due. */
  private readonly timersDueAtMs = new Set<number>();
  /** When statistics were last published, and what they said (a key of the counters that matter). */
  private memoAtMs = Number.NEGATIVE_INFINITY;
  private memoKey = '';
  /** Whether a batcher worker announced settings other than this run's: the run continues as new at its next safe point. */
  private reloadWanted = false;

  constructor(
    readonly book: ShardBook,
    /**
     * Whether a statistics change held back by the throttle arms a timer of its own (runs before the
     * thin-traffic patch). Without, it waits for the loop's next wake-up (a signal, a finished
     * write, a flush timer: one always comes while anything is pending or in flight), and an idle
     * shard's last change is published at once: each timer is a Temporal action.
     */
    private readonly memoTimers = true,
    /** Fingerprint of this run's settings (settings-fingerprint.ts); unset: announcements change nothing. */
    readonly settingsFingerprint?: string,
  ) {}

  /**
   * A batcher worker announced the fingerprint of the settings it serves (the settingsChanged
   * signal, sent by anyone who may signal: read as untrusted). Another fingerprint than this run's
   * makes the run continue as new at its next safe point, where the next run reads the settings
   * again; the same one, or a second announcement in this run, changes nothing. Returns whether
   * this one made the run continue as new.
   */
  settingsAnnounced(fingerprint: unknown): boolean {
    if (typeof fingerprint !== 'string' || fingerprint === '' || fingerprint.length > MAX_SETTINGS_FINGERPRINT_LENGTH) return false;
    if (this.settingsFingerprint === undefined || fingerprint === this.settingsFingerprint || this.reloadWanted) return false;
    this.reloadWanted = true;
    this.book.counters.settingsReloads = (this.book.counters.settingsReloads ?? 0) + 1;
    this.version++;
    return true;
  }

  /** The shard's statistics, with what the loop adds (settings reloads and fingerprint, present only once there is one). */
  stats(nowMs: number): BatcherStats {
    const reloads = this.book.counters.settingsReloads;
    return {
      ...this.book.stats(nowMs),
      ...(reloads !== undefined ? { settingsReloads: reloads } : {}),
      ...(this.settingsFingerprint !== undefined ? { settingsFingerprint: this.settingsFingerprint } : {}),
    };
  }

  /** One submit signal's argument (see ShardBook.offerSignal). */
  offer(requests: unknown, nowMs: number): void {
    this.book.offerSignal(requests, nowMs);
    this.version++;
  }

  /** A signal of a name the shard does not know. */
  dropUnknownSignal(): void {
    this.book.dropUnknownSignal();
  }

  timerFired(dueMs: number): void {
    this.timersDueAtMs.delete(dueMs);
    this.version++;
  }

  /** Applies a bulk write's result; returns why it was refused, when it was (the batch then fails typed). */
  batchWritten(batch: Batch, result: unknown, nowMs: number): string | undefined {
    const problem = bulkWriteResultProblem(result, batch.batchId);
    if (problem === undefined) this.book.finishBatch(batch, result as BulkWriteResult, nowMs);
    // Not the database's verdict: each requester settles in the ledger, which knows whether it committed.
    else
      this.book.failBatch(
        batch,
        `bulk write ${batch.batchId} returned a result the batcher cannot read (${problem}); the write is settled by each requester`,
        BatcherErrorTypes.SubmissionFailed,
      );
    this.version++;
    return problem;
  }

  /** A bulk write that failed for good (its retries ran out). */
  batchFailed(batch: Batch, error: string): void {
    this.book.failBatch(batch, `bulk write ${batch.batchId} failed: ${error}`);
    this.version++;
  }

  /** The delivery activity finished: with its result, or undefined when it failed (the answers are lost; their requesters time out and settle). */
  answersDelivered(result: DeliverAnswersResult | undefined): void {
    const n = result?.undeliverable;
    if (result !== undefined) this.book.countUndeliverable(Number.isInteger(n) && (n as number) >= 0 ? (n as number) : 0);
    this.answering = false;
    this.version++;
  }

  /** Whether the run is past the size at which it ends at the first task without a signal. */
  private urgent(info: HistoryInfo): boolean {
    return (
      info.historySize > URGENT_HISTORY_BYTES || info.historyLength > URGENT_HISTORY_EVENTS || this.book.signalsThisRun >= URGENT_SIGNALS
    );
  }

  /**
   * When this run may continue as new: undefined while it need not; otherwise the first moment of a
   * pause in the signals (see CONTINUE_AS_NEW_QUIET_MS), or, for a run grown past the urgent size,
   * of a task that brought no signal.
   */
  continueAsNewAtMs(nowMs: number, info: HistoryInfo): number | undefined {
    const urgent = this.urgent(info);
    const due =
      urgent ||
      this.reloadWanted ||
      this.book.signalsThisRun >= this.book.settings.continueAsNewSignals ||
      info.continueAsNewSuggested ||
      info.historySize > MAX_HISTORY_BYTES ||
      info.historyLength > MAX_HISTORY_EVENTS;
    if (!due) return undefined;
    if (this.book.lastSignalAtMs === null) return nowMs;
    return this.book.lastSignalAtMs + (urgent ? 1 : CONTINUE_AS_NEW_QUIET_MS);
  }

  /** What to do now. Call once per wake-up of the loop. */
  next(nowMs: number, info: HistoryInfo): Step {
    const step: Step = { batches: [], timers: [] };
    // Requests set aside past a task's limit come first; when the limit stops them again, a timer
    // due at once brings the next task (when the pending limit stops them, a finished write does).
    if (this.book.takeDeferred(nowMs)) this.wakeAt(nowMs + 1, step.timers);
    step.memo = this.statsToPublish(nowMs, step.timers);
    const canAtMs = this.continueAsNewAtMs(nowMs, info);
    // Requests set aside are not carried: the run writes on until every one is taken in.
    const continuing = canAtMs !== undefined && nowMs >= canAtMs && this.book.deferredCount === 0;
    if (!this.answering && this.book.hasAnswers()) {
      this.answering = true;
      step.answers = this.book.takeAnswers();
    }
    if (continuing) {
      // Writes and answers in progress are awaited, and every queued answer is delivered first
      // (a signal meanwhile ends the pause, and the loop goes back to work); only a run that must
      // end at once carries undelivered answers, up to a byte budget.
      if (this.book.quiescent() && !this.answering && (!this.book.hasAnswers() || this.urgent(info)))
        step.continueAsNew = this.book.carriedForNextRun();
      return step;
    }
    while (this.book.writeDue(nowMs)) step.batches.push(this.book.takeBatch());
    this.wakeAt(this.book.nextDueAtMs(), step.timers);
    // (Past due only while requests set aside hold continue-as-new back: their own wake-ups bring the loop back.)
    if (canAtMs !== undefined && canAtMs > nowMs) this.wakeAt(canAtMs, step.timers);
    return step;
  }

  /**
   * One timer for the next moment the loop must look again (an interval flush, a pause to continue
   * as new in, a memo update), kept until it fires: no timer is started and cancelled per signal.
   */
  private wakeAt(dueMs: number | undefined, timers: number[]): void {
    if (dueMs === undefined) return;
    // A timer already due by then wakes the loop, which arms the next one: never two for one moment.
    if ([...this.timersDueAtMs].some((t) => t <= dueMs)) return;
    this.timersDueAtMs.add(dueMs);
    timers.push(dueMs);
  }

  /** The statistics to publish now: when they changed, at most every STATS_MEMO_EVERY_MS (a timer brings the loop back for a change held back). */
  private statsToPublish(nowMs: number, timers: number[]): BatcherStats | undefined {
    const { recentBatches, ...counters } = this.stats(nowMs);
    const stats = { ...counters, recentBatches: recentBatches.slice(-MEMO_RECENT_BATCHES) };
    const key = `${stats.requestsTotal}:${stats.batchesWritten}:${stats.pending}:${stats.writesInFlight}:${stats.rejected}:${stats.refused}`;
    if (key === this.memoKey) return undefined;
    const idle = stats.pending === 0 && stats.writesInFlight === 0;
    if (nowMs - this.memoAtMs < STATS_MEMO_EVERY_MS && (this.memoTimers || !idle)) {
      if (this.memoTimers) this.wakeAt(this.memoAtMs + STATS_MEMO_EVERY_MS, timers);
      return undefined;
    }
    this.memoKey = key;
    this.memoAtMs = nowMs;
    return stats;
  }
}
