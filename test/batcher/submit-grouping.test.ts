// How long a batcher worker gathers submissions for a shard, and how many it sends in one signal:
// each signal is a Temporal action, so a group waits as long as the shard's policy lets a request
// wait anyway, and goes at once with a full batch. Pure: no server.
import { describe, expect, it } from 'vitest';
import { DEFAULT_BATCHER_SETTINGS, DEFAULT_SUBMIT } from '@write-batcher/batcher';
import { EAGER_LINGER_MS, SubmitGroups, effectiveGrouping } from '@write-batcher/batcher/testing';

describe('submission grouping', () => {
  it('when the policy is size-or-interval, then a group lingers up to the flush interval within the bound, and goes at a full batch', () => {
    expect(effectiveGrouping(DEFAULT_SUBMIT, DEFAULT_BATCHER_SETTINGS)).toEqual({ lingerMs: 20_000, maxRequests: 100 });
    expect(effectiveGrouping(DEFAULT_SUBMIT, { ...DEFAULT_BATCHER_SETTINGS, flushIntervalMs: 3000 })).toEqual({
      lingerMs: 3000,
      maxRequests: 100,
    });
    expect(effectiveGrouping({ lingerMs: 400, maxRequests: 30 }, DEFAULT_BATCHER_SETTINGS)).toEqual({ lingerMs: 400, maxRequests: 30 });
  });

  it('when the policy is eager, then a group lingers only for what arrives together', () => {
    expect(effectiveGrouping(DEFAULT_SUBMIT, { ...DEFAULT_BATCHER_SETTINGS, flushPolicy: 'eager' }).lingerMs).toBe(EAGER_LINGER_MS);
    expect(effectiveGrouping({ lingerMs: 0, maxRequests: 500 }, { ...DEFAULT_BATCHER_SETTINGS, flushPolicy: 'eager' }).lingerMs).toBe(0);
  });

  it('when a group reaches its size, then it is sent at once without waiting for the linger', async () => {
    const sent: number[][] = [];
    const groups = new SubmitGroups<number, number>(
      async (_key, items) => {
        sent.push(items);
      },
      { lingerMs: 60_000, maxRequests: 3, maxBytes: 1_000_000 },
    );
    await Promise.all([1, 2, 3].map((i) => groups.submit(0, i, 10)));
    expect(sent).toEqual([[1, 2, 3]]);
  });

  it('when an attempt sent again arrives (its first attempt got no answer), then its group is sent at once with what it holds', async () => {
    const sent: number[][] = [];
    const groups = new SubmitGroups<number, number>(
      async (_key, items) => {
        sent.push(items);
      },
      { lingerMs: 60_000, maxRequests: 100, maxBytes: 1_000_000 },
    );
    const first = groups.submit(0, 1, 10);
    const other = groups.submit(1, 9, 10);
    await groups.submit(0, 2, 10, true);
    await first;
    expect(sent).toEqual([[1, 2]]);
    // The other shard's group still lingers: nothing of it was sent.
    let settled = false;
    void other.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false);
  });
});
