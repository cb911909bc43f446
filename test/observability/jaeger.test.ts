// Tracing end to end: the real services (batcher-worker, main-worker and the starter, as the built
// programs the images run) export OTLP to a real Jaeger v2, against the run's Temporal server and
// MariaDB; the traces are read back from Jaeger's query API. Child processes, because OpenTelemetry
// has one global provider per process and each service must report its own service.name.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { batcherWorkflowId } from '@write-batcher/protocol';
import { batcherStatsQuery, type BatcherStats } from '@write-batcher/batcher';
import { loadConfig } from '@batcher/service-kit';
import { migrateDatabase } from '@batcher/batcher-worker/schema';
import { globalTemporal, serviceEnv } from '../support/global-servers';
import { startJaeger, type Jaeger } from '../support/jaeger';
import { freePort, logDir, makeTempDir, repoRoot, spawnLogged, waitUntil, type ManagedProcess } from '../support/processes';

const WORKFLOWS = 3;
/** Rows each workflow writes: the demo's JSON row and its typed order row (demo_orders), in parallel. */
const ROWS_PER_WORKFLOW = 2;
const HEX32 = /^[0-9a-f]{32}$/;

interface Span {
  traceID: string;
  spanID: string;
  operationName: string;
  processID: string;
  startTime: number;
  duration: number;
  references: Array<{ refType: string; traceID: string; spanID: string }>;
  tags: Array<{ key: string; value: unknown }>;
}
interface Trace {
  traceID: string;
  spans: Span[];
  processes: Record<string, { serviceName: string; tags: Array<{ key: string; value: unknown }> }>;
}

const tag = (s: { tags: Array<{ key: string; value: unknown }> }, key: string): unknown => s.tags.find((t) => t.key === key)?.value;
const parentOf = (s: Span): string | undefined => s.references.find((r) => r.refType === 'CHILD_OF')?.spanID;

function program(service: string, file = 'main.js'): string {
  const p = path.join(repoRoot, 'services', service, 'dist', file);
  if (!fs.existsSync(p)) throw new Error(`${p} is missing: build first (npx tsc -b)`);
  return p;
}

async function runToEnd(proc: ManagedProcess, timeoutMs: number): Promise<string> {
  const timer = setTimeout(() => void proc.stop({ graceMs: 2000 }), timeoutMs);
  const { code, signal } = await proc.exited.finally(() => clearTimeout(timer));
  const output = fs.readFileSync(proc.logFile, 'utf8');
  if (code !== 0) throw new Error(`${proc.name} exited with ${code ?? signal}; log ${proc.logFile}:\n${output.slice(-4000)}`);
  return output;
}

function jsonLines(file: string): Array<Record<string, unknown>> {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

describe('tracing in Jaeger', () => {
  let jaeger: Jaeger | undefined;
  const workers: ManagedProcess[] = [];
  let env: NodeJS.ProcessEnv;
  let starterOutput = '';
  /** workflow id → trace id, as the starter printed them. */
  const traceOf = new Map<string, string>();
  let stats: BatcherStats;
  const slug = `otel-${Date.now().toString(36)}`;

  const getTrace = async (traceId: string): Promise<Trace | undefined> => {
    const response = await fetch(`${jaeger!.queryUrl}/api/traces/${traceId}`);
    if (response.status === 404) return undefined;
    if (!response.ok) throw new Error(`GET /api/traces/${traceId}: HTTP ${response.status}`);
    return ((await response.json()) as { data: Trace[] }).data[0];
  };
  /** Waits until the trace holds every named operation (workflow spans arrive when they end). */
  const traceWith = (traceId: string, operations: string[]): Promise<Trace> =>
    waitUntil(
      `trace ${traceId} with ${operations.join(', ')}`,
      async () => {
        const t = await getTrace(traceId);
        const have = new Set(t?.spans.map((s) => s.operationName));
        if (t && operations.every((o) => have.has(o))) return t;
        throw new Error(`has ${[...have].sort().join(', ') || 'nothing'}`);
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );

  beforeAll(async () => {
    jaeger = await startJaeger();
    env = serviceEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpHttpEndpoint,
      // Export within a fraction of a second instead of the default 5 s.
      OTEL_BSP_SCHEDULE_DELAY: '200',
      BATCHER_TASK_QUEUE: `batcher-${slug}`,
      BATCHER_WORKFLOW_ID_PREFIX: `batcher-${slug}`,
      MAIN_TASK_QUEUE: `main-${slug}`,
      MYSQL_DATABASE: slug.replace(/-/g, '_'),
      STARTER_WORKFLOW_ID_PREFIX: `txn-${slug}`,
      BATCH_FLUSH_INTERVAL_MS: '1500',
      // Every signal makes the shard continue as new before it flushes, so each request's trace
      // context has to survive at least one continue-as-new inside the carried state.
      CONTINUE_AS_NEW_SIGNALS: '1',
      // Submissions reach the shard at once (the default groups them for up to the flush interval,
      // and the shard then writes them as they arrive), so they wait in it across a continue-as-new.
      SUBMIT_LINGER_MS: '100',
      BUSINESS_STEP_MS: '50',
      WORKER_METRICS_PORT: '0',
      WORKER_SHUTDOWN_GRACE_MS: '2000',
      LOG_LEVEL: 'info',
    });
    await migrateDatabase(loadConfig(['mysql'], env).mysql);

    // Prebundled workflow code, as in the images: this is what proves telemetryBundlerPlugins
    // puts the tracing interceptors into a bundle.
    const bundleDir = makeTempDir('otel-bundles');
    const bundles = Object.fromEntries(['batcher-worker', 'main-worker'].map((s) => [s, path.join(bundleDir, `${s}.js`)]));
    await Promise.all(
      Object.entries(bundles).map(([service, out]) =>
        runToEnd(
          spawnLogged({ name: `bundle-${service}`, command: process.execPath, args: [program(service, 'bundle.js'), out], env }),
          150_000,
        ),
      ),
    );

    for (const service of ['batcher-worker', 'main-worker']) {
      const healthPort = await freePort();
      const proc = spawnLogged({
        name: service,
        command: process.execPath,
        args: [program(service)],
        env: { ...env, WORKFLOW_BUNDLE_PATH: bundles[service], WORKER_HEALTH_PORT: String(healthPort) },
      });
      workers.push(proc);
      await waitUntil(
        `${service} ready (log ${proc.logFile})`,
        async () => {
          if (proc.hasExited()) throw new Error(`${service} exited:\n${proc.logTail()}`);
          return (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok;
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
    }

    starterOutput = await runToEnd(
      spawnLogged({
        name: 'starter',
        command: process.execPath,
        args: [program('starter'), '--workflows', String(WORKFLOWS), '--stats-interval-ms', '60000'],
        env,
      }),
      120_000,
    );
    for (const m of starterOutput.matchAll(/^trace (\S+): ([0-9a-f]{32}) (\S+)$/gm)) traceOf.set(m[1] as string, m[2] as string);

    const connection = await Connection.connect({ address: globalTemporal().address });
    try {
      const client = new Client({ connection, namespace: globalTemporal().namespace });
      stats = await client.workflow.getHandle(batcherWorkflowId(`batcher-${slug}`, 0)).query(batcherStatsQuery);
      await client.workflow.getHandle(batcherWorkflowId(`batcher-${slug}`, 0)).terminate('test finished');
    } finally {
      await connection.close();
    }
  });

  afterAll(async () => {
    // Everything Jaeger holds, for reading a failure after the run.
    if (jaeger) {
      const dump = Object.fromEntries(
        await Promise.all(
          ['starter', 'main-worker', 'batcher-worker'].map(async (s) => [s, await jaeger!.traces(s).catch(String)] as const),
        ),
      );
      fs.writeFileSync(path.join(logDir, `jaeger-traces-${slug}.json`), JSON.stringify(dump));
    }
    await Promise.allSettled(workers.map((w) => w.stop({ graceMs: 10_000 })));
    await jaeger?.stop();
  });

  it('when the starter starts workflows, then it prints each trace id with its Jaeger link', () => {
    expect(starterOutput).toMatch(new RegExp(`${WORKFLOWS} succeeded, 0 failed`));
    expect(traceOf.size).toBe(WORKFLOWS);
    for (const id of traceOf.values()) {
      expect(id).toMatch(HEX32);
      expect(starterOutput).toContain(`http://localhost:16686/trace/${id}`);
    }
    // The requests crossed continue-as-new before they were written (CONTINUE_AS_NEW_SIGNALS=1).
    expect(stats.continueAsNewCount).toBeGreaterThanOrEqual(1);
    expect(stats.rowsWritten).toBe(WORKFLOWS * ROWS_PER_WORKFLOW);
  });

  it('when the starter finishes, then its summary counts the rows of both demo tables and the bulk writes that committed them', () => {
    const rows = WORKFLOWS * ROWS_PER_WORKFLOW;
    expect(starterOutput).toContain(`rows written for this run: ${rows} = ${WORKFLOWS} in batched_writes + ${WORKFLOWS} in demo_orders`);
    const writes = new RegExp(`^those ${rows} single-row writes → (\\d+) bulk writes \\(.*: (\\d+) INSERTs\\)$`, 'm').exec(starterOutput);
    expect(writes, starterOutput).not.toBeNull();
    // Every bulk write holds at least one row, and writes each of its tables with one INSERT.
    const [bulk, inserts] = [Number(writes![1]), Number(writes![2])];
    expect(bulk).toBeGreaterThanOrEqual(1);
    expect(inserts).toBeGreaterThanOrEqual(bulk);
    expect(inserts).toBeLessThanOrEqual(Math.min(rows, 2 * bulk));
  });

  it('when a main workflow runs, then its one trace shows every hop through both workers in parent order', async () => {
    let carriedTheGroup = 0;
    for (const traceId of traceOf.values()) {
      const t = await traceWith(traceId, [
        'RunWorkflow:transactionWorkflow',
        'CompleteActivity:awaitBatchedWrite',
        'RunActivity:finalizeTransaction',
      ]);
      const serviceOf = (s: Span) => t.processes[s.processID]?.serviceName;
      expect(new Set(t.spans.map(serviceOf))).toEqual(new Set(['starter', 'main-worker', 'batcher-worker']));

      const all = (operation: string, service: string): Span[] => {
        // A workflow task whose completion the server refuses is run again, and the SDK exports its
        // spans again: the same span, same id, twice. Different ids would be a real second hop.
        const found = t.spans.filter((s) => s.operationName === operation && serviceOf(s) === service);
        return [...new Map(found.map((s) => [s.spanID, s])).values()];
      };
      const one = (operation: string, service: string): Span => {
        const found = all(operation, service);
        expect(
          found.length,
          `${operation} in ${service}; trace has ${t.spans.map((s) => `${s.operationName}@${serviceOf(s)}`).join(', ')}`,
        ).toBe(1);
        return found[0] as Span;
      };
      const start = one('StartWorkflow:transactionWorkflow', 'starter');
      const run = one('RunWorkflow:transactionWorkflow', 'main-worker');
      const prepare = one('RunActivity:prepareTransaction', 'main-worker');
      // Two writes (the JSON row and the order row), each a waiting activity that runs on the
      // batcher worker since the redesign (the requester's worker runs nothing of the batcher's).
      const scheduleWrites = all('StartActivity:awaitBatchedWrite', 'main-worker');
      const writes = all('RunActivity:awaitBatchedWrite', 'batcher-worker');
      const answers = all('CompleteActivity:awaitBatchedWrite', 'batcher-worker');
      const writesSeen = `trace has ${t.spans.map((s) => `${s.operationName}@${serviceOf(s)}`).join(', ')}`;
      expect(scheduleWrites, writesSeen).toHaveLength(ROWS_PER_WORKFLOW);
      expect(writes, writesSeen).toHaveLength(ROWS_PER_WORKFLOW);
      expect(answers, writesSeen).toHaveLength(ROWS_PER_WORKFLOW);
      const scheduleFinalize = one('StartActivity:finalizeTransaction', 'main-worker');
      const finalize = one('RunActivity:finalizeTransaction', 'main-worker');

      // Parent order: start → run → business step; run → the waiting write activities …
      expect(parentOf(start)).toBeUndefined();
      expect(parentOf(run)).toBe(start.spanID);
      expect(parentOf(one('StartActivity:prepareTransaction', 'main-worker'))).toBe(run.spanID);
      expect(parentOf(prepare)).toBe(one('StartActivity:prepareTransaction', 'main-worker').spanID);
      for (const schedule of scheduleWrites) expect(parentOf(schedule)).toBe(run.spanID);
      expect(new Set(writes.map(parentOf))).toEqual(new Set(scheduleWrites.map((s) => s.spanID)));
      // … each of which the batcher worker answers in the requester's context carried in the request …
      expect(new Set(answers.map(parentOf))).toEqual(new Set(writes.map((s) => s.spanID)));
      // … then the final step.
      expect(parentOf(scheduleFinalize)).toBe(run.spanID);
      expect(parentOf(finalize)).toBe(scheduleFinalize.spanID);

      // Requests travel in groups: the request whose activity sent its group's signal also holds
      // the signal-with-start (sent by the batcher worker, where the activity runs) and the
      // batcher's handling of it.
      const sent = all('SignalWithStartWorkflow:batcherWorkflow', 'batcher-worker');
      if (sent.length > 0) {
        carriedTheGroup++;
        expect(writes.map((w) => w.spanID)).toContain(parentOf(sent[0]!));
        expect(all('HandleSignal:submitWrites', 'batcher-worker').map(parentOf)).toContain(sent[0]!.spanID);
      }

      // In time: start, business step, each submission then its answer, final step.
      for (const write of writes) {
        const answer = answers.find((a) => parentOf(a) === write.spanID)!;
        const order = [start, run, prepare, write, answer, scheduleFinalize, finalize];
        for (let i = 1; i < order.length; i++) {
          expect(order[i]!.startTime, `${order[i]!.operationName} starts after ${order[i - 1]!.operationName}`).toBeGreaterThanOrEqual(
            order[i - 1]!.startTime,
          );
        }
        expect(answer.duration).toBeGreaterThan(0);
      }
      expect(run.startTime + run.duration).toBeGreaterThanOrEqual(finalize.startTime + finalize.duration);

      // Each service reports its own resource.
      for (const s of [start, run, answers[0]!]) {
        expect(tag(t.processes[s.processID]!, 'service.version')).toBe('0.1.0');
      }
    }
    expect(carriedTheGroup).toBeGreaterThanOrEqual(1);
  });

  it('when a batch is written, then its span links every trace it served and carries the database attributes', async () => {
    const wanted = new Set(traceOf.values());
    const batches = await waitUntil(
      'bulk-write spans linking every requester trace',
      async () => {
        const traces = (await jaeger!.traces('batcher-worker')) as unknown as Trace[];
        const spans = traces.flatMap((t) => t.spans).filter((s) => s.operationName === 'RunActivity:bulkWrite');
        const linked = new Set(spans.flatMap((s) => s.references.filter((r) => r.refType === 'FOLLOWS_FROM').map((r) => r.traceID)));
        return [...wanted].every((id) => linked.has(id)) ? { traces, spans } : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );

    let rows = 0;
    const tablesWritten = new Set<string>();
    for (const span of batches.spans) {
      const links = span.references.filter((r) => r.refType === 'FOLLOWS_FROM');
      expect(links.length).toBe(tag(span, 'batcher.rows'));
      rows += links.length;
      // Each link points at the submitting activity's span of a main workflow's trace.
      for (const link of links) {
        expect(wanted.has(link.traceID)).toBe(true);
        const served = await traceWith(link.traceID, ['RunActivity:awaitBatchedWrite']);
        expect(served.spans.find((s) => s.spanID === link.spanID)?.operationName).toBe('RunActivity:awaitBatchedWrite');
      }
      expect(tag(span, 'batcher.batch_id')).toMatch(/^s0-/);
      expect(tag(span, 'batcher.shard')).toBe(0);
      expect(tag(span, 'db.system')).toBe('mysql');
      expect(tag(span, 'db.namespace')).toBe(env.MYSQL_DATABASE);
      expect(tag(span, 'db.operation.name')).toBe('INSERT');
      // Since the redesign a batch writes the ledger and each table its rows are for, in one transaction.
      const [ledger, ...tables] = String(tag(span, 'db.collection.name')).split(',');
      expect(ledger).toBe('batcher_ledger');
      expect(tables.length).toBeGreaterThan(0);
      // A batch is a trace of its own, not part of a requester's or of the shard's start.
      expect(wanted.has(span.traceID)).toBe(false);
      const own = batches.traces.find((t) => t.traceID === span.traceID)!;
      for (const table of tables) {
        tablesWritten.add(table);
        const insert = own.spans.find((s) => parentOf(s) === span.spanID && s.operationName === `INSERT ${table}`);
        expect(insert, `INSERT ${table} client span under the bulk write`).toBeDefined();
        expect(tag(insert!, 'span.kind')).toBe('client');
        expect(tag(insert!, 'db.collection.name')).toBe(table);
      }
    }
    expect(rows).toBe(WORKFLOWS * ROWS_PER_WORKFLOW);
    expect([...tablesWritten].sort()).toEqual(['batched_writes', 'demo_orders']);
  });

  it('when workflows and activities log, then each JSON line carries the trace and span ids', () => {
    const [batcherLog, mainLog] = workers.map((w) => jsonLines(w.logFile)) as [
      Array<Record<string, unknown>>,
      Array<Record<string, unknown>>,
    ];
    // Activity lines: the business step logs in its workflow's trace.
    for (const [workflowId, traceId] of traceOf) {
      const prepared = mainLog.find((l) => l.msg === 'transaction prepared' && l.workflowId === workflowId);
      expect(prepared, `"transaction prepared" of ${workflowId}`).toBeDefined();
      expect(prepared!.trace_id).toBe(traceId);
      expect(prepared!.span_id).toMatch(/^[0-9a-f]{16}$/);
    }
    // Workflow lines (through the SDK's workflow logger sink) and the batch activity's line.
    const continuing = batcherLog.filter((l) => l.msg === 'continuing as new');
    expect(continuing.length).toBeGreaterThan(0);
    for (const l of continuing) expect(l.trace_id).toMatch(HEX32);
    const written = batcherLog.filter((l) => l.msg === 'batch written');
    expect(written.length).toBeGreaterThan(0);
    for (const l of written) expect(l.trace_id).toMatch(HEX32);
  });
});
