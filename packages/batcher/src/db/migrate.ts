// Creates what the batcher needs in its database: the ledger, and nothing else (the tables it
// writes are the application's). Idempotent; run before the batcher workers start.
import type { Pool } from 'mysql2/promise';
import { LEDGER_SCHEMA_SQL, widenLedger } from './ledger';
import { UTC_SESSION_SQL, inUtcSession } from './sessions';

type Queryable = { query(sql: string, values?: unknown): Promise<unknown> };

/**
 * Creates the ledger table in the database of `db` (a pool or a connection) if it is missing. Runs
 * in a UTC session like every session of the batcher (db/sessions.ts); on a connection of the
 * caller's, the session is left in UTC.
 */
export async function migrate(db: Queryable | Pool): Promise<void> {
  if ('getConnection' in db && typeof db.getConnection === 'function') {
    await inUtcSession(db, async (conn) => {
      await conn.query(LEDGER_SCHEMA_SQL);
      await widenLedger(conn);
    });
    return;
  }
  await db.query(UTC_SESSION_SQL);
  await db.query(LEDGER_SCHEMA_SQL);
  await widenLedger(db as Parameters<typeof widenLedger>[0]);
}
