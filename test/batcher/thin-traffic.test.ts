// The shard under thin traffic, with no server: the flush interval counts from when a request was
// submitted (the batcher worker may hold a group of submissions for part of it), and statistics
// changes arm no timer of their own (each timer is a Temporal action). Runs before the patch keep
// the old rules; both are checked.
import { describe, expect, it } from 'vitest';
import { DEFAULT_BATCHER_SETTINGS } from '@write-batcher/batcher';
import { ShardBook, ShardLoop, type HistoryInfo } from '@write-batcher/batcher/testing';
import { demoRequests } from '../support/requests';

const small: HistoryInfo = { historyLength: 50, historySize: 10_000, continueAsNewSuggested: false };
let token = 0;
const thin = { batchToken: () => `t${++token}`, dueFromSubmission: true };
const book = (style: ConstructorParameters<typeof ShardBook>[2]) =>
  new ShardBook(0, { ...DEFAULT_BATCHER_SETTINGS, flushIntervalMs: 20_000 }, style, undefined, 'write-batcher-0');
const submittedAt = (ms: number) => demoRequests(1, `at${ms}`).map((r) => ({ ...r, submittedAtMs: ms }));

describe('thin traffic', () => {
  it('when a request was held 8 s in a submission group, then its batch is due 20 s after its submission, not after its arrival', () => {
    const b = book(thin);
    b.offerSignal(submittedAt(100_000), 108_000);
    expect(b.nextDueAtMs()).toBe(120_000);
    const old = book({ batchToken: () => 'x' });
    old.offerSignal(submittedAt(100_000), 108_000);
    expect(old.nextDueAtMs()).toBe(128_000);
  });

  it('when a submission time is not believable (in the future, more than two intervals before arrival, not a number), then the interval counts from arrival', () => {
    const b = book(thin);
    b.offerSignal(submittedAt(500_000), 108_000); // from the future: arrival counts
    expect(b.nextDueAtMs()).toBe(128_000);
    const c = book(thin);
    c.offerSignal(submittedAt(1), 108_000); // long before: not believed
    expect(c.nextDueAtMs()).toBe(128_000);
    const e = book(thin);
    e.offerSignal(submittedAt(80_000), 108_000); // a group that lingered a whole interval and more: due at once
    expect(e.nextDueAtMs()).toBe(100_000);
    const d = book(thin);
    d.offerSignal(
      demoRequests(1, 'nan').map((r) => ({ ...r, submittedAtMs: 'soon' as unknown as number })),
      108_000,
    );
    expect(d.nextDueAtMs()).toBe(128_000);
  });

  it('when statistics change within the throttle, then no timer is armed for them, and an idle shard publishes its last change at once', () => {
    const loop = new ShardLoop(book(thin), false);
    loop.offer(submittedAt(1000), 1000);
    const first = loop.next(1000, small);
    expect(first.memo?.pending).toBe(1);
    loop.offer(submittedAt(1500), 1500);
    const held = loop.next(1500, small);
    expect(held.memo).toBeUndefined();
    // Only the flush timer (due 20 s after the first submission), no memo timer at 3000.
    expect(held.timers).not.toContain(3000);
    const timers = [...first.timers, ...held.timers];
    expect(timers).toEqual([21_000]);
    // The interval ends: the batch goes, and once it is written the idle shard's state is published at once.
    const flush = loop.next(21_000, small);
    expect(flush.batches).toHaveLength(1);
    const batch = flush.batches[0]!;
    loop.batchWritten(
      batch,
      {
        batchId: batch.batchId,
        outcomes: batch.rows.map((r) => ({ requestId: r.requestId, status: 'committed' as const, batchId: batch.batchId })),
        statements: 4,
        durationMs: 1,
        repliesUndeliverable: 0,
      },
      21_100,
    );
    const after = loop.next(21_100, small);
    expect(after.memo).toMatchObject({ pending: 0, writesInFlight: 0, batchesWritten: 1 });
    expect(after.timers).toEqual([]);
  });

  it('when a run predates the patch, then a held-back statistics change still arms its timer', () => {
    const loop = new ShardLoop(book({ batchToken: () => 'y' }), true);
    loop.offer(submittedAt(1000), 1000);
    loop.next(1000, small);
    loop.offer(submittedAt(1500), 1500);
    expect(loop.next(1500, small).timers).toContain(3000);
  });
});
