// Helpers of the cluster suite: the local stack from k8s/ as pods, the chart, a load of
// transactions driven from the host (a Temporal client on the Temporal pod's address), and the
// audit of every transaction of a phase against the in-cluster MariaDB (the chaos audit's idea:
// each workflow ends definitely, 0 lost, 0 phantom, 0 doubled, 0 open) — its JSON row, its typed
// order row (demo_orders, the library's typed-table pipeline) and both ledger entries.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import mysql from 'mysql2/promise';
import { failedRequestOf, ORDER_REQUEST_ID_PREFIX } from '../../harness/src/chaos/audit';
import type { Cluster } from '../../harness/src/cluster';
import { repoRoot, waitUntil } from '../support/processes';

export const NAMESPACE = 'wb';
export const RELEASE = 'write-batcher';

/**
 * What the suite deploys: the working tree (default, what a fresh clone in CI has), or the
 * revision CLUSTER_IMAGE_SOURCE names — image, chart and k8s/ always from the same one, so the
 * chart never runs an image of another release.
 */
export const source = process.env.CLUSTER_IMAGE_SOURCE ?? 'worktree';

/** The chart and k8s/ of `source`, under `dir` for a revision. */
export function sourceFiles(dir: string): { chartDir: string; k8sDir: string } {
  if (source === 'worktree') return { chartDir: path.join(repoRoot, 'charts', 'write-batcher'), k8sDir: path.join(repoRoot, 'k8s') };
  const out = path.join(dir, 'source');
  fs.mkdirSync(out, { recursive: true });
  const tar = execFileSync('git', ['archive', '--format=tar', source, 'charts/write-batcher', 'k8s'], {
    cwd: repoRoot,
    maxBuffer: 64 * 1024 * 1024,
  });
  execFileSync('tar', ['-x', '-C', out], { input: tar });
  return { chartDir: path.join(out, 'charts', 'write-batcher'), k8sDir: path.join(out, 'k8s') };
}

/** PIDs of the processes whose command line names `dir` (every process of a cluster does: none should outlive it). */
export { processesNaming } from '../../harness/src/cluster';

export interface PodInfo {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: {
    containers: Array<{ name: string; image: string; securityContext?: Record<string, unknown> }>;
    securityContext?: Record<string, unknown>;
  };
  status: {
    phase: string;
    podIP?: string;
    conditions?: Array<{ type: string; status: string }>;
    containerStatuses?: Array<{ name: string; ready: boolean; restartCount: number; containerID?: string }>;
  };
}

export async function pods(cluster: Cluster, selector: string, namespace = NAMESPACE): Promise<PodInfo[]> {
  return (await cluster.getJson<{ items: PodInfo[] }>(['pods', '-n', namespace, '-l', selector])).items;
}

export async function podIp(cluster: Cluster, selector: string, namespace = NAMESPACE): Promise<string> {
  return waitUntil(
    `a running pod ${selector} with an IP`,
    async () => (await pods(cluster, selector, namespace)).find((p) => p.status.phase === 'Running' && p.status.podIP)?.status.podIP,
    { timeoutMs: 120_000, intervalMs: 1000 },
  );
}

/** A namespace labelled for cleanup, enforcing Pod Security `restricted`. */
export async function restrictedNamespace(cluster: Cluster, namespace = NAMESPACE): Promise<void> {
  await cluster.kubectl(['create', 'namespace', namespace]);
  await cluster.kubectl([
    'label',
    'namespace',
    namespace,
    'wbc-test=true',
    'pod-security.kubernetes.io/enforce=restricted',
    'pod-security.kubernetes.io/enforce-version=latest',
  ]);
  await waitUntil(
    `ServiceAccount default in ${namespace}`,
    async () =>
      (await cluster.kubectl(['get', 'serviceaccount', 'default', '-n', namespace, '-o', 'name'], { allowFailure: true })).trim() !== '',
    { timeoutMs: 60_000, intervalMs: 500 },
  );
}

/** A hostPath PersistentVolume for k8s/mysql.yaml's claim (the node has no provisioner). */
export async function mysqlVolume(cluster: Cluster, name = 'wbc-mysql-data'): Promise<void> {
  const dir = path.join(cluster.dir, 'volumes', name);
  fs.mkdirSync(dir, { recursive: true });
  fs.chownSync(dir, 999, 999);
  await cluster.kubectl(['apply', '-f', '-'], {
    input: `apiVersion: v1
kind: PersistentVolume
metadata: {name: ${name}}
spec:
  capacity: {storage: 2Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: "${dir}", type: Directory}
`,
  });
}

export async function mysqlConnection(cluster: Cluster, namespace = NAMESPACE): Promise<mysql.Connection> {
  const host = await podIp(cluster, 'app.kubernetes.io/name=mysql', namespace);
  return mysql.createConnection({ host, port: 3306, user: 'root', password: 'local-root', database: 'batcher', connectTimeout: 10_000 });
}

/** A client of the in-cluster Temporal dev server (pod address, in `podNamespace`), in one of its namespaces. */
export async function temporalClient(
  cluster: Cluster,
  namespace = 'default',
  podNamespace = NAMESPACE,
): Promise<{ client: Client; close(): Promise<void> }> {
  const host = await podIp(cluster, 'app.kubernetes.io/name=temporal', podNamespace);
  const connection = await Connection.connect({ address: `${host}:7233`, connectTimeout: 10_000 });
  return { client: new Client({ connection, namespace }), close: () => connection.close() };
}

/** Rows of batched_writes whose request id starts with `write:<prefix>`: request id → statuses. */
export async function rowsFor(conn: mysql.Connection, prefix: string): Promise<Map<string, string[]>> {
  const [rows] = await conn.query('SELECT CAST(request_id AS CHAR) AS id, status FROM batched_writes WHERE request_id LIKE ?', [
    `write:${prefix}%`,
  ]);
  const out = new Map<string, string[]>();
  for (const r of rows as Array<{ id: string; status: string }>) out.set(r.id, [...(out.get(r.id) ?? []), r.status]);
  return out;
}

/**
 * The ledger's entries for the prefix (request id → status), when the schema has a ledger
 * (`batcher_ledger`, from the release with typed target tables on); undefined without one.
 */
export async function ledgerFor(conn: mysql.Connection, prefix: string): Promise<Map<string, string> | undefined> {
  const [tables] = await conn.query(
    "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'batcher_ledger'",
  );
  if ((tables as unknown[]).length === 0) return undefined;
  const [rows] = await conn.query('SELECT CAST(request_id AS CHAR) AS id, status FROM batcher_ledger WHERE request_id LIKE ?', [
    `write:${prefix}%`,
  ]);
  return new Map((rows as Array<{ id: string; status: string }>).map((r) => [r.id, r.status]));
}

export interface Load {
  prefix: string;
  ids: string[];
  /** Resolves when every workflow has been started (or its start failed: counted in startErrors). */
  started: Promise<void>;
  startErrors: string[];
  /** Whether each transaction also wrote a typed order row (demo_orders), checked by the audit. */
  typed: boolean;
}

/**
 * Starts `count` transaction workflows, `perSecond` a second, as the starter does: each writes a
 * JSON row and, unless `typed` is false, a typed order row (demo_orders) too.
 */
export function startLoad(client: Client, prefix: string, count: number, perSecond: number, typed = true): Load {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  const startErrors: string[] = [];
  const started = (async () => {
    const t0 = Date.now();
    const pending: Array<Promise<unknown>> = [];
    for (let i = 0; i < count; i++) {
      const wait = t0 + (i * 1000) / perSecond - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const workflowId = ids[i]!;
      pending.push(
        startWithRetry(client, workflowId, i, typed).catch((err: Error) => {
          startErrors.push(`${workflowId}: ${err.message}`);
        }),
      );
    }
    await Promise.all(pending);
  })();
  return { prefix, ids, started, startErrors, typed };
}

/** The typed order of the i-th transaction of a load (its amount is what the audit reads back). */
function orderFor(i: number): { amountCents: string; currency: string; placedAt: string; lines: Array<{ sku: string; qty: number }> } {
  return {
    amountCents: String(100 + i),
    currency: 'EUR',
    placedAt: new Date().toISOString(),
    lines: [{ sku: `sku-${i % 7}`, qty: 1 + (i % 3) }],
  };
}

/** demo_orders rows of the load (order id → amounts, as text) and their ledger entries (`order:<id>` → status). */
async function typedRowsFor(conn: mysql.Connection, prefix: string): Promise<{ rows: Map<string, string[]>; ledger: Map<string, string> }> {
  const [rows] = await conn.query('SELECT order_id AS id, CAST(amount_cents AS CHAR) AS amount FROM demo_orders WHERE order_id LIKE ?', [
    `${prefix}-%`,
  ]);
  const out = new Map<string, string[]>();
  for (const r of rows as Array<{ id: string; amount: string }>) out.set(r.id, [...(out.get(r.id) ?? []), r.amount]);
  const [entries] = await conn.query('SELECT CAST(request_id AS CHAR) AS id, status FROM batcher_ledger WHERE request_id LIKE ?', [
    `${ORDER_REQUEST_ID_PREFIX}${prefix}-%`,
  ]);
  return { rows: out, ledger: new Map((entries as Array<{ id: string; status: string }>).map((e) => [e.id, e.status])) };
}

async function startWithRetry(client: Client, workflowId: string, i: number, typed: boolean): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await client.workflow.start('transactionWorkflow', {
        taskQueue: 'main-workflow-queue',
        workflowId,
        // The JSON row, and the typed order row beside it (demo_orders: BIGINT, DATETIME, JSON),
        // as the starter sends them: the typed-table pipeline of the library, audited below.
        args: [{ payload: { order: workflowId, amountCents: 100 + i, currency: 'EUR' }, ...(typed ? { order: orderFor(i) } : {}) }],
        workflowIdConflictPolicy: 'USE_EXISTING',
      });
      return;
    } catch (err) {
      if (attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

export interface Verdict {
  transactions: number;
  completed: number;
  failed: number;
  failedTypes: Record<string, number>;
  lost: number;
  phantom: number;
  doubled: number;
  open: number;
  other: number;
  /** Whether the ledger (batcher_ledger) was checked too. */
  ledger: boolean;
  /** Whether the load wrote typed rows; then typedRows (demo_orders) found, each judged like its JSON row. */
  typed: boolean;
  typedRows: number;
  examples: string[];
}

/** Waits until every workflow of the load has closed (or the deadline), then judges each against its rows. */
/**
 * Nondeterminism failures in the open run of each shard `<prefix>-0 … <prefix>-<shards-1>`: a shard
 * with one fails every task after it (stuck), whatever the audit of its requesters says.
 */
export async function shardNondeterminism(client: Client, prefix: string, shards: number): Promise<string[]> {
  const found: string[] = [];
  for (let shard = 0; shard < shards; shard++) {
    const { events } = await client.workflow.getHandle(`${prefix}-${shard}`).fetchHistory();
    for (const e of events ?? []) {
      const message = e.workflowTaskFailedEventAttributes?.failure?.message ?? '';
      if (/TMPRL1100|[Nn]ondeterminism/.test(message))
        found.push(`${prefix}-${shard} event ${String(e.eventId)}: ${message.slice(0, 200)}`);
    }
  }
  return found;
}

export async function auditLoad(client: Client, conn: mysql.Connection, load: Load, deadlineMs: number): Promise<Verdict> {
  await load.started;
  const deadline = Date.now() + deadlineMs;
  const status = new Map<string, string>();
  for (;;) {
    for (const id of load.ids) {
      if (status.get(id) && status.get(id) !== 'RUNNING') continue;
      try {
        status.set(id, (await client.workflow.getHandle(id).describe()).status.name);
      } catch {
        status.set(id, 'NOT_FOUND');
      }
    }
    if ([...status.values()].every((s) => s !== 'RUNNING') || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  const rows = await rowsFor(conn, load.prefix);
  const ledger = await ledgerFor(conn, load.prefix);
  const typed = await typedRowsFor(conn, load.prefix);
  const v: Verdict = {
    transactions: load.ids.length,
    completed: 0,
    failed: 0,
    failedTypes: {},
    lost: 0,
    phantom: 0,
    doubled: 0,
    open: 0,
    other: 0,
    ledger: ledger !== undefined,
    typed: load.typed,
    typedRows: [...typed.rows.values()].reduce((n, a) => n + a.length, 0),
    examples: [],
  };
  const note = (s: string) => v.examples.length < 10 && v.examples.push(s);
  for (const [i, id] of load.ids.entries()) {
    const own = rows.get(`write:${id}`) ?? [];
    const committed = own.filter((s) => s === 'committed').length;
    const orders = typed.rows.get(id) ?? [];
    const orderLedger = typed.ledger.get(`${ORDER_REQUEST_ID_PREFIX}${id}`);
    const s = status.get(id);
    if (own.length > 1 || orders.length > 1) {
      v.doubled++;
      note(`${id}: ${own.length} rows, ${orders.length} typed rows`);
    }
    if (s === 'COMPLETED') {
      v.completed++;
      if (committed === 0) {
        v.lost++;
        note(`${id}: completed, no committed row`);
      } else if (ledger && ledger.get(`write:${id}`) !== 'committed') {
        v.lost++;
        note(`${id}: completed and its row is there, but the ledger says ${ledger.get(`write:${id}`) ?? 'nothing'}`);
      } else if (load.typed && (orders.length !== 1 || orders[0] !== String(100 + i) || orderLedger !== 'committed')) {
        v.lost++;
        note(
          `${id}: completed, but its typed row is ${orders.length ? `amount ${orders.join(',')}` : 'missing'} (expected ${100 + i}) and its ledger entry ${orderLedger ?? 'missing'}`,
        );
      }
    } else if (s === 'FAILED') {
      v.failed++;
      let type = 'unknown';
      let message = '';
      try {
        await client.workflow.getHandle(id).result();
      } catch (err) {
        let c: unknown = err instanceof WorkflowFailedError ? err.cause : err;
        while (c instanceof Error && !(c as { type?: string }).type && c.cause) c = c.cause;
        type = (c as { type?: string }).type ?? (c as Error).name;
        message = (c as Error).message;
      }
      v.failedTypes[type] = (v.failedTypes[type] ?? 0) + 1;
      // The transaction's two writes are separate requests: one may commit while the other fails,
      // and the failure names the request it is about (the chaos audit's rule). A row is a phantom
      // when its own request is the one that failed, or when both were written.
      const failedOn = failedRequestOf(message);
      const jsonCommitted = committed > 0 || ledger?.get(`write:${id}`) === 'committed';
      const orderCommitted = orders.length > 0 || orderLedger === 'committed';
      if (jsonCommitted && (failedOn !== `${ORDER_REQUEST_ID_PREFIX}${id}` || orderCommitted)) {
        v.phantom++;
        note(`${id}: failed (${type}: ${message}) but its row${committed > 0 ? '' : "'s ledger entry"} is committed`);
      } else if (orderCommitted && failedOn === `${ORDER_REQUEST_ID_PREFIX}${id}`) {
        v.phantom++;
        note(
          `${id}: failed on its order (${type}: ${message}) but the typed row${orders.length > 0 ? '' : "'s ledger entry"} is committed`,
        );
      }
      if (orders.length > 0 !== (orderLedger === 'committed')) {
        v.phantom++;
        note(`${id}: its typed row is ${orders.length ? 'there' : 'missing'} but its ledger entry says ${orderLedger ?? 'nothing'}`);
      }
    } else if (s === 'RUNNING') {
      v.open++;
      note(`${id}: still running`);
    } else {
      v.other++;
      note(`${id}: ${s}`);
    }
  }
  return v;
}

export function summary(v: Verdict): string {
  return `${v.transactions} transactions: ${v.completed} completed, ${v.failed} failed${v.failed ? ` ${JSON.stringify(v.failedTypes)}` : ''}; lost ${v.lost}, phantom ${v.phantom}, doubled ${v.doubled}, open ${v.open}, other ${v.other}${v.ledger ? (v.typed ? ` (rows, ${v.typedRows} typed rows and ledger)` : ' (rows and ledger)') : ''}${v.examples.length ? `; e.g. ${v.examples.join('; ')}` : ''}`;
}
