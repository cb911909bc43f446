// The chart and the code agree: every container the chart renders gets an environment that its
// service's own config loader (and the Temporal envconfig loader) accepts, with no variable the
// service does not read, and with the numbers and names from the values files arriving intact.
// Needs `npm run build` (imports @batcher/service-kit from dist) and .tools/bin/helm.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  ConfigError,
  describeSettings,
  loadConfig,
  SERVICE_CONFIG,
  temporalConnectConfig,
  type SectionName,
  type ServiceName,
} from '@batcher/service-kit';
import { chartDir, releaseNamespace, renderChart, repoRoot, valuesSets, type Manifest } from './render-chart';

/**
 * What each script the chart runs reads: SERVICE_CONFIG, the list the programs themselves load
 * their config by. The source check makes sure the script really is the program of that name.
 */
function entryPoint(script: string): { service: string; sections: SectionName[]; temporal: boolean } {
  const m = /^\/app\/services\/([^/]+)\/dist\/([^/]+)\.js$/.exec(script);
  if (!m) throw new Error(`the chart runs ${script}, which is no service entry point`);
  const name = m[2] === 'main' ? m[1]! : m[2] === 'migrate' ? 'schema-migration' : `${m[1]}/${m[2]}`;
  if (!(name in SERVICE_CONFIG)) throw new Error(`${script}: ${name} is not in SERVICE_CONFIG`);
  const source = readFileSync(path.join(repoRoot, 'services', m[1]!, 'src', `${m[2]}.ts`), 'utf8');
  if (!source.includes(`'${name}'`)) throw new Error(`${script}: its source does not name the service '${name}' it loads the config of`);
  const { sections, temporal } = SERVICE_CONFIG[name as ServiceName];
  return { service: name === 'schema-migration' ? 'migration' : name, sections: [...sections], temporal };
}

/**
 * Documented exceptions to "every variable is a config loader setting": the SDK-standard
 * TEMPORAL_* variables (read by @temporalio/envconfig), and NODE_* for Node itself.
 */
const temporalVariables = new Set([
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS',
  'TEMPORAL_TLS_CLIENT_CERT_PATH',
  'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  'TEMPORAL_TLS_SERVER_NAME',
]);
const isNodeVariable = (name: string) => name.startsWith('NODE_');
const SECRET_PLACEHOLDER = 'secret-from-kubernetes';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    configMapKeyRef?: { name: string; key: string };
    secretKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
  };
}
interface Container {
  name: string;
  command?: string[];
  env?: EnvVar[];
  ports?: Array<{ name: string; containerPort: number }>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  livenessProbe?: { httpGet?: { port: string } };
  readinessProbe?: { httpGet?: { port: string } };
}
interface PodSpec {
  containers: Container[];
  volumes?: Array<{ name: string; secret?: { secretName: string; items?: Array<{ key: string; path: string }> } }>;
}

function podSpec(m: Manifest): PodSpec | undefined {
  const spec = m.spec as { template?: { spec?: PodSpec } } | undefined;
  return spec?.template?.spec;
}

/** Helm's merge of values files: maps merge, anything else replaces, null removes. */
function mergeValues(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) {
    if (v === null) delete out[k];
    else if (typeof v === 'object' && !Array.isArray(v) && typeof out[k] === 'object' && out[k] !== null && !Array.isArray(out[k])) {
      out[k] = mergeValues(out[k] as Record<string, unknown>, v as Record<string, unknown>);
    } else out[k] = v;
  }
  return out;
}

// Values files are free-form YAML; the assertions below name the keys they read.
type Values = any;
function effectiveValues(files: string[]): Values {
  return files.reduce(
    (acc, f) => mergeValues(acc, parse(readFileSync(f, 'utf8')) ?? {}),
    parse(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8')),
  );
}

const tempDirs: string[] = [];
afterAll(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

/**
 * The environment the container would see, with ConfigMap references resolved from the render,
 * secrets replaced by a placeholder and paths into mounted Secrets redirected to stand-in files
 * (the Temporal loader reads certificate files at load time).
 */
function resolveEnv(container: Container, pod: PodSpec, manifests: Manifest[]): Record<string, string> {
  const configMaps = new Map(
    manifests.filter((m) => m.kind === 'ConfigMap').map((m) => [m.metadata.name, (m.data ?? {}) as Record<string, string>]),
  );
  const env: Record<string, string> = {};
  for (const v of container.env ?? []) {
    if (v.value !== undefined) env[v.name] = v.value;
    else if (v.valueFrom?.configMapKeyRef) {
      const { name, key } = v.valueFrom.configMapKeyRef;
      const data = configMaps.get(name);
      if (!data) throw new Error(`${container.name}: ${v.name} refers to ConfigMap ${name}, which the chart does not render`);
      if (!(key in data)) throw new Error(`${container.name}: ${v.name} refers to key ${key}, missing from ConfigMap ${name}`);
      env[v.name] = data[key]!;
    } else if (v.valueFrom?.secretKeyRef) env[v.name] = SECRET_PLACEHOLDER;
    else if (v.valueFrom?.fieldRef) env[v.name] = `downward-api:${v.valueFrom.fieldRef.fieldPath}`;
    else throw new Error(`${container.name}: ${v.name} has neither value nor a known valueFrom`);
  }
  for (const mount of container.volumeMounts ?? []) {
    const volume = pod.volumes?.find((vol) => vol.name === mount.name);
    if (!volume?.secret) continue;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'chart-secret-'));
    tempDirs.push(dir);
    for (const item of volume.secret.items ?? []) {
      mkdirSync(path.dirname(path.join(dir, item.path)), { recursive: true });
      writeFileSync(path.join(dir, item.path), `stand-in for ${volume.secret.secretName}/${item.key}\n`);
    }
    for (const [name, value] of Object.entries(env)) {
      if (value.startsWith(`${mount.mountPath}/`)) {
        const file = value.slice(mount.mountPath.length + 1);
        if (!volume.secret.items?.some((i) => i.path === file))
          throw new Error(`${container.name}: ${name}=${value} names no file of the mounted secret ${volume.secret.secretName}`);
        env[name] = path.join(dir, file);
      }
    }
  }
  return env;
}

const settingsBySection = new Map<SectionName, Set<string>>();
for (const s of describeSettings()) {
  if (!settingsBySection.has(s.section)) settingsBySection.set(s.section, new Set());
  settingsBySection.get(s.section)!.add(s.env);
}

describe.each(Object.keys(valuesSets))('the chart with %s values', (setName) => {
  const files = valuesSets[setName]!;
  const manifests = renderChart(files);
  const values = effectiveValues(files);
  const workloads = manifests.filter((m) => (m.kind === 'Deployment' || m.kind === 'Job') && podSpec(m));
  const containers = workloads.flatMap((m) => podSpec(m)!.containers.map((c) => ({ manifest: m, pod: podSpec(m)!, container: c })));

  it('renders a container for every service it enables', () => {
    const services = containers.map(({ container }) => entryPoint(container.command?.[1] ?? '').service).sort();
    const expected = [
      'batcher-worker',
      'health-monitor',
      'main-worker',
      ...(values.migration.enabled ? ['migration'] : []),
      ...(values.starter.enabled ? ['starter'] : []),
    ].sort();
    expect(services).toEqual(expected);
  });

  it.each(containers.map((c) => [`${c.manifest.kind}/${c.manifest.metadata.name}`, c] as const))(
    'when %s starts, then its config loader accepts the environment the chart gives it',
    (_title, { manifest, pod, container }) => {
      expect(container.command?.[0]).toBe('node');
      const svc = entryPoint(container.command?.[1] ?? '');
      expect(svc.sections.length, `${svc.service}: no config sections found`).toBeGreaterThan(0);
      const env = resolveEnv(container, pod, manifests);

      // Every variable is one the service reads.
      const allowed = new Set(svc.sections.flatMap((s) => [...settingsBySection.get(s)!]));
      const unknown = Object.keys(env).filter((n) => !allowed.has(n) && !(svc.temporal && temporalVariables.has(n)) && !isNodeVariable(n));
      expect(unknown, `${svc.service} does not read these`).toEqual([]);
      expect(new Set(Object.keys(env)).size, 'a variable is set twice').toBe(container.env!.length);
      // ...and every setting the service reads is one the chart sets (a new setting needs a value
      // in values.yaml), except the OTLP endpoint, which is left unset to mean "no exporter".
      // Likewise the MySQL TLS files, unset while no Secret of them is mounted.
      const mysqlTls = values.mysql.tls.mode !== 'disabled' && values.mysql.tls.existingSecret ? values.mysql.tls : undefined;
      const optional: Record<string, boolean> = {
        OTEL_EXPORTER_OTLP_ENDPOINT: !values.telemetry.otlpEndpoint,
        MYSQL_TLS_CA_PATH: !mysqlTls?.caKey,
        MYSQL_TLS_CERT_PATH: !mysqlTls?.certKey,
        MYSQL_TLS_KEY_PATH: !mysqlTls?.certKey,
      };
      const unset = [...allowed].filter((n) => !(n in env) && !optional[n]);
      expect(unset, `the chart does not set these ${svc.service} settings`).toEqual([]);

      // The loaders accept it (a ConfigError names every offending variable).
      let config: ReturnType<typeof loadConfig<SectionName>>;
      try {
        config = loadConfig(svc.sections, env);
      } catch (err) {
        throw err instanceof ConfigError ? new Error(`${svc.service}: ${err.message}`) : err;
      }
      if (svc.temporal) {
        const temporal = temporalConnectConfig(env);
        expect(temporal.connectionOptions.address).toBe(values.temporal.address);
        expect(temporal.namespace).toBe(values.temporal.namespace);
        if (values.temporal.tls.enabled || values.temporal.apiKey.existingSecret || values.temporal.apiKey.value)
          expect(temporal.connectionOptions.tls).toBeTruthy();
        else expect(temporal.connectionOptions.tls).toBeFalsy();
        const mtls = values.temporal.tls.enabled && values.temporal.tls.existingSecret && values.temporal.tls.certKey;
        const tls = temporal.connectionOptions.tls;
        expect(typeof tls === 'object' && tls !== null && tls.clientCertPair !== undefined).toBe(Boolean(mtls));
        if (values.temporal.apiKey.existingSecret || values.temporal.apiKey.value)
          expect(temporal.connectionOptions.apiKey).toBe(SECRET_PLACEHOLDER);
      } else {
        expect(Object.keys(env).filter((n) => n.startsWith('TEMPORAL_'))).toEqual([]);
      }

      // Values arrive as the loader's typed settings.
      const c = config as Record<string, Record<string, unknown>>;
      expect(c.log!.level).toBe(values.logLevel);
      if (c.telemetry) {
        expect(c.telemetry.otlpEndpoint).toBe(values.telemetry.otlpEndpoint || undefined);
        expect(c.telemetry.podName).toBe('downward-api:metadata.name');
        expect(c.telemetry.podNamespace).toBe('downward-api:metadata.namespace');
      }
      if (c.batcher) {
        expect(c.batcher).toEqual({
          taskQueue: values.batching.taskQueue,
          shards: values.batching.shards,
          workflowIdPrefix: values.batching.workflowIdPrefix,
        });
      }
      if (c.batching) {
        expect(c.batching).toEqual({
          flushPolicy: values.batching.flushPolicy,
          maxBatchSize: values.batching.maxBatchSize,
          flushIntervalMs: values.batching.flushIntervalMs,
          maxWritesInFlight: values.batching.maxWritesInFlight,
          continueAsNewSignals: values.batching.continueAsNewSignals,
          dedupWindowBytes: values.batching.dedupWindowBytes,
          maxPendingRequests: values.batching.maxPendingRequests,
          maxPendingBytes: values.batching.maxPendingBytes,
          maxRequestsPerTask: values.batching.maxRequestsPerTask,
          tables: values.batching.tables,
          ledgerRetentionHours: values.batching.ledgerRetentionHours,
          submitLingerMs: values.batching.submitLingerMs,
          submitGroupMaxRequests: values.batching.submitGroupMaxRequests,
        });
      }
      if (c.main) {
        expect(c.main).toEqual({ taskQueue: values.main.taskQueue, businessStepMs: values.main.businessStepMs });
      }
      if (c.mysql) {
        expect(c.mysql).toEqual({
          host: values.mysql.host,
          port: values.mysql.port,
          user: values.mysql.auth.username,
          password: SECRET_PLACEHOLDER,
          database: values.mysql.database,
          poolSize: values.mysql.poolSize,
          tlsMode: values.mysql.tls.mode,
          tlsCaPath: mysqlTls?.caKey ? expect.stringMatching(/ca\.crt$/) : undefined,
          tlsCertPath: mysqlTls?.certKey ? expect.stringMatching(/tls\.crt$/) : undefined,
          tlsKeyPath: mysqlTls?.certKey ? expect.stringMatching(/tls\.key$/) : undefined,
        });
      }
      const ports = new Map((container.ports ?? []).map((p) => [p.name, p.containerPort]));
      if (c.worker) {
        const component = svc.service === 'batcher-worker' ? values.batcherWorker : values.mainWorker;
        expect(c.worker).toEqual({
          healthPort: component.containerPorts.health,
          metricsPort: component.containerPorts.metrics,
          shutdownGraceMs: component.shutdownGraceMs,
          workflowBundlePath: `/app/services/${svc.service}/dist/workflow-bundle.js`,
          maxConcurrentActivities: component.maxConcurrentActivities,
        });
        // The ports the service opens are the ports the pod declares and probes.
        expect(ports.get('health')).toBe(c.worker.healthPort);
        expect(ports.get('metrics')).toBe(c.worker.metricsPort);
        expect(container.livenessProbe?.httpGet?.port ?? 'health').toBe('health');
        // The kubelet must not kill a draining worker.
        const grace = (pod as unknown as { terminationGracePeriodSeconds: number }).terminationGracePeriodSeconds;
        expect(c.worker.shutdownGraceMs as number).toBeLessThan(grace * 1000);
      }
      if (c.monitor) {
        const stall = values.healthMonitor.stall;
        expect(c.monitor).toEqual({
          port: values.healthMonitor.containerPorts.http,
          pollIntervalMs: values.healthMonitor.pollIntervalMs,
          autoRestart: values.healthMonitor.autoRestart,
          stallFlushIntervals: stall.flushIntervals,
          stallMinMs: stall.minMs,
          stallTaskAttempts: stall.taskAttempts,
          stallTaskAgeMs: stall.taskAgeMs,
        });
        expect(ports.get('http')).toBe(c.monitor.port);
      }
      if (c.starter) {
        // The main workflows' write timeouts are the starter's: it puts them in each workflow's input.
        expect(c.starter).toEqual({
          workflows: values.starter.workflows,
          wait: values.starter.wait,
          workflowIdPrefix: values.starter.workflowIdPrefix,
          confirmationTimeoutMs: values.main.confirmationTimeoutMs,
          submitAttemptTimeoutMs: values.main.submitAttemptTimeoutMs,
        });
      }
      if (c.listen) {
        // Every interface in a pod, so the kubelet's probes and Prometheus reach it.
        expect(c.listen).toEqual({ host: '0.0.0.0' });
      }
      expect(manifest.metadata.namespace).toBe(releaseNamespace);
    },
  );

  it('gives the pre-install migration hook no ConfigMap reference, since the ConfigMap does not exist yet', () => {
    const hook = workloads.find((m) => m.metadata.annotations?.['helm.sh/hook']?.includes('pre-install'));
    if (!values.migration.enabled) return expect(hook).toBeUndefined();
    expect(hook).toBeDefined();
    const env = podSpec(hook!)!.containers[0]!.env ?? [];
    expect(env.filter((v) => v.valueFrom?.configMapKeyRef)).toEqual([]);
    for (const v of env.filter((e) => e.valueFrom?.secretKeyRef)) {
      const name = v.valueFrom!.secretKeyRef!.name;
      const hookSecret = manifests.find((m) => m.kind === 'Secret' && m.metadata.name === name);
      // Either an existing Secret (named in values) or a hook Secret created before the Job.
      if (hookSecret)
        expect(Number(hookSecret.metadata.annotations?.['helm.sh/hook-weight'])).toBeLessThan(
          Number(hook!.metadata.annotations?.['helm.sh/hook-weight']),
        );
      else expect(name).toBe(values.mysql.auth.existingSecret);
    }
  });
});
