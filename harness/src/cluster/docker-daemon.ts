// A Docker daemon of the cluster's own (Debian's docker.io, Engine 20.10 with BuildKit), for
// Skaffold's Docker builder: started by PID with its data root, exec root, pidfile, socket and
// config file under the cluster's run directory, and nothing on the host's network: no bridge, no
// iptables rules (builds run on the host network, `docker build --network host` style), so the
// teardown's host-state check still finds the host as it was. Its image pulls go to a registry
// mirror (the cluster's local registry; Docker Hub is out of reach here), which must hold what the
// Dockerfile names: the base image, and docker/dockerfile:1 for its `# syntax=` line.
import fs from 'node:fs';
import path from 'node:path';
import { spawnLogged, waitUntil } from '../processes';
import { run } from './exec';

/** Docker 20.10's own CLI: the newer static `docker` some machines carry needs buildx for BuildKit. */
export const DOCKER_CLI = '/usr/bin/docker';

export interface DockerDaemonOptions {
  /** Its directory; created. Kept short: socket paths must stay under 108 bytes. */
  dir: string;
  /** A registry (host:port, plain HTTP) that mirrors docker.io and that it may push to. */
  mirror: string;
  /** More plain-HTTP registries it may push to (host:port). */
  insecureRegistries?: readonly string[];
}

export interface DockerDaemon {
  /** `unix://…/docker.sock`, for DOCKER_HOST. */
  readonly host: string;
  /**
   * A directory with `docker` alone, to put first on a PATH: Engine 20.10's CLI, whose `docker
   * build` runs on the host network (BuildKit's default network for RUN is the daemon's bridge,
   * which this daemon does not have; on kind or Docker Desktop the bridge is there).
   */
  readonly binDir: string;
  readonly logFile: string;
  /** DOCKER_HOST, and DOCKER_CONFIG (a config.json of its own, `auths` from writeAuths). */
  readonly env: Record<string, string>;
  /** Writes the client's config.json with these registry credentials. */
  writeAuths(auths: Record<string, { auth: string }>): void;
  /** `docker <args>` against this daemon. */
  docker(args: readonly string[], options?: { timeoutMs?: number }): Promise<string>;
  stop(): Promise<void>;
}

export async function startDockerDaemon(options: DockerDaemonOptions): Promise<DockerDaemon> {
  const { dir, mirror } = options;
  for (const d of ['data', 'exec', 'bin', 'client']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  const socket = path.join(dir, 'docker.sock');
  const host = `unix://${socket}`;
  const binDir = path.join(dir, 'bin');
  fs.writeFileSync(
    path.join(binDir, 'docker'),
    `#!/bin/sh
if [ "$1" = build ]; then shift; exec ${DOCKER_CLI} build --network host "$@"; fi
exec ${DOCKER_CLI} "$@"
`,
    { mode: 0o755 },
  );
  // An empty config file of its own: /etc/docker/daemon.json is the host's.
  const configFile = path.join(dir, 'daemon.json');
  fs.writeFileSync(configFile, '{}\n');
  const env = { DOCKER_HOST: host, DOCKER_CONFIG: path.join(dir, 'client') };
  const writeAuths = (auths: Record<string, { auth: string }>) =>
    fs.writeFileSync(path.join(dir, 'client', 'config.json'), JSON.stringify({ auths }, null, 2), { mode: 0o600 });
  writeAuths({});
  const proc = spawnLogged({
    name: 'dockerd',
    command: 'dockerd',
    args: [
      `--data-root=${path.join(dir, 'data')}`,
      `--exec-root=${path.join(dir, 'exec')}`,
      `--pidfile=${path.join(dir, 'dockerd.pid')}`,
      `--host=${host}`,
      `--config-file=${configFile}`,
      '--iptables=false',
      '--ip6tables=false',
      '--ip-masq=false',
      '--bridge=none',
      '--userland-proxy=false',
      '--storage-driver=overlay2',
      '--log-level=warn',
      `--registry-mirror=http://${mirror}`,
      ...[mirror, ...(options.insecureRegistries ?? [])].map((r) => `--insecure-registry=${r}`),
    ],
    logFile: path.join(dir, 'dockerd.log'),
  });
  const docker = async (args: readonly string[], o: { timeoutMs?: number } = {}) =>
    (await run(DOCKER_CLI, args, { env, timeoutMs: o.timeoutMs ?? 60_000, logFile: path.join(dir, 'docker-cli.log') })).stdout;
  try {
    await waitUntil(
      `dockerd on ${socket} (log ${proc.logFile})`,
      async () => {
        if (proc.hasExited()) throw new Error(`dockerd exited:\n${proc.logTail(30)}`);
        return (
          (await run(DOCKER_CLI, ['version', '--format', '{{.Server.Version}}'], { env, allowFailure: true, timeoutMs: 10_000 })).code === 0
        );
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
  } catch (err) {
    await proc.stop({ graceMs: 15_000 });
    throw err;
  }
  return {
    host,
    binDir,
    logFile: proc.logFile,
    env,
    writeAuths,
    docker,
    // SIGTERM: dockerd stops its containerd (a child it supervises) before it exits.
    stop: async () => {
      await proc.stop({ graceMs: 20_000 });
    },
  };
}
