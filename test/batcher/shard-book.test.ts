// The batcher's state class on its own: every decision it makes, with no server at all.
import { describe, expect, it } from 'vitest';
import { BatcherErrorTypes, MAX_PAYLOAD_BYTES, type WireRow, type WriteRequest } from '@write-batcher/protocol';
import { DEFAULT_BATCHER_SETTINGS, type BatcherSettings, type BulkWriteResult } from '@write-batcher/batcher';
import { ShardBook, type Batch } from '@write-batcher/batcher/testing';
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
