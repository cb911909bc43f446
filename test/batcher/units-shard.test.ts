// Units in the shard's state class (no server): a request that carries further rows is checked row
// by row (each named by its place), kept whole through the batch, joined by its own repeat and told
// apart from another unit under its id. Generated `moreRows` of any shape never make the shard throw:
// each unit is queued whole or refused typed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatcherErrorTypes, MAX_UNIT_ROWS, moreRowsProblem, type WriteRequest } from '@write-batcher/protocol';
import { DEFAULT_BATCHER_SETTINGS, type BatcherSettings } from '@write-batcher/batcher';
import { ShardBook } from '@write-batcher/batcher/testing';
import { replyFor } from '../support/requests';

const settings = (over: Partial<BatcherSettings> = {}): BatcherSettings => ({
  ...DEFAULT_BATCHER_SETTINGS,
  flushPolicy: 'eager',
  tables: ['orders', 'order_lines'],
  ...over,
});
let tokens = 0;
const style = { batchToken: () => `t${tokens++}`, dueFromSubmission: true };

const unit = (n: number, moreRows: unknown, requesterWorkflowId = `wf-${n}`): WriteRequest => {
  const requestId = `unit:${n}`;
  return {
    requestId,
    requesterWorkflowId,
    table: 'orders',
    row: { order_id: `o-${n}`, total: '1.00' },
    moreRows: moreRows as WriteRequest['moreRows'],
    submittedAtMs: 1000,
    reply: replyFor(requesterWorkflowId, requestId, '00000000-0000-4000-8000-000000000000'),
  };
};
const lines = (n: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ table: 'order_lines', row: { order_id: `o-${n}`, line: i + 1 } }));

describe('units in the shard', () => {
  it('when a unit names an undeclared table or a bad row in its second row, then it is refused typed, naming that row', () => {
    const book = new ShardBook(0, settings(), style);
    book.offerSignal(
      [unit(1, [{ table: 'secrets', row: { a: 1 } }]), unit(2, [{ table: 'order_lines', row: { bad: { '@wb': 'nope' } } }])],
      1000,
    );
    const answers = book.takeAnswers();
    expect(answers.map((a) => a.outcome)).toEqual([
      expect.objectContaining({
        status: 'rejected',
        errorType: BatcherErrorTypes.InvalidRequest,
        reason: expect.stringMatching(/^row 2 of the unit: table secrets is not one of/),
      }),
      expect.objectContaining({
        status: 'rejected',
        errorType: BatcherErrorTypes.InvalidRequest,
        reason: expect.stringMatching(/^row 2 of the unit: /),
      }),
    ]);
    expect(book.pendingCount).toBe(0);
  });

  it('when a unit is queued, then its batch carries every row, its own repeat joins it, and another unit under its id is a conflict', () => {
    const book = new ShardBook(0, settings({ flushPolicy: 'size-or-interval' }), style);
    book.offerSignal([unit(1, lines(1, 2))], 1000);
    book.offerSignal([unit(1, lines(1, 2), 'wf-again')], 1001); // the same unit from another requester: joins
    book.offerSignal([unit(1, lines(1, 3), 'wf-other')], 1002); // other rows under the id: a conflict
    expect(
      book.takeAnswers().map((a) => [a.reply.workflowId, a.outcome.status, 'errorType' in a.outcome ? a.outcome.errorType : undefined]),
    ).toEqual([['wf-other', 'rejected', BatcherErrorTypes.Conflict]]);
    expect(book.pendingCount).toBe(1);
    const batch = book.takeBatch();
    expect(batch.rows).toHaveLength(1);
    expect(batch.rows[0]?.moreRows).toEqual(lines(1, 2));
    expect(batch.rows[0]?.replies.map((r) => r.workflowId)).toEqual(['wf-1', 'wf-again']);
  });

  it('when generated further rows of any shape reach the shard, then it never throws, and each unit is queued whole exactly when its rows pass the checks', () => {
    const row = fc.oneof(
      fc.record({ order_id: fc.string({ maxLength: 8 }), line: fc.integer() }),
      fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.object())),
      fc.anything(),
    );
    const further = fc.oneof(
      fc.constant(undefined),
      fc.array(fc.record({ table: fc.constantFrom('orders', 'order_lines', 'secrets', '', 'a b'), row }), { maxLength: MAX_UNIT_ROWS + 1 }),
      fc.anything(),
    );
    let queued = 0;
    let refused = 0;
    fc.assert(
      fc.property(fc.array(further, { minLength: 1, maxLength: 8 }), (shapes) => {
        const book = new ShardBook(0, settings({ flushPolicy: 'size-or-interval' }), style);
        const requests = shapes.map((m, i) => unit(i, m));
        expect(() => book.offerSignal(requests, 1000)).not.toThrow();
        const answers = book.takeAnswers();
        for (const a of answers) {
          expect(a.outcome).toMatchObject({ status: 'rejected', errorType: BatcherErrorTypes.InvalidRequest });
          if (Array.isArray(shapes[Number(a.requestId.slice(5))]) && moreRowsProblem(shapes[Number(a.requestId.slice(5))]) === undefined)
            expect((a.outcome as { reason: string }).reason).toMatch(/^row \d+ of the unit: /);
        }
        const pending = book.pendingCount;
        expect(pending + answers.length).toBe(requests.length);
        const batch = pending > 0 ? book.takeBatch() : { rows: [] };
        for (const r of batch.rows) {
          const given = shapes[Number(r.requestId.slice(5))];
          expect(r.moreRows ?? []).toEqual(Array.isArray(given) ? given : []);
        }
        queued += pending;
        refused += answers.length;
      }),
      { numRuns: 300 },
    );
    expect(queued).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });
});
