// MySQL access shared by services: the mysql2 pool and the idempotent schema migration.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import mysql, { type Pool, type PoolOptions } from 'mysql2/promise';
import type { SslOptions } from 'mysql2';
import { ConfigError, type Config } from './config';

export type MysqlConfig = Config<'mysql'>['mysql'];
export type { Pool };

/** Name of the table holding every batched row. */
export const WRITES_TABLE = 'batched_writes';

/**
 * mysql2's `ssl` option for MYSQL_TLS_*: undefined when TLS is disabled. Certificate files are
 * read here, at start-up, so a missing or unreadable file stops the service with a ConfigError
 * naming its variable rather than failing on the first query.
 */
export function mysqlTlsOptions(cfg: MysqlConfig): SslOptions | undefined {
  if (cfg.tlsMode === 'disabled') {
    const set = (['MYSQL_TLS_CA_PATH', 'MYSQL_TLS_CERT_PATH', 'MYSQL_TLS_KEY_PATH'] as const).filter((_, i) => [cfg.tlsCaPath, cfg.tlsCertPath, cfg.tlsKeyPath][i]);
    if (set.length) throw new ConfigError(set.map((variable) => ({ variable, message: 'is set but MYSQL_TLS_MODE is disabled' })));
    return undefined;
  }
  if (Boolean(cfg.tlsCertPath) !== Boolean(cfg.tlsKeyPath)) {
    throw new ConfigError([{ variable: cfg.tlsCertPath ? 'MYSQL_TLS_KEY_PATH' : 'MYSQL_TLS_CERT_PATH', message: 'MYSQL_TLS_CERT_PATH and MYSQL_TLS_KEY_PATH go together' }]);
  }
  // mysql2 sends no server name for an IP address, and Node then checks the certificate against
  // "localhost": verify-full would check the wrong name.
  if (cfg.tlsMode === 'verify-full' && isIP(cfg.host)) {
    throw new ConfigError([{ variable: 'MYSQL_TLS_MODE', message: `verify-full needs MYSQL_HOST to be a host name, not the address ${cfg.host} (use verify-ca to check the CA only)` }]);
  }
  const read = (variable: string, file: string | undefined): string | undefined => {
    if (!file) return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError([{ variable, message: `cannot read ${file}: ${(err as Error).message}` }]);
    }
  };
  const verify = cfg.tlsMode !== 'required';
  return {
    ca: read('MYSQL_TLS_CA_PATH', cfg.tlsCaPath),
    cert: read('MYSQL_TLS_CERT_PATH', cfg.tlsCertPath),
    key: read('MYSQL_TLS_KEY_PATH', cfg.tlsKeyPath),
    rejectUnauthorized: verify,
    verifyIdentity: cfg.tlsMode === 'verify-full',
  };
}

export function createPool(cfg: MysqlConfig, extra: Partial<PoolOptions> = {}): Pool {
  return mysql.createPool({
    host: cfg.host,
    port: cfg.port,
    user: cfg.user,
    password: cfg.password,
    database: cfg.database,
    ssl: mysqlTlsOptions(cfg),
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
  const conn = await mysql.createConnection({ host: cfg.host, port: cfg.port, user: cfg.user, password: cfg.password, ssl: mysqlTlsOptions(cfg), connectTimeout: 5000 });
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${cfg.database}\``);
    await conn.query(`USE \`${cfg.database}\``);
    await conn.query(SCHEMA_SQL);
  } finally {
    await conn.end();
  }
}
