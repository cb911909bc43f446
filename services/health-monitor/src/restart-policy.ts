// When the monitor starts a shard again, and with what input. Pure: the monitor does the starting.
import type { ShardWorkflowStatus } from './shard-state';
import type { BatcherInput } from '@write-batcher/batcher';

/** Closed statuses after which a new run is what an operator wants. PAUSED is deliberate, so it is left alone. */
const RESTARTABLE: ReadonlySet<ShardWorkflowStatus> = new Set(['NOT_FOUND', 'COMPLETED', 'FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT']);

export interface RestartPolicyOptions {
  /** Start a shard again when it is found not running. */
  autoRestart: boolean;
  /**
   * Least time between two restarts of one shard, in ms: a run that fails at once is not started
   * again on every check. @default 10000
   */
  minRestartIntervalMs?: number;
}

export type RestartDecision =
  | { action: 'restart' }
  /** Not now: auto-restart is off, or the status is one to leave alone. */
  | { action: 'leave'; reason: string }
  /** A restart is due but the last one was too recent. */
  | { action: 'wait'; untilMs: number };

export class RestartPolicy {
  readonly autoRestart: boolean;
  readonly minRestartIntervalMs: number;

  constructor(options: RestartPolicyOptions) {
    this.autoRestart = options.autoRestart;
    this.minRestartIntervalMs = options.minRestartIntervalMs ?? 10_000;
  }

  decide(status: ShardWorkflowStatus, lastRestartAtMs: number | null, now: number): RestartDecision {
    if (status === 'RUNNING') return { action: 'leave', reason: 'running' };
    if (!RESTARTABLE.has(status))
      return { action: 'leave', reason: status === 'PAUSED' ? 'paused by an operator' : `status ${status} is not one to restart from` };
    if (!this.autoRestart) return { action: 'leave', reason: 'auto-restart is off' };
    if (lastRestartAtMs !== null && now - lastRestartAtMs < this.minRestartIntervalMs)
      return { action: 'wait', untilMs: lastRestartAtMs + this.minRestartIntervalMs };
    return { action: 'restart' };
  }
}

/**
 * The input a restarted shard starts with: its number only. The batcher reads its own settings
 * from its worker's configuration at each run start, so the monitor does not hand it a copy.
 * Typed here rather than as the shared BatcherInput so it compiles before and after that field
 * change; once BatcherInput is `{ shard; state? }`, return type BatcherInput is the one-line change.
 */
export function shardStartInput(shard: number): BatcherInput {
  return { shard };
}
