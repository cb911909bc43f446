// The batcher loop's own state (ShardLoop) on its own, with no server: workflow time and the
// history's size are handed in, and each test reads what the loop would do in that turn.
import { describe, expect, it } from 'vitest';
import { BatcherErrorTypes } from '@write-batcher/protocol';
import { DEFAULT_BATCHER_SETTINGS, type BatcherSettings } from '@write-batcher/batcher';
import { ShardBook, ShardLoop, type HistoryInfo } from '@write-batcher/batcher/testing';
import { demoRequests } from '../support/requests';

const RUN = '00000000-0000-4000-8000-000000000000';
const small: HistoryInfo = { historyLength: 50, historySize: 10_000, continueAsNewSuggested: false };
const loopWith = (over: Partial<BatcherSettings> = {}) =>
  new ShardLoop(new ShardBook(0, { ...DEFAULT_BATCHER_SETTINGS, ...over }, RUN, undefined, 'write-batcher-0'));

describe('ShardLoop', () => {
  it('when continue-as-new is due by signal count, then the run ends only after a 200 ms pause in the signals', () => {
    const loop = loopWith({ continueAsNewSignals: 3 });
    for (let i = 0; i < 3; i++) loop.offer(demoRequests(1, `s${i}`), 1000 + i * 10);
    const busy = loop.next(1020, small);
    expect(busy.continueAsNew).toBeUndefined();
    expect(busy.timers).toContain(1220);
    loop.offer(demoRequests(1, 's3'), 1200); // a signal in the pause moves the moment
    expect(loop.next(1220, small).continueAsNew).toBeUndefined();
    const quiet = loop.next(1400, small);
    expect(quiet.continueAsNew?.state.pending).toHaveLength(4);
    expect(quiet.continueAsNew?.state.counters.continueAsNewCount).toBe(1);
  });

  it('when Temporal suggests continue-as-new with nothing received, then the run ends at once', () => {
    const loop = loopWith();
    expect(loop.next(1000, { ...small, continueAsNewSuggested: true }).continueAsNew).toBeDefined();
  });

  it('when answers are queued or a write is in flight at continue-as-new time, then the run ends only once they are done', () => {
    const loop = loopWith({ continueAsNewSignals: 1, maxPendingRequests: 1, flushPolicy: 'eager' });
    loop.offer(demoRequests(2, 'full'), 1000); // one queued, one refused: an answer
    const first = loop.next(1000, small);
    expect(first.answers).toHaveLength(1);
    expect(first.answers?.[0]?.outcome).toEqual(expect.objectContaining({ status: 'rejected', errorType: BatcherErrorTypes.Overloaded }));
    expect(first.batches).toHaveLength(1);
    const [batch] = first.batches;
    // In the pause: the delivery and the write still run.
    expect(loop.next(1300, small).continueAsNew).toBeUndefined();
    loop.answersDelivered({ delivered: 1, undeliverable: 0 });
    expect(loop.next(1300, small).continueAsNew).toBeUndefined();
    expect(
      loop.batchWritten(
        batch!,
        {
          batchId: batch!.batchId,
          outcomes: [{ requestId: batch!.rows[0]!.requestId, status: 'committed', batchId: batch!.batchId }],
          statements: 4,
          durationMs: 1,
          repliesUndeliverable: 0,
        },
        1300,
      ),
    ).toBeUndefined();
    const end = loop.next(1300, small);
    expect(end.continueAsNew?.state.pending).toEqual([]);
    expect(end.continueAsNew?.state.answers).toBeUndefined();
  });

  it('when statistics change often, then the memo is published at most every 2 s, with a timer for the change held back', () => {
    const loop = loopWith();
    expect(loop.next(1000, small).memo?.requestsTotal).toBe(0);
    expect(loop.next(1000, small).memo).toBeUndefined(); // unchanged
    loop.offer(demoRequests(1, 'm1'), 1500);
    const held = loop.next(1500, small);
    expect(held.memo).toBeUndefined();
    expect(held.timers).toContain(3000);
    loop.timerFired(3000);
    expect(loop.next(3000, small).memo?.requestsTotal).toBe(1);
  });

  it('when a timer is due no later than a new moment, then no second timer is started until it fired', () => {
    const loop = loopWith({ flushIntervalMs: 1000 });
    loop.offer(demoRequests(1, 't0'), 0);
    expect(loop.next(0, small).timers).toContain(1000);
    loop.offer(demoRequests(1, 't1'), 500);
    expect(loop.next(500, small).timers).not.toContain(1000);
    loop.timerFired(1000);
    const due = loop.next(1000, small);
    expect(due.batches.map((b) => b.rows.length)).toEqual([2]);
  });

  it('when a bulk-write result is malformed, then the batch fails typed for each requester and the run goes on', () => {
    const loop = loopWith({ flushPolicy: 'eager' });
    loop.offer(demoRequests(2, 'bad'), 1000);
    const [batch] = loop.next(1000, small).batches;
    const version = loop.version;
    expect(loop.batchWritten(batch!, { batchId: 'someone-else', outcomes: [] }, 1001)).toMatch(/not s0-/);
    expect(loop.version).toBeGreaterThan(version);
    const { answers } = loop.next(1001, small);
    expect(answers?.map((a) => a.outcome)).toEqual(
      [0, 1].map(() => expect.objectContaining({ status: 'rejected', errorType: BatcherErrorTypes.SubmissionFailed })),
    );
  });
});
