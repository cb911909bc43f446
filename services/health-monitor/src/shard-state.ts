// The state of one shard, decided from what a check observed: running, nondeterministic (its
// workflow task fails on a nondeterminism error), no-worker (nothing polls its task queue), stalled
// (RUNNING but not making progress otherwise), restarting, not-running or unknown. Pure: no I/O, the
// time is passed in.
import type { WorkflowExecutionStatusName } from '@temporalio/client';
import type { MonitoredBatcherStats } from './batcher-stats';

/**
 * running: the newest run is RUNNING and making progress. nondeterministic: RUNNING, and its last
 * workflow task failed on a nondeterminism error (cause NON_DETERMINISTIC_ERROR or TMPRL1100): it
 * will not move until its code or its history changes (the monitor heals it by a reset). no-worker:
 * RUNNING, and no worker has polled its task queue lately. stalled: RUNNING, but its workflow task
 * is failing for another reason or waiting, or it holds requests without flushing. starting: this
 * monitor started a shard that had not run under its watch (never started, or found closed at the
 * monitor's first look), not yet confirmed by a later check.
 * restarting: the same after the shard stopped under its watch. not-running: closed, paused or
 * never started. unknown: Temporal did not answer.
 */
export type ShardState = 'running' | 'nondeterministic' | 'no-worker' | 'stalled' | 'starting' | 'restarting' | 'not-running' | 'unknown';

export const SHARD_STATES: readonly ShardState[] = [
  'running',
  'nondeterministic',
  'no-worker',
  'stalled',
  'starting',
  'restarting',
  'not-running',
  'unknown',
];

/** Temporal's status of the newest run, or NOT_FOUND when the workflow id has never been used. */
export type ShardWorkflowStatus = WorkflowExecutionStatusName | 'NOT_FOUND';

/** The workflow task Temporal holds for the run (DescribeWorkflowExecution's pendingWorkflowTask). */
export interface PendingWorkflowTask {
  /** 1 on the first try; higher means earlier tries failed or timed out. */
  attempt: number;
  /** When it was first scheduled (originalScheduledTime, else scheduledTime), ms since epoch. */
  scheduledAtMs: number | null;
  /** When a worker picked it up; null while no worker has. */
  startedAtMs: number | null;
}

/** The newest WorkflowTaskFailed of the run, read from its history's tail when its workflow task is retrying. */
export interface WorkflowTaskFailure {
  /** Event id of the WorkflowTaskFailed event. */
  eventId: number;
  /** Temporal's cause, e.g. WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR. */
  cause: string;
  /** The failure's message (first line); never row values: the SDK's nondeterminism message names commands, not payloads. */
  message: string;
}

/** A failure that only a change of code or history ends: the SDK's nondeterminism error. */
export function isNondeterminism(failure: Pick<WorkflowTaskFailure, 'cause' | 'message'>): boolean {
  return failure.cause.endsWith('NON_DETERMINISTIC_ERROR') || failure.message.includes('TMPRL1100');
}

/** What one check saw of one shard. */
export type ShardObservation =
  | { kind: 'temporal-unreachable'; error: string }
  | { kind: 'describe-failed'; error: string }
  | {
      kind: 'described';
      runId: string | null;
      status: ShardWorkflowStatus;
      historyLength: number | null;
      pendingWorkflowTask: PendingWorkflowTask | null;
      /** Null when the shard was not RUNNING, or had published no statistics in its memo yet (no failure). */
      stats: MonitoredBatcherStats | null;
      /** The run's newest WorkflowTaskFailed while a workflow task is pending on a retry; null or absent otherwise. */
      lastTaskFailure?: WorkflowTaskFailure | null;
      /** Workers seen polling the shard's task queue lately (describeTaskQueue); null or absent when not known. */
      pollers?: number | null;
    };

export interface StallThresholds {
  /** Stalled when requests are pending and nothing was flushed for more than this many flush intervals. @default 3 */
  flushIntervals: number;
  /**
   * Never stalled for want of a flush sooner than this, in ms, whatever the flush interval: a
   * healthy flush also takes a bulk write, its confirmations and sometimes a continue-as-new, and
   * with a 300 ms interval those alone can exceed 3 intervals. @default 10000
   */
  minFlushStallMs: number;
  /** Stalled when the pending workflow task is on this attempt or later (it keeps failing or timing out). @default 3 */
  workflowTaskAttempts: number;
  /** Stalled when the pending workflow task was scheduled longer ago than this, in ms (no worker completes it). @default 30000 */
  workflowTaskAgeMs: number;
}

export const DEFAULT_STALL_THRESHOLDS: StallThresholds = {
  flushIntervals: 3,
  minFlushStallMs: 10_000,
  workflowTaskAttempts: 3,
  workflowTaskAgeMs: 30_000,
};

export interface Transition {
  from: ShardState;
  to: ShardState;
  reason: string;
}

/** Temporal statuses after which the shard is simply not running (PAUSED included: an operator's choice). */
const NOT_RUNNING: ReadonlySet<ShardWorkflowStatus> = new Set([
  'NOT_FOUND',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TERMINATED',
  'TIMED_OUT',
  'PAUSED',
]);

export class ShardStateMachine {
  state: ShardState = 'unknown';
  sinceMs: number;
  /** Why the shard is in its state, one line each; empty while it runs normally. */
  reasons: string[] = [];

  /** When the monitor first saw requests pending since the shard last made progress (when the oldest request's age is not known). */
  private pendingSeenSinceMs: number | null = null;
  private lastBatchesWritten: number | null = null;

  constructor(
    private readonly thresholds: StallThresholds,
    now: number,
  ) {
    this.sinceMs = now;
  }

  /** Applies one observation; returns the transition when the state changed. */
  observe(o: ShardObservation, now: number): Transition | null {
    if (o.kind === 'temporal-unreachable') return this.moveTo('unknown', [`Temporal unreachable: ${o.error}`], now);
    if (o.kind === 'describe-failed') return this.moveTo('unknown', [`describe failed: ${o.error}`], now);
    if (o.status !== 'RUNNING') {
      this.pendingSeenSinceMs = null;
      this.lastBatchesWritten = null;
      const why = o.status === 'NOT_FOUND' ? 'workflow has never been started' : `newest run ${o.runId ?? '?'} is ${o.status}`;
      return this.moveTo(NOT_RUNNING.has(o.status) ? 'not-running' : 'unknown', [why], now);
    }
    const stalls = [...this.workflowTaskStalls(o.pendingWorkflowTask, now), ...this.statsStalls(o.stats, now)];
    // A nondeterministic task fails on every worker, for ever: named apart, and first, so the
    // monitor can heal it. It counts only while a task is pending (a failure already overcome is history).
    const failure = o.pendingWorkflowTask ? o.lastTaskFailure : null;
    if (failure && isNondeterminism(failure)) {
      return this.moveTo(
        'nondeterministic',
        [`workflow task failed on nondeterminism (event ${failure.eventId}): ${failure.message}`, ...stalls],
        now,
      );
    }
    if (o.pollers === 0) return this.moveTo('no-worker', ['no worker polls the task queue', ...stalls], now);
    return this.moveTo(stalls.length ? 'stalled' : 'running', stalls, now);
  }

  /** The monitor started a new run after finding the shard not running: its first start, or a restart. */
  started(runId: string, now: number, kind: 'start' | 'restart'): Transition | null {
    this.pendingSeenSinceMs = null;
    this.lastBatchesWritten = null;
    return this.moveTo(kind === 'start' ? 'starting' : 'restarting', [`run ${runId} started, not yet confirmed`], now);
  }

  /** The monitor started the shard again after it stopped under its watch. */
  restarted(runId: string, now: number): Transition | null {
    return this.started(runId, now, 'restart');
  }

  private workflowTaskStalls(task: PendingWorkflowTask | null, now: number): string[] {
    if (!task) return [];
    const stalls: string[] = [];
    if (task.attempt >= this.thresholds.workflowTaskAttempts)
      stalls.push(`workflow task is on attempt ${task.attempt} (failing or timing out)`);
    if (task.scheduledAtMs !== null && now - task.scheduledAtMs > this.thresholds.workflowTaskAgeMs) {
      const age = seconds(now - task.scheduledAtMs);
      stalls.push(
        task.startedAtMs === null
          ? `workflow task scheduled ${age} ago and not picked up by any worker`
          : `workflow task scheduled ${age} ago and not completed`,
      );
    }
    return stalls;
  }

  private statsStalls(stats: MonitoredBatcherStats | null, now: number): string[] {
    // None published yet (a run's first moments): no verdict either way.
    if (!stats) return [];
    // A batch being written has left `pending`; a write that never ends holds work all the same.
    const waiting = stats.pending + stats.writesInFlight;
    if (waiting === 0) {
      this.pendingSeenSinceMs = null;
    } else if (this.pendingSeenSinceMs === null || stats.batchesWritten !== this.lastBatchesWritten) {
      this.pendingSeenSinceMs = now;
    }
    this.lastBatchesWritten = stats.batchesWritten;
    if (waiting === 0) return [];

    const intervalMs = stats.flushIntervalMs;
    const boundMs = Math.max(this.thresholds.flushIntervals * intervalMs, this.thresholds.minFlushStallMs);
    // Waiting since the later of the last flush and the arrival of the oldest request: a shard idle
    // for an hour that received a request a moment ago is not stalled. The arrival is bounded from
    // above three ways, and the earliest bound wins, so the age is never overstated: the oldest
    // request's published age (as of the memo, so at least that old now), the last request's
    // arrival (the oldest came no later), and when this monitor first saw the work.
    const bounds = [this.pendingSeenSinceMs ?? now];
    if (stats.pending > 0 && stats.oldestPendingAgeMs != null) bounds.push(now - stats.oldestPendingAgeMs);
    if (stats.pending > 0 && stats.lastRequestAtMs != null) bounds.push(stats.lastRequestAtMs);
    const oldestArrivedAtMs = Math.min(...bounds);
    const waitingSinceMs = Math.max(stats.lastFlushAtMs ?? -Infinity, oldestArrivedAtMs);
    if (now - waitingSinceMs <= boundMs) return [];
    const what = stats.writesInFlight
      ? `${stats.pending} requests pending and ${stats.writesInFlight} being written`
      : `${stats.pending} requests pending`;
    return [
      `${what}, no flush for ${seconds(now - waitingSinceMs)} (limit ${seconds(boundMs)}: ${this.thresholds.flushIntervals} flush intervals of ${seconds(intervalMs)}, at least ${seconds(this.thresholds.minFlushStallMs)})`,
    ];
  }

  private moveTo(state: ShardState, reasons: string[], now: number): Transition | null {
    this.reasons = reasons;
    if (state === this.state) return null;
    const from = this.state;
    this.state = state;
    this.sinceMs = now;
    return { from, to: state, reason: reasons.join('; ') || state };
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}
