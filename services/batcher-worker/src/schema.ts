// The demo's database, as the schema-migration command (src/migrate.ts, the chart's migration Job)
// and the tests and bench make it: the database, the batcher's ledger (the library's migrate()),
// then the demo's own tables (@batcher/demo/tables). Idempotent.
import mysql from 'mysql2/promise';
import { migrate } from '@write-batcher/batcher';
import { mysqlTlsOptions, type MysqlConfig } from '@batcher/service-kit';
import { DEMO_SCHEMA_STATEMENTS } from '@batcher/demo/tables';

type Queryable = Pick<mysql.Connection, 'query'>;

/** Creates the demo's tables if they are missing. Run after the batcher's migrate(), which creates the ledger. */
async function applyDemoSchema(conn: Queryable): Promise<void> {
  for (const sql of DEMO_SCHEMA_STATEMENTS) await conn.query(sql);
}

/**
 * Creates the database named by MYSQL_DATABASE if it is missing, then the batcher's ledger, then
 * the demo's tables. Safe to run any number of times.
 */
export async function migrateDatabase(cfg: MysqlConfig): Promise<void> {
  const conn = await mysql.createConnection({
    host: cfg.host,
    port: cfg.port,
    user: cfg.user,
    password: cfg.password,
    ssl: mysqlTlsOptions(cfg),
    connectTimeout: 5000,
  });
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${cfg.database}\``);
    await conn.query(`USE \`${cfg.database}\``);
    await migrate(conn);
    await applyDemoSchema(conn);
  } finally {
    await conn.end();
  }
}
