// MySQL access shared by services: the mysql2 pool and its TLS options. (Schemas are the
// batcher's and the demo's: services/batcher-worker/src/schema.ts creates them.)
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import mysql, { type Pool, type PoolOptions } from 'mysql2/promise';
import type { SslOptions } from 'mysql2';
import { ConfigError, type Config } from './config';

export type MysqlConfig = Config<'mysql'>['mysql'];
export type { Pool };

/**
 * mysql2's `ssl` option for MYSQL_TLS_*: undefined when TLS is disabled. Certificate files are
 * read here, at start-up, so a missing or unreadable file stops the service with a ConfigError
 * naming its variable rather than failing on the first query.
 */
export function mysqlTlsOptions(cfg: MysqlConfig): SslOptions | undefined {
  if (cfg.tlsMode === 'disabled') {
    const set = (['MYSQL_TLS_CA_PATH', 'MYSQL_TLS_CERT_PATH', 'MYSQL_TLS_KEY_PATH'] as const).filter(
      (_, i) => [cfg.tlsCaPath, cfg.tlsCertPath, cfg.tlsKeyPath][i],
    );
    if (set.length) throw new ConfigError(set.map((variable) => ({ variable, message: 'is set but MYSQL_TLS_MODE is disabled' })));
    return undefined;
  }
  if (Boolean(cfg.tlsCertPath) !== Boolean(cfg.tlsKeyPath)) {
    throw new ConfigError([
      {
        variable: cfg.tlsCertPath ? 'MYSQL_TLS_KEY_PATH' : 'MYSQL_TLS_CERT_PATH',
        message: 'MYSQL_TLS_CERT_PATH and MYSQL_TLS_KEY_PATH go together',
      },
    ]);
  }
  // mysql2 sends no server name for an IP address, and Node then checks the certificate against
  // "localhost": verify-full would check the wrong name.
  if (cfg.tlsMode === 'verify-full' && isIP(cfg.host)) {
    throw new ConfigError([
      {
        variable: 'MYSQL_TLS_MODE',
        message: `verify-full needs MYSQL_HOST to be a host name, not the address ${cfg.host} (use verify-ca to check the CA only)`,
      },
    ]);
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
