// A container registry of the cluster's own: Debian's docker-registry (CNCF Distribution 2.8),
// started by PID on 127.0.0.1 with a config and a storage directory under the cluster's run
// directory, plain HTTP (the node's containerd is told so for this address only, see
// Cluster.trustRegistry), optionally behind htpasswd basic auth (a private registry, for
// imagePullSecrets). Nothing of it outlives stop().
import fs from 'node:fs';
import path from 'node:path';
import { freePort, spawnLogged, waitUntil } from '../processes';
import { run } from './exec';

export interface RegistryOptions {
  /** Its directory (config, storage, htpasswd, log); created. */
  dir: string;
  /** Basic auth (htpasswd, bcrypt) for every request; without it the registry is open. */
  auth?: { user: string; password: string };
  /**
   * Its log level; at `info` every request that passed authentication is logged as `authorized
   * request` with its URI and the client's user agent (Distribution 2.8 names the user,
   * `auth.user.name`, only on lines of failed requests).
   * @default 'warn'
   */
  logLevel?: 'warn' | 'info';
}

export interface Registry {
  /** host:port, the registry part of an image reference (`127.0.0.1:<port>/write-batcher:tag`). */
  readonly address: string;
  readonly auth?: { user: string; password: string };
  readonly logFile: string;
  /** A docker config.json `auths` entry for it (empty object without auth). */
  dockerAuths(): Record<string, { auth: string }>;
  /** Repositories it holds (GET /v2/_catalog). */
  catalog(): Promise<string[]>;
  /** The manifest digest a tag points to (HEAD of the manifest, Docker-Content-Digest). */
  digestOf(repository: string, tag: string): Promise<string>;
  /** Copies a docker-archive in as `<repository>:<tag>` (skopeo); resolves with the manifest digest. */
  push(archive: string, repositoryAndTag: string, logFile: string): Promise<string>;
  stop(): Promise<void>;
}

function authHeader(auth: { user: string; password: string } | undefined): Record<string, string> {
  return auth ? { Authorization: `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}` } : {};
}

export async function startRegistry(options: RegistryOptions): Promise<Registry> {
  const { dir, auth } = options;
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  let authConfig = '';
  if (auth) {
    // htpasswd from apache2-utils; the registry accepts bcrypt entries only (-B).
    const entry = (await run('htpasswd', ['-Bbn', auth.user, auth.password], { timeoutMs: 30_000 })).stdout.trim();
    fs.writeFileSync(path.join(dir, 'htpasswd'), `${entry}\n`, { mode: 0o600 });
    authConfig = `auth:\n  htpasswd:\n    realm: write-batcher-cluster\n    path: ${path.join(dir, 'htpasswd')}\n`;
  }
  const config = path.join(dir, 'config.yml');
  fs.writeFileSync(
    config,
    `version: 0.1
log:
  level: ${options.logLevel ?? 'warn'}
  accesslog: {disabled: false}
storage:
  filesystem: {rootdirectory: ${path.join(dir, 'data')}}
  delete: {enabled: true}
http:
  addr: ${address}
  # One instance: a fixed secret only silences the warning about a generated one.
  secret: write-batcher-cluster-${port}
${authConfig}`,
  );
  const proc = spawnLogged({
    name: 'docker-registry',
    command: 'docker-registry',
    args: ['serve', config],
    logFile: path.join(dir, 'registry.log'),
  });
  const catalog = async () => {
    const res = await fetch(`http://${address}/v2/_catalog`, { headers: authHeader(auth), signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`GET http://${address}/v2/_catalog: ${res.status}`);
    return ((await res.json()) as { repositories: string[] }).repositories;
  };
  try {
    await waitUntil(
      `registry ${address} (log ${proc.logFile})`,
      async () => {
        if (proc.hasExited()) throw new Error(`docker-registry exited:\n${proc.logTail(20)}`);
        return catalog().then(
          () => true,
          () => false,
        );
      },
      { timeoutMs: 30_000, intervalMs: 300 },
    );
  } catch (err) {
    await proc.stop({ graceMs: 5000 });
    throw err;
  }
  return {
    address,
    auth,
    logFile: proc.logFile,
    dockerAuths: () => (auth ? { [address]: { auth: Buffer.from(`${auth.user}:${auth.password}`).toString('base64') } } : {}),
    catalog,
    digestOf: async (repository, tag) => {
      const res = await fetch(`http://${address}/v2/${repository}/manifests/${tag}`, {
        method: 'HEAD',
        headers: {
          ...authHeader(auth),
          Accept:
            'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json',
        },
        signal: AbortSignal.timeout(5000),
      });
      const digest = res.headers.get('docker-content-digest');
      if (!res.ok || !digest) throw new Error(`HEAD http://${address}/v2/${repository}/manifests/${tag}: ${res.status}`);
      return digest;
    },
    push: async (archive, repositoryAndTag, logFile) => {
      const digestFile = path.join(dir, `digest-${Date.now()}`);
      await run(
        'skopeo',
        [
          'copy',
          '--quiet',
          '--dest-tls-verify=false',
          ...(auth ? ['--dest-creds', `${auth.user}:${auth.password}`] : []),
          '--digestfile',
          digestFile,
          `docker-archive:${archive}`,
          `docker://${address}/${repositoryAndTag}`,
        ],
        { logFile, timeoutMs: 300_000 },
      );
      const digest = fs.readFileSync(digestFile, 'utf8').trim();
      fs.rmSync(digestFile, { force: true });
      return digest;
    },
    stop: async () => {
      await proc.stop({ graceMs: 5000 });
    },
  };
}
