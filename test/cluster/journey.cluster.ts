// The user's journey on real pods (issue 15): a one-node cluster on this machine
// (harness/src/cluster/), the project's image built from the unchanged Dockerfile, the local stack
// of k8s/ (Temporal, MySQL, Jaeger) as pods, then `helm install` with values-dev.yaml, `helm test`,
// traces, scaling (kubectl scale, then an HPA on CPU from metrics-server), a rolling upgrade to a rebuilt image under load
// and a rollback, pod deletions and a killed containerd shim mid-run — each phase audited
// transaction by transaction against the in-cluster MariaDB —, NetworkPolicies, then staging
// (values-staging.yaml, TLS to MySQL) in a namespace of its own, `skaffold dev` of skaffold.yaml in
// a third (Docker builds, a local registry, a one-line change rebuilt and rolled out), `skaffold run
// -p staging` by digest from a registry that needs credentials, and finally the teardown, checked
// to leave the host as it found it. Run by scripts/test.sh when CLUSTER_SUITE=1 (needs root):
//   node_modules/.bin/vitest run --config test/cluster/vitest.config.ts
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectImage, startCluster, startRegistry, type BuiltImage, type Cluster, type Registry } from '../../harness/src/cluster';
import { repoRoot, waitUntil } from '../support/processes';
import {
  SKAFFOLD_NAMESPACE,
  SKAFFOLD_STAGING_NAMESPACE,
  skaffold,
  skaffoldRepoCopy,
  skaffoldWorkdir,
  skaffoldStagingValues,
  startBuildEnvironment,
  startSkaffoldDev,
  type BuildEnvironment,
  type SkaffoldDev,
} from './skaffold';
import {
  MYSQL_TLS_ALIAS,
  MYSQL_TLS_HOST,
  STAGING_NAMESPACE,
  STAGING_TEMPORAL_NAMESPACE,
  stagingDatabase,
  stagingOverrides,
  stagingSecrets,
  stagingTemporalNamespace,
  tlsProbeScript,
  type StagingDb,
} from './staging';
import {
  auditLoad,
  mysqlConnection,
  mysqlVolume,
  NAMESPACE,
  podIp,
  type PodInfo,
  pods,
  processesNaming,
  RELEASE,
  restrictedNamespace,
  rowsFor,
  shardNondeterminism,
  source,
  sourceFiles,
  startLoad,
  summary,
  temporalClient,
} from './support';

/**
 * The Skaffold phases that build (`skaffold dev` with a Docker daemon and local registries, then
 * `skaffold run -p staging` by digest) replace `skaffold deploy` of the suite's image. On by
 * default since a whole run passed with them (docs/kubernetes.md); CLUSTER_SKAFFOLD_DEV=0 runs
 * `skaffold deploy` of the suite's own image instead (no Docker daemon, no registry).
 */
const SKAFFOLD_DEV = process.env.CLUSTER_SKAFFOLD_DEV !== '0';
const say = (line: string) => console.log(`[cluster ${new Date().toISOString().slice(11, 19)}] ${line}`);
const measured: Record<string, string> = {};
const measure = (what: string, value: string) => {
  measured[what] = value;
  say(`${what}: ${value}`);
};

let cluster: Cluster;
let image: BuiltImage;
let temporal: { client: Client; close(): Promise<void> } | undefined;
let db: mysql.Connection | undefined;
let stopped = false;
let chartDir: string;
let k8sDir: string;
let valuesDev: string;
let staging: StagingDb | undefined;
let build: BuildEnvironment | undefined;
let dev: SkaffoldDev | undefined;
let repo: string | undefined;
const imageArgs = (tag: string) => [
  '--set',
  'image.repository=localhost/write-batcher',
  '--set',
  `image.tag=${tag}`,
  '--set',
  'image.pullPolicy=Never',
];

async function helm(args: string[], timeoutMs = 900_000): Promise<string> {
  return cluster.helm([...args, '-n', NAMESPACE], { timeoutMs });
}

async function deploymentReady(name: string, replicas: number): Promise<void> {
  await waitUntil(
    `deployment ${name} with ${replicas} ready replicas`,
    async () => {
      const d = await cluster.getJson<{
        spec: { replicas: number };
        status: { readyReplicas?: number; updatedReplicas?: number; replicas?: number };
      }>(['deployment', name, '-n', NAMESPACE]);
      return (
        d.spec.replicas === replicas &&
        d.status.readyReplicas === replicas &&
        d.status.updatedReplicas === replicas &&
        d.status.replicas === replicas
      );
    },
    { timeoutMs: 300_000, intervalMs: 2000 },
  );
}

/**
 * After a delete or uninstall: waits until every pod of the namespace is gone but the migration
 * hook's finished one (kept until its ttlSecondsAfterFinished), and returns what is left. The
 * starter Job's finished pod goes too, but later: Helm deletes the Job with background propagation,
 * so the garbage collector removes its pod after the uninstall returns. Waiting only for "nothing
 * running" let a run catch that pod still there and fail (CI of stop 29).
 */
async function onlyTheFinishedHookLeft(namespace: string): Promise<PodInfo[]> {
  let seen: PodInfo[] = [];
  try {
    return await waitUntil(
      `no pod left in ${namespace} but the finished migration hook`,
      async () => {
        seen = (await cluster.getJson<{ items: PodInfo[] }>(['pods', '-n', namespace])).items;
        const onlyHook = seen.every(
          (p) => p.status.phase === 'Succeeded' && p.metadata.labels?.['app.kubernetes.io/component'] === 'migration',
        );
        return onlyHook ? seen : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 2000 },
    );
  } catch (e) {
    const names = seen.map((p) => `${p.metadata.name} (${p.status.phase})`).join(', ');
    throw new Error(`${(e as Error).message}; pods still there: ${names}`);
  }
}

const MAIN = `${RELEASE}-main-worker`;
const BATCHER = `${RELEASE}-batcher-worker`;

beforeAll(async () => {
  const t0 = Date.now();
  image = await projectImage({ tag: 'dev', source, logFile: path.join(repoRoot, '.run', 'cluster-images.log'), progress: say });
  measure('project image (write-batcher:dev)', image.built ? `built in ${image.seconds.toFixed(1)} s` : 'from the cache');
  cluster = await startCluster({ images: [image], progress: say, startTimeoutMs: 600_000, networkPolicies: true, metricsServer: true });
  ({ chartDir, k8sDir } = sourceFiles(cluster.dir));
  valuesDev = path.join(chartDir, 'values-dev.yaml');
  measure('source', `${source} (image, chart and k8s/)`);
  measure(
    'cluster start (images, node Ready, CoreDNS Ready)',
    `${((Date.now() - t0) / 1000).toFixed(1)} s in all; phases ${JSON.stringify(cluster.timings)}`,
  );
}, 3_600_000);

afterAll(async () => {
  await dev?.process.stop({ graceMs: 10_000 }).catch(() => undefined);
  await build?.stop().catch((e: Error) => console.error(`[cluster] stopping the build environment: ${e.message}`));
  await temporal?.close().catch(() => undefined);
  await db?.end().catch(() => undefined);
  if (cluster && !stopped) {
    const left = await cluster.stop();
    if (left.length) console.error(`[cluster] teardown left: ${left.join('; ')}`);
  }
  const file = path.join(repoRoot, '.run', 'cluster-measured.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(measured, null, 2));
  say(`figures in ${file}`);
}, 300_000);

describe.sequential('the user journey on a one-node cluster', () => {
  it('the node runs pods: Ready, CoreDNS answering, kubectl versions v1.33.13', async () => {
    const node = await cluster.getJson<{ status: { nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string } } }>([
      'node',
      'wbc-node',
    ]);
    expect(node.status.nodeInfo.kubeletVersion).toBe('v1.33.13');
    measure('node', `${node.status.nodeInfo.kubeletVersion}, ${node.status.nodeInfo.containerRuntimeVersion}`);
  });

  it('the local stack from k8s/ runs as pods (Temporal, MariaDB as mysql:8.4, Jaeger) in a restricted namespace', async () => {
    const t0 = Date.now();
    await restrictedNamespace(cluster);
    await mysqlVolume(cluster);
    await cluster.kubectl([
      'apply',
      '-n',
      NAMESPACE,
      '-f',
      path.join(k8sDir, 'temporal.yaml'),
      '-f',
      path.join(k8sDir, 'mysql.yaml'),
      '-f',
      path.join(k8sDir, 'jaeger.yaml'),
    ]);
    for (const r of ['deployment/temporal', 'statefulset/mysql', 'deployment/jaeger']) {
      await cluster.kubectl(['rollout', 'status', '-n', NAMESPACE, r, '--timeout=300s'], { timeoutMs: 310_000 });
    }
    measure('local stack Ready', `${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });

  it("helm install with values-dev.yaml: the migration hook completes, every pod is Ready, the starter Job's workflows are rows", async () => {
    const t0 = Date.now();
    await helm(['install', RELEASE, chartDir, '-f', valuesDev, ...imageArgs('dev'), '--wait', '--wait-for-jobs', '--timeout', '15m']);
    measure('helm install --wait --wait-for-jobs', `${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const all = await pods(cluster, `app.kubernetes.io/instance=${RELEASE}`);
    const running = all.filter((p) => p.status.phase === 'Running');
    expect(running.map((p) => p.metadata.labels?.['app.kubernetes.io/component']).sort()).toEqual([
      'batcher-worker',
      'health-monitor',
      'main-worker',
    ]);
    for (const p of running)
      expect(
        p.status.containerStatuses?.every((c) => c.ready),
        p.metadata.name,
      ).toBe(true);
    const migration = await cluster.getJson<{ status: { succeeded?: number } }>(['job', `${RELEASE}-migration`, '-n', NAMESPACE]);
    expect(migration.status.succeeded).toBe(1);
    db = await mysqlConnection(cluster);
    const starterRows = await rowsFor(db, 'txn-');
    // values-dev.yaml: starter.workflows 50; the Job (a post-install hook Helm waited for) waited for them all.
    expect(starterRows.size).toBe(50);
    expect([...starterRows.values()].every((s) => s.length === 1 && s[0] === 'committed')).toBe(true);
    measure('starter Job', `${starterRows.size} workflows → ${starterRows.size} committed rows`);
  });

  it("each service's pod runs the image as uid 1000 with a read-only root filesystem", async () => {
    for (const component of ['batcher-worker', 'main-worker', 'health-monitor']) {
      const [pod] = await pods(cluster, `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=${component}`);
      // One shell line: the uid, then what writing to the image's /app and to the /tmp emptyDir does.
      const out = await cluster.kubectl([
        'exec',
        '-n',
        NAMESPACE,
        pod!.metadata.name,
        '--',
        'sh',
        '-c',
        'id -u; touch /app/x 2>&1; echo "app=$?"; touch /tmp/x && echo tmp=ok',
      ]);
      expect(out, component).toMatch(/^1000\n/);
      expect(out, component).toMatch(/Read-only file system\napp=1\n/);
      expect(out, component).toMatch(/tmp=ok/);
    }
  });

  it('helm test passes', async () => {
    const out = await helm(['test', RELEASE, '--timeout', '5m']);
    expect(out).toMatch(/Phase:\s+Succeeded/);
  });

  it('traces from the pods reach the in-cluster Jaeger and read back whole through its API', async () => {
    const jaeger = `http://${await podIp(cluster, 'app.kubernetes.io/name=jaeger')}:16686`;
    const services = await waitUntil(
      'starter, main-worker and batcher-worker in Jaeger',
      async () => {
        const s = ((await (await fetch(`${jaeger}/api/services`)).json()) as { data: string[] | null }).data ?? [];
        return ['starter', 'main-worker', 'batcher-worker'].every((x) => s.includes(x)) ? s : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 2000 },
    );
    type Trace = {
      traceID: string;
      spans: Array<{ spanID: string; processID: string; references: Array<{ refType: string; spanID: string }> }>;
      processes: Record<string, { serviceName: string }>;
    };
    const whole = await waitUntil(
      'a starter trace that spans the three services with every parent present',
      async () => {
        const traces = ((await (await fetch(`${jaeger}/api/traces?service=starter&limit=20&lookback=1h`)).json()) as { data: Trace[] })
          .data;
        return traces.find((t) => {
          const names = new Set(Object.values(t.processes).map((p) => p.serviceName));
          const ids = new Set(t.spans.map((s) => s.spanID));
          return (
            names.has('main-worker') && names.has('batcher-worker') && t.spans.every((s) => s.references.every((r) => ids.has(r.spanID)))
          );
        });
      },
      { timeoutMs: 120_000, intervalMs: 3000 },
    );
    measure(
      'traces',
      `services ${services.join(', ')}; trace ${whole.traceID}: ${whole.spans.length} spans across ${[...new Set(Object.values(whole.processes).map((p) => p.serviceName))].join(', ')}`,
    );
  });

  it('kubectl scale main-worker to 3: workflows complete, rows exactly once', async () => {
    temporal = await temporalClient(cluster);
    await cluster.kubectl(['scale', '-n', NAMESPACE, `deployment/${MAIN}`, '--replicas=3']);
    await deploymentReady(MAIN, 3);
    const load = startLoad(temporal.client, 'scale3', 60, 10);
    const v = await auditLoad(temporal.client, db!, load, 300_000);
    measure('scale to 3', summary(v));
    expect(load.startErrors).toEqual([]);
    expect(v).toMatchObject({ completed: 60, lost: 0, phantom: 0, doubled: 0, open: 0, other: 0 });
  });

  it('under an HPA on CPU (metrics-server): idle, it holds main-worker at 1 replica; under load it scales up; rows exactly once', async () => {
    // The dev values' request is 50m: the target is 100 % of it. Scale-down without the default
    // 5-minute window, so the HPA settles at 1 replica once the previous phase's load is over.
    const target = 100;
    await helm([
      'upgrade',
      RELEASE,
      chartDir,
      '--reuse-values',
      '--set',
      'mainWorker.autoscaling.enabled=true',
      '--set',
      'mainWorker.autoscaling.minReplicas=1',
      '--set',
      'mainWorker.autoscaling.maxReplicas=4',
      '--set',
      `mainWorker.autoscaling.targetCPUUtilizationPercentage=${target}`,
      '--set',
      'mainWorker.autoscaling.behavior.scaleDown.stabilizationWindowSeconds=0',
      '--wait',
      '--wait-for-jobs',
      '--timeout',
      '15m',
    ]);
    type Hpa = {
      status: {
        currentReplicas?: number;
        desiredReplicas?: number;
        currentMetrics?: Array<{ resource?: { current?: { averageUtilization?: number } } }>;
      };
    };
    const hpa = () => cluster.getJson<Hpa>(['hpa', MAIN, '-n', NAMESPACE]);
    const utilization = (h: Hpa) => h.status.currentMetrics?.[0]?.resource?.current?.averageUtilization;
    const t0 = Date.now();
    const idle = await waitUntil(
      "the HPA reading main-worker's CPU below the target, at 1 replica",
      async () => {
        const h = await hpa();
        const u = utilization(h);
        return u !== undefined && u < target && h.status.currentReplicas === 1 && h.status.desiredReplicas === 1 ? h : undefined;
      },
      { timeoutMs: 420_000, intervalMs: 3000 },
    );
    const idleUtilization = utilization(idle)!;
    const settled = (Date.now() - t0) / 1000;
    const t1 = Date.now();
    const load = startLoad(temporal!.client, 'hpa', 360, 6);
    let peak = idleUtilization;
    const scaled = await waitUntil(
      'the HPA scaling main-worker up',
      async () => {
        const h = await hpa();
        peak = Math.max(peak, utilization(h) ?? 0);
        return (h.status.desiredReplicas ?? 0) > 1 ? h : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 2000 },
    );
    const upAfter = (Date.now() - t1) / 1000;
    const v = await auditLoad(temporal!.client, db!, load, 600_000);
    const events = await cluster.kubectl([
      'get',
      'events',
      '-n',
      NAMESPACE,
      '--field-selector',
      `involvedObject.kind=HorizontalPodAutoscaler,involvedObject.name=${MAIN},reason=SuccessfulRescale`,
      '-o',
      'jsonpath={range .items[*]}{.message}{"\\n"}{end}',
    ]);
    measure(
      'HPA on CPU (metrics-server)',
      `target ${target}% of the 50m request; idle ${idleUtilization}% at 1 replica (settled in ${settled.toFixed(0)} s); under load (6 transactions/s) ${peak}% → desired ${scaled.status.desiredReplicas} after ${upAfter.toFixed(0)} s; events: ${events.trim().split('\n').join(' | ')}`,
    );
    measure('HPA audit', summary(v));
    // The HPA has one metric, CPU: going above 1 replica from an idle 1 is the load's doing.
    expect(peak).toBeGreaterThan(target);
    expect(events).toMatch(/cpu resource utilization \(percentage of request\) above target/);
    expect(load.startErrors).toEqual([]);
    expect(v).toMatchObject({ completed: 360, lost: 0, phantom: 0, doubled: 0, open: 0, other: 0 });
  });

  it('helm upgrade to a rebuilt image tag under load, then helm rollback: every workflow ends definitely', async () => {
    const t0 = Date.now();
    const rebuilt = await projectImage({
      tag: 'dev-2',
      source,
      buildLabel: 'dev-2',
      logFile: path.join(repoRoot, '.run', 'cluster-images.log'),
      progress: say,
    });
    await cluster.importImages([rebuilt]);
    measure(
      'rebuilt image write-batcher:dev-2',
      `${((Date.now() - t0) / 1000).toFixed(1)} s (build ${rebuilt.built ? `${rebuilt.seconds.toFixed(1)} s` : 'cached'} + import)`,
    );
    const revision = JSON.parse(await helm(['status', RELEASE, '-o', 'json'])) as { version: number };
    const load = startLoad(temporal!.client, 'upgrade', 240, 2);
    await new Promise((r) => setTimeout(r, 10_000));
    const t1 = Date.now();
    await helm(['upgrade', RELEASE, chartDir, '--reuse-values', ...imageArgs('dev-2'), '--wait', '--wait-for-jobs', '--timeout', '15m']);
    measure('helm upgrade to dev-2 under load', `${((Date.now() - t1) / 1000).toFixed(1)} s`);
    // Helm's --wait ends when the new pods are Ready; the old ones (more of them while the HPA
    // moves the count) may still be stopping. Then every pod of the release runs dev-2.
    const images = await waitUntil(
      'every running pod of the release on dev-2',
      async () => {
        const live = (await pods(cluster, `app.kubernetes.io/instance=${RELEASE}`)).filter(
          (p) => !p.metadata.deletionTimestamp && p.status.phase !== 'Succeeded',
        );
        const set = new Set(live.map((p) => p.spec.containers[0]!.image));
        return set.size === 1 && set.has('localhost/write-batcher:dev-2') ? set : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 2000 },
    );
    expect([...images]).toEqual(['localhost/write-batcher:dev-2']);
    const t2 = Date.now();
    await helm(['rollback', RELEASE, String(revision.version), '--wait', '--timeout', '15m']);
    await deploymentReady(BATCHER, 1);
    measure('helm rollback under load', `${((Date.now() - t2) / 1000).toFixed(1)} s`);
    const v = await auditLoad(temporal!.client, db!, load, 600_000);
    measure('upgrade + rollback audit', summary(v));
    expect(load.startErrors).toEqual([]);
    expect(v).toMatchObject({ lost: 0, phantom: 0, doubled: 0, open: 0, other: 0 });
    // No shard stuck (docs/reliability.md, "Queries and a worker change").
    expect(await shardNondeterminism(temporal!.client, 'write-batcher', 2)).toEqual([]);
    expect(v.completed + v.failed).toBe(240);
  });

  it("kubectl delete pod of batcher-worker and main-worker mid-run, and a kill of one pod's containerd shim: every workflow ends definitely", async () => {
    const load = startLoad(temporal!.client, 'kill', 180, 3);
    await new Promise((r) => setTimeout(r, 10_000));
    await cluster.kubectl([
      'delete',
      'pod',
      '-n',
      NAMESPACE,
      '-l',
      `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=batcher-worker`,
      '--wait=false',
    ]);
    await new Promise((r) => setTimeout(r, 15_000));
    const mains = await pods(cluster, `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=main-worker`);
    await cluster.kubectl(['delete', 'pod', '-n', NAMESPACE, mains[0]!.metadata.name, '--wait=false']);
    await new Promise((r) => setTimeout(r, 10_000));
    // The shim of a running main worker's container: the parent of the container's init process.
    const victim = (await pods(cluster, `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=main-worker`)).find(
      (p) => p.status.phase === 'Running' && p.status.containerStatuses?.[0]?.containerID,
    );
    const containerId = victim!.status.containerStatuses![0]!.containerID!.replace('containerd://', '');
    const restartsBefore = victim!.status.containerStatuses![0]!.restartCount;
    const tasks = await cluster.ctr(['tasks', 'ls']);
    const taskPid = Number(
      tasks
        .split('\n')
        .find((l) => l.startsWith(containerId))
        ?.split(/\s+/)[1],
    );
    const shimPid = Number(/PPid:\s+(\d+)/.exec(fs.readFileSync(`/proc/${taskPid}/status`, 'utf8'))?.[1]);
    expect(fs.readFileSync(`/proc/${shimPid}/cmdline`, 'utf8')).toContain('containerd-shim');
    process.kill(shimPid, 'SIGKILL');
    say(`killed the shim ${shimPid} of ${victim!.metadata.name} (container ${containerId.slice(0, 12)}, task PID ${taskPid})`);
    await waitUntil(
      `${victim!.metadata.name} restarted by the kubelet`,
      async () => {
        const p = (await pods(cluster, `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=main-worker`)).find(
          (x) => x.metadata.name === victim!.metadata.name,
        );
        return (
          p?.status.containerStatuses?.[0] &&
          p.status.containerStatuses[0].restartCount > restartsBefore &&
          p.status.containerStatuses[0].ready
        );
      },
      { timeoutMs: 300_000, intervalMs: 2000 },
    );
    const v = await auditLoad(temporal!.client, db!, load, 600_000);
    measure('pod deletions + shim kill audit', summary(v));
    expect(load.startErrors).toEqual([]);
    expect(v).toMatchObject({ lost: 0, phantom: 0, doubled: 0, open: 0, other: 0 });
    expect(await shardNondeterminism(temporal!.client, 'write-batcher', 2)).toEqual([]);
    expect(v.completed + v.failed).toBe(180);
  });

  it('NetworkPolicies on (enforced by kube-router): the allowed pair connects, the denied pair is refused, transactions still flow', async () => {
    const worker = await podIp(cluster, `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=batcher-worker`);
    const probe = async (port: number) => {
      const [monitor] = (await pods(cluster, `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=health-monitor`)).filter(
        (p) => p.status.phase === 'Running',
      );
      // From the health monitor's pod (the image has node): a TCP connection, 3 s at most.
      const script = `const s=require('net').connect(${port},'${worker}');s.setTimeout(3000);s.on('connect',()=>{console.log('open');process.exit(0)});s.on('timeout',()=>{console.log('timeout');process.exit(0)});s.on('error',(e)=>{console.log(e.code);process.exit(0)})`;
      return (await cluster.kubectl(['exec', '-n', NAMESPACE, monitor!.metadata.name, '--', 'node', '-e', script])).trim();
    };
    // Before: no policy, both ports of the batcher worker answer (metrics 9464, health 8081).
    expect(await probe(9464)).toBe('open');
    expect(await probe(8081)).toBe('open');
    await helm([
      'upgrade',
      RELEASE,
      chartDir,
      '--reuse-values',
      '--set',
      'networkPolicy.enabled=true',
      '--wait',
      '--wait-for-jobs',
      '--timeout',
      '15m',
    ]);
    const policies = (await cluster.getJson<{ items: unknown[] }>(['networkpolicies', '-n', NAMESPACE])).items.length;
    // The chart: a worker accepts only its metrics port (from anyone, metricsFrom empty).
    const results = await waitUntil(
      'the policy enforced (health port refused, metrics port open)',
      async () => {
        const [metrics, health] = [await probe(9464), await probe(8081)];
        return health !== 'open' ? { metrics, health } : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 2000 },
    );
    measure(
      'NetworkPolicies',
      `${policies} policies; health monitor → batcher-worker:9464 ${results.metrics}, → batcher-worker:8081 ${results.health}`,
    );
    expect(results.metrics).toBe('open');
    expect(['timeout', 'ECONNREFUSED', 'EHOSTUNREACH']).toContain(results.health);
    const load = startLoad(temporal!.client, 'netpol', 30, 10);
    const v = await auditLoad(temporal!.client, db!, load, 300_000);
    measure('with NetworkPolicies', summary(v));
    expect(v).toMatchObject({ completed: 30, lost: 0, phantom: 0, doubled: 0, open: 0, other: 0 });
  });

  it('staging: values-staging.yaml with TLS to MySQL (verify-full) in a namespace of its own; plaintext refused, a wrong host name refused, helm test, workflows exactly once', async () => {
    // Staging is another environment: the dev release goes first (helm uninstall, waited for).
    await helm(['uninstall', RELEASE, '--ignore-not-found', '--wait', '--timeout', '5m']);
    temporal ??= await temporalClient(cluster);
    // (The migration hook's finished Job stays, by design, until its ttlSecondsAfterFinished.)
    await waitUntil(
      "the dev release's pods gone",
      async () => (await pods(cluster, `app.kubernetes.io/instance=${RELEASE}`)).every((p) => p.status.phase === 'Succeeded'),
      { timeoutMs: 180_000, intervalMs: 2000 },
    );
    const t0 = Date.now();
    const stagingDb = await stagingDatabase(cluster);
    staging = stagingDb;
    measure('staging MariaDB with require_secure_transport=ON Ready', `${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // The release's user and password: over TLS the server takes them, without TLS it refuses
    // them (MariaDB answers a plaintext login under require_secure_transport with "Access denied").
    const attempt = (tls: boolean) =>
      stagingDb.connect({ tls, asApp: true }).then(
        async (c) => {
          const [rows] = await c.query("SHOW SESSION STATUS LIKE 'Ssl_version'");
          await c.end();
          return `connected, Ssl_version '${(rows as Array<{ Value: string }>)[0]?.Value ?? ''}'`;
        },
        (err: Error & { code?: string }) => `refused: ${err.code ?? ''} ${err.message}`,
      );
    const [withTls, plain] = [await attempt(true), await attempt(false)];
    measure("staging MariaDB, the release's user from the host", `with TLS ${withTls}; without TLS ${plain}`);
    expect(withTls).toMatch(/^connected, Ssl_version 'TLSv1\.[23]'$/);
    expect(plain).toMatch(/^refused: ER_ACCESS_DENIED_ERROR/);
    await stagingTemporalNamespace(cluster, temporal.client);

    const t1 = Date.now();
    await cluster.helm(
      [
        'install',
        RELEASE,
        chartDir,
        '-n',
        STAGING_NAMESPACE,
        '-f',
        path.join(chartDir, 'values-staging.yaml'),
        ...stagingOverrides('dev'),
        '--wait',
        '--wait-for-jobs',
        '--timeout',
        '15m',
      ],
      { timeoutMs: 900_000 },
    );
    measure('helm install -f values-staging.yaml --wait --wait-for-jobs', `${((Date.now() - t1) / 1000).toFixed(1)} s`);
    const ready = async (component: string) =>
      (await pods(cluster, `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=${component}`, STAGING_NAMESPACE)).filter(
        (p) => p.status.phase === 'Running' && p.status.containerStatuses?.every((c) => c.ready),
      );
    // values-staging.yaml: 2 batcher workers, an HPA holding main-worker at 4 or more, one health monitor.
    await waitUntil(
      'staging pods Ready (2 batcher workers, 4 main workers, the health monitor)',
      async () =>
        (await ready('batcher-worker')).length === 2 &&
        (await ready('main-worker')).length === 4 &&
        (await ready('health-monitor')).length === 1,
      { timeoutMs: 300_000, intervalMs: 2000 },
    );
    const migration = await cluster.getJson<{ status: { succeeded?: number } }>(['job', `${RELEASE}-migration`, '-n', STAGING_NAMESPACE]);
    expect(migration.status.succeeded).toBe(1);

    // In a batcher worker's pod, the project's own loader and pool with the chart's settings
    // (MYSQL_TLS_MODE=verify-full, the CA mounted from the Secret): the Service the certificate
    // names gets a TLS session; another name for the same server is refused.
    const [batcher] = await ready('batcher-worker');
    const probe = await cluster.kubectl([
      'exec',
      '-n',
      STAGING_NAMESPACE,
      batcher!.metadata.name,
      '--',
      'node',
      '-e',
      tlsProbeScript([MYSQL_TLS_HOST, MYSQL_TLS_ALIAS]),
    ]);
    const results = probe
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { host: string; tls?: string; error?: string });
    measure('TLS from a staging pod (verify-full)', results.map((r) => `${r.host}: ${r.tls ?? r.error}`).join('; '));
    expect(results.find((r) => r.host === MYSQL_TLS_HOST)?.tls).toMatch(/^TLSv1\.[23]$/);
    expect(results.find((r) => r.host === MYSQL_TLS_ALIAS)?.error).toMatch(/altnames|does not match/i);

    const test = await cluster.helm(['test', RELEASE, '-n', STAGING_NAMESPACE, '--timeout', '5m'], { timeoutMs: 320_000 });
    expect(test).toMatch(/Phase:\s+Succeeded/);

    const st = await temporalClient(cluster, STAGING_TEMPORAL_NAMESPACE);
    const conn = await stagingDb.connect();
    try {
      const load = startLoad(st.client, 'staging', 60, 5);
      const v = await auditLoad(st.client, conn, load, 300_000);
      measure('staging (TLS to MySQL) audit', summary(v));
      expect(load.startErrors).toEqual([]);
      expect(v).toMatchObject({ completed: 60, lost: 0, phantom: 0, doubled: 0, open: 0, other: 0 });
      // Every session the server took came over TLS: it refuses any other (the plaintext attempt above).
      const [status] = await conn.query("SHOW GLOBAL STATUS WHERE Variable_name IN ('Ssl_accepts', 'Ssl_finished_accepts', 'Connections')");
      measure(
        'staging MariaDB sessions',
        (status as Array<{ Variable_name: string; Value: string }>).map((r) => `${r.Variable_name} ${r.Value}`).join(', '),
      );
    } finally {
      await conn.end().catch(() => undefined);
      await st.close().catch(() => undefined);
    }
  });

  it.runIf(!SKAFFOLD_DEV)(
    "skaffold deploy (Skaffold v2.16.1) of skaffold.yaml with the image built here: the local stack, then the chart; the starter's workflows are rows; skaffold delete removes it all",
    async () => {
      // Another environment again: staging goes first.
      await cluster.helm(['uninstall', RELEASE, '-n', STAGING_NAMESPACE, '--ignore-not-found', '--wait', '--timeout', '5m'], {
        timeoutMs: 320_000,
      });
      await restrictedNamespace(cluster, SKAFFOLD_NAMESPACE);
      await mysqlVolume(cluster, 'wbc-mysql-data-sk');
      const dir = skaffoldWorkdir(cluster, chartDir, k8sDir);
      const version = (await skaffold(cluster, dir, ['version'])).trim();
      expect(version).toBe('v2.16.1');
      const t0 = Date.now();
      // No build: skaffold's local builder needs a Docker daemon unless it pushes to a registry,
      // and this machine has neither (docs/kubernetes.md). The image is the one the suite built.
      const out = await skaffold(cluster, dir, [
        'deploy',
        '--images',
        `write-batcher=${image.name}`,
        '--namespace',
        SKAFFOLD_NAMESPACE,
        '--kube-context',
        'wbc',
        '--status-check=true',
        '--tail=false',
      ]);
      measure(
        'skaffold deploy (local-stack, then write-batcher)',
        `${((Date.now() - t0) / 1000).toFixed(1)} s; ${out
          .split('\n')
          .filter((l) => /Deployments stabilized|Helm release|release .* deployed|STATUS: deployed/i.test(l))
          .join(' | ')
          .slice(0, 300)}`,
      );
      const release = JSON.parse(await cluster.helm(['status', RELEASE, '-n', SKAFFOLD_NAMESPACE, '-o', 'json'])) as {
        info: { status: string };
      };
      expect(release.info.status).toBe('deployed');
      const images = (
        await cluster.kubectl([
          'get',
          'pods',
          '-n',
          SKAFFOLD_NAMESPACE,
          '-l',
          `app.kubernetes.io/instance=${RELEASE}`,
          '-o',
          'jsonpath={range .items[*]}{.spec.containers[0].image}{"\\n"}{end}',
        ])
      )
        .split('\n')
        .filter(Boolean);
      expect(new Set(images)).toEqual(new Set([image.name]));
      const conn = await mysqlConnection(cluster, SKAFFOLD_NAMESPACE);
      try {
        const rows = await rowsFor(conn, 'txn-');
        measure(
          'skaffold deploy: starter Job',
          `${rows.size} workflows → ${[...rows.values()].filter((s) => s.length === 1 && s[0] === 'committed').length} committed rows`,
        );
        expect(rows.size).toBe(50);
        expect([...rows.values()].every((s) => s.length === 1 && s[0] === 'committed')).toBe(true);
      } finally {
        await conn.end().catch(() => undefined);
      }
      const t1 = Date.now();
      await skaffold(cluster, dir, ['delete', '--namespace', SKAFFOLD_NAMESPACE, '--kube-context', 'wbc']);
      const left = await onlyTheFinishedHookLeft(SKAFFOLD_NAMESPACE);
      measure(
        'skaffold delete',
        `${((Date.now() - t1) / 1000).toFixed(1)} s; pods left: ${left.map((p) => `${p.metadata.name} (${p.status.phase})`).join(', ') || 'none'}`,
      );
    },
  );

  it.runIf(SKAFFOLD_DEV)(
    'skaffold dev (Skaffold v2.16.1) of skaffold.yaml from a copy of the repository: Docker builds the image, pushes it to the local registry, both modules deploy and the health monitor is port-forwarded; a one-line change is rebuilt, pushed and rolled out; rows exactly once; Ctrl-C removes what it deployed',
    async () => {
      // Another environment again: staging goes first (its MariaDB stays, for the staging run below).
      await cluster.helm(['uninstall', RELEASE, '-n', STAGING_NAMESPACE, '--ignore-not-found', '--wait', '--timeout', '5m'], {
        timeoutMs: 320_000,
      });
      await restrictedNamespace(cluster, SKAFFOLD_NAMESPACE);
      await mysqlVolume(cluster, 'wbc-mysql-data-sk');
      const tb = Date.now();
      build = await startBuildEnvironment(cluster, say);
      const { registry, docker } = build;
      measure(
        'local registry and Docker daemon',
        `${((Date.now() - tb) / 1000).toFixed(1)} s (registry ${registry.address} seeded with ${(await registry.catalog()).join(', ')}; dockerd ${(await docker.docker(['version', '--format', '{{.Server.Version}}'])).trim()})`,
      );
      repo = await skaffoldRepoCopy(cluster, chartDir, k8sDir);
      const version = (await skaffold(cluster, repo, ['version'])).trim();
      expect(version).toBe('v2.16.1');

      const t0 = Date.now();
      // Not kind, minikube or Docker Desktop: Skaffold pushes to --default-repo and the node pulls.
      dev = startSkaffoldDev(
        cluster,
        repo,
        [
          '--default-repo',
          registry.address,
          '--namespace',
          SKAFFOLD_NAMESPACE,
          '--kube-context',
          'wbc',
          '--port-forward=user',
          '--status-check=true',
          '--tail=false',
          '--trigger=polling',
          '--watch-poll-interval=1000',
        ],
        docker,
      );
      const running = dev;
      const watching = (after: number) =>
        running.until(
          'skaffold dev deployed and watching for changes',
          async () => ((running.output().match(/Watching for changes/g)?.length ?? 0) > after ? true : undefined),
          1_500_000,
        );
      await watching(0);
      measure('skaffold dev: first build, push and deploy (local-stack, then write-batcher)', `${((Date.now() - t0) / 1000).toFixed(1)} s`);
      const forward =
        /Port forwarding service\/write-batcher-health-monitor in namespace sk, remote port 8080 -> (?:http:\/\/)?127\.0\.0\.1:(\d+)/.exec(
          running.output(),
        );
      expect(forward, "the health monitor's port-forward line").not.toBeNull();
      const healthz = async () => {
        const res = await fetch(`http://127.0.0.1:${forward![1]}/healthz`, { signal: AbortSignal.timeout(5000) });
        return (await res.json()) as { status: string; build?: string };
      };
      expect(await healthz()).toEqual({ status: 'alive' });
      const release = JSON.parse(await cluster.helm(['status', RELEASE, '-n', SKAFFOLD_NAMESPACE, '-o', 'json'])) as {
        info: { status: string };
      };
      expect(release.info.status).toBe('deployed');
      const releaseImages = async () =>
        new Set(
          (await pods(cluster, `app.kubernetes.io/instance=${RELEASE}`, SKAFFOLD_NAMESPACE))
            .filter((p) => !p.metadata.deletionTimestamp && p.status.phase === 'Running')
            .map((p) => p.spec.containers[0]!.image),
        );
      const first = [...(await releaseImages())];
      measure('skaffold dev: first image', first.join(', '));
      expect(first).toHaveLength(1);
      expect(first[0]!.startsWith(`${registry.address}/write-batcher:`)).toBe(true);
      expect(await registry.catalog()).toContain('write-batcher');

      const conn = await mysqlConnection(cluster, SKAFFOLD_NAMESPACE);
      const sk = await temporalClient(cluster, 'default', SKAFFOLD_NAMESPACE);
      try {
        const rows = await rowsFor(conn, 'txn-');
        measure(
          'skaffold dev: starter Job',
          `${rows.size} workflows → ${[...rows.values()].filter((s) => s.length === 1 && s[0] === 'committed').length} committed rows`,
        );
        expect(rows.size).toBe(50);
        expect([...rows.values()].every((s) => s.length === 1 && s[0] === 'committed')).toBe(true);
        const before = startLoad(sk.client, 'skdev-before', 30, 5);
        const vBefore = await auditLoad(sk.client, conn, before, 300_000);
        measure('skaffold dev: before the change', summary(vBefore));
        expect(vBefore).toMatchObject({ completed: 30, lost: 0, phantom: 0, doubled: 0, open: 0, other: 0 });

        // The change: one line of the health monitor, in the copy Skaffold watches; its effect is
        // read back from the running service through Skaffold's port-forward. Load runs across it.
        const marker = `skaffold-dev-${Date.now()}`;
        const file = path.join(repo, 'services', 'health-monitor', 'src', 'app.ts');
        const text = fs.readFileSync(file, 'utf8');
        const line = "res.json({ status: 'alive' });";
        expect(text.split(line)).toHaveLength(2);
        const across = startLoad(sk.client, 'skdev-rollout', 90, 1);
        const t1 = Date.now();
        fs.writeFileSync(file, text.replace(line, `res.json({ status: 'alive', build: '${marker}' });`));
        const served = await running.until(
          'the new code served by the health monitor through the port-forward',
          async () => {
            const body = await healthz();
            return body.build === marker ? body : undefined;
          },
          1_200_000,
        );
        const images = await running.until(
          'every running pod of the release on the rebuilt image',
          async () => {
            const set = await releaseImages();
            return set.size === 1 && !set.has(first[0]!) ? set : undefined;
          },
          300_000,
        );
        measure(
          'skaffold dev: change → rebuilt, pushed, rolled out and served',
          `${((Date.now() - t1) / 1000).toFixed(1)} s; /healthz ${JSON.stringify(served)}; image ${[...images].join(', ')}`,
        );
        expect([...images][0]!.startsWith(`${registry.address}/write-batcher:`)).toBe(true);
        await watching(1);
        const vAcross = await auditLoad(sk.client, conn, across, 600_000);
        measure('skaffold dev: across the rebuild and rollout', summary(vAcross));
        expect(across.startErrors).toEqual([]);
        expect(vAcross).toMatchObject({ lost: 0, phantom: 0, doubled: 0, open: 0, other: 0 });
        expect(vAcross.completed + vAcross.failed).toBe(90);
        const after = startLoad(sk.client, 'skdev-after', 30, 5);
        const vAfter = await auditLoad(sk.client, conn, after, 300_000);
        measure('skaffold dev: after the change', summary(vAfter));
        expect(vAfter).toMatchObject({ completed: 30, lost: 0, phantom: 0, doubled: 0, open: 0, other: 0 });
      } finally {
        await conn.end().catch(() => undefined);
        await sk.close().catch(() => undefined);
      }

      const t2 = Date.now();
      const code = await running.interrupt();
      dev = undefined;
      const left = await onlyTheFinishedHookLeft(SKAFFOLD_NAMESPACE);
      const releases = (await cluster.helm(['list', '-n', SKAFFOLD_NAMESPACE, '-a', '-q'])).trim();
      measure(
        'skaffold dev: SIGINT',
        `exit ${code} after ${((Date.now() - t2) / 1000).toFixed(1)} s; helm releases left: ${releases || 'none'}; pods left: ${left.map((p) => `${p.metadata.name} (${p.status.phase})`).join(', ') || 'none'}`,
      );
      expect(releases).toBe('');
      expect((await cluster.kubectl(['get', 'deployments,statefulsets,services', '-n', SKAFFOLD_NAMESPACE, '-o', 'name'])).trim()).toBe('');
    },
  );

  it.runIf(SKAFFOLD_DEV)(
    'skaffold run -p staging -m write-batcher: the image pushed to a registry that needs credentials and deployed by digest, pulled with the imagePullSecret',
    async () => {
      expect(build && repo && staging, 'the skaffold dev phase and the staging phase ran').toBeTruthy();
      const { docker } = build!;
      const auth = { user: 'write-batcher', password: crypto.randomBytes(12).toString('hex') };
      const priv: Registry = await startRegistry({ dir: path.join(cluster.dir, 'build', 'private-registry'), auth, logLevel: 'info' });
      try {
        cluster.trustRegistry(priv.address);
        // The push side: Skaffold pushes through the Docker daemon with the client's credentials.
        docker.writeAuths(priv.dockerAuths());
        // The pull side: the Secrets a user creates before the staging deploy (docs/kubernetes.md).
        await restrictedNamespace(cluster, SKAFFOLD_STAGING_NAMESPACE);
        await stagingSecrets(cluster, SKAFFOLD_STAGING_NAMESPACE, staging!.caFile);
        await cluster.kubectl([
          'create',
          'secret',
          'docker-registry',
          'regcred',
          '-n',
          SKAFFOLD_STAGING_NAMESPACE,
          `--docker-server=${priv.address}`,
          `--docker-username=${auth.user}`,
          `--docker-password=${auth.password}`,
        ]);
        skaffoldStagingValues(cluster, repo!, 'regcred');
        // The staging build has the same digest as skaffold dev's last image, which the node still
        // holds: without removing it, the kubelet finds the image present and never pulls.
        const held = (await cluster.ctr(['images', 'ls', '-q']))
          .split('\n')
          .filter((r) => r.startsWith(`${build!.registry.address}/write-batcher`));
        if (held.length) await cluster.ctr(['images', 'rm', ...held]);
        const t0 = Date.now();
        const out = await skaffold(
          cluster,
          repo!,
          [
            'run',
            '-p',
            'staging',
            '-m',
            'write-batcher',
            '--default-repo',
            priv.address,
            '--kube-context',
            'wbc',
            '--status-check=true',
            '--tail=false',
          ],
          1_500_000,
          docker,
        );
        measure(
          'skaffold run -p staging (build, push with credentials, deploy by digest)',
          `${((Date.now() - t0) / 1000).toFixed(1)} s; ${out
            .split('\n')
            .filter((l) => /Deployments stabilized|digest|Pushing|STATUS: deployed/i.test(l))
            .join(' | ')
            .slice(0, 400)}`,
        );
        const running = (await pods(cluster, `app.kubernetes.io/instance=${RELEASE}`, SKAFFOLD_STAGING_NAMESPACE)).filter(
          (p) => p.status.phase === 'Running' && !p.metadata.deletionTimestamp,
        );
        const images = [...new Set(running.map((p) => p.spec.containers[0]!.image))];
        measure('skaffold staging: pod image', images.join(', '));
        expect(images).toHaveLength(1);
        const match = new RegExp(`^${priv.address.replace(/\./g, '\\.')}/write-batcher:([^@]+)@(sha256:[0-9a-f]{64})$`).exec(images[0]!);
        expect(match, 'the pod spec names the image by digest').not.toBeNull();
        expect(await priv.digestOf('write-batcher', match![1]!)).toBe(match![2]);
        const secrets = running.map((p) => JSON.stringify((p.spec as { imagePullSecrets?: unknown }).imagePullSecrets ?? []));
        expect(new Set(secrets)).toEqual(new Set([JSON.stringify([{ name: 'regcred' }])]));
        // The registry answers nobody without credentials, and it logged containerd's pulls of that
        // digest as authorized. (Distribution 2.8 logs "authorized request" only once a request's
        // credentials passed, and names the user only on error lines, so the user is not matched.)
        expect((await fetch(`http://${priv.address}/v2/_catalog`)).status).toBe(401);
        const log = fs.readFileSync(priv.logFile, 'utf8').split('\n');
        const pulls = log.filter(
          (l) => l.includes('msg="authorized request"') && /useragent="?containerd/.test(l) && l.includes(`/manifests/${match![2]}`),
        );
        measure(
          'skaffold staging: pulls',
          `${pulls.length} authorized manifest requests by containerd for ${match![2]!.slice(0, 19)}… (the registry refuses every request without credentials)`,
        );
        expect(pulls.length).toBeGreaterThan(0);
        // The same image without the Secret: the kubelet's pull is refused.
        await cluster.kubectl(['apply', '-n', SKAFFOLD_STAGING_NAMESPACE, '-f', '-'], {
          input: `apiVersion: v1
kind: Pod
metadata: {name: no-pull-secret}
spec:
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: c
      image: ${images[0]}
      imagePullPolicy: Always
      securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
`,
        });
        const refused = await waitUntil(
          'the pod without the pull Secret failing to pull',
          async () => {
            const p = await cluster.getJson<{
              status: { containerStatuses?: Array<{ state: { waiting?: { reason: string; message?: string } } }> };
            }>(['pod', 'no-pull-secret', '-n', SKAFFOLD_STAGING_NAMESPACE]);
            const waiting = p.status.containerStatuses?.[0]?.state.waiting;
            return waiting && /ErrImagePull|ImagePullBackOff/.test(waiting.reason) ? waiting : undefined;
          },
          { timeoutMs: 120_000, intervalMs: 2000 },
        );
        measure('skaffold staging: without the pull Secret', `${refused.reason}: ${(refused.message ?? '').slice(0, 200)}`);
        expect(refused.message ?? '').toMatch(/401|[Uu]nauthorized|authorization failed/);

        const st = await temporalClient(cluster, STAGING_TEMPORAL_NAMESPACE);
        const conn = await staging!.connect();
        try {
          const load = startLoad(st.client, 'skstaging', 30, 5);
          const v = await auditLoad(st.client, conn, load, 300_000);
          measure('skaffold staging audit', summary(v));
          expect(load.startErrors).toEqual([]);
          expect(v).toMatchObject({ completed: 30, lost: 0, phantom: 0, doubled: 0, open: 0, other: 0 });
        } finally {
          await conn.end().catch(() => undefined);
          await st.close().catch(() => undefined);
        }
        await skaffold(cluster, repo!, ['delete', '-p', 'staging', '-m', 'write-batcher', '--kube-context', 'wbc'], 600_000, docker);
        expect((await cluster.helm(['list', '-n', SKAFFOLD_STAGING_NAMESPACE, '-a', '-q'])).trim()).toBe('');
      } finally {
        await priv.stop();
        await build?.stop();
        build = undefined;
      }
    },
  );

  it('the teardown leaves the host as it found it (processes, bridge, netns, cgroups, iptables v4+v6, sysctls)', async () => {
    await temporal?.close().catch(() => undefined);
    temporal = undefined;
    await db?.end().catch(() => undefined);
    db = undefined;
    // The Skaffold phases' Docker daemon and registries go first (a failed phase leaves them running).
    await dev?.process.stop({ graceMs: 10_000 });
    dev = undefined;
    await build?.stop();
    build = undefined;
    const dir = cluster.dir;
    const t0 = Date.now();
    stopped = true;
    const left = await cluster.stop();
    measure('teardown', `${((Date.now() - t0) / 1000).toFixed(1)} s, ${left.length} differences`);
    expect(left).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
    // No process of the cluster is left (every one of them named its directory on its command line).
    expect(processesNaming(dir)).toEqual([]);
  });
});
