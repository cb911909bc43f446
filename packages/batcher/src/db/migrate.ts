// Creates what the batcher needs in its database (the ledger, the demo table) and migrates a
// first-release table. Idempotent; run before the batcher workers start.
import type { Pool } from 'mysql2/promise';
import { applySchema } from './demo-table';

export async function migrate(pool: Pool): Promise<Awaited<ReturnType<typeof applySchema>>> {
  const conn = await pool.getConnection();
  try {
    return await applySchema(conn);
  } finally {
    conn.release();
  }
}
