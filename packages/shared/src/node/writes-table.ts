// The `batched_writes` table: its schema, its migration, and every statement that touches it. The
// one place that knows its columns.
//
// Ids are bytes: request_id, requester_workflow_id and batch_id are VARBINARY, so MySQL compares
// them exactly as JavaScript does. Under the default `_ci` collation `…-Order` and `…-order` (or
// `cafe` and `café`, or a trailing space) were one key, and a second request took the first one's row.
import type { PoolConnection } from 'mysql2/promise';
import type { Pool } from './mysql';

/** Name of the table holding every batched row. */
export const WRITES_TABLE = 'batched_writes';

/**
 * `status` lets a requester that gave up claim its request id as `abandoned`, so a later batch
 * insert of the same id is a no-op instead of a row the requester was told did not happen.
 */
export const SCHEMA_SQL = `CREATE TABLE IF NOT EXISTS ${WRITES_TABLE} (
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

/** Columns that must be binary, with their binary type. */
const BINARY_COLUMNS: Record<string, string> = {
  request_id: 'VARBINARY(255) NOT NULL',
  requester_workflow_id: 'VARBINARY(255) NOT NULL',
  batch_id: 'VARBINARY(128) NULL',
};

type Queryable = Pick<PoolConnection, 'query'>;

/**
 * Creates the table, and converts a table made by an earlier release (VARCHAR under a `_ci`
 * collation) to binary ids. Safe to run any number of times. A table with ids that the old
 * collation had folded together cannot exist (the unique key refused them), so the conversion
 * cannot fail on duplicates.
 */
export async function applySchema(conn: Queryable): Promise<{ converted: string[] }> {
  await conn.query(SCHEMA_SQL);
  const [cols] = await conn.query(
    `SELECT COLUMN_NAME AS name, DATA_TYPE AS type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`,
    [WRITES_TABLE],
  );
  const converted = (cols as Array<{ name: string; type: string }>)
    .filter((c) => c.name in BINARY_COLUMNS && c.type.toLowerCase() !== 'varbinary')
    .map((c) => c.name);
  if (converted.length > 0) {
    await conn.query(`ALTER TABLE ${WRITES_TABLE} ${converted.map((c) => `MODIFY ${c} ${BINARY_COLUMNS[c]}`).join(', ')}`);
  }
  return { converted };
}

/** A row of the table as the batcher inserts it. */
export interface WriteRow {
  requestId: string;
  requesterWorkflowId: string;
  payload: Record<string, unknown>;
}

// ON DUPLICATE KEY UPDATE keeps strict-mode data errors (INSERT IGNORE would silently truncate)
// and turns an id that already exists into a no-op: the unique key is the dedup authority.
export const INSERT_SQL = `INSERT INTO ${WRITES_TABLE} (request_id, requester_workflow_id, payload, status, batch_id, shard) VALUES ? ON DUPLICATE KEY UPDATE id = id`;

/** Inserts rows as `committed` by one batch; ids already present are left as they are. */
export async function insertRows(conn: Queryable, batchId: string, shard: number, rows: readonly WriteRow[]): Promise<void> {
  await conn.query(INSERT_SQL, [rows.map((r) => [r.requestId, r.requesterWorkflowId, JSON.stringify(r.payload), 'committed', batchId, shard])]);
}

/** Who owns each id: status and batch, by request id (ids read back as the exact bytes stored). */
export async function ownersOf(conn: Queryable, requestIds: readonly string[]): Promise<Map<string, { status: 'committed' | 'abandoned'; batchId?: string }>> {
  if (requestIds.length === 0) return new Map();
  const [found] = await conn.query(`SELECT request_id, status, batch_id FROM ${WRITES_TABLE} WHERE request_id IN (?)`, [requestIds]);
  return new Map(
    (found as Array<{ request_id: Buffer | string; status: 'committed' | 'abandoned'; batch_id: Buffer | string | null }>).map((f) => [
      String(f.request_id),
      { status: f.status, batchId: f.batch_id === null ? undefined : String(f.batch_id) },
    ]),
  );
}

/**
 * Claims a request id as abandoned unless a batch already wrote it. The unique key serialises this
 * against the batch insert: exactly one of them owns the id, and the answer says which.
 */
export async function claimAbandoned(pool: Pool, input: { requestId: string; requesterWorkflowId: string; shard: number }): Promise<{ status: 'committed' | 'abandoned'; batchId?: string }> {
  await pool.query(
    `INSERT INTO ${WRITES_TABLE} (request_id, requester_workflow_id, payload, status, batch_id, shard) VALUES (?, ?, NULL, 'abandoned', NULL, ?) ON DUPLICATE KEY UPDATE id = id`,
    [input.requestId, input.requesterWorkflowId, input.shard],
  );
  const owner = (await ownersOf(pool, [input.requestId])).get(input.requestId);
  if (!owner) throw new Error(`request ${input.requestId} missing right after its claim`);
  return owner;
}

/** Every row of the table, for audits and tests: ids as exact strings. */
export async function allRows(pool: Pool): Promise<Array<{ requestId: string; requesterWorkflowId: string; status: 'committed' | 'abandoned'; batchId: string | null; shard: number; payload: unknown }>> {
  const [rows] = await pool.query(`SELECT request_id, requester_workflow_id, status, batch_id, shard, payload FROM ${WRITES_TABLE} ORDER BY id`);
  return (rows as Array<{ request_id: Buffer; requester_workflow_id: Buffer; status: 'committed' | 'abandoned'; batch_id: Buffer | null; shard: number; payload: unknown }>).map((r) => ({
    requestId: String(r.request_id),
    requesterWorkflowId: String(r.requester_workflow_id),
    status: r.status,
    batchId: r.batch_id === null ? null : String(r.batch_id),
    shard: r.shard,
    payload: typeof r.payload === 'string' ? (JSON.parse(r.payload) as unknown) : r.payload,
  }));
}
