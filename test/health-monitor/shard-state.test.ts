// The shard state machine alone: observations in, states and reasons out. No server is needed, the
// machine does no I/O and is handed the time.
import { describe, expect, it } from 'vitest';
import { healRequestId } from '@write-batcher/batcher';
import {
  HealPolicy,
  isNondeterminism,
  ShardStateMachine,
  type MonitoredBatcherStats,
  type PendingWorkflowTask,
  type ShardObservation,
  type StallThresholds,
} from '@batcher/health-monitor';

const T0 = 1_800_000_000_000;
// No minimum, so the flush-interval rule is seen alone; the minimum has a test of its own.
const thresholds: StallThresholds = { flushIntervals: 3, minFlushStallMs: 0, workflowTaskAttempts: 3, workflowTaskAgeMs: 30_000 };

function stats(over: Partial<MonitoredBatcherStats> = {}): MonitoredBatcherStats {
  return {
    shard: 0,
    pending: 0,
    pendingBytes: 0,
    batchesWritten: 0,
    rowsWritten: 0,
    duplicates: 0,
    rejected: 0,
    signalsThisRun: 0,
    signalsTotal: 0,
    continueAsNewCount: 0,
    dedupWindowSize: 0,
    continueAsNewPayloadBytes: 0,
    largestContinueAsNewPayloadBytes: 0,
    lastFlushAtMs: null,
    lastBatch: null,
    confirmationsUndeliverable: 0,
    answersDropped: 0,
    repliesRefused: 0,
    recentBatches: [],
    lastRequestAtMs: null,
    writesInFlight: 0,
    refused: 0,
    requestsTotal: 0,
    flushPolicy: 'size-or-interval',
    flushIntervalMs: 1000,
    maxBatchSize: 100,
    ...over,
  };
}

function running(
  over: { stats?: MonitoredBatcherStats | null; task?: PendingWorkflowTask | null } = {},
): Extract<ShardObservation, { kind: 'described' }> {
  return {
    kind: 'described',
    runId: 'run-1',
    status: 'RUNNING',
    historyLength: 10,
    pendingWorkflowTask: over.task ?? null,
    stats: over.stats === undefined ? stats() : over.stats,
  };
}

describe('shard state machine', () => {
  it('when a RUNNING shard answers with nothing pending, then it is running, and a repeat of the same news is no transition', () => {
    const m = new ShardStateMachine(thresholds, T0);
    expect(m.observe(running(), T0)).toEqual({ from: 'unknown', to: 'running', reason: 'running' });
    expect(m.observe(running(), T0 + 1000)).toBeNull();
    expect(m).toMatchObject({ state: 'running', sinceMs: T0, reasons: [] });
  });

  it('when requests are pending and the last flush is more than 3 reported flush intervals old, then it is stalled; at 3 intervals it is not yet', () => {
    const m = new ShardStateMachine(thresholds, T0);
    const s = stats({ pending: 4, lastFlushAtMs: T0, oldestPendingAgeMs: 60_000, flushIntervalMs: 2000 });
    expect(m.observe(running({ stats: s }), T0 + 6000)?.to).toBe('running');
    const t = m.observe(running({ stats: s }), T0 + 6001);
    expect(t?.to).toBe('stalled');
    expect(m.reasons).toEqual(['4 requests pending, no flush for 6.0 s (limit 6.0 s: 3 flush intervals of 2.0 s, at least 0.0 s)']);
  });

  it('when the flush interval is short (300 ms), then a shard is not stalled for want of a flush before the minimum (10 s) has passed', () => {
    const m = new ShardStateMachine({ ...thresholds, minFlushStallMs: 10_000 }, T0);
    const s = stats({ pending: 5, lastFlushAtMs: T0, oldestPendingAgeMs: 60_000, flushIntervalMs: 300 });
    m.observe(running({ stats: s }), T0 + 10_000);
    expect(m.state).toBe('running');
    m.observe(running({ stats: s }), T0 + 10_001);
    expect(m).toMatchObject({
      state: 'stalled',
      reasons: ['5 requests pending, no flush for 10 s (limit 10 s: 3 flush intervals of 0.3 s, at least 10 s)'],
    });
  });

  it('when the number of flush intervals is configured as 5, then 4 intervals without a flush are still running', () => {
    const m = new ShardStateMachine({ ...thresholds, flushIntervals: 5 }, T0);
    const s = stats({ pending: 1, lastFlushAtMs: T0, oldestPendingAgeMs: 60_000, flushIntervalMs: 1000 });
    expect(m.observe(running({ stats: s }), T0 + 4500)?.to).toBe('running');
    expect(m.observe(running({ stats: s }), T0 + 5001)?.to).toBe('stalled');
  });

  it('when a shard idle for an hour receives a request a moment ago, then it is running, not stalled', () => {
    const m = new ShardStateMachine(thresholds, T0);
    const s = stats({ pending: 1, lastFlushAtMs: T0 - 3_600_000, oldestPendingAgeMs: 500, flushIntervalMs: 1000 });
    m.observe(running({ stats: s }), T0);
    expect(m.state).toBe('running');
  });

  it("when the oldest request's age is not known (the poller leaves the memo's out), then the work is judged from the first time the monitor saw it", () => {
    const m = new ShardStateMachine(thresholds, T0); // flush interval 1000 ms, bound 3000 ms
    const s = stats({ pending: 2, lastFlushAtMs: T0 - 3_600_000 });
    m.observe(running({ stats: s }), T0);
    m.observe(running({ stats: s }), T0 + 3000);
    expect(m.state).toBe('running');
    m.observe(running({ stats: s }), T0 + 3001);
    expect(m.state).toBe('stalled');
    // A batch written (and more work arrived): the clock starts again.
    m.observe(running({ stats: stats({ pending: 2, batchesWritten: 1, lastFlushAtMs: T0 - 3_600_000 }) }), T0 + 4000);
    expect(m.state).toBe('running');
  });

  it('when a batch is being written and never finishes, then the rows in flight count as waiting work', () => {
    const m = new ShardStateMachine(thresholds, T0);
    const s = stats({ pending: 0, writesInFlight: 5, lastFlushAtMs: T0, oldestPendingAgeMs: null, flushIntervalMs: 1000 });
    m.observe(running({ stats: s }), T0 + 100); // first seen here: judged from here
    m.observe(running({ stats: s }), T0 + 3100);
    expect(m.state).toBe('running');
    m.observe(running({ stats: s }), T0 + 3101);
    expect(m.state).toBe('stalled');
    expect(m.reasons[0]).toMatch(/^0 requests pending and 5 being written, no flush for 3\.0 s \(limit 3\.0 s/);
  });

  it('when a RUNNING shard has published no statistics yet, however often it is seen so, then that alone never makes it stalled', () => {
    const m = new ShardStateMachine(thresholds, T0);
    for (let i = 0; i < 10; i++) m.observe(running({ stats: null }), T0 + i * 60_000);
    expect(m).toMatchObject({ state: 'running', reasons: [] });
  });

  it('when the pending workflow task is on its third attempt, then the shard is stalled (a workflow-task failure loop)', () => {
    const m = new ShardStateMachine(thresholds, T0);
    m.observe(running({ task: { attempt: 2, scheduledAtMs: T0, startedAtMs: T0 } }), T0 + 10);
    expect(m.state).toBe('running');
    m.observe(running({ task: { attempt: 3, scheduledAtMs: T0, startedAtMs: T0 } }), T0 + 20);
    expect(m).toMatchObject({ state: 'stalled', reasons: ['workflow task is on attempt 3 (failing or timing out)'] });
  });

  it('when the pending workflow task was scheduled longer ago than the bound and no worker picked it up, then the shard is stalled and the reason says so', () => {
    const m = new ShardStateMachine(thresholds, T0);
    m.observe(running({ stats: null, task: { attempt: 1, scheduledAtMs: T0, startedAtMs: null } }), T0 + 30_000);
    expect(m.state).toBe('running');
    m.observe(running({ stats: null, task: { attempt: 1, scheduledAtMs: T0, startedAtMs: null } }), T0 + 30_001);
    expect(m.state).toBe('stalled');
    expect(m.reasons).toEqual(['workflow task scheduled 30 s ago and not picked up by any worker']);
    m.observe(running({ stats: null, task: { attempt: 1, scheduledAtMs: T0, startedAtMs: T0 + 30_000 } }), T0 + 31_000);
    expect(m.reasons[0]).toBe('workflow task scheduled 31 s ago and not completed');
  });

  it('when the newest run is closed, paused or never started, then the shard is not-running; an unexpected status or no answer is unknown', () => {
    const m = new ShardStateMachine(thresholds, T0);
    for (const status of ['TERMINATED', 'FAILED', 'COMPLETED', 'CANCELLED', 'TIMED_OUT', 'PAUSED'] as const) {
      m.observe({ kind: 'described', runId: 'r', status, historyLength: 3, pendingWorkflowTask: null, stats: null }, T0);
      expect([status, m.state]).toEqual([status, 'not-running']);
      expect(m.reasons).toEqual([`newest run r is ${status}`]);
    }
    m.observe({ kind: 'described', runId: null, status: 'NOT_FOUND', historyLength: null, pendingWorkflowTask: null, stats: null }, T0);
    expect(m).toMatchObject({ state: 'not-running', reasons: ['workflow has never been started'] });
    m.observe({ kind: 'described', runId: 'r', status: 'CONTINUED_AS_NEW', historyLength: 3, pendingWorkflowTask: null, stats: null }, T0);
    expect(m.state).toBe('unknown');
    m.observe({ kind: 'describe-failed', error: 'deadline exceeded' }, T0);
    expect(m).toMatchObject({ state: 'unknown', reasons: ['describe failed: deadline exceeded'] });
    m.observe({ kind: 'temporal-unreachable', error: 'connection refused' }, T0);
    expect(m.reasons).toEqual(['Temporal unreachable: connection refused']);
  });

  it('when the retrying workflow task last failed on nondeterminism (cause or TMPRL1100), then the shard is nondeterministic, not stalled, whatever the attempt', () => {
    const task = { attempt: 2, scheduledAtMs: T0, startedAtMs: T0 };
    for (const failure of [
      { eventId: 41, cause: 'WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR', message: 'boom' },
      {
        eventId: 41,
        cause: 'WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE',
        message: '[TMPRL1100] Nondeterminism error: x',
      },
    ]) {
      const m = new ShardStateMachine(thresholds, T0);
      expect(m.observe({ ...running({ task }), lastTaskFailure: failure, pollers: 1 }, T0 + 10)?.to).toBe('nondeterministic');
      expect(m.reasons[0]).toBe(`workflow task failed on nondeterminism (event 41): ${failure.message}`);
      expect(isNondeterminism(failure)).toBe(true);
    }
  });

  it('when the workflow task failed for another reason, then the shard is stalled (on its third attempt), never nondeterministic', () => {
    const m = new ShardStateMachine(thresholds, T0);
    const failure = { eventId: 9, cause: 'WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE', message: 'no such workflow type' };
    expect(isNondeterminism(failure)).toBe(false);
    m.observe({ ...running({ task: { attempt: 2, scheduledAtMs: T0, startedAtMs: T0 } }), lastTaskFailure: failure }, T0 + 10);
    expect(m.state).toBe('running');
    m.observe({ ...running({ task: { attempt: 3, scheduledAtMs: T0, startedAtMs: T0 } }), lastTaskFailure: failure }, T0 + 20);
    expect(m.state).toBe('stalled');
  });

  it('when a nondeterminism failure is in the history but no task is pending (it was overcome), then it does not count', () => {
    const m = new ShardStateMachine(thresholds, T0);
    const failure = { eventId: 9, cause: 'WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR', message: 'x' };
    m.observe({ ...running({ task: null }), lastTaskFailure: failure }, T0);
    expect(m.state).toBe('running');
  });

  it('when no worker polls the task queue, then the shard is no-worker (nondeterminism named first); unknown pollers decide nothing', () => {
    const m = new ShardStateMachine(thresholds, T0);
    expect(m.observe({ ...running(), pollers: 0 }, T0)?.to).toBe('no-worker');
    expect(m.reasons).toEqual(['no worker polls the task queue']);
    expect(m.observe({ ...running(), pollers: null }, T0 + 1)?.to).toBe('running');
    expect(m.observe({ ...running(), pollers: 2 }, T0 + 2)).toBeNull();
    const failure = { eventId: 9, cause: 'WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR', message: 'x' };
    m.observe({ ...running({ task: { attempt: 5, scheduledAtMs: T0, startedAtMs: null } }), lastTaskFailure: failure, pollers: 0 }, T0 + 3);
    expect(m.state).toBe('nondeterministic');
  });

  it("when the memo's published age of the oldest request exceeds the bound, then the shard is stalled at the monitor's first look (no waiting to see it age)", () => {
    // The load case: requests keep arriving (the memo changes every few seconds) but no batch is written.
    const m = new ShardStateMachine({ ...thresholds, minFlushStallMs: 10_000 }, T0);
    const s = stats({
      pending: 300,
      oldestPendingAgeMs: 270_000,
      lastRequestAtMs: T0 - 1000,
      lastFlushAtMs: T0 - 275_000,
      flushIntervalMs: 300,
    });
    expect(m.observe(running({ stats: s }), T0)?.to).toBe('stalled');
    expect(m.reasons[0]).toMatch(/^300 requests pending, no flush for 270 s/);
  });

  it('when the last request arrived a moment ago, then the oldest arrived no later: a published age is never stretched beyond it', () => {
    const m = new ShardStateMachine(thresholds, T0);
    // The memo says the oldest is 500 ms old; it cannot have arrived after the last request either.
    const s = stats({
      pending: 2,
      oldestPendingAgeMs: 500,
      lastRequestAtMs: T0 - 10_000,
      lastFlushAtMs: T0 - 3_600_000,
      flushIntervalMs: 1000,
    });
    m.observe(running({ stats: s }), T0);
    expect(m.state).toBe('stalled');
    expect(m.reasons[0]).toMatch(/no flush for 10 s/);
  });

  it('when the monitor restarted the shard, then it is restarting until a check sees the new run', () => {
    const m = new ShardStateMachine(thresholds, T0);
    m.observe(running(), T0);
    m.observe({ kind: 'described', runId: 'old', status: 'TERMINATED', historyLength: 3, pendingWorkflowTask: null, stats: null }, T0 + 1);
    expect(m.restarted('new', T0 + 2)).toEqual({ from: 'not-running', to: 'restarting', reason: 'run new started, not yet confirmed' });
    expect(m).toMatchObject({ state: 'restarting', sinceMs: T0 + 2 });
    expect(m.observe(running(), T0 + 3)?.to).toBe('running');
  });
});

describe('heal policy', () => {
  it('when a run is nondeterministic, then it is healed once; the same run is never healed again', () => {
    const p = new HealPolicy({ maxPerHour: 3, backoffMs: 60_000 });
    expect(p.decide(0, 'run-a', T0)).toEqual({ action: 'heal' });
    p.record(0, 'run-a', T0, 'run-b');
    expect(p.decide(0, 'run-a', T0 + 1)).toMatchObject({ action: 'leave' });
    // A heal that found no good point also counts as the run's one try.
    expect(p.decide(1, 'run-x', T0)).toEqual({ action: 'heal' });
    p.record(1, 'run-x', T0, null);
    expect(p.decide(1, 'run-x', T0 + 10 * 60_000)).toMatchObject({ action: 'leave', reason: expect.stringMatching(/needs an operator/) });
  });

  it('when a healed run fails again, then the next heal waits the back-off, doubled each time in a row, and stops at the hourly limit', () => {
    const p = new HealPolicy({ maxPerHour: 3, backoffMs: 60_000 });
    p.record(0, 'run-1', T0, 'run-2');
    expect(p.decide(0, 'run-2', T0 + 59_999)).toMatchObject({ action: 'wait', untilMs: T0 + 60_000 });
    expect(p.decide(0, 'run-2', T0 + 60_000)).toEqual({ action: 'heal' });
    p.record(0, 'run-2', T0 + 60_000, 'run-3');
    expect(p.decide(0, 'run-3', T0 + 60_000 + 119_999)).toMatchObject({ action: 'wait', untilMs: T0 + 180_000 });
    p.record(0, 'run-3', T0 + 180_000, 'run-4');
    expect(p.decide(0, 'run-4', T0 + 10 * 60_000)).toMatchObject({
      action: 'give-up',
      reason: expect.stringMatching(/3 heals within the hour.*needs an operator/),
    });
    // An hour after the first, the limit has room again (and the back-off has long passed).
    expect(p.decide(0, 'run-4', T0 + 3_600_000)).toEqual({ action: 'heal' });
  });

  it('when healing is off, then nothing is healed', () => {
    expect(new HealPolicy({ enabled: false }).decide(0, 'r', T0)).toMatchObject({ action: 'leave', reason: 'healing is off' });
  });

  it('when a reset request id is derived for a run and event, then a retry derives the same one and another event another', () => {
    expect(healRequestId('run-1', 40)).toBe(healRequestId('run-1', 40));
    expect(healRequestId('run-1', 40)).not.toBe(healRequestId('run-1', 46));
    expect(healRequestId('run-1', 40)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });
});
