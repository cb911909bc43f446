// MySQL access shared by services: the mysql2 pool and the idempotent schema migration.
import mysql, { type Pool, type PoolOptions } from 'mysql2/promise';
import type { Config } from './config';
import { applySchema } from './writes-table';

export type MysqlConfig = Config<'mysql'>['mysql'];
export type { Pool };

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

/** Creates the database and the table if they are missing (converting an old table); safe to run any number of times. */
export async function migrate(cfg: MysqlConfig): Promise<void> {
  const conn = await mysql.createConnection({ host: cfg.host, port: cfg.port, user: cfg.user, password: cfg.password, connectTimeout: 5000 });
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${cfg.database}\``);
    await conn.query(`USE \`${cfg.database}\``);
    await applySchema(conn);
  } finally {
    await conn.end();
  }
}
