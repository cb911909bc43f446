// The staging phase of the cluster suite: charts/write-batcher/values-staging.yaml installed as
// shipped, except what points at a real staging environment, against a MariaDB that accepts TLS
// connections only (certificates made here with openssl: a CA and a server certificate issued to
// the Service's DNS names). What the suite overrides, and why, is STAGING_OVERRIDES.
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import mysql from 'mysql2/promise';
import type { Cluster } from '../../harness/src/cluster';
import { makeCa, makeCert } from '../support/pki';
import { waitUntil } from '../support/processes';
import { NAMESPACE, podIp, restrictedNamespace } from './support';

/** The staging release lives in a namespace of its own, like a second environment. */
export const STAGING_NAMESPACE = 'wbs';
/** values-staging.yaml's Temporal namespace (registered on the in-cluster dev server). */
export const STAGING_TEMPORAL_NAMESPACE = 'write-batcher-staging';
/** The MySQL Service: the name the server certificate is issued to. */
export const MYSQL_TLS_HOST = `mysql-tls.${STAGING_NAMESPACE}.svc.cluster.local`;
/** A second Service to the same MariaDB, under a name the certificate does not carry. */
export const MYSQL_TLS_ALIAS = `mysql-tls-alias.${STAGING_NAMESPACE}.svc.cluster.local`;
const ROOT_PASSWORD = 'staging-root';
const APP_PASSWORD = 'staging-app';

/**
 * `--set` flags on top of values-staging.yaml, each for a reason of this machine:
 * - the image: built here, never pushed (values-staging names registry.example.com);
 * - Temporal: the in-cluster dev server (`temporal server start-dev`) serves no TLS, so mTLS to
 *   Temporal is off and its Secret unset (the chart refuses a client certificate without TLS);
 *   the chart unit tests cover the mTLS wiring;
 * - MySQL's host and the collector: this cluster's Services instead of example.com names;
 * - CPU requests: staging asks 250m for each of 2 batcher and 4 main workers (1.5 of the node's
 *   2 cores, beside the stack); 100m here so the one node can schedule them all.
 */
export function stagingOverrides(imageTag: string): string[] {
  const set = (k: string, v: string) => ['--set', `${k}=${v}`];
  return [
    ...set('image.registry', 'localhost'),
    ...set('image.repository', 'write-batcher'),
    ...set('image.tag', imageTag),
    ...set('image.pullPolicy', 'Never'),
    ...set('temporal.address', `temporal.${NAMESPACE}.svc.cluster.local:7233`),
    ...set('temporal.tls.enabled', 'false'),
    ...set('temporal.tls.existingSecret', ''),
    ...set('mysql.host', MYSQL_TLS_HOST),
    ...set('telemetry.otlpEndpoint', `http://jaeger.${NAMESPACE}.svc.cluster.local:4318`),
    ...set('batcherWorker.resources.requests.cpu', '100m'),
    ...set('mainWorker.resources.requests.cpu', '100m'),
  ];
}

function mysqlManifest(): string {
  const labels = 'app.kubernetes.io/name: mysql-tls';
  const service = (name: string) => `apiVersion: v1
kind: Service
metadata: {name: ${name}}
spec:
  selector: {${labels}}
  ports: [{name: mysql, port: 3306, targetPort: 3306}]
`;
  return `apiVersion: apps/v1
kind: Deployment
metadata: {name: mysql-tls, labels: {${labels}}}
spec:
  replicas: 1
  selector: {matchLabels: {${labels}}}
  template:
    metadata: {labels: {${labels}}}
    spec:
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 999, runAsGroup: 999, fsGroup: 999, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: mysql
          image: mysql:8.4
          args: [--ssl-ca=/tls/ca.crt, --ssl-cert=/tls/tls.crt, --ssl-key=/tls/tls.key, --require-secure-transport=ON]
          env:
            - {name: MYSQL_DATABASE, value: batcher}
            - {name: MYSQL_USER, value: write_batcher}
            - {name: MYSQL_PASSWORD, valueFrom: {secretKeyRef: {name: write-batcher-mysql, key: mysql-password}}}
            - {name: MYSQL_ROOT_PASSWORD, valueFrom: {secretKeyRef: {name: mysql-tls-server, key: root-password}}}
          ports: [{name: mysql, containerPort: 3306}]
          readinessProbe:
            exec: {command: [sh, -c, 'mariadb-admin ping --socket=/run/mysqld/mysqld.sock -u root -p"$MYSQL_ROOT_PASSWORD" --silent']}
            periodSeconds: 3
          resources: {requests: {cpu: 100m, memory: 256Mi}, limits: {memory: 1Gi}}
          securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
          volumeMounts:
            - {name: data, mountPath: /var/lib/mysql}
            - {name: tls, mountPath: /tls, readOnly: true}
      volumes:
        - {name: data, emptyDir: {}}
        - name: tls
          secret: {secretName: mysql-tls-server, defaultMode: 0440, items: [{key: ca.crt, path: ca.crt}, {key: tls.crt, path: tls.crt}, {key: tls.key, path: tls.key}]}
---
${service('mysql-tls')}---
${service('mysql-tls-alias')}`;
}

export interface StagingDb {
  /** The CA that signed the server certificate (what the release's Secret holds). */
  caFile: string;
  /**
   * A connection from the host to the pod, over TLS checked against the CA (or, `tls: false`,
   * without TLS), as root or as the release's user (`asApp`).
   */
  connect(options?: { tls?: boolean; asApp?: boolean }): Promise<mysql.Connection>;
}

/** The release's MySQL Secrets of values-staging.yaml (docs/kubernetes.md, "Staging"), in `namespace`. */
export async function stagingSecrets(cluster: Cluster, namespace: string, caFile: string): Promise<void> {
  await cluster.kubectl([
    'create',
    'secret',
    'generic',
    'write-batcher-mysql',
    '-n',
    namespace,
    `--from-literal=mysql-password=${APP_PASSWORD}`,
  ]);
  await cluster.kubectl(['create', 'secret', 'generic', 'write-batcher-mysql-tls', '-n', namespace, `--from-file=ca.crt=${caFile}`]);
}

/**
 * The staging namespace with its Secrets (as docs/kubernetes.md, "Staging", tells a user to create
 * them) and a MariaDB that requires TLS, Ready.
 */
export async function stagingDatabase(cluster: Cluster): Promise<StagingDb> {
  const dir = path.join(cluster.dir, 'staging-pki');
  makeCa(dir, 'ca', 'write-batcher-staging-mysql-ca');
  const names = ['mysql-tls', `mysql-tls.${STAGING_NAMESPACE}`, `mysql-tls.${STAGING_NAMESPACE}.svc`, MYSQL_TLS_HOST];
  makeCert(dir, 'server', 'ca', `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\nextendedKeyUsage=serverAuth`, MYSQL_TLS_HOST);
  const file = (name: string) => path.join(dir, name);
  await restrictedNamespace(cluster, STAGING_NAMESPACE);
  const ns = ['-n', STAGING_NAMESPACE];
  await stagingSecrets(cluster, STAGING_NAMESPACE, file('ca.crt'));
  await cluster.kubectl([
    'create',
    'secret',
    'generic',
    'mysql-tls-server',
    ...ns,
    `--from-file=ca.crt=${file('ca.crt')}`,
    `--from-file=tls.crt=${file('server.crt')}`,
    `--from-file=tls.key=${file('server.key')}`,
    `--from-literal=root-password=${ROOT_PASSWORD}`,
  ]);
  await cluster.kubectl(['apply', ...ns, '-f', '-'], { input: mysqlManifest() });
  await cluster.kubectl(['rollout', 'status', ...ns, 'deployment/mysql-tls', '--timeout=300s'], { timeoutMs: 310_000 });
  const host = await podIp(cluster, 'app.kubernetes.io/name=mysql-tls', STAGING_NAMESPACE);
  const ca = fs.readFileSync(file('ca.crt'), 'utf8');
  return {
    caFile: file('ca.crt'),
    // The host reaches the pod by its address, which the certificate does not name: the CA is checked, not the name.
    connect: ({ tls = true, asApp = false } = {}) =>
      mysql.createConnection({
        host,
        port: 3306,
        user: asApp ? 'write_batcher' : 'root',
        password: asApp ? APP_PASSWORD : ROOT_PASSWORD,
        database: 'batcher',
        connectTimeout: 10_000,
        ssl: tls ? { ca, rejectUnauthorized: true } : undefined,
      }),
  };
}

/**
 * Registers values-staging.yaml's Temporal namespace on the dev server, as an operator would
 * (`temporal operator namespace create`, in the Temporal pod), and waits until it answers.
 */
export async function stagingTemporalNamespace(cluster: Cluster, client: Client): Promise<void> {
  const exists = async () => {
    try {
      await client.connection.workflowService.describeNamespace({ namespace: STAGING_TEMPORAL_NAMESPACE });
      return true;
    } catch {
      return false;
    }
  };
  if (!(await exists())) {
    await cluster.kubectl([
      'exec',
      '-n',
      NAMESPACE,
      'deployment/temporal',
      '--',
      'temporal',
      'operator',
      'namespace',
      'create',
      '--namespace',
      STAGING_TEMPORAL_NAMESPACE,
      '--retention',
      '24h',
    ]);
  }
  await waitUntil(`Temporal namespace ${STAGING_TEMPORAL_NAMESPACE}`, exists, { timeoutMs: 60_000, intervalMs: 1000 });
}

/**
 * Run inside a pod of the release (the image's node, the project's own config loader and pool):
 * connects as the service would, with MYSQL_HOST set to each of `hosts`, and prints one JSON line
 * per host: the session's TLS version, or the error.
 */
export function tlsProbeScript(hosts: readonly string[]): string {
  return `const { loadConfig, createPool } = require('@batcher/service-kit');
(async () => {
  for (const host of ${JSON.stringify(hosts)}) {
    const pool = createPool(loadConfig(['mysql'], { ...process.env, MYSQL_HOST: host }).mysql, { connectionLimit: 1 });
    try {
      const [rows] = await pool.query("SHOW SESSION STATUS LIKE 'Ssl_version'");
      console.log(JSON.stringify({ host, tls: rows[0] ? rows[0].Value : '' }));
    } catch (err) {
      console.log(JSON.stringify({ host, error: String(err.code || '') + ' ' + err.message }));
    } finally {
      await pool.end().catch(() => undefined);
    }
  }
})();`;
}
