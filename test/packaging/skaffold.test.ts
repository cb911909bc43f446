// The files Skaffold and kind read: skaffold.yaml against Skaffold's published JSON schema (when
// a copy is at hand), every path it names, the values keys it sets, the Services it
// port-forwards, the pairing of the local stack with the chart's values; k8s/kind-cluster.yaml
// against a schema written from kind's v1alpha4 types.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { missingTools, repoRoot, runTool, tools } from './render-chart';

/**
 * Skaffold's JSON schema is not vendored: the tests read it from SKAFFOLD_SCHEMA, or from the
 * workspace's shared copy when there is one. Without either, only that validation is skipped
 * (visibly); the structural checks below run either way.
 */
const skaffoldSchemaPath = process.env.SKAFFOLD_SCHEMA ?? path.resolve(repoRoot, '../shared/schemas/skaffold-v4beta14.json');
const schemaMissing = existsSync(skaffoldSchemaPath)
  ? undefined
  : `no Skaffold v4beta14 JSON schema at ${skaffoldSchemaPath} (set SKAFFOLD_SCHEMA to a copy of skaffold's schemas/v4beta14.json)`;
if (schemaMissing) console.warn(`[skaffold] schema validation skipped: ${schemaMissing}`);

// Skaffold's and kind's documents are free-form YAML; the checks below name the keys they read.
type Doc = any;

function readYamlDocuments(file: string): Doc[] {
  const docs = parseAllDocuments(readFileSync(path.resolve(repoRoot, file), 'utf8'));
  for (const d of docs) if (d.errors.length) throw new Error(`${file}: ${d.errors[0]!.message}`);
  return docs.map((d) => d.toJS()).filter((d) => d != null);
}

const ajv = new Ajv({ strict: false, allErrors: true });
function schemaErrors(validate: ValidateFunction, data: unknown): string[] {
  if (validate(data)) return [];
  // anyOf branches repeat the same complaint; keep each once, with the offending property.
  return [
    ...new Set(
      (validate.errors ?? []).map(
        (e) =>
          `${e.instancePath || '/'} ${e.message}${(e.params as { additionalProperty?: string }).additionalProperty ? ` (${(e.params as { additionalProperty: string }).additionalProperty})` : ''}`,
      ),
    ),
  ];
}

/** Minimal glob for skaffold's rawYaml entries: `*` within one path segment. */
function globFiles(pattern: string): string[] {
  if (!pattern.includes('*')) return existsSync(path.resolve(repoRoot, pattern)) ? [pattern] : [];
  const dir = path.dirname(pattern);
  const re = new RegExp(
    `^${path
      .basename(pattern)
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')}$`,
  );
  if (!existsSync(path.resolve(repoRoot, dir))) return [];
  return readdirSync(path.resolve(repoRoot, dir))
    .filter((f) => re.test(f))
    .map((f) => path.join(dir, f));
}

function valuesHasKey(values: Doc, key: string): boolean {
  let node = values;
  for (const part of key.split('.')) {
    if (node == null || typeof node !== 'object' || !(part in node)) return false;
    node = node[part];
  }
  return true;
}

const configs: Doc[] = readYamlDocuments('skaffold.yaml');
const variantsOf = (config: Doc) => [
  { ...config, name: config.metadata?.name },
  ...(config.profiles ?? []).map((p: Doc) => ({ ...p, name: `${config.metadata?.name}/${p.name}` })),
];

describe('skaffold.yaml', () => {
  it('has the local-stack and write-batcher modules, in that order', () => {
    expect(configs.map((c) => c.metadata?.name)).toEqual(['local-stack', 'write-batcher']);
  });

  it.skipIf(schemaMissing).each(configs.map((c) => [c.metadata?.name, c] as const))(
    `module %s matches the skaffold/v4beta14 schema${schemaMissing ? ` (skipped: ${schemaMissing})` : ''}`,
    (_name, config) => {
      expect(config.apiVersion).toBe('skaffold/v4beta14');
      const validate = ajv.compile(JSON.parse(readFileSync(skaffoldSchemaPath, 'utf8')));
      expect(schemaErrors(validate, config)).toEqual([]);
    },
  );

  it('defines the staging profile, and a dev profile for the old command line', () => {
    const names = configs.flatMap((c) => (c.profiles ?? []).map((p: Doc) => p.name));
    expect(names).toEqual(expect.arrayContaining(['dev', 'staging']));
  });

  const variants = configs.flatMap(variantsOf);
  it.each(variants.map((v) => [v.name, v] as const))('%s names only files that exist, and artifacts it builds', (_name, v) => {
    const artifacts = new Set<string>(
      (v.build?.artifacts ?? configs.find((c) => v.name.startsWith(c.metadata.name))?.build?.artifacts ?? []).map((a: Doc) =>
        a.image.replace(/[/.:-]/g, '_'),
      ),
    );
    for (const a of v.build?.artifacts ?? []) {
      const dockerfile = path.join(a.context ?? '.', a.docker?.dockerfile ?? 'Dockerfile');
      expect(statSync(path.resolve(repoRoot, dockerfile)).isFile(), dockerfile).toBe(true);
    }
    for (const pattern of v.manifests?.rawYaml ?? []) expect(globFiles(pattern), pattern).not.toEqual([]);
    for (const r of v.deploy?.helm?.releases ?? []) {
      expect(existsSync(path.resolve(repoRoot, r.chartPath, 'Chart.yaml')), r.chartPath).toBe(true);
      for (const f of r.valuesFiles ?? []) expect(existsSync(path.resolve(repoRoot, f)), f).toBe(true);
      const chartValues = parse(readFileSync(path.resolve(repoRoot, r.chartPath, 'values.yaml'), 'utf8'));
      const keys = [...Object.keys(r.setValueTemplates ?? {}), ...Object.keys(r.setValues ?? {})];
      expect(
        keys.filter((k) => !valuesHasKey(chartValues, k)),
        `keys not in ${r.chartPath}/values.yaml`,
      ).toEqual([]);
      const used = [...JSON.stringify(r.setValueTemplates ?? {}).matchAll(/IMAGE_[A-Z_]*?_((?:[a-z0-9]+_?)+)\}\}/g)].map((m) => m[1]);
      expect(used.length, 'image templates').toBeGreaterThan(0);
      expect(
        used.filter((u) => !artifacts.has(u!)),
        'templates without an artifact',
      ).toEqual([]);
    }
  });

  it('deploys every Kubernetes manifest in k8s/ (the kind config aside)', () => {
    const deployed = new Set(configs.flatMap(variantsOf).flatMap((v) => (v.manifests?.rawYaml ?? []).flatMap(globFiles)));
    const orphans = globFiles('k8s/*.yaml').filter(
      (f) => !deployed.has(f) && !/^apiVersion: kind\.x-k8s\.io\//m.test(readFileSync(path.resolve(repoRoot, f), 'utf8')),
    );
    expect(orphans).toEqual([]);
  });

  // `skaffold dev` without -p on a context other than kind's used to pair the local stack with the
  // chart defaults (host, user and Secret the local stack does not have): the migration failed.
  it('without a profile, deploys the chart with the values that match the local stack it deploys', () => {
    const chart = configs.find((c) => c.metadata.name === 'write-batcher');
    const localStack = configs.find((c) => c.metadata.name === 'local-stack');
    const [release] = chart.deploy.helm.releases;
    expect(release.valuesFiles).toEqual(['charts/write-batcher/values-dev.yaml']);
    const values = parse(readFileSync(path.resolve(repoRoot, release.valuesFiles[0]), 'utf8'));
    const objects = (localStack.manifests.rawYaml as string[]).flatMap(globFiles).flatMap(readYamlDocuments);
    const has = (kind: string, name: string) => objects.some((o) => o.kind === kind && o.metadata?.name === name);
    expect(has('Service', values.mysql.host), `a Service ${values.mysql.host} in the local stack`).toBe(true);
    expect(has('Service', values.temporal.address.split(':')[0]), 'the Temporal Service').toBe(true);
    const secret = objects.find((o) => o.kind === 'Secret' && o.metadata?.name === values.mysql.auth.existingSecret);
    expect(secret, `the Secret ${values.mysql.auth.existingSecret}`).toBeDefined();
    expect(Object.keys({ ...secret.data, ...secret.stringData })).toContain(values.mysql.auth.existingSecretPasswordKey);
    // No profile activates by itself any more, so no context can change the pairing.
    for (const c of configs) for (const p of c.profiles ?? []) expect(p.activation, `${c.metadata.name}/${p.name}`).toBeUndefined();
  });

  it.skipIf(missingTools('skaffold port-forwards', 'helm'))('port-forwards only Services that are deployed', () => {
    const services = new Set<string>();
    for (const pattern of configs.flatMap((c) => c.manifests?.rawYaml ?? []))
      for (const file of globFiles(pattern))
        for (const doc of readYamlDocuments(file)) if (doc.kind === 'Service') services.add(doc.metadata.name);
    for (const r of configs.flatMap(variantsOf).flatMap((v) => v.deploy?.helm?.releases ?? [])) {
      const out = runTool(tools.helm, [
        'template',
        r.name,
        path.resolve(repoRoot, r.chartPath),
        '--kube-version',
        '1.33.0',
        ...(r.valuesFiles ?? []).flatMap((f: string) => ['-f', path.resolve(repoRoot, f)]),
      ]);
      expect(out.status, out.stderr).toBe(0);
      for (const d of parseAllDocuments(out.stdout).map((x) => x.toJS())) if (d?.kind === 'Service') services.add(d.metadata.name);
    }
    const forwards = configs
      .flatMap(variantsOf)
      .flatMap((v) => (v.portForward ?? []).map((pf: Doc) => `${v.name}: ${pf.resourceType}/${pf.resourceName}`));
    expect(forwards.length).toBeGreaterThan(0);
    const missing = configs
      .flatMap(variantsOf)
      .flatMap((v) =>
        (v.portForward ?? [])
          .filter((pf: Doc) => pf.resourceType !== 'service' || !services.has(pf.resourceName))
          .map((pf: Doc) => `${v.name}: ${pf.resourceName}`),
      );
    expect(missing).toEqual([]);
  });
});

describe('k8s/temporal.yaml', () => {
  // The local stack's server must run what every test and benchmark server runs.
  it('starts the dev server with the settings the harness gives every server', async () => {
    const { BATCHER_SERVER_SETTINGS } = await import('../support/temporal');
    const deployment = readYamlDocuments('k8s/temporal.yaml').find((d) => d.kind === 'Deployment');
    const args: string[] = deployment.spec.template.spec.containers[0].args;
    const given = args.flatMap((a, i) => (args[i - 1] === '--dynamic-config-value' ? [a] : []));
    expect(Object.keys(BATCHER_SERVER_SETTINGS).length).toBeGreaterThan(0);
    expect(given.sort()).toEqual(
      Object.entries(BATCHER_SERVER_SETTINGS)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .sort(),
    );
  });
});

describe('k8s/kind-cluster.yaml', () => {
  it('is a valid kind v1alpha4 Cluster', () => {
    const docs = readYamlDocuments('k8s/kind-cluster.yaml');
    expect(docs).toHaveLength(1);
    const validate = ajv.compile(JSON.parse(readFileSync(path.join(repoRoot, 'test/packaging/kind-cluster.schema.json'), 'utf8')));
    expect(schemaErrors(validate, docs[0])).toEqual([]);
  });
});
