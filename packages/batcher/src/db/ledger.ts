// The ledger: one entry per request id, written in the same transaction as the rows it stands for.
// It is the authority for exactly-once: only a batch whose ledger entry for an id won writes that
// id's row; a settle step claims ids here (never in the target tables); a repeat with the same row
// is a duplicate and with another row a conflict. Every entry names its table and the digest of its
// row, committed or abandoned alike. A unit (one request, several rows) has one entry: its digest
// covers every row, and `row_statuses` says what its batch did with each row.
import { createHash } from 'node:crypto';
import type { Pool, PoolConnection } from 'mysql2/promise';
import { canonicalUnitText, type UnitRow, type UnitRowOutcome, type WireRow } from '@write-batcher/protocol';
import { inUtcSession } from './sessions';

export const LEDGER_TABLE = 'batcher_ledger';

export const LEDGER_SCHEMA_SQL = `CREATE TABLE IF NOT EXISTS ${LEDGER_TABLE} (
  request_id VARBINARY(255) NOT NULL,
  status ENUM('committed','abandoned','ignored','updated') NOT NULL,
  batch_id VARBINARY(128) NULL,
  target_table VARBINARY(129) NOT NULL,
  row_digest BINARY(32) NOT NULL,
  row_statuses VARBINARY(64) NULL,
  requester_workflow_id VARBINARY(255) NULL,
  shard INT NULL,
  recorded_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (request_id),
  KEY ix_recorded_at (recorded_at),
  KEY ix_batch_id (batch_id)
) ENGINE=InnoDB`;

type Queryable = Pick<PoolConnection, 'query'>;

/** SHA-256 of a table and row (and a unit's further rows): what "the same row" means for a repeated request id. */
export function rowDigest(table: string, row: WireRow, moreRows?: readonly UnitRow[]): Buffer {
  return createHash('sha256')
    .update(canonicalUnitText(table, row, moreRows))
    .digest();
}

/** A unit's row outcomes as the ledger keeps them: one letter per row (c committed, u updated, i ignored). */
const ROW_STATUS_LETTERS = { committed: 'c', updated: 'u', ignored: 'i' } as const;

export function encodeRowStatuses(statuses: readonly UnitRowOutcome['status'][]): string {
  return statuses.map((x) => ROW_STATUS_LETTERS[x]).join('');
}

/** The row statuses of a unit's entry, with its rows' tables; undefined when the entry holds none (a one-row request). */
export function decodeRowStatuses(text: string | undefined, tables: readonly string[]): UnitRowOutcome[] | undefined {
  if (text === undefined || text.length !== tables.length) return undefined;
  const byLetter: Record<string, UnitRowOutcome['status']> = { c: 'committed', u: 'updated', i: 'ignored' };
  const rows = [...text].map((letter, i) => ({ table: tables[i] as string, status: byLetter[letter] }));
  return rows.every((r) => r.status !== undefined) ? (rows as UnitRowOutcome[]) : undefined;
}

/**
 * Adds what a ledger created by an earlier version lacks: the ENUM's later statuses, and the units'
 * `row_statuses` column (looked up first: MySQL has no ADD COLUMN IF NOT EXISTS). Changes no row.
 */
export async function widenLedger(conn: Queryable): Promise<void> {
  await conn.query(LEDGER_STATUS_SQL);
  const [found] = await conn.query(
    `SELECT 1 AS present FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = 'row_statuses'`,
    [LEDGER_TABLE],
  );
  if ((found as unknown[]).length === 0)
    await conn.query(`ALTER TABLE ${LEDGER_TABLE} ADD COLUMN row_statuses VARBINARY(64) NULL AFTER row_digest`);
}

/**
 * The statuses a ledger entry may hold, in the order of the column's ENUM: committed (inserted by its
 * batch), abandoned (claimed, never to be written), ignored (its batch found the key held by another
 * row: not written, mode insert-ignore), updated (written over an existing row, mode upsert).
 */
export const LEDGER_STATUSES = ['committed', 'abandoned', 'ignored', 'updated'] as const;
/** Widens a ledger created before `ignored` and `updated` existed (appending ENUM values changes no row). */
export const LEDGER_STATUS_SQL = `ALTER TABLE ${LEDGER_TABLE} MODIFY status ENUM(${LEDGER_STATUSES.map((s) => `'${s}'`).join(',')}) NOT NULL`;

export interface LedgerEntry {
  status: (typeof LEDGER_STATUSES)[number];
  /** The batch that wrote the row (committed entries). */
  batchId?: string;
  table: string;
  digest: Buffer;
  /** A unit's row statuses, one letter per row (see {@link encodeRowStatuses}). */
  rowStatuses?: string;
}

export interface LedgerClaim {
  requestId: string;
  requesterWorkflowId: string;
  table: string;
  digest: Buffer;
}

/** Entries of these ids, ids read back as the exact bytes stored. Locks them when `forUpdate`. */
export async function ledgerEntries(conn: Queryable, requestIds: readonly string[], forUpdate = false): Promise<Map<string, LedgerEntry>> {
  if (requestIds.length === 0) return new Map();
  const [found] = await conn.query(
    `SELECT request_id, status, batch_id, target_table, row_digest, row_statuses FROM ${LEDGER_TABLE} WHERE request_id IN (?)${forUpdate ? ' FOR UPDATE' : ''}`,
    [requestIds],
  );
  return new Map(
    (
      found as Array<{
        request_id: Buffer;
        status: LedgerEntry['status'];
        batch_id: Buffer | null;
        target_table: Buffer;
        row_digest: Buffer;
        row_statuses: Buffer | null;
      }>
    ).map((f) => [
      String(f.request_id),
      {
        status: f.status,
        batchId: f.batch_id === null ? undefined : String(f.batch_id),
        table: String(f.target_table),
        digest: f.row_digest,
        ...(f.row_statuses === null ? {} : { rowStatuses: String(f.row_statuses) }),
      },
    ]),
  );
}

/**
 * Records this batch's claims in the open transaction; returns the entries of ids that were
 * already there (the others now belong to this batch). One statement when no id is known yet.
 * An entry of this same batch comes from an earlier attempt of this activity whose transaction
 * committed: its row is written already.
 */
export async function claimForBatch(
  conn: Queryable,
  batchId: string,
  shard: number,
  claims: readonly LedgerClaim[],
  count: () => void,
): Promise<Map<string, LedgerEntry>> {
  if (claims.length === 0) return new Map();
  const columns = '(request_id, status, batch_id, target_table, row_digest, requester_workflow_id, shard)';
  const insert = (list: readonly LedgerClaim[]) =>
    conn.query(`INSERT INTO ${LEDGER_TABLE} ${columns} VALUES ?`, [
      list.map((c) => [c.requestId, 'committed', batchId, c.table, c.digest, c.requesterWorkflowId, shard]),
    ]);
  try {
    count();
    await insert(claims);
    return new Map();
  } catch (err) {
    // 1062: some ids are known. InnoDB rolled back that statement only: read (and lock) who owns
    // the known ones, then claim the rest.
    if ((err as { errno?: number }).errno !== 1062) throw err;
  }
  count();
  const known = await ledgerEntries(
    conn,
    claims.map((c) => c.requestId),
    true,
  );
  const fresh = claims.filter((c) => !known.has(c.requestId));
  if (fresh.length) {
    count();
    await insert(fresh);
  }
  return known;
}

/** What a repeated id means for a request with this table and row, given its ledger entry. */
export function judgeRepeat(
  entry: LedgerEntry,
  table: string,
  digest: Buffer,
):
  | { status: 'duplicate'; batchId?: string }
  | { status: 'ignored'; batchId?: string }
  | { status: 'abandoned' }
  | { status: 'conflict'; reason: string } {
  if (entry.status === 'abandoned') return { status: 'abandoned' };
  if (entry.table !== table) return { status: 'conflict', reason: `its request id was already used for a row of table ${entry.table}` };
  if (!entry.digest.equals(digest))
    return { status: 'conflict', reason: 'its request id was already used for a different row (other values)' };
  // Written earlier under this id (inserted or updated), or settled as not written (ignored): a repeat hears the same.
  return { status: entry.status === 'ignored' ? 'ignored' : 'duplicate', batchId: entry.batchId };
}

/** Records what a batch did with rows it claimed as committed: not written (ignored) or written over a row (updated). In its transaction. */
export async function markOutcomes(conn: Queryable, status: 'ignored' | 'updated', requestIds: readonly string[]): Promise<void> {
  if (requestIds.length === 0) return;
  await conn.query(`UPDATE ${LEDGER_TABLE} SET status = ? WHERE request_id IN (?)`, [status, requestIds]);
}

/** Records what a batch did with each row of its units (their entries stay `committed`). In its transaction; one statement. */
export async function markUnitRows(conn: Queryable, units: ReadonlyMap<string, string>): Promise<void> {
  if (units.size === 0) return;
  const ids = [...units.keys()];
  await conn.query(
    `UPDATE ${LEDGER_TABLE} SET row_statuses = CASE request_id ${ids.map(() => 'WHEN ? THEN ?').join(' ')} END WHERE request_id IN (?)`,
    [...ids.flatMap((id) => [id, units.get(id)]), ids],
  );
}

/**
 * Claims a request id as abandoned unless a batch already wrote it. The primary key serialises this
 * against the batch: exactly one of them owns the id, and the answer says which.
 */
export async function claimAbandoned(
  pool: Pool,
  input: { requestId: string; requesterWorkflowId: string; table: string; digest: Buffer; shard: number },
): Promise<LedgerEntry & { claimedNow: boolean }> {
  return inUtcSession(pool, async (conn) => {
    let claimedNow = true;
    try {
      await conn.query(
        `INSERT INTO ${LEDGER_TABLE} (request_id, status, batch_id, target_table, row_digest, requester_workflow_id, shard) VALUES (?, 'abandoned', NULL, ?, ?, ?, ?)`,
        [input.requestId, input.table, input.digest, input.requesterWorkflowId, input.shard],
      );
    } catch (err) {
      // 1062: the id has an entry already (committed by a batch, or abandoned earlier).
      if ((err as { errno?: number }).errno !== 1062) throw err;
      claimedNow = false;
    }
    const entry = (await ledgerEntries(conn, [input.requestId])).get(input.requestId);
    if (!entry) throw new Error(`request ${input.requestId} missing from the ledger right after its claim (was it purged?)`);
    return { ...entry, claimedNow };
  });
}

/**
 * Deletes ledger entries older than `olderThanSeconds`, `chunk` rows per statement, until none is
 * left or `maxChunks` ran. Bounded: a large backlog is worked off over several calls.
 * The trade-off: a request repeated after its entry is gone is written again.
 */
export async function purgeLedger(pool: Pool, olderThanSeconds: number, chunk = 1000, maxChunks = 100): Promise<number> {
  let deleted = 0;
  // recorded_at is compared with NOW() in the session's zone: UTC, as every batcher session.
  for (let i = 0; i < maxChunks; i++) {
    const [result] = await inUtcSession(pool, (conn) =>
      conn.query(`DELETE FROM ${LEDGER_TABLE} WHERE recorded_at < NOW(3) - INTERVAL ? SECOND ORDER BY recorded_at LIMIT ?`, [
        olderThanSeconds,
        chunk,
      ]),
    );
    const n = (result as { affectedRows: number }).affectedRows;
    deleted += n;
    if (n < chunk) break;
  }
  return deleted;
}
