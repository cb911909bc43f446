// The demo's default target, `batched_writes` (a JSON payload per request), the ledger, and the
// migration from the first release, where that table was also the dedup authority.
//
// Ids are bytes: request_id, requester_workflow_id and batch_id are VARBINARY, so MySQL compares
// them exactly as JavaScript does (under a `_ci` collation `…-Order` and `…-order` were one key).
import type { PoolConnection } from 'mysql2/promise';
import { LEDGER_SCHEMA_SQL, LEDGER_TABLE } from './ledger';
import type { TargetTable } from './targets';

/** Name of the demo's table. */
export const DEMO_TABLE = 'batched_writes';

export const DEMO_SCHEMA_SQL = `CREATE TABLE IF NOT EXISTS ${DEMO_TABLE} (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  request_id VARBINARY(255) NOT NULL,
  requester_workflow_id VARBINARY(255) NOT NULL,
  payload JSON NULL,
  status ENUM('committed','abandoned') NOT NULL DEFAULT 'committed',
  batch_id VARBINARY(128) NULL,
  shard INT NOT NULL,
  written_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_request_id (request_id),
  KEY ix_batch_id (batch_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

/**
 * The demo table as a target: the workflow gives `{ payload }`, the batcher fills in the request
 * id, the requester, the batch and the shard. Its key is the request id.
 */
export const DEMO_TARGET: TargetTable = {
  table: DEMO_TABLE,
  mode: 'insert',
  key: ['request_id'],
  fill: { request_id: 'requestId', requester_workflow_id: 'requesterWorkflowId', batch_id: 'batchId', shard: 'shard' },
};

/** The demo's typed table: one order per transaction, typed columns, written beside the JSON row. */
export const DEMO_ORDERS_TABLE = 'demo_orders';

export const DEMO_ORDERS_SCHEMA_SQL = `CREATE TABLE IF NOT EXISTS ${DEMO_ORDERS_TABLE} (
  order_id VARCHAR(200) NOT NULL PRIMARY KEY,
  amount_cents BIGINT NOT NULL,
  currency CHAR(3) NOT NULL,
  placed_at DATETIME(3) NOT NULL,
  items JSON NULL,
  written_by_batch VARBINARY(128) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

export const DEMO_ORDERS_TARGET: TargetTable = { table: DEMO_ORDERS_TABLE, mode: 'insert', fill: { written_by_batch: 'batchId' } };

/** Columns that must be binary, with their binary type (a first-release table had VARCHAR ids). */
const BINARY_COLUMNS: Record<string, string> = {
  request_id: 'VARBINARY(255) NOT NULL',
  requester_workflow_id: 'VARBINARY(255) NOT NULL',
  batch_id: 'VARBINARY(128) NULL',
};

type Queryable = Pick<PoolConnection, 'query'>;

/**
 * Creates the ledger and the demo tables, and migrates a table made by an earlier release: ids
 * converted to binary, and every row's id recorded in the ledger (committed rows as committed with
 * their batch; abandoned claims as abandoned, then removed from the table, which now holds only
 * written rows). Every id keeps its promise: one that was committed or abandoned stays so.
 * Safe to run any number of times; run it before the batcher workers start (the chart's hook does).
 */
export async function applySchema(conn: Queryable): Promise<{ converted: string[]; ledgered: number; abandonedMoved: number }> {
  await conn.query(LEDGER_SCHEMA_SQL);
  await conn.query(DEMO_SCHEMA_SQL);
  await conn.query(DEMO_ORDERS_SCHEMA_SQL);
  const [cols] = await conn.query(
    `SELECT COLUMN_NAME AS name, DATA_TYPE AS type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`,
    [DEMO_TABLE],
  );
  const converted = (cols as Array<{ name: string; type: string }>)
    .filter((c) => c.name in BINARY_COLUMNS && c.type.toLowerCase() !== 'varbinary')
    .map((c) => c.name);
  if (converted.length > 0) {
    await conn.query(`ALTER TABLE ${DEMO_TABLE} ${converted.map((c) => `MODIFY ${c} ${BINARY_COLUMNS[c]}`).join(', ')}`);
  }
  // Rows without a ledger entry were written by the first release: record them (no digest: a repeat
  // with the same id and table is a duplicate, as it was then).
  await conn.query('START TRANSACTION');
  try {
    const [copied] = await conn.query(
      `INSERT INTO ${LEDGER_TABLE} (request_id, status, batch_id, target_table, row_digest, requester_workflow_id, shard, recorded_at)
       SELECT w.request_id, w.status, w.batch_id, ?, NULL, w.requester_workflow_id, w.shard, w.written_at
         FROM ${DEMO_TABLE} w LEFT JOIN ${LEDGER_TABLE} l ON l.request_id = w.request_id
        WHERE l.request_id IS NULL`,
      [DEMO_TABLE],
    );
    const [moved] = await conn.query(`DELETE FROM ${DEMO_TABLE} WHERE status = 'abandoned'`);
    await conn.query('COMMIT');
    return { converted, ledgered: (copied as { affectedRows: number }).affectedRows, abandonedMoved: (moved as { affectedRows: number }).affectedRows };
  } catch (err) {
    await conn.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
