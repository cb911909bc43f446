// The team workload's audit (harness/src/chaos/team/audit.ts) on hand-made requests, rows and ledger
// entries: what each request was told against its row and its ledger entry, an order and its lines as
// one unit (whole or nothing), and the groups that share a key. (The real kill rounds on the team schema: `npm run chaos -- --workload team`.)
import { describe, expect, it } from 'vitest';
import {
  auditTeam,
  teamViolationCount,
  type LedgerRow,
  type SentRequest,
  type TeamOutcome,
  type TeamRow,
  type TeamVerdict,
} from '../../harness/src/chaos/team/audit';
import type { Told } from '../../harness/src/chaos/team/rows';
import { TEAM_TABLES } from '../../harness/src/chaos/team/schema';

const T0 = '2026-03-29T00:59:59.123Z';
const T1 = '2026-07-01T12:00:00.500Z';

const event = (m: number): SentRequest => ({
  workflowId: `wf-pair-${m}`,
  group: 'pair',
  groupKind: 'pair',
  table: TEAM_TABLES.events,
  requestId: `team:wf-pair-${m}`,
  dates: ['occurred_at', 'received_at'],
  digest: `digest-pair-${m}`,
  row: {
    event_id: 'e-1',
    account_email: 'a@team.example',
    kind: 'login',
    amount: `1${m}.50`,
    occurred_at: T0,
    received_at: m ? T1 : T0,
    payload: { m },
    written_by: `team:wf-pair-${m}`,
  },
});
const account = (m: number): SentRequest => ({
  workflowId: `wf-race-${m}`,
  group: 'race',
  groupKind: 'race',
  table: TEAM_TABLES.accounts,
  requestId: `team:wf-race-${m}`,
  dates: ['seen_at'],
  digest: `digest-race-${m}`,
  row: {
    email: 'z@team.example',
    display_name: `Zoë ${m}`,
    balance: `${m}00.00`,
    seen_at: T1,
    metadata: { m },
    written_by: `team:wf-race-${m}`,
  },
});
const orderRow = {
  order_id: 'o-1',
  account_email: 'a@team.example',
  order_no: 1,
  total: '12.30',
  placed_at: T0,
  paid_at: null,
  metadata: { c: 'x' },
  written_by: 'team:wf-order:order',
};
const lineRow = (k: number, qty = 2) => ({
  order_id: 'o-1',
  line_no: k,
  sku: `s${k}`,
  qty,
  unit_price: '1.05',
  written_by: 'team:wf-order:order',
});
/** An order and its two lines as one unit, the lines listed first. */
const unit: SentRequest = {
  workflowId: 'wf-order',
  group: 'order',
  groupKind: 'order',
  table: TEAM_TABLES.lines,
  requestId: 'team:wf-order:order',
  dates: [],
  digest: 'digest-unit',
  row: lineRow(1),
  moreRows: [
    { table: TEAM_TABLES.lines, dates: [], row: lineRow(2) },
    { table: TEAM_TABLES.orders, dates: ['placed_at', 'paid_at'], row: orderRow },
  ],
};
const sent = [event(0), event(1), account(0), account(1), account(2), unit];

/** The row the table holds for a request's row, as readTeamRows gives it. */
function tableRow(table: string, row: Record<string, unknown>, writtenBy: string, change: Record<string, unknown> = {}): TeamRow {
  const values: Record<string, unknown> = {};
  for (const [c, v] of Object.entries(row)) if (c !== 'written_by') values[c] = v;
  Object.assign(values, change);
  const key = table === TEAM_TABLES.accounts ? 'email' : table === TEAM_TABLES.events ? 'event_id' : 'order_id';
  return {
    table,
    writtenBy,
    key: table === TEAM_TABLES.lines ? `${String(values.order_id)}\u0000${String(values.line_no)}` : String(values[key]),
    values,
  };
}
const rowOf = (r: SentRequest, change: Record<string, unknown> = {}) => tableRow(r.table, r.row, r.requestId, change);
/** The unit's rows in the tables (the line numbers given, and the order unless `order` is false). */
const unitRows = (lines: number[] = [1, 2], order = true, orderChange: Record<string, unknown> = {}): TeamRow[] => [
  ...lines.map((k) => tableRow(TEAM_TABLES.lines, lineRow(k), unit.requestId)),
  ...(order ? [tableRow(TEAM_TABLES.orders, orderRow, unit.requestId, orderChange)] : []),
];
const isUnitRow = (r: TeamRow) => r.writtenBy === unit.requestId;

/** A consistent end: event 0 written, event 1 ignored; racer 0 inserted, 1 and 2 updated (2 last); the order and its lines, whole. */
function world() {
  const told: Record<string, Told> = {
    [event(0).requestId]: { requestId: event(0).requestId, status: 'committed' },
    [event(1).requestId]: { requestId: event(1).requestId, status: 'ignored' },
    [account(0).requestId]: { requestId: account(0).requestId, status: 'committed' },
    [account(1).requestId]: { requestId: account(1).requestId, status: 'updated' },
    [account(2).requestId]: { requestId: account(2).requestId, status: 'updated' },
    [unit.requestId]: {
      requestId: unit.requestId,
      status: 'committed',
      rows: [
        { table: TEAM_TABLES.lines, status: 'committed' },
        { table: TEAM_TABLES.lines, status: 'committed' },
        { table: TEAM_TABLES.orders, status: 'committed' },
      ],
    },
  };
  const ledger = new Map<string, LedgerRow>();
  const enter = (r: SentRequest, status: LedgerRow['status']) =>
    ledger.set(r.requestId, { requestId: r.requestId, status, table: r.table, digest: r.digest, batchId: 'b' });
  enter(event(0), 'committed');
  enter(event(1), 'ignored');
  enter(account(0), 'committed');
  enter(account(1), 'updated');
  enter(account(2), 'updated');
  enter(unit, 'committed');
  ledger.set(unit.requestId, { ...ledger.get(unit.requestId)!, rowStatuses: 'ccc' });
  const rows: TeamRow[] = [rowOf(event(0)), rowOf(account(2)), ...unitRows()];
  return { told, ledger, rows };
}

function judge(w: ReturnType<typeof world>, requests: readonly SentRequest[] = sent): TeamVerdict {
  const outcomes = new Map<string, TeamOutcome>();
  for (const r of requests) {
    const prev = outcomes.get(r.workflowId);
    const told = w.told[r.requestId];
    const list = prev?.kind === 'completed' ? prev.told : [];
    outcomes.set(r.workflowId, { kind: 'completed', told: told ? [...list, told] : list });
  }
  return auditTeam(requests, outcomes, w.rows, w.ledger);
}

const kinds = (v: TeamVerdict) => v.violations.map((x) => x.kind).sort();

describe('the team audit', () => {
  it('when every answer matches the ledger and the table, then no violation, one pair written once, one race with its row', () => {
    const v = judge(world());
    expect(v.violations).toEqual([]);
    expect(teamViolationCount(v)).toBe(0);
    expect(v.pairs).toEqual({ total: 1, oneWrittenOneIgnored: 1 });
    expect(v.races).toEqual({ total: 1, withRow: 1 });
    expect(v.orders).toEqual({
      total: 1,
      writtenWhole: 1,
      refusedWhole: 0,
      badLines: { sent: 0, refusedWhole: 0 },
      dataRejectedWithoutBadLine: 0,
    });
    expect(v.told).toEqual({ committed: 3, updated: 2, ignored: 1, duplicate: 0, failed: 0 });
    expect(v.rowsChecked).toBe(5);
    expect(v.timestampsChecked).toBe(2);
  });

  it('when a request is told committed but the ledger says ignored, then it is misreported', () => {
    const w = world();
    w.ledger.set(event(0).requestId, { ...w.ledger.get(event(0).requestId)!, status: 'ignored' });
    const v = judge(w);
    expect(v.misreported).toBeGreaterThanOrEqual(1);
    expect(v.violations.find((x) => x.id === event(0).requestId)?.detail).toMatch(/told committed but the ledger says ignored/);
  });

  it('when a request is told ignored but its row is in the table, then it is misreported', () => {
    const w = world();
    w.rows = w.rows.filter((r) => r.writtenBy !== event(0).requestId).concat(rowOf(event(1)));
    const v = judge(w);
    expect(v.violations.some((x) => x.id === event(1).requestId && /told ignored but its row is in team_events/.test(x.detail))).toBe(true);
    expect(teamViolationCount(v)).toBeGreaterThan(0);
  });

  it('when a TIMESTAMP is read back two hours off, then it is misreported as shifted', () => {
    const w = world();
    const shifted = new Date(Date.parse(T1) - 2 * 3_600_000).toISOString();
    w.rows = w.rows.map((r) => (r.writtenBy === account(2).requestId ? rowOf(account(2), { seen_at: shifted }) : r));
    const v = judge(w);
    expect(kinds(v)).toEqual(['misreported']);
    expect(v.violations[0]?.detail).toMatch(/seen_at read back as .* \(shifted -2 h\)/);
  });

  it('when a DECIMAL or a JSON value differs, then it is a mismatch', () => {
    const w = world();
    w.rows = w.rows.filter((r) => !isUnitRow(r)).concat(unitRows([1, 2], true, { total: '12.3', metadata: { c: 'y' } }));
    expect(kinds(judge(w))).toEqual(['mismatch', 'mismatch']);
  });

  it('when a request is told a typed failure but the ledger says committed, then it is misreported; a row under an abandoned entry is a phantom', () => {
    const w = world();
    w.told[unit.requestId] = {
      requestId: unit.requestId,
      error: { type: 'WriteDataRejected', message: 'row 2 of the unit: ER_CONSTRAINT_FAILED' },
    };
    expect(kinds(judge(w))).toEqual(['misreported']);
    w.ledger.set(unit.requestId, { ...w.ledger.get(unit.requestId)!, status: 'abandoned' });
    const v = judge(w);
    expect(kinds(v)).toEqual(['phantom']);
    expect(v.failedByType).toEqual({ WriteDataRejected: 1 });
  });

  it('when a unit with a line that breaks a CHECK is refused whole and the ledger says abandoned, then it is no violation and counts as refused whole', () => {
    const w = world();
    const bad: SentRequest = { ...unit, badRow: 2, moreRows: [{ ...unit.moreRows![0]!, row: lineRow(2, 0) }, unit.moreRows![1]!] };
    w.told[unit.requestId] = {
      requestId: unit.requestId,
      error: {
        type: 'WriteDataRejected',
        message: 'row 2 of the unit: ER_CONSTRAINT_FAILED (errno 4025): CONSTRAINT `ck_line_qty` failed',
      },
    };
    w.ledger.set(unit.requestId, { requestId: unit.requestId, status: 'abandoned', table: unit.table, digest: unit.digest });
    w.rows = w.rows.filter((r) => !isUnitRow(r));
    const v = judge(
      w,
      sent.map((r) => (r === unit ? bad : r)),
    );
    expect(v.violations).toEqual([]);
    expect(v.orders).toEqual({
      total: 1,
      writtenWhole: 0,
      refusedWhole: 1,
      badLines: { sent: 1, refusedWhole: 1 },
      dataRejectedWithoutBadLine: 0,
    });
    expect(v.failedByType).toEqual({ WriteDataRejected: 1 });
  });

  it('when a unit is told committed but one of its lines is missing, then the unit is split', () => {
    const w = world();
    w.rows = w.rows.filter((r) => !isUnitRow(r)).concat(unitRows([1]));
    const v = judge(w);
    expect(kinds(v)).toEqual(['unit-split']);
    expect(v.unitSplit).toBe(1);
    expect(v.violations[0]?.detail).toMatch(/2 of 3 rows in the tables, missing row 2 \(team_order_lines\)/);
    expect(v.orders.writtenWhole).toBe(0);
    expect(teamViolationCount(v)).toBe(1);
  });

  it('when a unit is refused but its order is in the table, then the unit is split', () => {
    const w = world();
    w.told[unit.requestId] = { requestId: unit.requestId, error: { type: 'WriteAbandoned', message: 'abandoned' } };
    w.ledger.set(unit.requestId, { requestId: unit.requestId, status: 'abandoned', table: unit.table, digest: unit.digest });
    w.rows = w.rows.filter((r) => !isUnitRow(r)).concat(unitRows([], true));
    const v = judge(w);
    expect(kinds(v)).toEqual(['unit-split']);
    expect(v.violations[0]?.detail).toMatch(/1 of 3 rows in the tables, missing row 1 \(team_order_lines\), row 2 \(team_order_lines\)/);
    expect(v.orders.refusedWhole).toBe(0);
  });

  it("when a unit's ledger row_statuses or its told rows are not one c per row, then it is misreported", () => {
    const w = world();
    w.ledger.set(unit.requestId, { ...w.ledger.get(unit.requestId)!, rowStatuses: 'cic' });
    const v = judge(w);
    expect(kinds(v)).toEqual(['misreported', 'misreported']);
    expect(v.violations.map((x) => x.detail)).toEqual([
      'ledger row_statuses cic, a unit of ccc',
      "told rows ccc but the ledger's row_statuses are cic",
    ]);
    const w2 = world();
    w2.ledger.set(unit.requestId, { requestId: unit.requestId, status: 'committed', table: unit.table, digest: unit.digest });
    expect(judge(w2).violations.map((x) => x.detail)).toEqual(['ledger row_statuses NULL, a unit of ccc']);
  });

  it('when a request told committed has neither ledger entry nor row, then it is lost; a ledger entry without its row is lost too', () => {
    const w = world();
    w.ledger.delete(unit.requestId);
    w.rows = w.rows.filter((r) => !isUnitRow(r));
    expect(kinds(judge(w))).toEqual(['lost']);
    const w2 = world();
    w2.told[unit.requestId] = { requestId: unit.requestId, error: { type: 'WriteConfirmationTimeout', message: 'timed out' } };
    w2.rows = w2.rows.filter((r) => !isUnitRow(r));
    expect(kinds(judge(w2))).toEqual(['lost', 'misreported']);
  });

  it('when both requests of a pair are committed in the ledger, then the pair is doubled', () => {
    const w = world();
    w.told[event(1).requestId] = { requestId: event(1).requestId, status: 'committed' };
    w.ledger.set(event(1).requestId, { ...w.ledger.get(event(1).requestId)!, status: 'committed' });
    const v = judge(w);
    expect(v.doubled).toBe(1);
    expect(v.pairs.oneWrittenOneIgnored).toBe(0);
  });

  it('when two racers on one email both claim the insert, then the race is doubled', () => {
    const w = world();
    w.told[account(1).requestId] = { requestId: account(1).requestId, status: 'committed' };
    w.ledger.set(account(1).requestId, { ...w.ledger.get(account(1).requestId)!, status: 'committed' });
    expect(kinds(judge(w))).toEqual(['doubled']);
  });

  it('when the ledger digest differs from the sent row, or a row belongs to no request, then mismatch and orphan', () => {
    const w = world();
    w.ledger.set(unit.requestId, { ...w.ledger.get(unit.requestId)!, digest: 'other' });
    w.rows.push({ ...tableRow(TEAM_TABLES.orders, orderRow, unit.requestId), writtenBy: 'team:someone-else', key: 'o-2' });
    expect(kinds(judge(w))).toEqual(['mismatch', 'orphan']);
  });

  it('when a workflow is still open or completed without an answer for one of its requests, then both are counted', () => {
    const w = world();
    delete w.told[unit.requestId];
    const outcomes = new Map<string, TeamOutcome>([[event(0).workflowId, { kind: 'open' }]]);
    for (const r of sent) {
      if (r.workflowId === event(0).workflowId) continue;
      const prev = outcomes.get(r.workflowId);
      const told = w.told[r.requestId];
      const list = prev?.kind === 'completed' ? prev.told : [];
      outcomes.set(r.workflowId, { kind: 'completed', told: told ? [...list, told] : list });
    }
    const v = auditTeam(sent, outcomes, w.rows, w.ledger);
    expect(v.open).toBe(1);
    expect(v.violations.some((x) => x.id === unit.requestId && /without an answer/.test(x.detail))).toBe(true);
  });
});
