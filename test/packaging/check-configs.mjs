// Offline checks of the files Skaffold and kind read, for scripts/check-packaging.sh: skaffold.yaml
// against skaffold's published JSON schema, every path it names, the values keys it sets and the
// Services it port-forwards; k8s/kind-cluster.yaml against a schema written from kind's types.
// Prints one line per check, `ok - <name>` or `not ok - <name>: <why>`, and exits 1 if any failed.
//   usage: node test/packaging/check-configs.mjs   (from the repository root)
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import { parseAllDocuments, parse } from 'yaml';

const root = process.cwd();
const skaffoldSchemaPath = process.env.SKAFFOLD_SCHEMA ?? path.resolve(root, '../shared/schemas/skaffold-v4beta14.json');
const kindSchemaPath = path.resolve(root, 'test/packaging/kind-cluster.schema.json');
const helm = process.env.HELM ?? path.resolve(root, '.tools/bin/helm');
const kubeVersion = process.env.KUBE_VERSION ?? '1.33.0';

let failures = 0;
function check(name, fn) {
  try {
    const why = fn();
    if (why) throw new Error(why);
    console.log(`ok - ${name}`);
  } catch (err) {
    failures++;
    console.log(`not ok - ${name}: ${String(err?.message ?? err).split('\n').join(' | ')}`);
  }
}

const ajv = new Ajv({ strict: false, allErrors: true });
function schemaErrors(validate, data) {
  if (validate(data)) return undefined;
  // anyOf branches repeat the same complaint; keep each once, with the offending property.
  const messages = validate.errors.map((e) => `${e.instancePath || '/'} ${e.message}${e.params?.additionalProperty ? ` (${e.params.additionalProperty})` : ''}`);
  return [...new Set(messages)].join('; ');
}

function readYamlDocuments(file) {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  for (const d of docs) if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
  return docs.map((d) => d.toJS()).filter((d) => d != null);
}

/** Minimal glob for skaffold's rawYaml entries: `*` within one path segment. */
function globFiles(pattern) {
  if (!pattern.includes('*')) return existsSync(path.resolve(root, pattern)) ? [pattern] : [];
  const dir = path.dirname(pattern);
  const re = new RegExp(`^${path.basename(pattern).replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
  if (!existsSync(path.resolve(root, dir))) return [];
  return readdirSync(path.resolve(root, dir)).filter((f) => re.test(f)).map((f) => path.join(dir, f));
}

/** Whether a dotted values key (`image.repository`) exists in the chart's values.yaml. */
function valuesHasKey(values, key) {
  let node = values;
  for (const part of key.split('.')) {
    if (node == null || typeof node !== 'object' || !(part in node)) return false;
    node = node[part];
  }
  return true;
}

// --- skaffold.yaml --------------------------------------------------------------------------
const skaffoldSchema = JSON.parse(readFileSync(skaffoldSchemaPath, 'utf8'));
const validateSkaffold = ajv.compile(skaffoldSchema);
const configs = readYamlDocuments(path.resolve(root, 'skaffold.yaml'));

check('skaffold.yaml has the local-stack and write-batcher modules', () => {
  const names = configs.map((c) => c.metadata?.name);
  return names.join(',') === 'local-stack,write-batcher' ? undefined : `modules are ${names.join(', ')}`;
});

const profileNames = new Set();
for (const config of configs) {
  const module = config.metadata?.name ?? '(unnamed)';
  check(`skaffold.yaml module ${module} matches the skaffold/v4beta14 schema`, () => {
    if (config.apiVersion !== 'skaffold/v4beta14') return `apiVersion is ${config.apiVersion}`;
    return schemaErrors(validateSkaffold, config);
  });

  // The base pipeline and every profile: each names files, values keys and Services.
  const variants = [{ name: module, ...config }, ...(config.profiles ?? []).map((p) => ({ ...p, name: `${module}/${p.name}` }))];
  for (const p of config.profiles ?? []) profileNames.add(p.name);
  const artifacts = new Set();
  for (const v of variants) {
    for (const a of v.build?.artifacts ?? []) {
      artifacts.add(a.image.replace(/[/.:-]/g, '_'));
      const context = a.context ?? '.';
      const dockerfile = path.join(context, a.docker?.dockerfile ?? 'Dockerfile');
      check(`${v.name}: artifact ${a.image} builds from an existing ${dockerfile}`, () => (statSync(path.resolve(root, dockerfile)).isFile() ? undefined : 'not a file'));
    }
    for (const pattern of v.manifests?.rawYaml ?? []) {
      check(`${v.name}: manifest ${pattern} exists`, () => (globFiles(pattern).length ? undefined : 'matches no file'));
    }
    for (const r of v.deploy?.helm?.releases ?? []) {
      const chartOk = typeof r.chartPath === 'string' && existsSync(path.resolve(root, r.chartPath, 'Chart.yaml'));
      check(`${v.name}: chart ${r.chartPath} exists`, () => (chartOk ? undefined : 'no Chart.yaml there'));
      if (!chartOk) continue;
      for (const f of r.valuesFiles ?? []) {
        check(`${v.name}: values file ${f} exists`, () => (existsSync(path.resolve(root, f)) ? undefined : 'missing'));
      }
      const chartValues = parse(readFileSync(path.resolve(root, r.chartPath, 'values.yaml'), 'utf8'));
      const keys = [...Object.keys(r.setValueTemplates ?? {}), ...Object.keys(r.setValues ?? {})];
      check(`${v.name}: release ${r.name} sets only keys the chart has (${keys.join(', ')})`, () => {
        const unknown = keys.filter((k) => !valuesHasKey(chartValues, k));
        return unknown.length ? `not in ${r.chartPath}/values.yaml: ${unknown.join(', ')}` : undefined;
      });
      check(`${v.name}: release ${r.name} templates name a built artifact`, () => {
        const used = [...JSON.stringify(r.setValueTemplates ?? {}).matchAll(/IMAGE_[A-Z_]*?_((?:[a-z0-9]+_?)+)\}\}/g)].map((m) => m[1]);
        const missing = used.filter((u) => !artifacts.has(u));
        return used.length === 0 ? 'no image templates' : missing.length ? `no artifact for ${missing.join(', ')}` : undefined;
      });
    }
  }
}

check('skaffold.yaml defines the dev and staging profiles', () =>
  profileNames.has('dev') && profileNames.has('staging') ? undefined : `profiles: ${[...profileNames].join(', ')}`,
);

check('skaffold.yaml deploys every Kubernetes manifest in k8s/ (the kind config aside)', () => {
  const deployed = new Set(configs.flatMap((c) => [c, ...(c.profiles ?? [])]).flatMap((v) => (v.manifests?.rawYaml ?? []).flatMap(globFiles)));
  const orphans = globFiles('k8s/*.yaml').filter((f) => !deployed.has(f) && !/^apiVersion: kind\.x-k8s\.io\//m.test(readFileSync(path.resolve(root, f), 'utf8')));
  return orphans.length ? `not deployed: ${orphans.join(', ')}` : undefined;
});

// Port-forwarded Services must exist in what each module deploys (rendered chart or raw YAML).
const serviceNames = new Set();
for (const pattern of configs.flatMap((c) => c.manifests?.rawYaml ?? [])) {
  for (const file of globFiles(pattern)) {
    for (const doc of readYamlDocuments(path.resolve(root, file))) if (doc.kind === 'Service') serviceNames.add(doc.metadata.name);
  }
}
const releases = configs
  .flatMap((c) => [c, ...(c.profiles ?? [])])
  .flatMap((v) => v.deploy?.helm?.releases ?? [])
  .filter((r) => typeof r.chartPath === 'string' && existsSync(path.resolve(root, r.chartPath, 'Chart.yaml')));
for (const r of releases) {
  const args = ['template', r.name, path.resolve(root, r.chartPath), '--kube-version', kubeVersion, ...(r.valuesFiles ?? []).flatMap((f) => ['-f', path.resolve(root, f)])];
  const rendered = execFileSync(helm, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  for (const doc of parseAllDocuments(rendered).map((d) => d.toJS())) if (doc?.kind === 'Service') serviceNames.add(doc.metadata.name);
}
for (const config of configs) {
  for (const v of [config, ...(config.profiles ?? [])]) {
    for (const pf of v.portForward ?? []) {
      check(`${config.metadata.name}${v === config ? '' : `/${v.name}`}: port-forward ${pf.resourceType}/${pf.resourceName}:${pf.port} targets a deployed Service`, () =>
        pf.resourceType === 'service' && serviceNames.has(pf.resourceName) ? undefined : `no Service ${pf.resourceName} in k8s/ or the rendered chart`,
      );
    }
  }
}

// --- k8s/kind-cluster.yaml ------------------------------------------------------------------
const validateKind = ajv.compile(JSON.parse(readFileSync(kindSchemaPath, 'utf8')));
check('k8s/kind-cluster.yaml is a valid kind v1alpha4 Cluster', () => {
  const docs = readYamlDocuments(path.resolve(root, 'k8s/kind-cluster.yaml'));
  return docs.length !== 1 ? `${docs.length} documents` : schemaErrors(validateKind, docs[0]);
});

process.exit(failures ? 1 : 0);
