// The chaos audit's judgement of the typed table (demo_orders) on hand-made rows and ledger entries:
// values compared column by column, ledger and table kept in step. (The real kill rounds are in chaos.test.ts.)
import { describe, expect, it } from 'vitest';
import { audit, violationCount, type LedgerStatus, type OrderRow, type Outcome, type SentTransaction } from '../../harness/src/chaos/audit';

const sent: SentTransaction[] = ['a', 'b'].map((id, n) => ({
  workflowId: `wf-${id}`,
  payload: { n },
  order: {
    amountCents: `${9_007_199_254_740_993n + BigInt(n)}`,
    currency: 'EUR',
    placedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n, 7)).toISOString(),
    lines: [{ sku: `s-${n}`, qty: 1 }],
  },
}));
const jsonRow = (t: SentTransaction) => ({
  request_id: Buffer.from(`write:${t.workflowId}`),
  status: 'committed',
  batch_id: 'b',
  requester_workflow_id: t.workflowId,
  payload: JSON.stringify(t.payload),
});
const orderRow = (t: SentTransaction, change: Partial<OrderRow> = {}): OrderRow => ({
  order_id: t.workflowId,
  amount_cents: t.order!.amountCents,
  currency: t.order!.currency,
  placed_at: t.order!.placedAt,
  items: JSON.stringify(t.order!.lines),
  ...change,
});
const ledger = (entries: Array<[string, 'committed' | 'abandoned']>): LedgerStatus => new Map(entries);
const completed: Outcome = { kind: 'completed', result: { status: 'committed' } };
const allCompleted = new Map(sent.map((t) => [t.workflowId, completed]));
const allCommitted = ledger(
  sent.flatMap(
    (t) =>
      [
        [`write:${t.workflowId}`, 'committed'],
        [`order:${t.workflowId}`, 'committed'],
      ] as Array<[string, 'committed']>,
  ),
);

describe('chaos audit of the typed table', () => {
  it('when every order row holds exactly the values sent and the ledger agrees, then there is no violation', () => {
    const v = audit(sent, allCompleted, sent.map(jsonRow), { orders: sent.map((t) => orderRow(t)), ledger: allCommitted });
    expect(v.typedRowsChecked).toBe(2);
    expect(violationCount(v)).toBe(0);
  });

  it('when a value differs by one unit beyond 2^53, or a millisecond, then it is a conflicting value', () => {
    const orders = [
      orderRow(sent[0]!, { amount_cents: '9007199254740992' }),
      orderRow(sent[1]!, { placed_at: new Date(Date.parse(sent[1]!.order!.placedAt) + 1).toISOString() }),
    ];
    const v = audit(sent, allCompleted, sent.map(jsonRow), { orders, ledger: allCommitted });
    expect(v.mismatch).toBe(2);
  });

  it('when a completed workflow has no order row, or a row has no committed ledger entry, then it is lost or a phantom', () => {
    const v = audit(sent, allCompleted, sent.map(jsonRow), { orders: [orderRow(sent[1]!)], ledger: ledger([[`order:wf-b`, 'abandoned']]) });
    expect(v.violations.map((x) => `${x.kind}:${x.workflowId}`).sort()).toEqual(['lost:wf-a', 'phantom:wf-b']);
  });

  it('when a workflow failed on its order row, then its committed JSON row is not a phantom; when it failed on the JSON row, it is', () => {
    const onOrder: Outcome = {
      kind: 'failed',
      type: 'WriteConfirmationTimeout',
      message: 'no outcome for write order:wf-a within 120000 ms; its id is claimed',
    };
    const onJson: Outcome = {
      kind: 'failed',
      type: 'WriteConfirmationTimeout',
      message: 'no outcome for write write:wf-b within 120000 ms; its id is claimed',
    };
    const outcomes = new Map<string, Outcome>([
      ['wf-a', onOrder],
      ['wf-b', onJson],
    ]);
    const ledgerNow = ledger([
      ['write:wf-a', 'committed'],
      ['order:wf-a', 'abandoned'],
      ['write:wf-b', 'committed'],
      ['order:wf-b', 'committed'],
    ]);
    const v = audit(sent, outcomes, sent.map(jsonRow), { orders: [orderRow(sent[1]!)], ledger: ledgerNow });
    expect(v.violations.map((x) => `${x.kind}:${x.workflowId}`).sort()).toEqual(['phantom:wf-b', 'phantom:wf-b']);
  });

  it('when a failed workflow has both rows committed, then it is a phantom; with one of them unwritten it is not', () => {
    const failed: Outcome = { kind: 'failed', type: 'WriteConfirmationTimeout', message: 't' };
    const outcomes = new Map<string, Outcome>([
      ['wf-a', failed],
      ['wf-b', failed],
    ]);
    const v = audit(sent, outcomes, [jsonRow(sent[0]!)], { orders: sent.map((t) => orderRow(t)), ledger: allCommitted });
    // wf-a: JSON row and order row both committed → phantom (twice: the JSON row alone already is one).
    expect(v.violations.filter((x) => x.workflowId === 'wf-a').map((x) => x.kind)).toEqual(['phantom', 'phantom']);
    expect(v.violations.filter((x) => x.workflowId === 'wf-b')).toEqual([]);
  });
});
