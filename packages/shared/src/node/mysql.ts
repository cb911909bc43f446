// MySQL access shared by services: the mysql2 pool and the idempotent schema migration.
import mysql, { type Pool, type PoolOptions } from 'mysql2/promise';
import type { Config } from './config';

export type MysqlConfig = Config<'mysql'>['mysql'];
export type { Pool };

/** Name of the table holding every batched row. */
export const WRITES_TABLE = 'batched_writes';

export function createPool(cfg: MysqlConfig, extra: Partial<PoolOptions> = {}): Pool {
  return mysql.createPool({
    host: cfg.host,
    port: cfg.port,
    user: cfg.user,
    password: cfg.password,
    database: cfg.database,
    connectionLimit: cfg.poolSize,
    waitForConnections: true,
    connectTimeout: 5000,
    enableKeepAlive: true,
    ...extra,
  });
}

/**
 * `status` lets a requester that gave up claim its request id as `abandoned`, so a later batch
 * insert of the same id is a no-op instead of a row the requester was told did not happen.
 */
export const SCHEMA_SQL = `CREATE TABLE IF NOT EXISTS ${WRITES_TABLE} (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  request_id VARCHAR(191) NOT NULL,
  requester_workflow_id VARCHAR(255) NOT NULL,
  payload JSON NULL,
  status ENUM('committed','abandoned') NOT NULL DEFAULT 'committed',
  batch_id VARCHAR(100) NULL,
  shard INT NOT NULL,
  written_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_request_id (request_id),
  KEY ix_batch_id (batch_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

/** Creates the database and the table if they are missing; safe to run any number of times. */
export async function migrate(cfg: MysqlConfig): Promise<void> {
  const conn = await mysql.createConnection({ host: cfg.host, port: cfg.port, user: cfg.user, password: cfg.password, connectTimeout: 5000 });
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${cfg.database}\``);
    await conn.query(`USE \`${cfg.database}\``);
    await conn.query(SCHEMA_SQL);
  } finally {
    await conn.end();
  }
}
