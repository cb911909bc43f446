// Every database session the batcher uses runs in UTC, whatever pool it was handed: dates are sent
// as UTC text (targets.ts, sqlValue), and a DATETIME or TIMESTAMP column reads that text in the
// session's zone (a TIMESTAMP converts it to UTC from the session's zone), as NOW() does. Used by
// the bulk write, the settle step's ledger claim, ledger retention and `migrate`; the catalog's
// information_schema reads and the server-version probe read no dates and take the pool as it is.
import type { Pool, PoolConnection } from 'mysql2/promise';

/** The statement each session the batcher takes runs before anything else. */
export const UTC_SESSION_SQL = "SET time_zone = '+00:00'";

/**
 * A connection of the pool with its session set to UTC; release it when done. Set on each taking,
 * not once per new connection (a pool `connection` hook): mysql2 resets a session when it is
 * released (`resetOnRelease`, on by default), which puts the server's zone back; a pool the
 * application used first (`migrate(pool)`, its own queries) holds connections made before any hook;
 * and a pool's own hook may set another zone. Refusing a pool that is not UTC could not see any of
 * those. The cost is one short statement per connection taken.
 */
export async function utcConnection(pool: Pick<Pool, 'getConnection'>): Promise<PoolConnection> {
  const conn = await pool.getConnection();
  try {
    await conn.query(UTC_SESSION_SQL);
  } catch (err) {
    conn.release();
    throw err;
  }
  return conn;
}

/** Runs `work` on one UTC session of the pool, then gives the connection back. */
export async function inUtcSession<T>(pool: Pick<Pool, 'getConnection'>, work: (conn: PoolConnection) => Promise<T>): Promise<T> {
  const conn = await utcConnection(pool);
  try {
    return await work(conn);
  } finally {
    conn.release();
  }
}
