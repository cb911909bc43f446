// TLS to MySQL (MYSQL_TLS_*): a MariaDB of its own with TLS on and certificates made here with
// openssl, reached through the services' own pool (packages/service-kit/src/node/mysql.ts) and migration (services/batcher-worker/src/schema.ts).
import { copyFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, createPool, loadConfig, mysqlTlsOptions } from '@batcher/service-kit';
import { DEMO_TABLE } from '@batcher/demo';
import { migrateDatabase } from '@batcher/batcher-worker/schema';
import { startMariaDb, type MariaDb } from '../support/mariadb';
import { makeCa as makeCaIn, makeCert as makeCertIn } from '../support/pki';
import { makeTempDir, removeTempDir } from '../support/processes';

let db: MariaDb;
let dir: string;
const file = (name: string) => path.join(dir, name);

/** A CA, and a certificate it signs for `subjectAltName` (test/support/pki). */
const makeCa = (name: string) => makeCaIn(dir, name);
const makeCert = (name: string, ca: string, extensions: string) => makeCertIn(dir, name, ca, extensions);

/**
 * The env a service would get, for the TLS user. The host is a name, as in a cluster (mysql2 sends
 * no server name for an IP address, so verify-full refuses one).
 */
function env(extra: Record<string, string>, user = 'tls_app'): NodeJS.ProcessEnv {
  return {
    MYSQL_HOST: 'localhost',
    MYSQL_PORT: String(db.port),
    MYSQL_USER: user,
    MYSQL_PASSWORD: 'pw',
    MYSQL_DATABASE: 'tls_test',
    ...extra,
  };
}

/** The cipher of a fresh pool connection ('' without TLS); rejects if it cannot connect. */
async function cipherThroughPool(e: NodeJS.ProcessEnv): Promise<string> {
  const pool = createPool(loadConfig(['mysql'], e).mysql, { connectionLimit: 1 });
  try {
    const [rows] = await pool.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
    return (rows as Array<{ Value: string }>)[0]?.Value ?? '';
  } finally {
    await pool.end();
  }
}

beforeAll(async () => {
  dir = makeTempDir('mysql-tls');
  makeCa('ca');
  makeCa('other-ca');
  makeCert('server', 'ca', 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth');
  makeCert('server-elsewhere', 'ca', 'subjectAltName=DNS:db.example.com\nextendedKeyUsage=serverAuth');
  makeCert('client', 'ca', 'extendedKeyUsage=clientAuth');
  copyFileSync(file('server.crt'), file('active.crt'));
  copyFileSync(file('server.key'), file('active.key'));
  db = await startMariaDb({
    database: 'tls_test',
    extraArgs: [`--ssl-ca=${file('ca.crt')}`, `--ssl-cert=${file('active.crt')}`, `--ssl-key=${file('active.key')}`],
  });
  const conn = await db.connect();
  try {
    // One user that must use TLS, one that must also present a certificate signed by the CA.
    await conn.query("CREATE USER 'tls_app'@'%' IDENTIFIED BY 'pw' REQUIRE SSL");
    await conn.query("CREATE USER 'tls_x509'@'%' IDENTIFIED BY 'pw' REQUIRE X509");
    await conn.query("GRANT ALL ON *.* TO 'tls_app'@'%', 'tls_x509'@'%'");
  } finally {
    await conn.end();
  }
}, 120_000);

afterAll(async () => {
  await db?.stop();
  if (dir) removeTempDir(dir);
});

describe('TLS to MySQL', () => {
  it('when MYSQL_TLS_MODE is unset, then a user the server requires TLS of is refused (TLS is off by default)', async () => {
    await expect(cipherThroughPool(env({}))).rejects.toThrow(/Access denied/);
  });

  it('when verify-full with the CA, then the pool connects encrypted to a server whose certificate names its address', async () => {
    expect(await cipherThroughPool(env({ MYSQL_TLS_MODE: 'verify-full', MYSQL_TLS_CA_PATH: file('ca.crt') }))).not.toBe('');
  });

  it('when the server certificate names another host, then verify-full refuses it and verify-ca accepts it', async () => {
    // The server presents a certificate for db.example.com (FLUSH SSL reloads the files).
    const serve = async (name: string) => {
      copyFileSync(file(`${name}.crt`), file('active.crt'));
      copyFileSync(file(`${name}.key`), file('active.key'));
      const conn = await db.connect();
      await conn.query('FLUSH SSL').finally(() => conn.end());
    };
    await serve('server-elsewhere');
    try {
      const tls = { MYSQL_TLS_CA_PATH: file('ca.crt') };
      await expect(cipherThroughPool(env({ ...tls, MYSQL_TLS_MODE: 'verify-full' }))).rejects.toThrow(
        /localhost.*db\.example\.com|altnames/i,
      );
      expect(await cipherThroughPool(env({ ...tls, MYSQL_TLS_MODE: 'verify-ca' }))).not.toBe('');
    } finally {
      await serve('server');
    }
  });

  it('when the CA did not sign the server certificate, then verify-ca refuses it and required (unverified) connects', async () => {
    await expect(cipherThroughPool(env({ MYSQL_TLS_MODE: 'verify-ca', MYSQL_TLS_CA_PATH: file('other-ca.crt') }))).rejects.toThrow(
      /certificate/i,
    );
    expect(await cipherThroughPool(env({ MYSQL_TLS_MODE: 'required' }))).not.toBe('');
  });

  it('when the user must present a client certificate, then it connects with MYSQL_TLS_CERT_PATH/KEY_PATH and is refused without', async () => {
    const tls = { MYSQL_TLS_MODE: 'verify-full', MYSQL_TLS_CA_PATH: file('ca.crt') };
    await expect(cipherThroughPool(env(tls, 'tls_x509'))).rejects.toThrow(/Access denied/);
    expect(
      await cipherThroughPool(env({ ...tls, MYSQL_TLS_CERT_PATH: file('client.crt'), MYSQL_TLS_KEY_PATH: file('client.key') }, 'tls_x509')),
    ).not.toBe('');
  });

  it('when the migration runs with TLS settings, then it creates the table over TLS', async () => {
    await migrateDatabase(loadConfig(['mysql'], env({ MYSQL_TLS_MODE: 'verify-full', MYSQL_TLS_CA_PATH: file('ca.crt') })).mysql);
    const conn = await db.connect();
    try {
      const [rows] = await conn.query(`SHOW TABLES FROM tls_test LIKE '${DEMO_TABLE}'`);
      expect(rows).toHaveLength(1);
    } finally {
      await conn.end();
    }
  });

  it('when the settings do not fit together or a file is missing, then start-up stops with the variable named', () => {
    const tlsOf = (e: Record<string, string>) => () => mysqlTlsOptions(loadConfig(['mysql'], env(e)).mysql);
    expect(tlsOf({ MYSQL_TLS_MODE: 'verify-full', MYSQL_TLS_CERT_PATH: file('client.crt') })).toThrow(/MYSQL_TLS_KEY_PATH/);
    expect(tlsOf({ MYSQL_TLS_MODE: 'verify-ca', MYSQL_TLS_CA_PATH: file('no-such.crt') })).toThrow(/MYSQL_TLS_CA_PATH: cannot read/);
    expect(tlsOf({ MYSQL_TLS_CA_PATH: file('ca.crt') })).toThrow(ConfigError);
    expect(tlsOf({ MYSQL_TLS_MODE: 'verify-full', MYSQL_HOST: '127.0.0.1' })).toThrow(
      /MYSQL_TLS_MODE: verify-full needs MYSQL_HOST to be a host name/,
    );
    expect(() => loadConfig(['mysql'], env({ MYSQL_TLS_MODE: 'on' }))).toThrow(
      /MYSQL_TLS_MODE: must be one of disabled, required, verify-ca, verify-full/,
    );
  });
});
