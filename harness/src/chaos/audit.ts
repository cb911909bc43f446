// The audit after a chaos run: every workflow of the run against its row in batched_writes.
// Request ids are compared byte for byte (the column may be VARBINARY; a collation must not make
// two ids equal), payloads as JSON values.
import { isDeepStrictEqual } from 'node:util';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import pLimit from 'p-limit';
import type mysql from 'mysql2/promise';
import { BatcherErrorTypes } from '@batcher/shared/workflow';

/** What the run sent: one entry per workflow. */
export interface SentTransaction {
  workflowId: string;
  payload: Record<string, unknown>;
}

export type Outcome =
  | { kind: 'completed'; result: { requestId?: string; status?: string; batchId?: string } }
  | { kind: 'failed'; type: string; message: string }
  | { kind: 'open' }
  /** Terminated, cancelled, timed out: not something the pipeline should ever do to a transaction. */
  | { kind: 'other'; status: string };

export interface Violation {
  kind: 'lost' | 'phantom' | 'doubled' | 'orphan' | 'open' | 'other';
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
  const { status } = await handle.describe();
  if (status.name === 'RUNNING') return { kind: 'open' };
  if (status.name === 'COMPLETED') return { kind: 'completed', result: (await handle.result()) as { requestId?: string; status?: string; batchId?: string } };
  if (status.name === 'FAILED') {
    try {
      await handle.result();
      return { kind: 'other', status: 'FAILED without error' };
    } catch (err) {
      return { kind: 'failed', ...failureOf(err) };
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
  const [rows] = await conn.query(`SELECT CAST(request_id AS BINARY) AS request_id, status, batch_id, requester_workflow_id, payload FROM ${table}`);
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
export function audit(sent: readonly SentTransaction[], outcomes: ReadonlyMap<string, Outcome>, rows: readonly RowOfTable[]): Verdict {
  const v: Verdict = { transactions: sent.length, completed: 0, failed: 0, failedByType: {}, lost: 0, phantom: 0, doubled: 0, orphan: 0, open: 0, other: 0, untypedFailures: 0, violations: [] };
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
        if (committed.length === 0) add('lost', t.workflowId, `completed (${outcome.result.status ?? '?'}, batch ${outcome.result.batchId ?? '?'}) but no committed row with request id ${REQUEST_ID_PREFIX}${t.workflowId}${own.length ? ` (rows: ${own.map((r) => r.status).join(', ')})` : ''}`);
        break;
      case 'failed':
        v.failed++;
        v.failedByType[outcome.type] = (v.failedByType[outcome.type] ?? 0) + 1;
        if (!KNOWN_ERROR_TYPES.has(outcome.type)) v.untypedFailures++;
        if (committed.length > 0) add('phantom', t.workflowId, `failed with ${outcome.type} (${outcome.message}) but its row is committed in batch ${committed[0]?.batch_id ?? '?'}`);
        break;
      case 'open':
        add('open', t.workflowId, 'still running at the deadline');
        break;
      case 'other':
        v.other++;
        add('other', t.workflowId, `closed as ${outcome.status}`);
        break;
    }
    if (own.length > 1) add('doubled', t.workflowId, `${own.length} rows for one request id (${own.map((r) => `${r.status}/${r.batch_id ?? '-'}`).join(', ')})`);
    for (const r of committed) {
      if (!isDeepStrictEqual(parsePayload(r.payload), t.payload)) add('doubled', t.workflowId, `row payload ${JSON.stringify(parsePayload(r.payload))} differs from the sent ${JSON.stringify(t.payload)}`);
    }
  }

  for (const [key, list] of rowsById) {
    for (const r of list.filter((x) => x.status === 'committed')) {
      const t = runIds.get(key);
      if (!t) {
        add('orphan', r.requester_workflow_id ?? '?', `committed row ${JSON.stringify(r.request_id.toString('utf8'))} belongs to no workflow of the run`);
        continue;
      }
      const kind = outcomes.get(t.workflowId)?.kind ?? 'open';
      // A failed one with a committed row is already a phantom; open or terminated ones are orphans.
      if (kind === 'open' || kind === 'other') add('orphan', t.workflowId, `committed row, but the workflow is ${kind === 'open' ? 'still open' : 'closed without completing'}`);
    }
  }
  return v;
}

/** Outcomes of many workflows, a few at a time. */
export async function outcomesOf(client: Client, workflowIds: readonly string[], concurrency = 32): Promise<Map<string, Outcome>> {
  const limit = pLimit(concurrency);
  const entries = await Promise.all(workflowIds.map((id) => limit(async () => [id, await outcomeOf(client, id)] as const)));
  return new Map(entries);
}

/** Number of violations that make the verdict red. */
export function violationCount(v: Verdict): number {
  return v.lost + v.phantom + v.doubled + v.orphan + v.open + v.other + v.untypedFailures;
}
