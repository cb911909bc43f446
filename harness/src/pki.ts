// Throwaway certificates for tests and local clusters, made with the openssl CLI (synchronous: a
// few small RSA keys). Every file lands in `dir` as <name>.crt / <name>.key; valid two days.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A self-signed CA: <name>.crt and <name>.key, subject CN=`commonName` (default: the name). */
export function makeCa(dir: string, name: string, commonName = name): void {
  fs.mkdirSync(dir, { recursive: true });
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    '-subj',
    `/CN=${commonName}`,
  ]);
}

/**
 * A certificate <name>.crt (key <name>.key) signed by the CA <ca>.crt/.key of the same folder,
 * with the given X.509 v3 extension lines (e.g. `subjectAltName=DNS:db\nextendedKeyUsage=serverAuth`).
 */
export function makeCert(dir: string, name: string, ca: string, extensions: string, commonName = name): void {
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${commonName}`]);
  fs.writeFileSync(path.join(dir, `${name}.ext`), `${extensions}\n`);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
  ]);
}

/** An RSA key pair for signing service-account tokens: <name>.key and <name>.pub. */
export function makeKeyPair(dir: string, name: string): void {
  openssl(dir, ['genrsa', '-out', `${name}.key`, '2048']);
  openssl(dir, ['rsa', '-in', `${name}.key`, '-pubout', '-out', `${name}.pub`]);
}
