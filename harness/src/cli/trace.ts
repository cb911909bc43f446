// npm run trace -- <traceId> [--jaeger URL]: one trace from Jaeger's query API, printed as a tree in
// the terminal (for Jaeger builds without the web UI). The URL defaults to the running demo's
// Jaeger, then JAEGER_QUERY_URL, then http://127.0.0.1:16686.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../processes';
import type { JaegerTrace } from '../jaeger';

type Span = JaegerTrace['spans'][number];

function defaultUrl(): string {
  try {
    const state = JSON.parse(fs.readFileSync(path.join(repoRoot, '.run', 'demo', 'state.json'), 'utf8')) as { jaegerQueryUrl?: string };
    if (state.jaegerQueryUrl) return state.jaegerQueryUrl;
  } catch {
    // no demo running: fall through
  }
  return process.env.JAEGER_QUERY_URL ?? 'http://127.0.0.1:16686';
}

/** The tree's lines: operation, service, duration and start offset from the trace's first span. */
export function traceTree(trace: JaegerTrace): string[] {
  const spans = trace.spans;
  const byId = new Map(spans.map((s) => [s.spanID, s]));
  const children = new Map<string, Span[]>();
  const roots: Span[] = [];
  for (const s of spans) {
    const parent = s.references.find((r) => (r.refType === 'CHILD_OF' || r.refType === 'FOLLOWS_FROM') && byId.has(r.spanID));
    if (parent) children.set(parent.spanID, [...(children.get(parent.spanID) ?? []), s]);
    else roots.push(s);
  }
  const t0 = Math.min(...spans.map((s) => s.startTime));
  const lines: string[] = [];
  const walk = (s: Span, prefix: string, last: boolean, top: boolean) => {
    const service = trace.processes[s.processID]?.serviceName ?? '?';
    const head = top ? '' : `${prefix}${last ? '└─ ' : '├─ '}`;
    // A root that names a parent: that span was not exported (e.g. the workflow's own run span).
    const detached = top && s.references.some((r) => r.refType === 'CHILD_OF') ? '  (parent span not in this trace)' : '';
    lines.push(
      `${head}${s.operationName}  [${service}]  ${(s.duration / 1000).toFixed(1)} ms  @+${((s.startTime - t0) / 1000).toFixed(1)} ms${detached}`,
    );
    const kids = (children.get(s.spanID) ?? []).sort((a, b) => a.startTime - b.startTime);
    kids.forEach((k, i) => walk(k, top ? '' : `${prefix}${last ? '   ' : '│  '}`, i === kids.length - 1, false));
  };
  for (const r of roots.sort((a, b) => a.startTime - b.startTime)) walk(r, '', true, true);
  return lines;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { jaeger: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const traceId = positionals[0];
  if (values.help || !traceId) {
    console.log('usage: npm run trace -- <traceId> [--jaeger http://127.0.0.1:16686]');
    return values.help ? 0 : 1;
  }
  const base = values.jaeger ?? defaultUrl();
  const url = `${base}/api/traces/${encodeURIComponent(traceId)}`;
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) }).catch((err: Error) => {
    throw new Error(`cannot reach Jaeger at ${base} (${err.message}); is the demo running with --jaeger?`);
  });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status} ${(await response.text()).slice(0, 200)}`);
  const trace = ((await response.json()) as { data: JaegerTrace[] }).data[0];
  if (!trace) throw new Error(`trace ${traceId} not found at ${base}`);
  console.log(`trace ${trace.traceID}: ${trace.spans.length} spans (${url})`);
  for (const line of traceTree(trace)) console.log(line);
  return 0;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: Error) => {
      console.error(`[trace] ${err.message}`);
      process.exit(1);
    },
  );
}
