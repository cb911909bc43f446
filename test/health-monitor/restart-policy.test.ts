// The restart policy alone: which Temporal statuses lead to a new run, how often, and its input.
import { describe, expect, it } from 'vitest';
import { BoundedHistory, MAX_POLL_INTERVAL_MS, RestartPolicy, schedulablePollInterval, shardStartInput } from '@batcher/health-monitor';

const T0 = 1_800_000_000_000;

describe('restart policy', () => {
  it('when a shard was terminated, failed, completed, cancelled, timed out or never started, then it is restarted', () => {
    const policy = new RestartPolicy({ autoRestart: true });
    for (const status of ['TERMINATED', 'FAILED', 'COMPLETED', 'CANCELLED', 'TIMED_OUT', 'NOT_FOUND'] as const) {
      expect([status, policy.decide(status, null, T0)]).toEqual([status, { action: 'restart' }]);
    }
  });

  it('when a shard is running, paused by an operator, or in a status not understood, then it is left alone', () => {
    const policy = new RestartPolicy({ autoRestart: true });
    expect(policy.decide('RUNNING', null, T0)).toEqual({ action: 'leave', reason: 'running' });
    expect(policy.decide('PAUSED', null, T0)).toEqual({ action: 'leave', reason: 'paused by an operator' });
    expect(policy.decide('CONTINUED_AS_NEW', null, T0)).toEqual({
      action: 'leave',
      reason: 'status CONTINUED_AS_NEW is not one to restart from',
    });
  });

  it('when auto-restart is off, then a terminated shard is left alone', () => {
    expect(new RestartPolicy({ autoRestart: false }).decide('TERMINATED', null, T0)).toEqual({
      action: 'leave',
      reason: 'auto-restart is off',
    });
  });

  it('when the last restart was less than the minimum interval ago, then the policy waits until the interval has passed', () => {
    const policy = new RestartPolicy({ autoRestart: true, minRestartIntervalMs: 10_000 });
    expect(policy.decide('FAILED', T0, T0 + 9_999)).toEqual({ action: 'wait', untilMs: T0 + 10_000 });
    expect(policy.decide('FAILED', T0, T0 + 10_000)).toEqual({ action: 'restart' });
  });

  it('when a shard is started again, then its input is its number only (the batcher reads its own settings)', () => {
    expect(shardStartInput(3)).toStrictEqual({ shard: 3 });
  });
});

describe('poll interval', () => {
  it('when the interval is larger than a timer can wait (2^32 ms), then it is clamped to 2^31-1 ms; zero, negative and NaN are refused', () => {
    expect(MAX_POLL_INTERVAL_MS).toBe(2 ** 31 - 1);
    expect(schedulablePollInterval(2 ** 32)).toBe(2 ** 31 - 1);
    expect(schedulablePollInterval(5000)).toBe(5000);
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => schedulablePollInterval(bad)).toThrow(RangeError);
  });
});

describe('bounded history', () => {
  it('when more items are pushed than it holds, then the oldest are dropped', () => {
    const h = new BoundedHistory<number>(3);
    h.push(1, 2);
    h.push(3, 4, 5);
    expect(h.toArray()).toEqual([3, 4, 5]);
  });

  it('when batches are merged again (every memo the monitor reads reports them), then each is kept once, in time order, and the list stays bounded', () => {
    const h = new BoundedHistory<{ id: string; at: number }>(3);
    expect(
      h.merge(
        [
          { id: 'b', at: 2 },
          { id: 'a', at: 1 },
        ],
        (x) => x.id,
        (x) => x.at,
      ),
    ).toBe(2);
    expect(
      h.merge(
        [
          { id: 'a', at: 1 },
          { id: 'b', at: 2 },
        ],
        (x) => x.id,
        (x) => x.at,
      ),
    ).toBe(0);
    h.merge(
      [
        { id: 'c', at: 3 },
        { id: 'd', at: 4 },
      ],
      (x) => x.id,
      (x) => x.at,
    );
    expect(h.toArray().map((x) => x.id)).toEqual(['b', 'c', 'd']);
  });

  it('when its capacity is not a positive integer, then it refuses to exist', () => {
    expect(() => new BoundedHistory(0)).toThrow(RangeError);
  });
});
