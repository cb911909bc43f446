// The batcher's state class on its own: every decision it makes, with no server at all.
import { describe, expect, it } from 'vitest';
import { BatcherErrorTypes, MAX_PAYLOAD_BYTES, type WireRow, type WriteRequest } from '@write-batcher/protocol';
import { DEFAULT_BATCHER_SETTINGS, type BatcherSettings, type BulkWriteResult } from '@write-batcher/batcher';
import { ShardBook, ShardLoop, type Batch, type HistoryInfo } from '@write-batcher/batcher/testing';
import { demoWireRow, replyFor } from '../support/requests';

// The batcher package's defaults; each test overrides what it is about.
const settings = (over: Partial<BatcherSettings> = {}): BatcherSettings => ({ ...DEFAULT_BATCHER_SETTINGS, ...over });

const RUN = '00000000-0000-4000-8000-000000000000';
/**
 * Request n of the demo table from requester wf-n, `payload` its row's payload. Its reply address is
 * the one batchedWrite gives it (bound to the requester and the request id, as the shard requires),
 * derived from the request id and requester given in `over` unless `over.reply` is given too.
 */
const request = (n: number, over: Partial<WriteRequest> & { payload?: unknown } = {}): WriteRequest => {
  const { payload = { n }, ...rest } = over;
  const requestId = rest.requestId ?? `write:wf-${n}`;
  const requesterWorkflowId = rest.requesterWorkflowId ?? `wf-${n}`;
  return {
    requestId,
    requesterWorkflowId,
    table: 'batched_writes',
    row: demoWireRow(payload as Record<string, unknown>),
    submittedAtMs: 0,
    reply: replyFor(requesterWorkflowId, requestId, RUN),
    ...rest,
  };
};
/** The same request id from another requester workflow (one that passed `requestId` to batchedWrite). */
const fromRequester = (n: number, requesterWorkflowId: string): WriteRequest => request(n, { requesterWorkflowId });

const committed = (batch: Batch): BulkWriteResult => ({
  batchId: batch.batchId,
  outcomes: batch.rows.map((r) => ({ requestId: r.requestId, status: 'committed', batchId: batch.batchId })),
  statements: 4,
  durationMs: 1,
  repliesUndeliverable: 0,
});

describe('ShardBook', () => {
  it('when 250 requests are pending, then three batches of at most 100 are taken, the first two in parallel', () => {
    const book = new ShardBook(0, settings(), RUN);
    book.offerSignal(
      Array.from({ length: 250 }, (_, i) => request(i)),
      1000,
    );
    const batches: Batch[] = [];
    while (book.writeDue(1000)) batches.push(book.takeBatch());
    expect(batches.map((b) => b.rows.length)).toEqual([100, 100]); // the last 50 wait for size or time
    expect(book.writeDue(1000 + 19_999)).toBe(false);
    expect(book.writeDue(1000 + 20_000)).toBe(true);
    batches.push(book.takeBatch());
    expect(batches.map((b) => b.rows.length)).toEqual([100, 100, 50]);
    expect(new Set(batches.map((b) => b.batchId)).size).toBe(3);
  });

  it('when the policy is eager, then a lone request is written at once, and the next waits for the write in flight', () => {
    const book = new ShardBook(0, settings({ flushPolicy: 'eager' }), RUN);
    book.offerSignal([request(1)], 1000);
    expect(book.writeDue(1000)).toBe(true);
    const first = book.takeBatch();
    book.offerSignal([request(2)], 1001);
    expect(book.writeDue(1001)).toBe(false);
    book.finishBatch(first, committed(first), 1002);
    expect(book.writeDue(1002)).toBe(true);
    expect(book.nextDueAtMs()).toBeUndefined(); // no timer under the eager policy
  });

  it('when an id is pending or being written, then a repeat joins it and a finished one is answered from the dedup window', () => {
    const book = new ShardBook(0, settings({ flushPolicy: 'eager' }), RUN);
    book.offerSignal([request(1)], 1000);
    const other = fromRequester(1, 'wf-other');
    book.offerSignal([request(1), other], 1000); // same requester again, and a second requester
    const batch = book.takeBatch();
    expect(batch.rows).toHaveLength(1);
    expect(batch.rows[0]?.replies).toEqual([request(1).reply, other.reply]);
    book.offerSignal([fromRequester(1, 'wf-third')], 1001); // while it is written
    book.finishBatch(batch, committed(batch), 1002);
    expect(book.takeAnswers()).toEqual([
      expect.objectContaining({ requestId: 'write:wf-1', outcome: { status: 'duplicate', batchId: batch.batchId } }),
    ]);
    book.offerSignal([request(1)], 1003); // after: from the window, no write
    expect(book.writeDue(1003)).toBe(false);
    expect(book.takeAnswers()).toEqual([expect.objectContaining({ outcome: { status: 'duplicate', batchId: batch.batchId } })]);
  });

  it('when the dedup window is full, then the oldest ids are forgotten, within its byte budget', () => {
    const book = new ShardBook(0, settings({ flushPolicy: 'eager', dedupWindowBytes: 1000 }), RUN);
    for (let i = 0; i < 100; i++) {
      book.offerSignal([request(i)], i);
      const b = book.takeBatch();
      book.finishBatch(b, committed(b), i);
    }
    const window = book.carried().recent;
    expect(window.length).toBeGreaterThan(5);
    expect(window.length).toBeLessThan(100);
    expect(window[window.length - 1]?.[0]).toBe('write:wf-99');
    expect(JSON.stringify(window).length).toBeLessThanOrEqual(1000);
  });

  it('when pending requests reach the count or byte limit, or one task takes too many, then new ones are refused as BatcherOverloaded', () => {
    const byCount = new ShardBook(0, settings({ maxPendingRequests: 3 }), RUN);
    byCount.offerSignal(
      [1, 2, 3, 4, 5].map((i) => request(i)),
      1000,
    );
    expect(byCount.pendingCount).toBe(3);
    expect(byCount.takeAnswers().map((a) => a.outcome)).toEqual(
      [4, 5].map(() =>
        expect.objectContaining({ status: 'rejected', errorType: BatcherErrorTypes.Overloaded, reason: expect.stringMatching(/limit 3/) }),
      ),
    );

    const byBytes = new ShardBook(0, settings({ maxPendingBytes: 100_000 }), RUN);
    byBytes.offerSignal(
      Array.from({ length: 10 }, (_, i) => request(i, { payload: { blob: 'é'.repeat(6500) } })),
      1000,
    ); // 13 000 bytes each in UTF-8, about 13 400 with its table, reply and fingerprint
    expect(byBytes.pendingCount).toBe(7);
    expect(byBytes.stats(1000).refused).toBe(3);

    const perTask = new ShardBook(0, settings({ maxRequestsPerTask: 10 }), RUN);
    perTask.offerSignal(
      Array.from({ length: 25 }, (_, i) => request(i)),
      1000,
    );
    expect(perTask.pendingCount).toBe(10);
    perTask.offerSignal([request(100)], 1001); // the next task has a budget of its own
    expect(perTask.pendingCount).toBe(11);
  });

  it('when requests are hostile, then each is refused typed or dropped, and nothing throws', () => {
    const book = new ShardBook(0, settings(), RUN);
    let deep: unknown = {};
    for (let i = 0; i < 200_000; i++) deep = { d: deep };
    const hostile: unknown[] = [
      null,
      42,
      { requestId: 'x' }, // no reply address: nobody to answer
      // Request ids no reply address can carry (the activity id is derived from the request id, and
      // an activity id is printable ASCII): since the redesign these are dropped, not answered.
      request(1, { requestId: 'has space' }),
      request(3, { requestId: 'caf\u00e9' }),
      request(4, { requestId: 'lone-\ud800' }),
      request(2, { requestId: 'x'.repeat(256) }), // a well-formed address, an id over the limit: refused typed
      request(5, { payload: deep }),
      request(6, { payload: { cjk: '字'.repeat(6000) } }), // 18 000 bytes, 6000 UTF-16 units
      request(7, { row: [] as unknown as WireRow }),
      request(8, { requesterWorkflowId: 'w'.repeat(1001) }), // the reply address names it too: unusable
      request(9, { reply: { workflowId: 'w'.repeat(1001), runId: RUN, activityId: 'a' } }),
      request(10, { payload: { n: Number.NaN } }),
      request(11, { table: 'no such; table' }),
      // Reply addresses that are not the requester's own waiting activity (new in the redesign):
      // a forged one would complete someone else's activity, so it is dropped and counted.
      request(12, { reply: replyFor('wf-victim', 'write:wf-12', RUN) }),
      request(13, { reply: { ...replyFor('wf-13', 'write:wf-13', RUN), activityId: 'batched-write' } }),
      request(14, { requesterWorkflowId: 'write-batcher-1' }), // a batcher's own workflow
    ];
    expect(() => book.offerSignal(hostile, 1000)).not.toThrow();
    expect(() => book.offerSignal('not an array', 1000)).not.toThrow();
    expect(book.pendingCount).toBe(0);
    const answers = book.takeAnswers();
    // The ones with a usable reply address: ids 2, 5, 6, 7, 10 and 11.
    expect(answers.map((a) => a.requestId)).toEqual([
      'x'.repeat(256),
      'write:wf-5',
      'write:wf-6',
      'write:wf-7',
      'write:wf-10',
      'write:wf-11',
    ]);
    for (const a of answers)
      expect(a.outcome).toEqual(expect.objectContaining({ status: 'rejected', errorType: BatcherErrorTypes.InvalidRequest }));
    expect(answers.find((a) => a.requestId === 'write:wf-6')?.outcome).toEqual(
      expect.objectContaining({ reason: expect.stringMatching(new RegExp(`18\\d{3} bytes.*limit is ${MAX_PAYLOAD_BYTES}`)) }),
    );
    expect(answers.find((a) => a.requestId === 'write:wf-11')?.outcome).toEqual(
      expect.objectContaining({ reason: 'table must be a table name' }),
    );
    const stats = book.stats(1000);
    expect(stats.repliesRefused).toBe(11); // null, 42, { requestId }, ids 1, 3, 4, 8, 9, 12, 13 and 14
    expect(stats.rejected).toBe(7); // the six answered, and the signal that was not a group of requests
    // The shard still takes a good request afterwards.
    book.offerSignal([request(15)], 1001);
    expect(book.pendingCount).toBe(1);
  });

  it('when a request arrives alone, not in an array, then it is taken as a group of one', () => {
    const book = new ShardBook(0, settings(), RUN);
    book.offerSignal(request(1), 1000);
    expect(book.pendingCount).toBe(1);
  });

  it('when a request comes in an unpublished earlier form (a `payload`, no table, an unbound reply address), then it is dropped and counted, never queued', () => {
    const unbound = {
      requestId: 'write:a-0',
      requesterWorkflowId: 'a-0',
      payload: { i: 0 },
      submittedAtMs: 0,
      reply: { workflowId: 'a-0', runId: RUN, activityId: 'batched-write' },
    };
    const book = new ShardBook(0, settings({ flushPolicy: 'eager' }), RUN);
    book.offerSignal([unbound], 1000);
    expect(book.pendingCount).toBe(0);
    expect(book.writeDue(1000)).toBe(false);
    expect(book.takeAnswers()).toEqual([]);
    expect(book.stats(1000).repliesRefused).toBe(1);
  });

  it('when a signal of an unknown name is dropped, then it is counted, carried across continue-as-new, and nothing is queued', () => {
    const book = new ShardBook(0, settings(), RUN);
    book.dropUnknownSignal();
    book.dropUnknownSignal();
    expect(book.pendingCount).toBe(0);
    const { state } = book.carriedForNextRun();
    expect(state.counters.unknownSignalsDropped).toBe(2);
    expect(new ShardBook(0, settings(), 'next-run', state).counters.unknownSignalsDropped).toBe(2);
  });

  it('when it continues as new, then pending requests, the window and undelivered answers are carried and the size is recorded', () => {
    const book = new ShardBook(0, settings({ maxPendingRequests: 2 }), RUN);
    book.offerSignal([request(1), request(2), request(3)], 1000);
    const { state, bytes } = book.carriedForNextRun();
    expect(state.pending.map((p) => p.requestId)).toEqual(['write:wf-1', 'write:wf-2']);
    expect(state.answers).toHaveLength(1);
    expect(state.counters.continueAsNewCount).toBe(1);
    expect(state.counters.largestContinueAsNewPayloadBytes).toBe(bytes);
    const next = new ShardBook(0, settings({ maxPendingRequests: 2 }), 'next-run', state);
    expect(next.pendingCount).toBe(2);
    expect(next.hasAnswers()).toBe(true);
    expect(next.writeDue(1000 + 20_000)).toBe(true);
  });
});

describe('ShardBook: a reply address is answered for the request first queued under it', () => {
  const reqs = (book: ShardBook) => book.stats(2000).requestsTotal;
  /** A forgery of request 1: its id and the victim's own reply address, with another payload or row. */
  const forged = (over: Partial<WriteRequest> & { payload?: unknown } = {}) => request(1, { payload: { n: 'forged' }, ...over });

  it('when a forged request with the victim’s address and another or an unreadable row arrives while the victim’s request is pending, then it is dropped, counted, and never answered', () => {
    const book = new ShardBook(0, settings(), RUN);
    book.offerSignal([request(1)], 1000);
    book.offerSignal(
      [
        forged(),
        forged({ row: { payload: { '@wb': 'bigint', v: 'not a number' } } as unknown as WireRow }),
        forged({ row: 'not a row' as unknown as WireRow }),
        forged({ table: 'other_table' }),
      ],
      1001,
    );
    expect(book.takeAnswers()).toEqual([]);
    expect(book.counters.forgedRepliesDropped).toBe(4);
    expect(reqs(book)).toBe(5);
    const batch = book.takeBatch();
    expect(batch.rows).toEqual([expect.objectContaining({ requestId: 'write:wf-1', row: request(1).row, replies: [request(1).reply] })]);
  });

  it('when a forged request with the victim’s address arrives while the victim’s row is being written, then it is dropped, and the victim gets its write’s answer only', () => {
    const book = new ShardBook(0, settings({ flushPolicy: 'eager' }), RUN);
    book.offerSignal([request(1)], 1000);
    const batch = book.takeBatch();
    book.offerSignal([forged(), forged({ row: 42 as unknown as WireRow })], 1001);
    expect(book.takeAnswers()).toEqual([]);
    expect(book.counters.forgedRepliesDropped).toBe(2);
    book.finishBatch(batch, committed(batch), 1002);
    expect(book.takeAnswers()).toEqual([]); // the batch's own answer goes to the victim from the bulk write
  });

  it('when the same row comes again from the same address, even past the task limit, then nothing is answered or refused: the write under way answers it', () => {
    const book = new ShardBook(0, settings({ maxRequestsPerTask: 1 }), RUN);
    book.offerSignal([request(1), request(1), request(1)], 1000);
    expect(book.takeAnswers()).toEqual([]);
    expect(book.pendingCount).toBe(1);
    expect(book.counters.forgedRepliesDropped).toBe(0);
  });

  it('when another row comes under the same id from another address (another requester, or a made-up run id), then that address alone is answered WriteConflict', () => {
    const book = new ShardBook(0, settings(), RUN);
    book.offerSignal([request(1)], 1000);
    const otherRun = forged({ reply: { ...request(1).reply, runId: '11111111-1111-4111-8111-111111111111' } });
    const otherRequester = request(1, { requesterWorkflowId: 'wf-other', payload: { n: 'other' } });
    book.offerSignal([otherRun, otherRequester], 1001);
    expect(book.takeAnswers()).toEqual([
      expect.objectContaining({ reply: otherRun.reply, outcome: expect.objectContaining({ errorType: BatcherErrorTypes.Conflict }) }),
      expect.objectContaining({ reply: otherRequester.reply, outcome: expect.objectContaining({ errorType: BatcherErrorTypes.Conflict }) }),
    ]);
    expect(book.counters.forgedRepliesDropped).toBe(0);
  });

  it('when the forgery comes after the victim’s write, then it is answered WriteConflict from the dedup window (nobody waits there; the requester settles any answer)', () => {
    const book = new ShardBook(0, settings({ flushPolicy: 'eager' }), RUN);
    book.offerSignal([request(1)], 1000);
    const batch = book.takeBatch();
    book.finishBatch(batch, committed(batch), 1001);
    book.offerSignal([forged()], 1002);
    expect(book.takeAnswers()).toEqual([
      expect.objectContaining({ reply: request(1).reply, outcome: expect.objectContaining({ errorType: BatcherErrorTypes.Conflict }) }),
    ]);
  });

  it('when the forgery comes first under a made-up run id, then the victim’s own request is answered WriteConflict (it settles in the ledger), never dropped', () => {
    const book = new ShardBook(0, settings(), RUN);
    book.offerSignal([forged({ reply: { ...request(1).reply, runId: '22222222-2222-4222-8222-222222222222' } })], 1000);
    book.offerSignal([request(1)], 1001);
    expect(book.takeAnswers()).toEqual([
      expect.objectContaining({ reply: request(1).reply, outcome: expect.objectContaining({ errorType: BatcherErrorTypes.Conflict }) }),
    ]);
    expect(book.counters.forgedRepliesDropped).toBe(0);
  });

  it('when the counter is carried across continue-as-new, then it keeps its count', () => {
    const book = new ShardBook(0, settings(), RUN);
    book.offerSignal([request(1), forged()], 1000);
    const { state } = book.carriedForNextRun();
    expect(new ShardBook(0, settings(), 'next-run', state).counters.forgedRepliesDropped).toBe(1);
  });
});

// The `reset-safe-shard` style (batcher.ts): batch ids from the workflow's seeded randomness, and
// requests past a task's limit taken in by the next tasks instead of refused.
describe('ShardBook, reset-safe', () => {
  /** A seeded token source, as uuid4() is in a workflow: the same seed gives the same tokens. */
  const tokens = (seed: string) => {
    let n = 0;
    return { batchToken: () => `${seed}-t${++n}` };
  };

  it('when batches are taken, then their ids come from the token source, never the run id, and the same source replays the same ids', () => {
    const take = (style: ReturnType<typeof tokens> | string) => {
      const book = new ShardBook(3, settings({ maxBatchSize: 10 }), style);
      book.offerSignal(
        Array.from({ length: 30 }, (_, i) => request(i)),
        1000,
      );
      const ids: string[] = [];
      while (book.writeDue(1000)) ids.push(book.takeBatch().batchId);
      return ids;
    };
    expect(take(tokens('seed'))).toEqual(['s3-seed-t1', 's3-seed-t2', 's3-seed-t3']);
    expect(take(tokens('seed'))).toEqual(take(tokens('seed'))); // a replay, whatever the run id
    expect(take(tokens('reseeded'))).not.toEqual(take(tokens('seed'))); // a reset point reseeds: no id of the abandoned branch
    // A run started before the patch keeps its run-id batch ids.
    expect(take(RUN)).toEqual([1, 2, 3].map((n) => `s3-${RUN}-${n}`));
  });

  it('when one task brings more requests than its limit, then the rest wait for the next tasks in order, none refused and each counted once', () => {
    const book = new ShardBook(0, settings({ maxRequestsPerTask: 10 }), tokens('a'));
    book.offerSignal(
      Array.from({ length: 25 }, (_, i) => request(i)),
      1000,
    );
    expect(book.pendingCount).toBe(10);
    expect(book.deferredCount).toBe(15);
    expect(book.takeDeferred(1000)).toBe(true); // this task's limit is spent: wake for the next
    book.offerSignal([request(100)], 1001); // a new request waits behind those set aside
    expect(book.deferredCount).toBe(16);
    expect(book.takeDeferred(1001)).toBe(true);
    expect(book.pendingCount).toBe(19);
    expect(book.takeDeferred(1002)).toBe(false);
    expect(book.deferredCount).toBe(0);
    expect(book.pendingCount).toBe(26);
    const stats = book.stats(1002);
    expect(stats.refused).toBe(0);
    expect(stats.requestsTotal).toBe(26);
    expect(book.takeAnswers()).toEqual([]);
    const order: string[] = [];
    while (book.writeDue(1000 + 20_000)) order.push(...book.takeBatch().rows.map((r) => r.requestId));
    expect(order).toEqual([...Array.from({ length: 25 }, (_, i) => `write:wf-${i}`), 'write:wf-100']);
  });

  it('when requests set aside would not fit the pending limit, then those past it are refused Overloaded', () => {
    const book = new ShardBook(0, settings({ maxRequestsPerTask: 2, maxPendingRequests: 5, maxBatchSize: 2 }), tokens('b'));
    book.offerSignal(
      Array.from({ length: 8 }, (_, i) => request(i)),
      1000,
    );
    expect([book.pendingCount, book.deferredCount]).toEqual([2, 3]);
    expect(book.takeAnswers().map((a) => [a.requestId, a.outcome])).toEqual(
      [5, 6, 7].map((n) => [
        `write:wf-${n}`,
        expect.objectContaining({ status: 'rejected', errorType: BatcherErrorTypes.Overloaded, reason: expect.stringMatching(/limit 5/) }),
      ]),
    );
    // Pending and set aside together fill the pending limit: the next request is refused, in this
    // task or the next (then by the pending limit itself).
    const full = new ShardBook(0, settings({ maxRequestsPerTask: 2, maxPendingRequests: 3 }), tokens('c'));
    full.offerSignal([request(0), request(1), request(2), request(3)], 1000);
    expect([full.pendingCount, full.deferredCount]).toEqual([2, 1]);
    expect(full.stats(1000).refused).toBe(1);
    expect(full.takeDeferred(1001)).toBe(false);
    expect([full.pendingCount, full.deferredCount]).toEqual([3, 0]);
    full.offerSignal([request(4)], 1001);
    expect(full.stats(1001).refused).toBe(2);
    expect(full.takeAnswers().map((a) => a.requestId)).toEqual(['write:wf-3', 'write:wf-4']);
  });

  it('when a run started before the patch gets more than its limit in one task, then the rest are refused as before', () => {
    const book = new ShardBook(0, settings({ maxRequestsPerTask: 3 }), RUN);
    book.offerSignal(
      Array.from({ length: 5 }, (_, i) => request(i)),
      1000,
    );
    expect([book.pendingCount, book.deferredCount]).toEqual([3, 0]);
    expect(book.stats(1000).refused).toBe(2);
  });

  it('when requests are set aside, then the loop wakes for the next task at once, and continue-as-new waits until every one is taken in', () => {
    const info: HistoryInfo = { historyLength: 50, historySize: 10_000, continueAsNewSuggested: false };
    const loop = new ShardLoop(new ShardBook(0, settings({ maxRequestsPerTask: 10, continueAsNewSignals: 1 }), tokens('d')));
    loop.offer(
      Array.from({ length: 25 }, (_, i) => request(i)),
      1000,
    );
    const first = loop.next(5000, info); // past the pause: continue-as-new is due
    expect(first.continueAsNew).toBeUndefined();
    expect(first.timers).toContain(5001);
    expect(loop.book.deferredCount).toBe(5);
    loop.timerFired(5001);
    const second = loop.next(5001, info);
    expect(loop.book.deferredCount).toBe(0);
    expect(second.continueAsNew?.state.pending).toHaveLength(25);
    expect(second.continueAsNew?.state.counters.refused).toBe(0);
  });
});
