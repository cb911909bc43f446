// The team workload's audit: per request, what its workflow was told (committed, updated, ignored,
// duplicate, or a typed failure) against the table's row (found by `written_by`, the request id that
// wrote it) and the ledger entry (status, row_digest); per unit (an order and its lines, one request),
// all its rows or none of them, and the ledger's `row_statuses`; then per group, the pairs on one
// event id and the upserts racing on one email. Pure: the run reads the database and Temporal, this only judges.
import { isDeepStrictEqual } from 'node:util';
import { isBatcherErrorType } from '@write-batcher/requester';
import { rowsOf, type TeamWrite, type Told } from './rows';
import { TEAM_COLUMNS, TEAM_MODES } from './schema';

/** One request the run sent, with the workflow and group it belongs to. */
export interface SentRequest extends TeamWrite {
  workflowId: string;
  /** Requests of one group share a key on purpose: an event-id pair, an upsert race, an order and its lines. */
  group: string;
  groupKind: 'pair' | 'race' | 'order';
  /** The ledger's row_digest the batcher computes for this table and row (a unit: all its rows), hex. */
  digest: string;
  /** A unit's row (1-based, in the order given) that breaks a CHECK: the whole unit must be refused. */
  badRow?: number;
}

/** A row of a team table, its values read back in comparable form (see readTeamRows). */
export interface TeamRow {
  table: string;
  writtenBy: string;
  /** The row's key columns joined (email, event id, order id, order id + line). */
  key: string;
  values: Record<string, unknown>;
}

export interface LedgerRow {
  requestId: string;
  status: 'committed' | 'abandoned' | 'ignored' | 'updated';
  table: string;
  /** hex */
  digest: string;
  batchId?: string;
  /** A unit's `row_statuses`: one letter per row, in the order given (c committed, u updated, i ignored). */
  rowStatuses?: string;
}

export type TeamOutcome =
  | { kind: 'completed'; told: Told[] }
  | { kind: 'failed'; type: string; message: string }
  | { kind: 'open' }
  | { kind: 'other'; status: string };

export type TeamViolationKind =
  'lost' | 'phantom' | 'doubled' | 'misreported' | 'mismatch' | 'orphan' | 'open' | 'other' | 'untyped' | 'unit-split';

export interface TeamViolation {
  kind: TeamViolationKind;
  /** The request (or, for a workflow-level violation, the workflow) it concerns. */
  id: string;
  detail: string;
}

export interface TeamVerdict {
  workflows: number;
  requests: number;
  /** Workflows that completed (each reports what it was told per request). */
  completed: number;
  /** What the requests were told. */
  told: Record<'committed' | 'updated' | 'ignored' | 'duplicate' | 'failed', number>;
  failedByType: Record<string, number>;
  /** Every typed failure told, with its message (the database's error name, never the row's values). */
  failures: Array<{ requestId: string; type: string; message: string }>;
  lost: number;
  phantom: number;
  doubled: number;
  misreported: number;
  mismatch: number;
  orphan: number;
  open: number;
  other: number;
  untyped: number;
  /** Units with some of their rows in the tables and some not. */
  unitSplit: number;
  /** Event-id pairs: how many, and how many ended with exactly one row written and the other told ignored. */
  pairs: { total: number; oneWrittenOneIgnored: number };
  /** Upsert races: how many, and how many hold exactly one row written by one of their racers. */
  races: { total: number; withRow: number };
  /**
   * Orders, each with its lines as one unit: how many; written whole (told committed or duplicate, every
   * row in its table); refused whole (told a typed failure, no row anywhere); of the units sent with a
   * line that breaks a CHECK, how many were refused whole; units without a bad line told WriteDataRejected.
   */
  orders: {
    total: number;
    writtenWhole: number;
    refusedWhole: number;
    badLines: { sent: number; refusedWhole: number };
    dataRejectedWithoutBadLine: number;
  };
  rowsChecked: number;
  timestampsChecked: number;
  /** The server's zone (@@global.time_zone) as the audit found it, when read. */
  serverTimeZone?: string;
  violations: TeamViolation[];
}

/** Number of violations that make the verdict red. */
export function teamViolationCount(v: TeamVerdict): number {
  return v.lost + v.phantom + v.doubled + v.misreported + v.mismatch + v.orphan + v.open + v.other + v.untyped + v.unitSplit;
}

const WRITTEN = new Set(['committed', 'updated']);

/** A sent value in the form readTeamRows gives the stored one. */
export function expectedValue(kind: string, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (kind === 'datetime' || kind === 'timestamp') return new Date(value as string).toISOString();
  if (kind === 'int') return Number(value);
  if (kind === 'decimal' || kind === 'text') return asText(value);
  return value;
}

/** A scalar as text (anything else as its JSON). */
export function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return `${value}`;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return JSON.stringify(value);
}

/** The key of a sent row, as TeamRow.key. */
export function keyOf(table: string, row: Record<string, unknown>): string {
  return (TEAM_COLUMNS[table]?.key ?? []).map((c) => asText(row[c])).join('\u0000');
}

export function auditTeam(
  sent: readonly SentRequest[],
  outcomes: ReadonlyMap<string, TeamOutcome>,
  rows: readonly TeamRow[],
  ledger: ReadonlyMap<string, LedgerRow>,
): TeamVerdict {
  const v: TeamVerdict = {
    workflows: 0,
    requests: sent.length,
    completed: 0,
    told: { committed: 0, updated: 0, ignored: 0, duplicate: 0, failed: 0 },
    failedByType: {},
    failures: [],
    lost: 0,
    phantom: 0,
    doubled: 0,
    misreported: 0,
    mismatch: 0,
    orphan: 0,
    open: 0,
    other: 0,
    untyped: 0,
    unitSplit: 0,
    pairs: { total: 0, oneWrittenOneIgnored: 0 },
    races: { total: 0, withRow: 0 },
    orders: { total: 0, writtenWhole: 0, refusedWhole: 0, badLines: { sent: 0, refusedWhole: 0 }, dataRejectedWithoutBadLine: 0 },
    rowsChecked: 0,
    timestampsChecked: 0,
    violations: [],
  };
  const add = (kind: TeamViolationKind, id: string, detail: string) => {
    v[kind === 'unit-split' ? 'unitSplit' : kind]++;
    v.violations.push({ kind, id, detail });
  };

  const byId = new Map(sent.map((r) => [r.requestId, r]));
  const rowsByWriter = new Map<string, TeamRow[]>();
  const rowsByKey = new Map<string, TeamRow[]>();
  for (const row of rows) {
    rowsByWriter.set(row.writtenBy, [...(rowsByWriter.get(row.writtenBy) ?? []), row]);
    const k = `${row.table}\u0001${row.key}`;
    rowsByKey.set(k, [...(rowsByKey.get(k) ?? []), row]);
  }
  const keyRows = (r: SentRequest) => rowsByKey.get(`${r.table}\u0001${keyOf(r.table, r.row)}`) ?? [];

  // Workflows: each must have completed and reported every one of its requests.
  const told = new Map<string, Told>();
  const workflows = new Map<string, SentRequest[]>();
  for (const r of sent) workflows.set(r.workflowId, [...(workflows.get(r.workflowId) ?? []), r]);
  v.workflows = workflows.size;
  for (const [workflowId, requests] of workflows) {
    const outcome = outcomes.get(workflowId) ?? { kind: 'open' };
    if (outcome.kind === 'completed') {
      v.completed++;
      for (const t of outcome.told) told.set(t.requestId, t);
      for (const r of requests)
        if (!told.has(r.requestId)) add('misreported', r.requestId, `workflow ${workflowId} completed without an answer for it`);
    } else if (outcome.kind === 'open') add('open', workflowId, 'still running at the deadline');
    else if (outcome.kind === 'failed') add('untyped', workflowId, `workflow failed with ${outcome.type}: ${outcome.message}`);
    else add('other', workflowId, `closed as ${outcome.status}`);
  }

  // The row's values, column by column; a TIMESTAMP read back as another instant is a misreport.
  const checkValues = (requestId: string, table: string, sentRow: Record<string, unknown>, row: TeamRow) => {
    v.rowsChecked++;
    for (const [column, kind] of Object.entries(TEAM_COLUMNS[table]?.columns ?? {})) {
      const want = expectedValue(kind, sentRow[column]);
      const got = row.values[column] ?? null;
      if (kind === 'timestamp' && want !== null) v.timestampsChecked++;
      if (isDeepStrictEqual(got, want)) continue;
      if (kind === 'timestamp' && typeof got === 'string' && typeof want === 'string')
        add(
          'misreported',
          requestId,
          `${table}.${column} read back as ${got}, sent ${want} (shifted ${(Date.parse(got) - Date.parse(want)) / 3_600_000} h)`,
        );
      else add('mismatch', requestId, `${table}.${column} holds ${JSON.stringify(got)}, sent ${JSON.stringify(want)}`);
    }
  };

  // A unit (several rows, one request): every row in its table, or none anywhere.
  const auditUnit = (r: SentRequest, t: Told | undefined, entry: LedgerRow | undefined) => {
    const unitRows = rowsOf(r);
    const mine = rowsByWriter.get(r.requestId) ?? [];
    const found = unitRows.map((u) => mine.filter((row) => row.table === u.table && row.key === keyOf(u.table, u.row)));
    for (const row of mine)
      if (!found.some((f) => f.includes(row))) add('mismatch', r.requestId, `a row of ${row.table} written by it is none of its rows`);
    found.forEach((f, i) => {
      if (f.length > 1) add('doubled', r.requestId, `${f.length} rows in ${unitRows[i]?.table} for row ${i + 1} of the unit`);
    });
    const missing = unitRows.flatMap((u, i) => (found[i]?.length ? [] : [`row ${i + 1} (${u.table})`]));
    const present = unitRows.length - missing.length;
    const whole = missing.length === 0;
    const none = present === 0;
    const written = entry?.status === 'committed';
    const ledgerText = entry ? entry.status : 'no ledger entry';
    v.orders.total++;
    if (r.badRow) v.orders.badLines.sent++;

    if (!whole && !none)
      add('unit-split', r.requestId, `${present} of ${unitRows.length} rows in the tables, missing ${missing.join(', ')}`);
    if (t && 'error' in t) {
      if (entry && entry.status !== 'abandoned')
        add('misreported', r.requestId, `told ${t.error.type} but the ledger says ${entry.status}`);
      if (none) {
        v.orders.refusedWhole++;
        if (r.badRow) v.orders.badLines.refusedWhole++;
      }
      if (t.error.type === 'WriteDataRejected' && !r.badRow) v.orders.dataRejectedWithoutBadLine++;
      if (whole && !written) add('phantom', r.requestId, `told ${t.error.type} but all its rows are in the tables (ledger: ${ledgerText})`);
    } else if (t) {
      if (t.status !== 'committed' && t.status !== 'duplicate') add('misreported', r.requestId, `a unit told ${t.status}`);
      if (!entry && none) add('lost', r.requestId, `told ${t.status}, but no ledger entry and no row`);
      else {
        if (!written) add('misreported', r.requestId, `told ${t.status} but the ledger says ${ledgerText}`);
        if (none) add('lost', r.requestId, `told ${t.status} (ledger: ${ledgerText}) but none of its rows is in the tables`);
        if (whole) v.orders.writtenWhole++;
      }
      if (r.badRow) add('misreported', r.requestId, `told ${t.status} though row ${r.badRow} of the unit breaks a CHECK`);
      // Each row's outcome: what the workflow heard (when the answer carried it) and what the ledger recorded.
      const want = unitRows.map((u) => (TEAM_MODES[u.table] === 'insert' ? 'c' : '.')).join('');
      const heard = t.rows?.map((x) => x.status[0]).join('');
      const fits = (letters: string) => letters.length === want.length && [...want].every((c, i) => c === '.' || c === letters[i]);
      if (heard !== undefined && !fits(heard)) add('misreported', r.requestId, `told rows ${heard}, a unit of ${want}`);
      if (written && !fits(entry.rowStatuses ?? ''))
        add('misreported', r.requestId, `ledger row_statuses ${entry.rowStatuses ?? 'NULL'}, a unit of ${want}`);
      if (written && heard !== undefined && entry.rowStatuses !== undefined && heard !== entry.rowStatuses)
        add('misreported', r.requestId, `told rows ${heard} but the ledger's row_statuses are ${entry.rowStatuses}`);
    }
    // The ledger against the tables, whatever the workflow heard.
    if (written && none && (!t || 'error' in t)) add('lost', r.requestId, `ledger says committed but none of its rows is in the tables`);
    if (whole && !written && !(t && 'error' in t))
      add('phantom', r.requestId, `its rows are in the tables but the ledger says ${ledgerText}`);
    found.forEach((f, i) => {
      const u = unitRows[i];
      if (u) for (const row of f) checkValues(r.requestId, u.table, u.row, row);
    });
  };

  for (const r of sent) {
    const t = told.get(r.requestId);
    const entry = ledger.get(r.requestId);
    if (entry && entry.digest !== r.digest)
      add('mismatch', r.requestId, `ledger row_digest ${entry.digest} differs from the sent row's ${r.digest}`);
    if (entry && entry.table !== r.table) add('mismatch', r.requestId, `ledger names table ${entry.table}, sent to ${r.table}`);
    if (t && 'error' in t) {
      v.told.failed++;
      v.failedByType[t.error.type] = (v.failedByType[t.error.type] ?? 0) + 1;
      v.failures.push({ requestId: r.requestId, type: t.error.type, message: t.error.message });
      if (!isBatcherErrorType(t.error.type)) add('untyped', r.requestId, `failed with ${t.error.type}`);
    } else if (t) v.told[t.status]++;
    if (r.moreRows && r.moreRows.length > 0) {
      auditUnit(r, t, entry);
      continue;
    }
    const own = rowsByWriter.get(r.requestId)?.filter((row) => row.table === r.table) ?? [];
    const upsert = TEAM_MODES[r.table] === 'upsert';
    const ledgerText = entry ? entry.status : 'no ledger entry';
    if (own.length > 1) add('doubled', r.requestId, `${own.length} rows in ${r.table} written by it`);

    if (t && 'error' in t) {
      // A row of its own is a phantom (found below, against the ledger) unless the ledger says written: then a misreport.
      if (entry && entry.status !== 'abandoned')
        add('misreported', r.requestId, `told ${t.error.type} but the ledger says ${entry.status}`);
    } else if (t) {
      const fits =
        t.status === 'duplicate' ? entry !== undefined && WRITTEN.has(entry.status) : entry !== undefined && entry.status === t.status;
      if (!entry && own.length === 0 && t.status !== 'ignored') {
        add('lost', r.requestId, `told ${t.status}, but no ledger entry and no row`);
      } else {
        if (!fits) add('misreported', r.requestId, `told ${t.status} but the ledger says ${ledgerText}`);
        if (t.status === 'ignored') {
          if (own.length > 0) add('misreported', r.requestId, `told ignored but its row is in ${r.table}`);
          if (keyRows(r).length === 0) add('misreported', r.requestId, `told ignored but no row holds its key in ${r.table}`);
        } else if (upsert ? keyRows(r).length === 0 : own.length === 0) {
          add(
            'lost',
            r.requestId,
            `told ${t.status} (ledger: ${ledgerText}) but ${upsert ? 'no row holds its key' : 'its row is not'} in ${r.table}`,
          );
        }
      }
    }

    // The ledger against the table, whatever the workflow heard.
    if (entry && WRITTEN.has(entry.status) && (upsert ? keyRows(r).length === 0 : own.length === 0) && (!t || 'error' in t))
      add('lost', r.requestId, `ledger says ${entry.status} but ${r.table} holds no row for it`);
    if (own.length > 0 && !(entry && WRITTEN.has(entry.status)))
      add('phantom', r.requestId, `its row is in ${r.table} but the ledger says ${ledgerText}`);

    for (const row of own) checkValues(r.requestId, r.table, r.row, row);
  }

  // Rows nobody of the run wrote.
  for (const row of rows) {
    const r = byId.get(row.writtenBy);
    if (!r || !rowsOf(r).some((u) => u.table === row.table))
      add('orphan', row.writtenBy, `row of ${row.table} written by no request of the run`);
  }

  // Groups.
  const groups = new Map<string, SentRequest[]>();
  for (const r of sent) groups.set(r.group, [...(groups.get(r.group) ?? []), r]);
  for (const [group, members] of groups) {
    const first = members[0];
    if (!first) continue;
    if (first.groupKind === 'pair' || first.groupKind === 'race') {
      const held = keyRows(first);
      const inserted = members.filter((m) => ledger.get(m.requestId)?.status === 'committed');
      if (held.length > 1) add('doubled', group, `${held.length} rows hold one key in ${first.table}`);
      if (inserted.length > 1)
        add(
          'doubled',
          group,
          `${inserted.length} requests on one key are committed (inserted) in the ledger: ${inserted.map((m) => m.requestId).join(', ')}`,
        );
      if (held.length === 1 && inserted.length === 0)
        add('misreported', group, `a row holds the key but no request of the group is committed in the ledger`);
      for (const row of held) {
        const writer = members.find((m) => m.requestId === row.writtenBy);
        if (!writer) add('orphan', group, `the key's row in ${first.table} was written by ${row.writtenBy}, not by the group`);
      }
      if (first.groupKind === 'pair') {
        v.pairs.total++;
        const statuses = members.map((m) => {
          const t = told.get(m.requestId);
          return t && 'status' in t ? t.status : 'failed';
        });
        if (held.length === 1 && statuses.filter((s) => s === 'ignored').length === members.length - 1) v.pairs.oneWrittenOneIgnored++;
      } else {
        v.races.total++;
        if (held.length === 1) v.races.withRow++;
      }
    }
  }
  return v;
}

/** The verdict lines (the same on the console, in the test and in docs/reliability.md). */
export function formatTeamVerdict(v: TeamVerdict, head: string, violations: number): string {
  const lines = [
    `==== chaos verdict, team workload (${head}) ====`,
    `workflows      ${v.workflows} (completed ${v.completed})`,
    `requests       ${v.requests}`,
    `told           committed ${v.told.committed}, updated ${v.told.updated}, ignored ${v.told.ignored}, duplicate ${v.told.duplicate}, failed ${v.told.failed}`,
    ...Object.entries(v.failedByType).map(([type, count]) => `  ${type.padEnd(26)} ${count}`),
    ...v.failures.slice(0, 3).map((f) => `  e.g. ${f.requestId}: ${f.type}: ${f.message}`),
    `event-id pairs ${v.pairs.total} (one written, one ignored: ${v.pairs.oneWrittenOneIgnored})`,
    `upsert races   ${v.races.total} (one row held by a racer: ${v.races.withRow})`,
    `orders written whole: ${v.orders.writtenWhole} of ${v.orders.total}, refused whole: ${v.orders.refusedWhole} (units with a line breaking a CHECK: ${v.orders.badLines.sent}, refused whole: ${v.orders.badLines.refusedWhole}; WriteDataRejected without a bad line: ${v.orders.dataRejectedWithoutBadLine})`,
    `rows checked   ${v.rowsChecked} (TIMESTAMP values ${v.timestampsChecked}${v.serverTimeZone ? `; MariaDB time zone ${v.serverTimeZone}` : ''})`,
    `lost           ${v.lost}`,
    `phantom        ${v.phantom}`,
    `doubled        ${v.doubled}`,
    `misreported    ${v.misreported}`,
    `mismatch       ${v.mismatch}`,
    `orphan         ${v.orphan}`,
    `unit split     ${v.unitSplit}`,
    `still open     ${v.open}`,
  ];
  if (v.other) lines.push(`closed otherwise (terminated/cancelled/timed out) ${v.other}`);
  if (v.untyped) lines.push(`failed untyped ${v.untyped}`);
  const byKind = new Map<string, string[]>();
  for (const x of v.violations) byKind.set(x.kind, [...(byKind.get(x.kind) ?? []), `${x.id}: ${x.detail}`]);
  for (const [kind, list] of byKind) {
    lines.push(`${kind}, e.g.:`);
    for (const item of list.slice(0, 3)) lines.push(`  ${item}`);
  }
  lines.push(violations === 0 ? 'VERDICT: PASS (no violation)' : `VERDICT: FAIL (${violations} violation(s))`);
  return lines.join('\n');
}
