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
 * not once per new connection (a pool `connection` hook): a pool made with mysql2's
 * `resetOnRelease` (off by default) resets a session when it is released, which puts the server's
 * zone back; a pool the application used first (`migrate(pool)`,
 * its own queries) holds connections made before any hook; and a pool's own hook may set another
 * zone. Refusing a pool that is not UTC could not see any of those. The cost is one short statement
 * per connection taken.
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
 * where `SET time_zone` and `BEGIN` were two. With autocommit off the next statement opens the
 * transaction, as after BEGIN.
 */
export const UTC_TRANSACTION_SQL = "SET time_zone = '+00:00', autocommit = 0";

/**
 * The statement that ends it on a pool that does not reset sessions on release (mysql2's default,
 * and the services' pools): turning autocommit back on commits the open transaction (MySQL and
 * MariaDB both do; a commit that fails fails the statement, and autocommit stays off), so COMMIT
 * and putting the session back are one statement. A batch is then 4 statements: the two above, the
 * ledger claim and the INSERT.
 */
export const COMMIT_AND_AUTOCOMMIT_SQL = 'SET autocommit = 1';

/** mysql2's reset on release (COM_RESET_CONNECTION), which puts autocommit and the zone back. */
function resetsOnRelease(conn: PoolConnection): boolean {
  const core = (conn as unknown as { connection?: { _pool?: { config?: { resetOnRelease?: unknown } } } }).connection;
  return core?._pool?.config?.resetOnRelease === true;
}

export interface UtcTransaction {
  conn: PoolConnection;
  /** Commits the transaction (and, on a pool that does not reset sessions, turns autocommit back on). */
  commit: () => Promise<void>;
  /** Gives the connection back, autocommit on (after a rollback, one statement more where needed). */
  release: () => Promise<void>;
}

/**
 * A connection of the pool in UTC with autocommit off: the caller runs one transaction on it, ends
 * it with `commit` or `conn.rollback()`, then calls `release`. A pool that resets sessions on release
 * (`resetOnRelease: true`) gets the connection back as the server made it; on one that does not, the
 * application's own queries commit as before: autocommit is back on (its zone is left UTC, as
 * `utcConnection` leaves it).
 */
export async function utcTransaction(pool: Pick<Pool, 'getConnection'>): Promise<UtcTransaction> {
  const conn = await pool.getConnection();
  try {
    await conn.query(UTC_TRANSACTION_SQL);
  } catch (err) {
    conn.release();
    throw err;
  }
  const resets = resetsOnRelease(conn);
  let autocommitOn = false;
  return {
    conn,
    commit: async () => {
      if (resets) return conn.commit();
      await conn.query(COMMIT_AND_AUTOCOMMIT_SQL);
      autocommitOn = true;
    },
    release: async () => {
      try {
        if (!resets && !autocommitOn) await conn.query(COMMIT_AND_AUTOCOMMIT_SQL);
        conn.release();
      } catch {
        // A session whose autocommit cannot be put back must not go back to the pool.
        conn.destroy();
      }
    },
  };
}
