// What the pipeline tests read back: every ledger entry of the demo table joined with its row, ids
// as the exact bytes stored. A committed entry without a row is a fault the tests look for.
import { LEDGER_TABLE } from '@write-batcher/batcher';
import { DEMO_TABLE } from '@batcher/demo';
import type { Pool } from 'mysql2/promise';

export interface LedgerRow {
  requestId: string;
  requesterWorkflowId: string;
  status: 'committed' | 'abandoned';
  batchId: string | null;
  shard: number;
  /** The demo row's JSON payload; null when no row is in the table. */
  payload: unknown;
  /** Rows of the demo table under this request id (1 for a committed entry, 0 for an abandoned one). */
  rowsInTable: number;
}

/** Every ledger entry for the demo table, with its row (oldest first). */
export async function allRows(pool: Pool): Promise<LedgerRow[]> {
  const [rows] = await pool.query(
    `SELECT l.request_id, l.requester_workflow_id, l.status, l.batch_id, l.shard, w.payload, COUNT(w.id) AS n
       FROM ${LEDGER_TABLE} l LEFT JOIN ${DEMO_TABLE} w ON w.request_id = l.request_id
      WHERE l.target_table = ?
      GROUP BY l.request_id, l.requester_workflow_id, l.status, l.batch_id, l.shard, w.payload, l.recorded_at
      ORDER BY l.recorded_at, l.request_id`,
    [DEMO_TABLE],
  );
  return (
    rows as Array<{
      request_id: Buffer;
      requester_workflow_id: Buffer | null;
      status: 'committed' | 'abandoned';
      batch_id: Buffer | null;
      shard: number | null;
      payload: unknown;
      n: number | string;
    }>
  ).map((r) => ({
    requestId: String(r.request_id),
    requesterWorkflowId: r.requester_workflow_id === null ? '' : String(r.requester_workflow_id),
    status: r.status,
    batchId: r.batch_id === null ? null : String(r.batch_id),
    shard: r.shard ?? -1,
    payload: typeof r.payload === 'string' ? (JSON.parse(r.payload) as unknown) : (r.payload ?? null),
    rowsInTable: Number(r.n),
  }));
}
