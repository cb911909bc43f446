// The audit after a chaos run: every workflow of the run against its row in batched_writes and,
// when the run sent orders, its typed row in demo_orders (values compared column by column) and the
// ledger entries of both.
// Request ids are compared byte for byte (the column may be VARBINARY; a collation must not make
// two ids equal), payloads as JSON values.
import { isDeepStrictEqual } from 'node:util';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import pLimit from 'p-limit';
import type mysql from 'mysql2/promise';
import { BatcherErrorTypes } from '@write-batcher/requester';

/** What the run sent: one entry per workflow. */
export interface SentTransaction {
  workflowId: string;
  payload: Record<string, unknown>;
  /** The typed order row the transaction also wrote (demo_orders), when the run sent one. */
  order?: { amountCents: string; currency: string; placedAt: string; lines?: Array<{ sku: string; qty: number }> };
}

/** A row of demo_orders as the audit reads it (amount as exact text, date as ISO text in UTC). */
export interface OrderRow {
  order_id: string;
  amount_cents: string;
  currency: string;
  placed_at: string;
  items: unknown;
}

/** Ledger entries by request id: status only. */
export type LedgerStatus = Map<string, 'committed' | 'abandoned'>;

export type Outcome =
  | { kind: 'completed'; result: { requestId?: string; status?: string; batchId?: string } }
  | { kind: 'failed'; type: string; message: string; startedAt?: Date; closedAt?: Date }
  | { kind: 'open' }
  /** Terminated, cancelled, timed out: not something the pipeline should ever do to a transaction. */
  | { kind: 'other'; status: string };

export interface Violation {
  kind: 'lost' | 'phantom' | 'doubled' | 'orphan' | 'open' | 'other' | 'mismatch';
  workflowId: string;
  detail: string;
}

export interface Verdict {
  transactions: number;
  completed: number;
  failed: number;
  failedByType: Record<string, number>;
  lost: number;
  phantom: number;
  doubled: number;
  orphan: number;
  /** Typed rows whose values differ from what the workflow sent. */
  mismatch: number;
  /** Typed rows checked (0 when the run sent no orders). */
  typedRowsChecked: number;
  open: number;
  /** Closed neither completed nor failed (terminated, cancelled, timed out). */
  other: number;
  /** Failures whose type is not one of BatcherErrorTypes. */
  untypedFailures: number;
  violations: Violation[];
}

export const REQUEST_ID_PREFIX = 'write:';
const KNOWN_ERROR_TYPES = new Set<string>(Object.values(BatcherErrorTypes));

/** The innermost ApplicationFailure type of a failed workflow's error. */
function failureOf(err: unknown): { type: string; message: string } {
  let cause: unknown = err instanceof WorkflowFailedError ? err.cause : err;
  while (cause instanceof Error) {
    if (cause instanceof ApplicationFailure && cause.type) return { type: cause.type, message: cause.message };
    cause = cause.cause;
  }
  return { type: (err as Error)?.name ?? 'Error', message: (err as Error)?.message ?? String(err) };
}

/** The outcome of one workflow, by its latest run. */
export async function outcomeOf(client: Client, workflowId: string): Promise<Outcome> {
  const handle = client.workflow.getHandle(workflowId);
  const { status, startTime, closeTime } = await handle.describe();
  if (status.name === 'RUNNING') return { kind: 'open' };
  if (status.name === 'COMPLETED')
    return { kind: 'completed', result: (await handle.result()) as { requestId?: string; status?: string; batchId?: string } };
  if (status.name === 'FAILED') {
    try {
      await handle.result();
      return { kind: 'other', status: 'FAILED without error' };
    } catch (err) {
      return { kind: 'failed', ...failureOf(err), startedAt: startTime, closedAt: closeTime };
    }
  }
  return { kind: 'other', status: status.name };
}

interface RowOfTable {
  request_id: Buffer;
  status: string;
  batch_id: string | null;
  requester_workflow_id: string | null;
  payload: unknown;
}

/** Every row of the table; the chaos run's database holds nothing else. */
export async function readRows(conn: mysql.Connection, table = 'batched_writes'): Promise<RowOfTable[]> {
  // CAST AS BINARY: the id comes back as a Buffer whatever the column's type and collation.
  const [rows] = await conn.query(
    `SELECT CAST(request_id AS BINARY) AS request_id, status, batch_id, requester_workflow_id, payload FROM ${table}`,
  );
  return rows as RowOfTable[];
}

function parsePayload(value: unknown): unknown {
  if (typeof value === 'string') {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return value;
    }
  }
  if (Buffer.isBuffer(value)) return parsePayload(value.toString('utf8'));
  return value;
}

/** Compares what was sent, how each workflow ended and what the table holds. */
export function audit(
  sent: readonly SentTransaction[],
  outcomes: ReadonlyMap<string, Outcome>,
  rows: readonly RowOfTable[],
  typed?: { orders: readonly OrderRow[]; ledger: LedgerStatus },
): Verdict {
  const v: Verdict = {
    transactions: sent.length,
    completed: 0,
    failed: 0,
    failedByType: {},
    lost: 0,
    phantom: 0,
    doubled: 0,
    orphan: 0,
    mismatch: 0,
    typedRowsChecked: 0,
    open: 0,
    other: 0,
    untypedFailures: 0,
    violations: [],
  };
  const add = (kind: Violation['kind'], workflowId: string, detail: string) => {
    if (kind !== 'other') v[kind]++;
    v.violations.push({ kind, workflowId, detail });
  };
  const rowsById = new Map<string, RowOfTable[]>();
  for (const row of rows) {
    const key = row.request_id.toString('hex');
    rowsById.set(key, [...(rowsById.get(key) ?? []), row]);
  }
  const runIds = new Map<string, SentTransaction>();
  for (const t of sent) runIds.set(Buffer.from(`${REQUEST_ID_PREFIX}${t.workflowId}`, 'utf8').toString('hex'), t);

  for (const t of sent) {
    const key = Buffer.from(`${REQUEST_ID_PREFIX}${t.workflowId}`, 'utf8').toString('hex');
    const own = rowsById.get(key) ?? [];
    const committed = own.filter((r) => r.status === 'committed');
    const outcome = outcomes.get(t.workflowId) ?? { kind: 'open' };
    switch (outcome.kind) {
      case 'completed':
        v.completed++;
        if (committed.length === 0)
          add(
            'lost',
            t.workflowId,
            `completed (${outcome.result.status ?? '?'}, batch ${outcome.result.batchId ?? '?'}) but no committed row with request id ${REQUEST_ID_PREFIX}${t.workflowId}${own.length ? ` (rows: ${own.map((r) => r.status).join(', ')})` : ''}`,
          );
        break;
      case 'failed':
        v.failed++;
        v.failedByType[outcome.type] = (v.failedByType[outcome.type] ?? 0) + 1;
        if (!KNOWN_ERROR_TYPES.has(outcome.type)) v.untypedFailures++;
        // A transaction that wrote two rows may fail on one of them (its message names that request):
        // the other may be committed. The JSON row is a phantom only when the failure was its own.
        if (committed.length > 0 && failedRequestOf(outcome.message) !== `${ORDER_REQUEST_ID_PREFIX}${t.workflowId}`) {
          add(
            'phantom',
            t.workflowId,
            `failed with ${outcome.type} (${outcome.message}) but its row is committed in batch ${committed[0]?.batch_id ?? '?'}`,
          );
        }
        break;
      case 'open':
        add('open', t.workflowId, 'still running at the deadline');
        break;
      case 'other':
        v.other++;
        add('other', t.workflowId, `closed as ${outcome.status}`);
        break;
    }
    if (own.length > 1)
      add(
        'doubled',
        t.workflowId,
        `${own.length} rows for one request id (${own.map((r) => `${r.status}/${r.batch_id ?? '-'}`).join(', ')})`,
      );
    for (const r of committed) {
      if (!isDeepStrictEqual(parsePayload(r.payload), t.payload))
        add(
          'doubled',
          t.workflowId,
          `row payload ${JSON.stringify(parsePayload(r.payload))} differs from the sent ${JSON.stringify(t.payload)}`,
        );
    }
  }

  for (const [key, list] of rowsById) {
    for (const r of list.filter((x) => x.status === 'committed')) {
      const t = runIds.get(key);
      if (!t) {
        add(
          'orphan',
          r.requester_workflow_id ?? '?',
          `committed row ${JSON.stringify(r.request_id.toString('utf8'))} belongs to no workflow of the run`,
        );
        continue;
      }
      const kind = outcomes.get(t.workflowId)?.kind ?? 'open';
      // A failed one with a committed row is already a phantom; open or terminated ones are orphans.
      if (kind === 'open' || kind === 'other')
        add('orphan', t.workflowId, `committed row, but the workflow is ${kind === 'open' ? 'still open' : 'closed without completing'}`);
    }
  }
  if (typed) auditOrders(sent, outcomes, rowsById, typed, add, v);
  return v;
}

/** The request id a batchedWrite failure names (`write <request id> …`, `… for write <request id> …`). */
export function failedRequestOf(message: string): string | undefined {
  return /\bwrite (\S+?)(?::? |$)/.exec(message)?.[1];
}

/** The request id of a transaction's order row (as the demo workflow derives it). */
export const ORDER_REQUEST_ID_PREFIX = 'order:';

/**
 * The typed table: a completed transaction's order is there once with the values it sent; a failed
 * one left at least one of its two rows unwritten; every row has a committed ledger entry and every
 * committed entry its row; an id claimed as abandoned has no row.
 */
function auditOrders(
  sent: readonly SentTransaction[],
  outcomes: ReadonlyMap<string, Outcome>,
  jsonRowsById: ReadonlyMap<string, RowOfTable[]>,
  typed: { orders: readonly OrderRow[]; ledger: LedgerStatus },
  add: (kind: Violation['kind'], workflowId: string, detail: string) => void,
  v: Verdict,
): void {
  const byOrder = new Map<string, OrderRow[]>();
  for (const o of typed.orders) byOrder.set(o.order_id, [...(byOrder.get(o.order_id) ?? []), o]);
  const sentIds = new Set(sent.map((t) => t.workflowId));
  for (const t of sent) {
    if (!t.order) continue;
    const rows = byOrder.get(t.workflowId) ?? [];
    const entry = typed.ledger.get(`${ORDER_REQUEST_ID_PREFIX}${t.workflowId}`);
    const outcome = outcomes.get(t.workflowId)?.kind ?? 'open';
    if (rows.length > 1) add('doubled', t.workflowId, `${rows.length} order rows`);
    if (rows.length > 0 && entry !== 'committed')
      add('phantom', t.workflowId, `order row present but its ledger entry is ${entry ?? 'missing'}`);
    if (rows.length === 0 && entry === 'committed') add('lost', t.workflowId, 'order committed in the ledger but no row in demo_orders');
    if (outcome === 'completed' && rows.length === 0) add('lost', t.workflowId, 'completed but no order row');
    if (outcome === 'failed') {
      const jsonCommitted = (jsonRowsById.get(Buffer.from(`${REQUEST_ID_PREFIX}${t.workflowId}`, 'utf8').toString('hex')) ?? []).some(
        (r) => r.status === 'committed',
      );
      if (jsonCommitted && rows.length > 0) add('phantom', t.workflowId, 'failed, yet both its rows are committed');
    }
    for (const row of rows) {
      v.typedRowsChecked++;
      const want = {
        amount_cents: t.order.amountCents,
        currency: t.order.currency,
        placed_at: new Date(t.order.placedAt).toISOString(),
        lines: t.order.lines ?? null,
      };
      const got = {
        amount_cents: String(row.amount_cents),
        currency: row.currency,
        placed_at: row.placed_at,
        lines: parsePayload(row.items) ?? null,
      };
      if (!isDeepStrictEqual(got, want))
        add('mismatch', t.workflowId, `order row ${JSON.stringify(got)} differs from the sent ${JSON.stringify(want)}`);
    }
  }
  for (const id of byOrder.keys()) if (!sentIds.has(id)) add('orphan', id, 'order row belongs to no workflow of the run');
}

/** The typed rows of a run (the chaos run's database holds nothing else). */
export async function readOrders(conn: mysql.Connection): Promise<OrderRow[]> {
  const [rows] = await conn.query(
    `SELECT order_id, CAST(amount_cents AS CHAR) AS amount_cents, currency, CONCAT(DATE_FORMAT(placed_at, '%Y-%m-%dT%H:%i:%s.'), LPAD(FLOOR(MICROSECOND(placed_at) / 1000), 3, '0'), 'Z') AS placed_at, items FROM demo_orders`,
  );
  return rows as OrderRow[];
}

/** Ledger status of every request id. */
export async function readLedger(conn: mysql.Connection): Promise<LedgerStatus> {
  const [rows] = await conn.query(`SELECT request_id, status FROM batcher_ledger`);
  return new Map(
    (rows as Array<{ request_id: Buffer; status: 'committed' | 'abandoned' }>).map((r) => [r.request_id.toString('utf8'), r.status]),
  );
}

/** Outcomes of many workflows, a few at a time. */
export async function outcomesOf(client: Client, workflowIds: readonly string[], concurrency = 32): Promise<Map<string, Outcome>> {
  const limit = pLimit(concurrency);
  const entries = await Promise.all(workflowIds.map((id) => limit(async () => [id, await outcomeOf(client, id)] as const)));
  return new Map(entries);
}

/** Number of violations that make the verdict red. */
export function violationCount(v: Verdict): number {
  return v.lost + v.phantom + v.doubled + v.orphan + v.mismatch + v.open + v.other + v.untypedFailures;
}
