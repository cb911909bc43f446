// Every database session the batcher uses runs in UTC, whatever pool it was handed: dates are sent
// as UTC text (targets.ts, sqlValue), and a DATETIME or TIMESTAMP column reads that text in the
// session's zone (a TIMESTAMP converts it to UTC from the session's zone), as NOW() does. Used by
// the bulk write (utcTransaction), the settle step's ledger claim, ledger retention and `migrate`
// (utcConnection); the catalog's information_schema reads and the server-version probe read no
// dates and take the pool as it is.
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

/**
 * The statement that opens each bulk write: the session in UTC and autocommit off, in one statement
 * where `SET time_zone` and `BEGIN` were two (a batch of 100 rows is then 4 statements: this, the
 * ledger claim, the INSERT, COMMIT). With autocommit off the next statement opens the transaction,
 * as after BEGIN; COMMIT or ROLLBACK ends it.
 */
export const UTC_TRANSACTION_SQL = "SET time_zone = '+00:00', autocommit = 0";

/** mysql2's reset on release (COM_RESET_CONNECTION), which puts autocommit and the zone back. */
function resetsOnRelease(conn: PoolConnection): boolean {
  const core = (conn as unknown as { connection?: { _pool?: { config?: { resetOnRelease?: unknown } } } }).connection;
  return core?._pool?.config?.resetOnRelease === true;
}

/**
 * A connection of the pool in UTC with autocommit off: the caller runs one transaction on it, ends
 * it with commit or rollback, then calls `release`. A pool that resets sessions on release
 * (mysql2's default) gets the connection back as the server made it; one that does not
 * (`resetOnRelease: false`) gets autocommit turned back on first, so the application's own queries
 * on it commit as before (its zone is left UTC, as `utcConnection` leaves it).
 */
export async function utcTransaction(pool: Pick<Pool, 'getConnection'>): Promise<{ conn: PoolConnection; release: () => Promise<void> }> {
  const conn = await pool.getConnection();
  try {
    await conn.query(UTC_TRANSACTION_SQL);
  } catch (err) {
    conn.release();
    throw err;
  }
  const release = async () => {
    try {
      if (!resetsOnRelease(conn)) await conn.query('SET autocommit = 1');
      conn.release();
    } catch {
      // A session whose autocommit cannot be put back must not go back to the pool.
      conn.destroy();
    }
  };
  return { conn, release };
}
