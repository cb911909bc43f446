// Creates what the batcher needs in its database: the ledger, and nothing else (the tables it
// writes are the application's). Idempotent; run before the batcher workers start.
import { LEDGER_SCHEMA_SQL } from './ledger';

/** Creates the ledger table in the database of `db` (a pool or a connection) if it is missing. */
export async function migrate(db: { query(sql: string): Promise<unknown> }): Promise<void> {
  await db.query(LEDGER_SCHEMA_SQL);
}
