// starter: makes sure the batcher shards run, starts N main workflows and, with --wait, prints
// batcher statistics every few seconds and a summary at the end.
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import {
  ensureBatcherShards,
  readBatcherStatsMemo,
  type BatcherStats,
  type PublishedBatcherStats,
  type ShardRouting,
} from '@write-batcher/batcher';
import {
  createPool,
  jaegerTraceUrl,
  loadServiceConfig,
  startTelemetry,
  temporalConnectConfig,
  workflowTraceId,
  type Telemetry,
  runService,
} from '@batcher/service-kit';
import { DEMO_ORDERS_TABLE, DEMO_TABLE } from '@batcher/demo';
import { awaitTransactions, startTransactions, summarize } from '@batcher/demo/transactions';

const SERVICE = 'starter' as const;
const USAGE = `usage: starter [--workflows N] [--shards S] [--wait | --no-wait] [--stats-interval-ms MS]
  --workflows N   main workflows to start (env STARTER_WORKFLOWS, default 200)
  --shards S      batcher shards (env BATCHER_SHARDS, default 1; must match the workers)
  --no-wait       start them and exit without waiting (env STARTER_WAIT=false)`;

function parseCli(argv: string[]): { env: NodeJS.ProcessEnv; statsIntervalMs: number } {
  const { values } = parseArgs({
    args: argv,
    options: {
      workflows: { type: 'string' },
      shards: { type: 'string' },
      wait: { type: 'boolean' },
      'no-wait': { type: 'boolean' },
      'stats-interval-ms': { type: 'string', default: '5000' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  // Flags are applied as their environment variables so they are validated by the same loader.
  const env = { ...process.env };
  if (values.workflows !== undefined) env.STARTER_WORKFLOWS = values.workflows;
  if (values.shards !== undefined) env.BATCHER_SHARDS = values.shards;
  if (values['no-wait']) env.STARTER_WAIT = 'false';
  if (values.wait) env.STARTER_WAIT = 'true';
  const statsIntervalMs = Number(values['stats-interval-ms']);
  if (!Number.isInteger(statsIntervalMs) || statsIntervalMs < 100)
    throw new Error(`--stats-interval-ms must be an integer >= 100 (got ${values['stats-interval-ms']})`);
  return { env, statsIntervalMs };
}

function formatStats(s: PublishedBatcherStats): string {
  const since = s.lastFlushAtMs ? `${((Date.now() - s.lastFlushAtMs) / 1000).toFixed(1)}s ago` : 'never';
  return `[stats] shard ${s.shard}: pending=${s.pending} batches=${s.batchesWritten} rows=${s.rowsWritten} dup=${s.duplicates} rejected=${s.rejected} signals=${s.signalsThisRun}/${s.signalsTotal} can=${s.continueAsNewCount} dedup=${s.dedupWindowSize} canPayload=${s.continueAsNewPayloadBytes}B lastFlush=${since}`;
}

/** How many workflows the starter names a trace for. */
const TRACES_SHOWN = 3;

/** Prints where the traces of the first few workflows open (the client's start span roots each). */
async function printTraceLinks(client: Client, telemetry: Telemetry, workflowIds: string[]): Promise<void> {
  if (!telemetry.exporting) {
    console.log('tracing: not exported (set OTEL_EXPORTER_OTLP_ENDPOINT, e.g. http://localhost:4318, to send traces to Jaeger)');
    return;
  }
  for (const workflowId of workflowIds.slice(0, TRACES_SHOWN)) {
    try {
      const traceId = await workflowTraceId(client, workflowId);
      console.log(
        traceId ? `trace ${workflowId}: ${traceId} ${jaegerTraceUrl(traceId)}` : `trace ${workflowId}: none (started without tracing)`,
      );
    } catch (err) {
      console.log(`trace ${workflowId}: unavailable (${(err as Error).message})`);
    }
  }
}

/**
 * What the confirmation latency is made of, for the summary: most of it is waiting for the batch,
 * which is the point of batching; the write itself is short; the rest is queueing at the server.
 */
async function explainLatency(client: Client, batcher: Pick<ShardRouting, 'shards' | 'workflowIdPrefix'>): Promise<string[]> {
  const writes: number[] = [];
  // The shard owns its settings (its worker's config): it reports the ones it runs with.
  let policy: Pick<BatcherStats, 'flushPolicy' | 'flushIntervalMs' | 'maxBatchSize'> | undefined;
  for (let shard = 0; shard < batcher.shards; shard++) {
    try {
      const stats = await readBatcherStatsMemo(client, batcher, shard);
      writes.push(...(stats?.recentBatches ?? []).map((b) => b.durationMs));
      policy ??= stats;
    } catch {
      // a shard that does not answer only leaves its write times out of the figure
    }
  }
  const meanWrite = writes.length ? Math.round(writes.reduce((a, b) => a + b, 0) / writes.length) : undefined;
  const wait =
    policy === undefined
      ? '  + waiting for the batch: until the shard writes (BATCH_FLUSH_POLICY, BATCH_FLUSH_INTERVAL_MS, BATCH_MAX_SIZE)'
      : policy.flushPolicy === 'eager'
        ? `  + waiting for the batch: the eager policy writes as soon as no write is in flight (batches up to ${policy.maxBatchSize})`
        : `  + waiting for the batch: a request waits until its shard writes, at the latest after ${policy.flushIntervalMs / 1000} s (BATCH_FLUSH_INTERVAL_MS), at once when ${policy.maxBatchSize} are pending (BATCH_MAX_SIZE)`;
  return [
    `  = gathering: a worker sends the requests bound for one shard together, after up to SUBMIT_LINGER_MS`,
    wait,
    `  + the write: one MySQL transaction per batch (a multi-row INSERT per table)${meanWrite === undefined ? '' : `, ${meanWrite} ms on average over the last ${writes.length} batch(es)`}, then each requester's waiting activity is completed`,
    '  + time queued behind the server: the group signal, the bulk-write activity task and each completion wait their turn at the Temporal server and the workers (more under load)',
  ];
}

async function main(): Promise<void> {
  const { env, statsIntervalMs } = parseCli(process.argv.slice(2));
  const config = loadServiceConfig(SERVICE, env);
  const temporal = temporalConnectConfig(env);
  const telemetry = await startTelemetry({ serviceName: SERVICE, config: config.telemetry });
  const connection = await Connection.connect(temporal.connectionOptions);
  const client = new Client({ connection, namespace: temporal.namespace, plugins: telemetry.clientPlugins });
  try {
    await ensureBatcherShards(client, config.batcher);
    const runTag = Date.now().toString(36);
    const n = config.starter.workflows;
    const workflowIds = Array.from({ length: n }, (_, i) => `${config.starter.workflowIdPrefix}-${runTag}-${i}`);
    const startedAt = Date.now();
    await startTransactions(client, {
      taskQueue: config.main.taskQueue,
      workflowIds,
      input: (workflowId, i) => ({
        payload: { order: workflowId, amountCents: 100 + i, currency: 'EUR' },
        confirmationTimeoutMs: config.starter.confirmationTimeoutMs,
        submitAttemptTimeoutMs: config.starter.submitAttemptTimeoutMs,
        batcherTaskQueue: config.batcher.taskQueue,
        // The typed row beside the JSON one: an exact amount, a date, a JSON column (demo_orders).
        order: {
          amountCents: String(100 + i),
          currency: 'EUR',
          placedAt: new Date().toISOString(),
          lines: [{ sku: `sku-${i % 7}`, qty: 1 + (i % 3) }],
        },
      }),
    });
    console.log(
      `started ${n} workflows (${workflowIds[0] ?? ''} … ${workflowIds[n - 1] ?? ''}) on ${config.main.taskQueue}, ${config.batcher.shards} batcher shard(s)`,
    );
    await printTraceLinks(client, telemetry, workflowIds);
    if (!config.starter.wait) return;

    const printStats = async () => {
      for (let shard = 0; shard < config.batcher.shards; shard++) {
        try {
          const stats = await readBatcherStatsMemo(client, config.batcher, shard);
          console.log(stats ? formatStats(stats) : `[stats] shard ${shard}: none published yet`);
        } catch (err) {
          console.log(`[stats] shard ${shard}: unavailable (${(err as Error).message})`);
        }
      }
    };
    const timer = setInterval(() => void printStats(), statsIntervalMs);
    const outcomes = await awaitTransactions(client, workflowIds, startedAt).finally(() => clearInterval(timer));
    await printStats();
    const elapsedS = (Date.now() - startedAt) / 1000;
    const summary = summarize(outcomes);

    // Each workflow writes a row into each demo table (its order's id is its workflow id); every
    // row names the bulk write that committed it. One bulk write is one MySQL transaction with one
    // multi-row INSERT per table it holds rows of.
    const pool = createPool(config.mysql, { connectionLimit: 1 });
    const rowsByTable = new Map<string, number>([
      [DEMO_TABLE, 0],
      [DEMO_ORDERS_TABLE, 0],
    ]);
    const bulkWrites = new Set<string>();
    let tableInserts = 0;
    try {
      const ids = `${config.starter.workflowIdPrefix}-${runTag}-%`;
      const [r] = await pool.query(
        `SELECT t, CAST(b AS CHAR) AS b, COUNT(*) AS n FROM (
           SELECT '${DEMO_TABLE}' AS t, batch_id AS b FROM ${DEMO_TABLE} WHERE requester_workflow_id LIKE ?
           UNION ALL SELECT '${DEMO_ORDERS_TABLE}', written_by_batch FROM ${DEMO_ORDERS_TABLE} WHERE order_id LIKE ?
         ) AS w GROUP BY t, b`,
        [ids, ids],
      );
      for (const { t, b, n } of r as Array<{ t: string; b: string | null; n: number }>) {
        rowsByTable.set(t, (rowsByTable.get(t) ?? 0) + Number(n));
        if (b !== null) bulkWrites.add(b);
        tableInserts++;
      }
    } finally {
      await pool.end();
    }
    const rows = [...rowsByTable.values()].reduce((sum, n) => sum + n, 0);
    console.log('');
    console.log('==== summary ====');
    console.log(`workflows: ${summary.succeeded} succeeded, ${summary.failed} failed of ${summary.total} in ${elapsedS.toFixed(1)} s`);
    for (const [type, count] of Object.entries(summary.failedByType)) console.log(`  failed with ${type}: ${count}`);
    for (const o of outcomes.filter((x) => !x.ok).slice(0, 3)) console.log(`  e.g. ${o.workflowId}: ${o.message}`);
    console.log(`confirmation latency: p50 ${summary.latencyMs.p50} ms, p95 ${summary.latencyMs.p95} ms, p99 ${summary.latencyMs.p99} ms`);
    for (const line of await explainLatency(client, config.batcher)) console.log(line);
    console.log(
      `rows written for this run: ${rows} = ${[...rowsByTable].map(([t, n]) => `${n} in ${t}`).join(' + ')} (each workflow writes one row to each table)`,
    );
    console.log(
      `those ${rows} single-row writes → ${bulkWrites.size} bulk writes (one MySQL transaction each, with one multi-row INSERT per table: ${tableInserts} INSERTs)`,
    );
    if (summary.failed > 0) process.exitCode = 1;
  } finally {
    await connection.close();
    await telemetry.shutdown();
  }
}

runService(SERVICE, main);
