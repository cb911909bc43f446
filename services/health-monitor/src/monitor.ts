// Watches every batcher shard: on each check the poller observes it, the shard state machine
// decides its state, the restart policy decides whether to start it again, the heal policy whether
// to reset a nondeterministic run to its last good task, and bounded histories keep what the
// status page charts. This file only schedules checks and puts the answers together.
import pLimit from 'p-limit';
import type { Client } from '@temporalio/client';
import { batcherWorkflowId } from '@write-batcher/protocol';
import { healShard, type HealReplayCode, type ShardRouting as BatcherConfig } from '@write-batcher/batcher';
import type { Logger } from '@batcher/service-kit';
import type { BatchSample, MonitoredBatcherStats } from './batcher-stats';
import { BoundedHistory } from './bounded-history';
import { HealPolicy, type HealPolicyOptions } from './heal-policy';
import { ShardPoller, errorMessage } from './poller';
import { RestartPolicy, shardStartInput } from './restart-policy';
import {
  DEFAULT_STALL_THRESHOLDS,
  ShardStateMachine,
  type PendingWorkflowTask,
  type ShardObservation,
  type ShardState,
  type ShardWorkflowStatus,
  type StallThresholds,
  type Transition,
} from './shard-state';

/** setTimeout's largest delay; a larger one fires after 1 ms, which would make the monitor poll in a tight loop. */
export const MAX_POLL_INTERVAL_MS = 2 ** 31 - 1;

export interface PendingSample {
  atMs: number;
  pending: number;
}

export interface ShardStatus {
  shard: number;
  workflowId: string;
  state: ShardState;
  /** Since when (ms since epoch) the shard has been in `state`. */
  stateSinceMs: number;
  /** Why the shard is in its state (empty while it runs normally): what makes it stalled, for instance. */
  stateReasons: string[];
  /** Run id of the newest run as last described; continue-as-new changes it. */
  runId: string | null;
  workflowStatus: ShardWorkflowStatus | null;
  /** Events in the newest run's history, as last described. */
  historyLength: number | null;
  /** The workflow task Temporal holds for the run, as last described; null when none is pending. */
  pendingWorkflowTask: PendingWorkflowTask | null;
  checkedAtMs: number | null;
  /** Statistics the shard last published in its memo; null until it published some, and after a restart. */
  stats: MonitoredBatcherStats | null;
  statsAtMs: number | null;
  /** Why the last check could not describe or start the shard. */
  error: string | null;
  /**
   * Times this monitor started the shard for the first time: it had never run, or this monitor
   * found it not running before it had ever seen it run (its own start, after the shard closed).
   */
  starts: number;
  lastStartAtMs: number | null;
  /** Times this monitor started the shard again after it stopped under its watch (seen running, or started by it). */
  restarts: number;
  lastRestartAtMs: number | null;
  /** Times this monitor healed the shard (reset a nondeterministic run to its last good task), by cause. */
  heals: number;
  healsByCause: Record<string, number>;
  lastHeal: HealRecord | null;
  /** Why the monitor does not heal the shard now (waiting, or an operator's turn); null when nothing holds it. */
  healHeld: string | null;
  /** Bounded, oldest first; batches survive restarts and continue-as-new (merged by batch id). */
  history: { batches: BatchSample[]; pending: PendingSample[] };
}

export interface HealRecord {
  atMs: number;
  cause: string;
  /** The run that was reset, and the WorkflowTaskCompleted it was reset to. */
  runId: string;
  eventId: number;
  newRunId: string;
  /** Replays it took to find the event. */
  replays: number;
}

export type MonitorEventKind =
  | 'up'
  | 'down'
  | 'stalled'
  | 'nondeterministic'
  | 'no-worker'
  | 'started'
  | 'restarted'
  | 'start-failed'
  | 'restart-failed'
  | 'healed'
  | 'heal-failed'
  | 'heal-held'
  | 'unknown';

export interface MonitorEvent {
  atMs: number;
  shard: number;
  kind: MonitorEventKind;
  message: string;
}

/** /readyz: can this monitor serve a current picture? Says nothing about the shards. */
export interface Readiness {
  ready: boolean;
  /** Empty when ready; otherwise one line per problem. */
  reasons: string[];
}

/** The batcher's health as this monitor sees it: ok, or degraded with one line per problem. */
export interface Health {
  overall: 'ok' | 'degraded';
  reasons: string[];
}

export interface MonitorStatus extends Health {
  readiness: Readiness;
  generatedAtMs: number;
  namespace: string;
  taskQueue: string;
  workflowIdPrefix: string;
  /** The interval actually used (clamped to MAX_POLL_INTERVAL_MS). */
  pollIntervalMs: number;
  autoRestart: boolean;
  stall: StallThresholds;
  temporal: { reachable: boolean | null; error: string | null; checkedAtMs: number | null; lastReachedAtMs: number | null };
  polls: number;
  lastPollAtMs: number | null;
  lastPollDurationMs: number | null;
  shards: ShardStatus[];
  /** Newest last, bounded. */
  events: MonitorEvent[];
}

export interface ShardMonitorOptions {
  client: Client;
  /** The batcher section of the configuration: shard count, id prefix, task queue, and the flush interval assumed for batchers that do not report theirs. */
  batcher: BatcherConfig;
  /** How often every shard is checked, in ms; larger than MAX_POLL_INTERVAL_MS is clamped to it. */
  pollIntervalMs: number;
  /** Start a shard again when it is found not running. */
  autoRestart: boolean;
  logger: Logger;
  /** Deadline of each Temporal call (describe, start), in ms. @default 5000 */
  rpcTimeoutMs?: number;
  /** When a RUNNING shard counts as stalled. @default DEFAULT_STALL_THRESHOLDS */
  stall?: Partial<StallThresholds>;
  /** Least time between two restarts of one shard, in ms. @default 10000 */
  minRestartIntervalMs?: number;
  /** Batches remembered per shard for the chart. @default 60 */
  batchHistory?: number;
  /** Pending-depth samples remembered per shard (one per check). @default 150 */
  pendingHistory?: number;
  /** Shards checked at once; bounds the RPC burst with many shards. @default 16 */
  concurrency?: number;
  /** Events remembered for the status page. @default 50 */
  eventHistory?: number;
  /** Healing of nondeterministic shards. @default on, 3 per shard per hour, 60 s back-off, the batcher package's workflow code */
  heal?: HealPolicyOptions & {
    /** The workflow code to replay with: the batcher worker's (same bundle). */
    code?: HealReplayCode;
    /** Replaces healShard (tests). */
    healer?: typeof healShard;
  };
}

/** Per shard: the public status plus the parts that produce it. */
interface ShardRecord {
  status: Omit<ShardStatus, 'state' | 'stateSinceMs' | 'stateReasons' | 'history'>;
  machine: ShardStateMachine;
  /** This monitor has seen the shard RUNNING, or started it: a later start is a restart. */
  hasRun: boolean;
  batches: BoundedHistory<BatchSample>;
  pending: BoundedHistory<PendingSample>;
}

export class ShardMonitor {
  private readonly batcher: BatcherConfig;
  private readonly logger: Logger;
  private readonly poller: ShardPoller;
  private readonly policy: RestartPolicy;
  private readonly healPolicy: HealPolicy;
  private readonly healCode: HealReplayCode | undefined;
  private readonly healer: typeof healShard;
  private readonly client: Client;
  private readonly stall: StallThresholds;
  readonly pollIntervalMs: number;
  private readonly limit: ReturnType<typeof pLimit>;

  private readonly shards: ShardRecord[];
  private readonly events: BoundedHistory<MonitorEvent>;
  private temporal: MonitorStatus['temporal'] = { reachable: null, error: null, checkedAtMs: null, lastReachedAtMs: null };
  private polls = 0;
  private lastPollAtMs: number | null = null;
  private lastPollDurationMs: number | null = null;

  private loop: Promise<void> | undefined;
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;

  constructor(options: ShardMonitorOptions) {
    this.batcher = options.batcher;
    this.logger = options.logger;
    this.pollIntervalMs = schedulablePollInterval(options.pollIntervalMs);
    if (this.pollIntervalMs !== options.pollIntervalMs) {
      this.logger.warn(
        { requested: options.pollIntervalMs, used: this.pollIntervalMs },
        'poll interval larger than a timer can wait; clamped',
      );
    }
    this.poller = new ShardPoller({ client: options.client, rpcTimeoutMs: options.rpcTimeoutMs });
    this.policy = new RestartPolicy({ autoRestart: options.autoRestart, minRestartIntervalMs: options.minRestartIntervalMs });
    this.healPolicy = new HealPolicy(options.heal);
    this.healCode = options.heal?.code;
    this.healer = options.heal?.healer ?? healShard;
    this.client = options.client;
    this.stall = { ...DEFAULT_STALL_THRESHOLDS, ...options.stall };
    this.limit = pLimit(options.concurrency ?? 16);
    this.events = new BoundedHistory(options.eventHistory ?? 50);
    const now = Date.now();
    this.shards = Array.from({ length: options.batcher.shards }, (_, shard) => ({
      status: {
        shard,
        workflowId: batcherWorkflowId(options.batcher.workflowIdPrefix, shard),
        runId: null,
        workflowStatus: null,
        historyLength: null,
        pendingWorkflowTask: null,
        checkedAtMs: null,
        stats: null,
        statsAtMs: null,
        error: null,
        starts: 0,
        lastStartAtMs: null,
        restarts: 0,
        lastRestartAtMs: null,
        heals: 0,
        healsByCause: {},
        lastHeal: null,
        healHeld: null,
      },
      machine: new ShardStateMachine(this.stall, now),
      hasRun: false,
      batches: new BoundedHistory<BatchSample>(options.batchHistory ?? 60),
      pending: new BoundedHistory<PendingSample>(options.pendingHistory ?? 150),
    }));
  }

  get autoRestart(): boolean {
    return this.policy.autoRestart;
  }

  /** Checks at once, then every pollIntervalMs after the previous check ended (checks never overlap). */
  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.loop = (async () => {
      while (!this.stopping) {
        // pollOnce records what fails; this guard only keeps a bug from silently ending the loop.
        await this.pollOnce().catch((err: unknown) => this.logger.error({ err: errorMessage(err) }, 'health check failed unexpectedly'));
        if (this.stopping) break;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          this.timer = setTimeout(resolve, this.pollIntervalMs);
        });
      }
    })();
  }

  /** Stops polling and waits for a check in progress to end. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    this.wake?.();
    await this.loop;
    this.loop = undefined;
  }

  /** One check of Temporal and every shard. Never throws: what fails is recorded in the status. */
  async pollOnce(): Promise<void> {
    const startedAt = Date.now();
    const was = this.temporal.reachable;
    const temporal = await this.poller.checkTemporal();
    const checkedAtMs = Date.now();
    if (temporal.reachable) {
      this.temporal = { reachable: true, error: null, checkedAtMs, lastReachedAtMs: checkedAtMs };
      if (was === false) this.logger.info({ namespace: this.poller.namespace }, 'Temporal reachable again');
      // One look at the task queue serves every shard: do workers poll it?
      const pollers = await this.poller.workflowPollers(this.batcher.taskQueue);
      await Promise.all(this.shards.map((r) => this.limit(() => this.checkShard(r, pollers))));
    } else {
      this.temporal = { ...this.temporal, reachable: false, error: temporal.error, checkedAtMs };
      if (was !== false) this.logger.warn({ namespace: this.poller.namespace, err: temporal.error }, 'Temporal unreachable');
      // One unreachable server would otherwise cost every shard its own timeout.
      for (const r of this.shards) this.apply(r, { kind: 'temporal-unreachable', error: temporal.error });
    }
    this.polls++;
    this.lastPollAtMs = Date.now();
    this.lastPollDurationMs = this.lastPollAtMs - startedAt;
  }

  /** Longest a picture may go without reaching Temporal before it no longer counts as current. */
  private get staleAfterMs(): number {
    return 3 * this.pollIntervalMs + 2 * this.poller.rpcTimeoutMs;
  }

  /** Ready when this monitor has reached Temporal recently, whatever state the shards are in. */
  readiness(now = Date.now()): Readiness {
    const reached = this.temporal.lastReachedAtMs;
    if (reached === null) {
      return {
        ready: false,
        reasons: [
          this.temporal.reachable === false
            ? `Temporal never reached: ${this.temporal.error ?? 'unknown error'}`
            : 'no check has reached Temporal yet',
        ],
      };
    }
    if (now - reached > this.staleAfterMs) {
      const why =
        this.temporal.reachable === false
          ? ` (Temporal unreachable: ${this.temporal.error ?? 'unknown error'})`
          : ' (a check is taking too long)';
      return { ready: false, reasons: [`last reached Temporal ${Math.round((now - reached) / 1000)} s ago${why}`] };
    }
    return { ready: true, reasons: [] };
  }

  /** ok only when the last check is current, reached Temporal and found every shard running. */
  health(now = Date.now()): Health {
    const reasons: string[] = [];
    if (this.lastPollAtMs === null) return { overall: 'degraded', reasons: ['no check has completed yet'] };
    if (now - this.lastPollAtMs > this.staleAfterMs) reasons.push(`last check ended ${Math.round((now - this.lastPollAtMs) / 1000)} s ago`);
    if (this.temporal.reachable === false) reasons.push(`Temporal unreachable: ${this.temporal.error ?? 'unknown error'}`);
    for (const { status: s, machine } of this.shards) {
      if (machine.state === 'running') continue;
      if (this.temporal.reachable === false && machine.state === 'unknown') continue; // already said above
      const held = machine.state === 'nondeterministic' && s.healHeld ? [`not healed: ${s.healHeld}`] : [];
      const why = machine.reasons.length || held.length ? `: ${[...machine.reasons, ...held].join('; ')}` : '';
      // The machine's reasons already carry describe errors; a failed start or restart is news of its own.
      const restartError = s.error?.startsWith('restart failed') || s.error?.startsWith('start failed') ? ` (${s.error})` : '';
      reasons.push(`shard ${s.shard} (${s.workflowId}) is ${machine.state}${why}${restartError}`);
    }
    return { overall: reasons.length ? 'degraded' : 'ok', reasons };
  }

  /** A copy of everything the monitor knows, safe to serialise and to hand out. */
  status(): MonitorStatus {
    const now = Date.now();
    return structuredClone({
      ...this.health(now),
      readiness: this.readiness(now),
      generatedAtMs: now,
      namespace: this.poller.namespace,
      taskQueue: this.batcher.taskQueue,
      workflowIdPrefix: this.batcher.workflowIdPrefix,
      pollIntervalMs: this.pollIntervalMs,
      autoRestart: this.policy.autoRestart,
      stall: this.stall,
      temporal: this.temporal,
      polls: this.polls,
      lastPollAtMs: this.lastPollAtMs,
      lastPollDurationMs: this.lastPollDurationMs,
      shards: this.shards.map((r) => ({
        ...r.status,
        state: r.machine.state,
        stateSinceMs: r.machine.sinceMs,
        stateReasons: r.machine.reasons,
        history: { batches: r.batches.toArray(), pending: r.pending.toArray() },
      })),
      events: this.events.toArray(),
    });
  }

  private async checkShard(r: ShardRecord, pollers: number | null): Promise<void> {
    const s = r.status;
    const seen = await this.poller.observe(s.workflowId);
    const observation = seen.kind === 'described' && seen.status === 'RUNNING' ? { ...seen, pollers } : seen;
    this.apply(r, observation);
    if (observation.kind !== 'described') return;
    if (observation.status === 'RUNNING') {
      if (r.machine.state === 'nondeterministic' && observation.runId) await this.heal(r, observation.runId);
      else s.healHeld = null;
      return;
    }

    const lastStartedAtMs = Math.max(s.lastStartAtMs ?? -Infinity, s.lastRestartAtMs ?? -Infinity);
    const decision = this.policy.decide(observation.status, Number.isFinite(lastStartedAtMs) ? lastStartedAtMs : null, Date.now());
    if (decision.action !== 'restart') return;
    // A shard that never ran under this monitor's watch is started, not restarted: its first start
    // (NOT_FOUND), or this monitor's first look finding a run closed before it came.
    const again = r.hasRun;
    try {
      const outcome = await this.poller.start(s.workflowId, this.batcher.taskQueue, shardStartInput(s.shard));
      // Lost the race to another caller: the next check sees their run.
      if (!outcome.started) return;
      r.hasRun = true;
      s.error = null;
      s.runId = outcome.runId;
      if (again) {
        s.restarts++;
        s.lastRestartAtMs = Date.now();
      } else {
        s.starts++;
        s.lastStartAtMs = Date.now();
      }
      // A new run starts with empty counters; showing the old run's would mislead.
      s.stats = null;
      s.statsAtMs = null;
      const why = r.machine.reasons.join('; ');
      this.addEvent(s.shard, again ? 'restarted' : 'started', `${again ? 'started again' : 'started'} as run ${outcome.runId} (${why})`);
      // A first start is how every shard comes to life (a new install, a new shard): news, not a
      // warning. Starting one again means it stopped under this monitor's watch.
      const fields = { shard: s.shard, workflowId: s.workflowId, runId: outcome.runId, previous: observation.status };
      if (again) this.logger.warn(fields, 'batcher shard restarted');
      else this.logger.info(fields, 'batcher shard started');
      r.machine.started(outcome.runId, Date.now(), again ? 'restart' : 'start');
    } catch (err) {
      s.error = `${again ? 'restart' : 'start'} failed: ${errorMessage(err)}`;
      this.addEvent(s.shard, again ? 'restart-failed' : 'start-failed', s.error);
      this.logger.error(
        { shard: s.shard, workflowId: s.workflowId, err: s.error },
        again ? 'batcher shard restart failed' : 'batcher shard start failed',
      );
    }
  }

  /**
   * Resets a nondeterministic run to its last good workflow task, found by replaying its history
   * with the batcher's code; at most once per run, backing off when a healed run fails again, and
   * never more than the policy's heals per hour.
   */
  private async heal(r: ShardRecord, runId: string): Promise<void> {
    const s = r.status;
    const cause = 'nondeterminism';
    const detail = r.machine.reasons[0] ?? cause;
    const decision = this.healPolicy.decide(s.shard, runId, Date.now());
    if (decision.action !== 'heal') {
      if (s.healHeld !== decision.reason) {
        s.healHeld = decision.reason;
        this.addEvent(s.shard, 'heal-held', decision.reason);
        const fields = { shard: s.shard, workflowId: s.workflowId, runId, cause, reason: decision.reason };
        if (decision.action === 'wait') this.logger.warn(fields, 'batcher shard heal deferred');
        else this.logger.error(fields, 'batcher shard not healed: needs an operator');
      }
      return;
    }
    try {
      const outcome = await this.healer({ client: this.client, workflowId: s.workflowId, runId, cause: detail, code: this.healCode });
      const now = Date.now();
      this.healPolicy.record(s.shard, runId, now, outcome.healed ? outcome.newRunId : null);
      if (!outcome.healed) {
        s.healHeld = `${outcome.reason}; needs an operator`;
        this.addEvent(s.shard, 'heal-failed', s.healHeld);
        this.logger.error(
          { shard: s.shard, workflowId: s.workflowId, runId, cause, reason: outcome.reason },
          'batcher shard heal found no good point',
        );
        return;
      }
      s.heals++;
      s.healsByCause[cause] = (s.healsByCause[cause] ?? 0) + 1;
      s.lastHeal = { atMs: now, cause, runId, eventId: outcome.eventId, newRunId: outcome.newRunId, replays: outcome.replays };
      s.healHeld = null;
      this.addEvent(s.shard, 'healed', `run ${runId} reset to event ${outcome.eventId} as run ${outcome.newRunId} (${cause})`);
      this.logger.warn(
        {
          shard: s.shard,
          workflowId: s.workflowId,
          runId,
          newRunId: outcome.newRunId,
          eventId: outcome.eventId,
          replays: outcome.replays,
          cause,
          detail,
        },
        'batcher shard healed',
      );
    } catch (err) {
      // Not counted as tried: the next check tries again, with the same reset request id.
      s.error = `heal failed: ${errorMessage(err)}`;
      this.addEvent(s.shard, 'heal-failed', s.error);
      this.logger.error({ shard: s.shard, workflowId: s.workflowId, runId, cause, err: s.error }, 'batcher shard heal failed');
    }
  }

  /** Records an observation and lets the state machine judge it. */
  private apply(r: ShardRecord, o: ShardObservation): void {
    const now = Date.now();
    const s = r.status;
    s.checkedAtMs = now;
    if (o.kind === 'described') {
      if (o.status === 'RUNNING') r.hasRun = true;
      s.runId = o.runId;
      s.workflowStatus = o.status;
      s.historyLength = o.historyLength;
      s.pendingWorkflowTask = o.pendingWorkflowTask;
      s.error = null;
      if (o.stats) {
        s.stats = o.stats;
        s.statsAtMs = now;
        r.batches.merge(
          o.stats.recentBatches,
          (b) => b.batchId,
          (b) => b.atMs,
        );
        r.pending.push({ atMs: now, pending: o.stats.pending });
      }
    } else {
      s.error = o.kind === 'temporal-unreachable' ? `Temporal unreachable: ${o.error}` : `describe failed: ${o.error}`;
    }
    const transition = r.machine.observe(o, now);
    if (transition) this.announce(s, transition);
  }

  private announce(s: ShardRecord['status'], t: Transition): void {
    const kind: MonitorEventKind =
      t.to === 'running'
        ? 'up'
        : t.to === 'stalled' || t.to === 'nondeterministic' || t.to === 'no-worker' || t.to === 'unknown'
          ? t.to
          : 'down';
    this.addEvent(s.shard, kind, t.reason);
    if (kind === 'up') this.logger.info({ shard: s.shard, workflowId: s.workflowId, runId: s.runId }, 'batcher shard running');
    // A shard never started yet (a new install) is not running, and nothing went wrong.
    else if (t.to === 'not-running' && s.workflowStatus === 'NOT_FOUND')
      this.logger.info({ shard: s.shard, workflowId: s.workflowId, state: t.to, reason: t.reason }, 'batcher shard not started yet');
    else
      this.logger.warn(
        { shard: s.shard, workflowId: s.workflowId, state: t.to, reason: t.reason },
        kind === 'stalled' || kind === 'nondeterministic' || kind === 'no-worker' ? `batcher shard ${kind}` : 'batcher shard not running',
      );
  }

  private addEvent(shard: number, kind: MonitorEventKind, message: string): void {
    this.events.push({ atMs: Date.now(), shard, kind, message });
  }
}

/** The poll interval a timer can honour: positive and finite, at most MAX_POLL_INTERVAL_MS. */
export function schedulablePollInterval(ms: number): number {
  if (!Number.isFinite(ms) || ms <= 0) throw new RangeError(`poll interval must be a positive number of ms, got ${ms}`);
  return Math.min(ms, MAX_POLL_INTERVAL_MS);
}
