// The chart against a live Kubernetes API server (test/support/kube-control-plane.ts: etcd,
// kube-apiserver and kube-controller-manager, no kubelet): install with each values file into a
// namespace that enforces the `restricted` Pod Security level, upgrade across values files, roll
// back, uninstall, long and odd release names, the hooks' failure paths, and
// `kubectl apply --dry-run=server` of k8s/. Pods are created (so Pod Security admission judges
// them) but stay Pending: there is no kubelet, so nothing here shows a container starting.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeControlPlane, type KubeControlPlane, type KubeObject } from '../support/kube-control-plane';
import { resolveTool, waitUntil } from '../support/processes';
import { chartDir, repoRoot, valuesSets } from './render-chart';

const execFileAsync = promisify(execFile);

/** Why the suite cannot run here, if it cannot (a tool scripts/install-tools.sh did not build). */
const missing = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl', 'helm'].filter((tool) => {
  try {
    resolveTool(tool);
    return false;
  } catch {
    return true;
  }
});
if (missing.length) console.warn(`[live-cluster] skipped: ${missing.join(', ')} not built; run scripts/install-tools.sh all`);

const K8S_VERSION = 'v1.33.13';
/** Kinds the chart creates as release resources (what "nothing is left" is checked against). */
const RELEASE_KINDS =
  'deployments,replicasets,pods,services,configmaps,secrets,serviceaccounts,poddisruptionbudgets,horizontalpodautoscalers,networkpolicies,jobs';

let cluster: KubeControlPlane;

async function helm(args: readonly string[], timeoutMs = 120_000): Promise<string> {
  try {
    const { stdout } = await execFileAsync(resolveTool('helm'), [...args], {
      env: { ...process.env, ...cluster.env },
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string; stdout?: string };
    throw new Error(`helm ${args.join(' ')}:\n${e.stderr?.trim() || e.message}`);
  }
}

/** A namespace whose Pod Security admission enforces `restricted`. */
async function restrictedNamespace(name: string): Promise<string> {
  await cluster.kubectl(['create', 'namespace', name]);
  await cluster.kubectl([
    'label',
    'namespace',
    name,
    'pod-security.kubernetes.io/enforce=restricted',
    'pod-security.kubernetes.io/enforce-version=latest',
  ]);
  // The controller manager creates the namespace's `default` ServiceAccount; Pods need it to exist.
  await waitUntil(
    `ServiceAccount default in ${name}`,
    async () => (await cluster.kubectl(['get', 'serviceaccount', 'default', '-n', name, '-o', 'name']).catch(() => '')).trim() !== '',
    { timeoutMs: 30_000, intervalMs: 500 },
  );
  return name;
}

/**
 * Flags of every install/upgrade: no waiting for Pods (there is no kubelet), and no hooks unless
 * a test asks for them (the migration hook is a Job that would never complete).
 */
const noWait = ['--timeout', '60s'];
const noHooks = ['--no-hooks'];

function valuesArgs(set: string): string[] {
  return valuesSets[set]!.flatMap((f) => ['-f', f]);
}

async function list(namespace: string, release: string, kinds = RELEASE_KINDS): Promise<KubeObject[]> {
  return (await cluster.getJson<{ items: KubeObject[] }>([kinds, '-n', namespace, '-l', `app.kubernetes.io/instance=${release}`])).items;
}

async function deployment(namespace: string, name: string): Promise<KubeObject> {
  return cluster.getJson(['deployment', name, '-n', namespace]);
}

/** Pods the controller manager created for a release: every one admitted, every one Pending. */
async function expectPendingPods(namespace: string, release: string, deployments: number): Promise<KubeObject[]> {
  const pods = await waitUntil(
    `a Pod for each of the ${deployments} Deployments of ${release}`,
    async () => {
      const items = await list(namespace, release, 'pods');
      const components = new Set(items.map((p) => p.metadata.labels?.['app.kubernetes.io/component']));
      return components.size >= deployments ? items : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 1000 },
  );
  for (const pod of pods) expect((pod.status as { phase?: string }).phase, `${pod.metadata.name}: no kubelet, so Pending`).toBe('Pending');
  return pods;
}

/** Uninstalls, then waits for the garbage collector: nothing labelled with the release may remain. */
async function uninstallLeavesNothing(namespace: string, release: string): Promise<void> {
  await helm(['uninstall', release, '-n', namespace]);
  // Pods and ReplicaSets go through the garbage collector, a moment later.
  const left = await waitUntil(
    'nothing of the release left',
    async () => ((await list(namespace, release)).length === 0 ? [] : undefined),
    { timeoutMs: 60_000, intervalMs: 1000 },
  ).catch(async () => list(namespace, release));
  expect(left.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([]);
}

/** The ReplicaSet controller's FailedCreate events: how Pod Security refusals show up. */
async function failedCreates(namespace: string): Promise<string[]> {
  const events = await cluster.getJson<{ items: Array<{ reason: string; message: string }> }>(['events', '-n', namespace]);
  return events.items.filter((e) => e.reason === 'FailedCreate').map((e) => e.message);
}

describe.skipIf(missing.length > 0)('the chart on a live API server (no kubelet: Pods stay Pending)', () => {
  beforeAll(async () => {
    const started = Date.now();
    cluster = await startKubeControlPlane();
    console.log(
      `[live-cluster] control plane ${cluster.version} at ${cluster.server} ready in ${((Date.now() - started) / 1000).toFixed(1)} s (logs: ${Object.values(cluster.logFiles).join(', ')})`,
    );
  }, 240_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 60_000);

  it(`reports Kubernetes ${K8S_VERSION}, which the chart's kubeVersion accepts`, () => {
    expect(cluster.version).toBe(K8S_VERSION);
  });

  describe.each(['default', 'dev', 'staging'])('with the %s values', (set) => {
    it('installs into a namespace enforcing the restricted Pod Security level, and the Pods are admitted (and stay Pending)', async () => {
      const ns = await restrictedNamespace(`install-${set}`);
      const release = 'write-batcher';
      await helm(['install', release, chartDir, '-n', ns, ...valuesArgs(set), ...noWait, ...noHooks]);
      const status = JSON.parse(await helm(['status', release, '-n', ns, '-o', 'json'])) as { info: { status: string } };
      expect(status.info.status).toBe('deployed');
      const names = (await list(ns, release, 'deployments')).map((d) => d.metadata.name).sort();
      expect(names).toEqual(['write-batcher-batcher-worker', 'write-batcher-health-monitor', 'write-batcher-main-worker']);
      await expectPendingPods(ns, release, 3);
      expect(await failedCreates(ns), 'Pod Security (restricted) or another admission refused a Pod').toEqual([]);
      if (set === 'staging')
        expect((await list(ns, release, 'horizontalpodautoscalers')).map((h) => h.metadata.name)).toEqual(['write-batcher-main-worker']);
    });
  });

  it('upgrades default → dev → staging, keeping main-worker replicas when the HPA takes over, and rolls back', async () => {
    const ns = await restrictedNamespace('upgrades');
    const release = 'wb';
    await helm(['install', release, chartDir, '-n', ns, ...valuesArgs('default'), ...noWait, ...noHooks]);
    expect((await deployment(ns, 'wb-write-batcher-main-worker')).spec?.replicas).toBe(2);

    await helm(['upgrade', release, chartDir, '-n', ns, ...valuesArgs('dev'), ...noWait, ...noHooks]);
    expect((await deployment(ns, 'wb-write-batcher-main-worker')).spec?.replicas).toBe(1);

    // Staging turns the HPA on (min 4). Had the chart dropped `replicas`, Helm's three-way merge
    // would delete it from the live object and the API server would default it to 1.
    await helm(['upgrade', release, chartDir, '-n', ns, ...valuesArgs('staging'), ...noWait, ...noHooks]);
    expect((await deployment(ns, 'wb-write-batcher-main-worker')).spec?.replicas).toBe(4);
    // A scale by the HPA (here: by hand, no metrics-server) survives the next upgrade.
    await cluster.kubectl(['scale', 'deployment/wb-write-batcher-main-worker', '-n', ns, '--replicas=7']);
    await helm(['upgrade', release, chartDir, '-n', ns, ...valuesArgs('staging'), '--set', 'logLevel=debug', ...noWait, ...noHooks]);
    expect((await deployment(ns, 'wb-write-batcher-main-worker')).spec?.replicas).toBe(7);

    await helm(['rollback', release, '1', '-n', ns, ...noWait, ...noHooks]);
    const history = JSON.parse(await helm(['history', release, '-n', ns, '-o', 'json'])) as Array<{
      revision: number;
      status: string;
      description: string;
    }>;
    expect(history.at(-1)).toMatchObject({ revision: 5, status: 'deployed', description: 'Rollback to 1' });
    expect(await list(ns, release, 'horizontalpodautoscalers')).toEqual([]);
    expect((await deployment(ns, 'wb-write-batcher-main-worker')).spec?.replicas).toBe(2);
    const configMap = await cluster.getJson<{ data: Record<string, string> }>(['configmap', 'wb-write-batcher', '-n', ns]);
    expect(configMap.data.BATCHER_SHARDS).toBe('1');
    await uninstallLeavesNothing(ns, release);
  });

  it('when only starter.workflows changes, then no Deployment rolls (each pod template hashes only what its service reads)', async () => {
    const ns = await restrictedNamespace('checksums');
    const release = 'wb';
    await helm(['install', release, chartDir, '-n', ns, ...noWait, ...noHooks]);
    const before = await list(ns, release, 'deployments');
    await helm(['upgrade', release, chartDir, '-n', ns, '--set', 'starter.workflows=999', ...noWait, ...noHooks]);
    const after = await list(ns, release, 'deployments');
    expect(after.map((d) => [d.metadata.name, d.metadata.generation])).toEqual(before.map((d) => [d.metadata.name, d.metadata.generation]));
    // ...while a setting the main worker reads rolls the main worker only.
    await helm(['upgrade', release, chartDir, '-n', ns, '--set', 'main.businessStepMs=300', ...noWait, ...noHooks]);
    const rolled = (await list(ns, release, 'deployments'))
      .filter((d, i) => d.metadata.generation !== after[i]!.metadata.generation)
      .map((d) => d.metadata.name);
    expect(rolled).toEqual(['wb-write-batcher-main-worker']);
  });

  it('uninstalls the staging install without leaving anything of the release behind', async () => {
    const ns = await restrictedNamespace('uninstall');
    const release = 'gone';
    await helm(['install', release, chartDir, '-n', ns, ...valuesArgs('staging'), ...noWait, ...noHooks]);
    await expectPendingPods(ns, release, 3);
    await uninstallLeavesNothing(ns, release);
  });

  it('installs releases with the longest name Helm allows (53 characters), two of which share their first 48, a name starting with a digit and a dotted name', async () => {
    const ns = await restrictedNamespace('names');
    const releases = [
      'a-very-long-release-name-that-helm-still-accepts-53c',
      'a-very-long-release-name-that-helm-still-accepts-53d',
      '9demo',
      'team.demo',
    ];
    for (const release of releases) {
      expect(release.length).toBeLessThanOrEqual(53);
      await helm(['install', release, chartDir, '-n', ns, ...noWait, ...noHooks]);
    }
    for (const release of releases) {
      const services = (await list(ns, release, 'services')).map((s) => s.metadata.name);
      expect(services, release).toHaveLength(3);
      for (const name of services) expect(name, release).toMatch(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/);
    }
    await expectPendingPods(ns, releases[0]!, 3);
    expect(await failedCreates(ns)).toEqual([]);
  });

  it('when an upgrade fails at the starter hook, then no starter Job is left, and rollback and uninstall are clean', async () => {
    const ns = await restrictedNamespace('starter');
    const release = 'st';
    const base = ['--set', 'migration.enabled=false'];
    await helm(['install', release, chartDir, '-n', ns, ...base, ...noWait, ...noHooks]);
    // With hooks, Helm waits for the starter Job, which never completes here (no kubelet).
    const failed = await helm(['upgrade', release, chartDir, '-n', ns, ...base, '--set', 'starter.workflows=10', '--timeout', '15s']).then(
      () => undefined,
      (err: Error) => err.message,
    );
    expect(failed, 'the upgrade waits for the starter and times out').toMatch(/post-upgrade hooks failed|timed out waiting/);
    // hook-failed: Helm deleted it (background propagation removes its Pod too).
    await waitUntil('the failed starter Job deleted', async () => (await list(ns, release, 'jobs')).length === 0, {
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    await helm(['rollback', release, '1', '-n', ns, ...noWait, ...noHooks]);
    expect((JSON.parse(await helm(['status', release, '-n', ns, '-o', 'json'])) as { info: { status: string } }).info.status).toBe(
      'deployed',
    );
    await uninstallLeavesNothing(ns, release);
  });

  it('when the migration hook times out, then its password Secret stays while the Job still runs, and uninstall removes it', async () => {
    const ns = await restrictedNamespace('migration');
    const release = 'mg';
    const failed = await helm([
      'install',
      release,
      chartDir,
      '-n',
      ns,
      '--set',
      'starter.enabled=false',
      '--set',
      'mysql.auth.password=s3cret',
      '--timeout',
      '15s',
    ]).then(
      () => undefined,
      (err: Error) => err.message,
    );
    expect(failed, 'the install waits for the migration Job and times out').toMatch(/pre-install hooks failed|timed out waiting/);
    expect((await list(ns, release, 'jobs')).map((j) => j.metadata.name)).toEqual(['mg-write-batcher-migration']);
    // Its Pod was admitted under `restricted` (and waits for a kubelet).
    await waitUntil('the migration Pod', async () => (await list(ns, release, 'pods')).length > 0, { timeoutMs: 30_000, intervalMs: 500 });
    expect(await failedCreates(ns)).toEqual([]);
    const secret = await cluster.getJson<{ data: Record<string, string> }>(['secret', 'mg-write-batcher-migration', '-n', ns]);
    expect(Buffer.from(secret.data['mysql-password']!, 'base64').toString()).toBe('s3cret');
    await helm(['uninstall', release, '-n', ns]);
    await waitUntil('the hook Secret removed by the post-delete hook', async () => (await list(ns, release, 'secrets')).length === 0, {
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    // Documented: the last migration Job is a hook resource and outlives uninstall (its TTL removes it).
    expect((await list(ns, release, 'jobs')).map((j) => j.metadata.name)).toEqual(['mg-write-batcher-migration']);
  });

  it('when the ServiceMonitor, PrometheusRule or KEDA ScaledObject is on but its CRD is absent, then the install fails naming the CRD, and succeeds once the CRDs exist', async () => {
    const ns = await restrictedNamespace('monitoring');
    const switches = {
      'metrics.serviceMonitor.enabled': ['monitoring.coreos.com', 'v1', 'ServiceMonitor', 'servicemonitors'],
      'metrics.prometheusRule.enabled': ['monitoring.coreos.com', 'v1', 'PrometheusRule', 'prometheusrules'],
      'mainWorker.keda.enabled': ['keda.sh', 'v1alpha1', 'ScaledObject', 'scaledobjects'],
    } as const;
    for (const [value, [group, version, kind, plural]] of Object.entries(switches)) {
      const failed = await helm(['install', 'mon', chartDir, '-n', ns, '--set', `${value}=true`, ...noWait, ...noHooks]).then(
        () => undefined,
        (err: Error) => err.message,
      );
      expect(failed, value).toContain(`${value} is true, but the cluster serves no ${group}/${version}/${kind} (CRD ${plural}.${group}`);
    }
    // Stand-in CRDs (schema-less; the real ones validate more) make the APIs present.
    for (const [group, version, kind, plural] of Object.values(switches)) {
      await cluster.kubectl(['apply', '-f', '-'], {
        input: `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${plural}.${group}
spec:
  group: ${group}
  scope: Namespaced
  names: {kind: ${kind}, plural: ${plural}, singular: ${kind.toLowerCase()}, listKind: ${kind}List}
  versions:
    - name: ${version}
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`,
      });
    }
    await waitUntil(
      'the custom resource APIs served',
      async () => {
        const served = await cluster.kubectl(['api-resources', '-o', 'name']);
        return Object.values(switches).every(([group, , , plural]) => served.includes(`${plural}.${group}`));
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    await helm([
      'install',
      'mon',
      chartDir,
      '-n',
      ns,
      ...Object.keys(switches).flatMap((v) => ['--set', `${v}=true`]),
      ...noWait,
      ...noHooks,
    ]);
    expect((await cluster.getJson<{ items: KubeObject[] }>(['servicemonitors', '-n', ns])).items).toHaveLength(3);
    expect((await cluster.getJson<{ items: KubeObject[] }>(['prometheusrules', '-n', ns])).items).toHaveLength(1);
    const scaledObjects = (await cluster.getJson<{ items: KubeObject[] }>(['scaledobjects', '-n', ns])).items;
    expect(scaledObjects.map((o) => o.metadata.name)).toEqual(['mon-write-batcher-main-worker']);
  });

  it("admits the `helm test` Pod, and the starter Job's pod template draws no Pod Security warning, under the restricted level (server dry run: no kubelet would run them)", async () => {
    const ns = await restrictedNamespace('test-pod');
    const rendered = (
      await execFileAsync(
        resolveTool('helm'),
        [
          'template',
          'wb',
          chartDir,
          '-n',
          ns,
          '--kube-version',
          '1.33.0',
          '--show-only',
          'templates/test-connectivity.yaml',
          '--show-only',
          'templates/job-starter.yaml',
        ],
        { env: { ...process.env, ...cluster.env } },
      )
    ).stdout;
    const file = path.join(os.tmpdir(), `helm-test-pod-${process.pid}.yaml`);
    const apply = async (yaml: string) => {
      writeFileSync(file, yaml);
      try {
        return await execFileAsync(resolveTool('kubectl'), ['apply', '--dry-run=server', '-n', ns, '-f', file], {
          env: { ...process.env, ...cluster.env },
        });
      } finally {
        rmSync(file, { force: true });
      }
    };
    // Pods are refused when they violate the level; workloads (the Job) only draw a warning.
    const { stdout, stderr } = await apply(rendered);
    expect(stdout).toMatch(/pod\/wb-write-batcher-test created \(server dry run\)/);
    expect(stdout).toMatch(/job\.batch\/wb-write-batcher-starter created \(server dry run\)/);
    expect(stderr).not.toMatch(/PodSecurity/);
    // The check has teeth: with privilege escalation allowed, the Pod is refused and the Job warned about.
    const privileged = await apply(rendered.replace(/allowPrivilegeEscalation: false/g, 'allowPrivilegeEscalation: true')).then(
      (r) => r.stderr,
      (err: Error & { stderr?: string }) => err.stderr ?? err.message,
    );
    expect(privileged).toMatch(/violates PodSecurity "restricted/);
  });

  it('accepts every manifest in k8s/ with kubectl apply --dry-run=server', async () => {
    // A plain namespace: the local stack's third-party images are not held to `restricted`.
    const ns = 'local-stack';
    await cluster.kubectl(['create', 'namespace', ns]);
    const files = readdirSync(path.join(repoRoot, 'k8s'))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => path.join(repoRoot, 'k8s', f))
      .filter((f) => !/^apiVersion: kind\.x-k8s\.io\//m.test(readFileSync(f, 'utf8')));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const file of files) {
      expect(existsSync(file)).toBe(true);
      const out = await cluster.kubectl(['apply', '--dry-run=server', '-n', ns, '-f', file]);
      expect(out, file).toMatch(/\(server dry run\)/);
    }
  });
});
