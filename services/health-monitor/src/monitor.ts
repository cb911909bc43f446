// Watches every batcher shard: describes its newest run, queries its statistics, starts it again
// when it is found not running, and keeps a short per-shard history for the status page's chart.
import { WorkflowNotFoundError, type Client, type WorkflowExecutionStatusName } from '@temporalio/client';
import { batcherStatsQuery, batcherWorkflowId, type BatcherStats } from '@batcher/shared/workflow';
import { ensureBatcherShard, type BatcherConfig, type Logger } from '@batcher/shared/node';

/**
 * running: the newest run is RUNNING. restarting: this monitor found it closed and started a new
 * run, not yet confirmed by a later check. not-running: closed (or never started) and not
 * restarted. unknown: Temporal did not answer.
 */
export type ShardState = 'running' | 'restarting' | 'not-running' | 'unknown';

/** Temporal's status of the newest run, or NOT_FOUND when the workflow id has never been used. */
export type ShardWorkflowStatus = WorkflowExecutionStatusName | 'NOT_FOUND';

export type BatchSample = BatcherStats['recentBatches'][number];

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
  /** Run id of the newest run as last described; continue-as-new changes it. */
  runId: string | null;
  workflowStatus: ShardWorkflowStatus | null;
  checkedAtMs: number | null;
  /** Statistics of the last successful query; null until one succeeded, and after a restart. */
  stats: BatcherStats | null;
  statsAtMs: number | null;
  /** Why the last check could not describe, query or restart the shard. */
  error: string | null;
  /** Times this monitor started the shard because it found it not running. */
  restarts: number;
  lastRestartAtMs: number | null;
  /** Bounded, oldest first; batches survive restarts and continue-as-new (merged by batch id). */
  history: { batches: BatchSample[]; pending: PendingSample[] };
}

export type MonitorEventKind = 'up' | 'down' | 'restarted' | 'restart-failed' | 'unknown';

export interface MonitorEvent {
  atMs: number;
  shard: number;
  kind: MonitorEventKind;
  message: string;
}

export interface Readiness {
  ready: boolean;
  /** Empty when ready; otherwise one line per problem. */
  reasons: string[];
}

export interface MonitorStatus extends Readiness {
  generatedAtMs: number;
  namespace: string;
  taskQueue: string;
  workflowIdPrefix: string;
  pollIntervalMs: number;
  autoRestart: boolean;
  temporal: { reachable: boolean | null; error: string | null; checkedAtMs: number | null };
  polls: number;
  lastPollAtMs: number | null;
  lastPollDurationMs: number | null;
  shards: ShardStatus[];
  /** Newest last, bounded. */
  events: MonitorEvent[];
}

export interface ShardMonitorOptions {
  client: Client;
  /** The batcher section of the configuration: shard count, id prefix, task queue and the settings a restarted shard gets. */
  batcher: BatcherConfig;
  /** How often every shard is checked, in ms. */
  pollIntervalMs: number;
  /** Start a shard again when it is found not running. */
  autoRestart: boolean;
  logger: Logger;
  /** Deadline of each Temporal call (describe, query, restart), in ms. @default 5000 */
  rpcTimeoutMs?: number;
  /** Batches remembered per shard for the chart. @default 60 */
  batchHistory?: number;
  /** Pending-depth samples remembered per shard (one per check). @default 150 */
  pendingHistory?: number;
  /** Shards checked at once; bounds the RPC burst with many shards. @default 16 */
  concurrency?: number;
  /** Events remembered for the status page. @default 50 */
  eventHistory?: number;
}

/** Closed statuses after which a new run is what an operator wants. PAUSED is deliberate, so it is left alone. */
const RESTARTABLE: ReadonlySet<ShardWorkflowStatus> = new Set(['NOT_FOUND', 'COMPLETED', 'FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT']);

export class ShardMonitor {
  private readonly client: Client;
  private readonly batcher: BatcherConfig;
  private readonly logger: Logger;
  readonly pollIntervalMs: number;
  readonly autoRestart: boolean;
  private readonly rpcTimeoutMs: number;
  private readonly batchHistory: number;
  private readonly pendingHistory: number;
  private readonly concurrency: number;
  private readonly eventHistory: number;

  private readonly shards: ShardStatus[];
  private readonly events: MonitorEvent[] = [];
  private temporal: MonitorStatus['temporal'] = { reachable: null, error: null, checkedAtMs: null };
  private polls = 0;
  private lastPollAtMs: number | null = null;
  private lastPollDurationMs: number | null = null;

  private loop: Promise<void> | undefined;
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;

  constructor(options: ShardMonitorOptions) {
    this.client = options.client;
    this.batcher = options.batcher;
    this.logger = options.logger;
    this.pollIntervalMs = options.pollIntervalMs;
    this.autoRestart = options.autoRestart;
    this.rpcTimeoutMs = options.rpcTimeoutMs ?? 5000;
    this.batchHistory = options.batchHistory ?? 60;
    this.pendingHistory = options.pendingHistory ?? 150;
    this.concurrency = options.concurrency ?? 16;
    this.eventHistory = options.eventHistory ?? 50;
    const now = Date.now();
    this.shards = Array.from({ length: options.batcher.shards }, (_, shard) => ({
      shard,
      workflowId: batcherWorkflowId(options.batcher.workflowIdPrefix, shard),
      state: 'unknown',
      stateSinceMs: now,
      runId: null,
      workflowStatus: null,
      checkedAtMs: null,
      stats: null,
      statsAtMs: null,
      error: null,
      restarts: 0,
      lastRestartAtMs: null,
      history: { batches: [], pending: [] },
    }));
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
    const reachable = await this.checkTemporal();
    if (reachable) {
      await forEachLimited(this.shards, this.concurrency, (s) => this.checkShard(s));
    } else {
      // One unreachable server would otherwise cost every shard its own timeout.
      for (const s of this.shards) {
        s.checkedAtMs = Date.now();
        s.error = `Temporal unreachable: ${this.temporal.error ?? 'unknown error'}`;
        this.transition(s, 'unknown', s.error);
      }
    }
    this.polls++;
    this.lastPollAtMs = Date.now();
    this.lastPollDurationMs = this.lastPollAtMs - startedAt;
  }

  /** Ready only when the last check is recent, reached Temporal and found every shard running. */
  readiness(now = Date.now()): Readiness {
    const reasons: string[] = [];
    if (this.lastPollAtMs === null) {
      reasons.push('no check has completed yet');
      return { ready: false, reasons };
    }
    // A check stuck for longer than a few intervals means the status below is not current.
    const staleAfterMs = 3 * this.pollIntervalMs + 2 * this.rpcTimeoutMs;
    if (now - this.lastPollAtMs > staleAfterMs) reasons.push(`last check ended ${Math.round((now - this.lastPollAtMs) / 1000)} s ago`);
    if (this.temporal.reachable === false) reasons.push(`Temporal unreachable: ${this.temporal.error ?? 'unknown error'}`);
    for (const s of this.shards) {
      if (s.state === 'running') continue;
      if (this.temporal.reachable === false && s.state === 'unknown') continue; // already said above
      reasons.push(`shard ${s.shard} (${s.workflowId}) is ${s.state}${s.workflowStatus ? `: workflow ${s.workflowStatus}` : ''}${s.error ? ` (${s.error})` : ''}`);
    }
    return { ready: reasons.length === 0, reasons };
  }

  /** A copy of everything the monitor knows, safe to serialise and to hand out. */
  status(): MonitorStatus {
    const now = Date.now();
    return structuredClone({
      ...this.readiness(now),
      generatedAtMs: now,
      namespace: this.client.options.namespace,
      taskQueue: this.batcher.taskQueue,
      workflowIdPrefix: this.batcher.workflowIdPrefix,
      pollIntervalMs: this.pollIntervalMs,
      autoRestart: this.autoRestart,
      temporal: this.temporal,
      polls: this.polls,
      lastPollAtMs: this.lastPollAtMs,
      lastPollDurationMs: this.lastPollDurationMs,
      shards: this.shards,
      events: this.events,
    });
  }

  private withDeadline<T>(fn: () => Promise<T>): Promise<T> {
    return this.client.withDeadline(Date.now() + this.rpcTimeoutMs, fn);
  }

  private async checkTemporal(): Promise<boolean> {
    const namespace = this.client.options.namespace;
    const was = this.temporal.reachable;
    try {
      // Describing the namespace proves both the connection and that the namespace exists.
      await this.withDeadline(() => this.client.workflowService.describeNamespace({ namespace }));
      this.temporal = { reachable: true, error: null, checkedAtMs: Date.now() };
      if (was === false) this.logger.info({ namespace }, 'Temporal reachable again');
    } catch (err) {
      this.temporal = { reachable: false, error: errorMessage(err), checkedAtMs: Date.now() };
      if (was !== false) this.logger.warn({ namespace, err: this.temporal.error }, 'Temporal unreachable');
    }
    return this.temporal.reachable === true;
  }

  private async checkShard(s: ShardStatus): Promise<void> {
    // No run id: the handle always addresses the newest run, so continue-as-new is followed for free.
    const handle = this.client.workflow.getHandle(s.workflowId);
    let status: ShardWorkflowStatus;
    try {
      const description = await this.withDeadline(() => handle.describe());
      s.runId = description.runId;
      status = description.status.name;
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) {
        s.checkedAtMs = Date.now();
        s.error = `describe failed: ${errorMessage(err)}`;
        this.transition(s, 'unknown', s.error);
        return;
      }
      s.runId = null;
      status = 'NOT_FOUND';
    }
    s.workflowStatus = status;
    s.checkedAtMs = Date.now();

    if (status === 'RUNNING') {
      s.error = null;
      try {
        const stats = await this.withDeadline(() => handle.query(batcherStatsQuery));
        this.record(s, stats);
      } catch (err) {
        // Running but not answering usually means no batcher worker polls its task queue; the
        // workflow itself is fine, so the shard stays up and the problem is shown next to it.
        s.error = `statistics query failed: ${errorMessage(err)}`;
      }
      this.transition(s, 'running', `run ${s.runId ?? '?'} is RUNNING`);
      return;
    }

    const why = status === 'NOT_FOUND' ? 'has never been started' : `newest run ${s.runId ?? '?'} is ${status}`;
    if (!RESTARTABLE.has(status)) {
      // PAUSED (an operator's choice) or a status we do not understand: report, never override.
      s.error = null;
      this.transition(s, status === 'PAUSED' ? 'not-running' : 'unknown', `workflow ${why}`);
      return;
    }
    this.transition(s, 'not-running', `workflow ${why}`);
    if (!this.autoRestart) {
      s.error = null;
      return;
    }
    try {
      const started = await this.withDeadline(() => ensureBatcherShard(this.client, this.batcher, s.shard));
      const fresh = await this.withDeadline(() => handle.describe());
      s.runId = fresh.runId;
      s.workflowStatus = fresh.status.name;
      s.checkedAtMs = Date.now();
      s.error = null;
      if (!started) {
        // Someone else (another monitor replica, a signal-with-start) was quicker.
        this.transition(s, 'running', `started elsewhere as run ${fresh.runId}`);
        return;
      }
      s.restarts++;
      s.lastRestartAtMs = Date.now();
      // A new run starts with empty counters; showing the old run's would mislead.
      s.stats = null;
      s.statsAtMs = null;
      this.addEvent(s.shard, 'restarted', `started again as run ${fresh.runId} (workflow ${why})`);
      this.logger.warn({ shard: s.shard, workflowId: s.workflowId, runId: fresh.runId, previous: status }, 'batcher shard restarted');
      this.transition(s, 'restarting', `run ${fresh.runId} started, not yet confirmed`, false);
    } catch (err) {
      s.error = `restart failed: ${errorMessage(err)}`;
      this.addEvent(s.shard, 'restart-failed', s.error);
      this.logger.error({ shard: s.shard, workflowId: s.workflowId, err: s.error }, 'batcher shard restart failed');
    }
  }

  private record(s: ShardStatus, stats: BatcherStats): void {
    const now = Date.now();
    s.stats = stats;
    s.statsAtMs = now;
    const known = new Set(s.history.batches.map((b) => b.batchId));
    // `?? []`: a shard still running older workflow code may not report recent batches.
    const fresh = (stats.recentBatches ?? []).filter((b) => !known.has(b.batchId));
    if (fresh.length) {
      s.history.batches = [...s.history.batches, ...fresh].sort((a, b) => a.atMs - b.atMs).slice(-this.batchHistory);
    }
    s.history.pending = [...s.history.pending, { atMs: now, pending: stats.pending }].slice(-this.pendingHistory);
  }

  /** Moves a shard to a state, logging and recording an event only when the state changes. */
  private transition(s: ShardStatus, state: ShardState, message: string, emit = true): void {
    if (s.state === state) return;
    s.state = state;
    s.stateSinceMs = Date.now();
    if (!emit) return;
    const kind: MonitorEventKind = state === 'running' ? 'up' : state === 'unknown' ? 'unknown' : 'down';
    this.addEvent(s.shard, kind, message);
    if (kind === 'up') this.logger.info({ shard: s.shard, workflowId: s.workflowId, runId: s.runId }, 'batcher shard running');
    else this.logger.warn({ shard: s.shard, workflowId: s.workflowId, state, reason: message }, 'batcher shard not running');
  }

  private addEvent(shard: number, kind: MonitorEventKind, message: string): void {
    this.events.push({ atMs: Date.now(), shard, kind, message });
    if (this.events.length > this.eventHistory) this.events.splice(0, this.events.length - this.eventHistory);
  }
}

async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
