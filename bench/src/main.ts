// Benchmark: the batched pipeline against a naive one-INSERT-per-workflow baseline, in the same
// run on the same servers, plus how fast one batcher shard absorbs signals. Prints its figures
// and writes them as JSON. Servers come from the environment (scripts/bench.sh starts them).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from '@temporalio/client';
import { NativeConnection, Runtime, DefaultLogger } from '@temporalio/worker';
import { batcherStatsQuery, batcherWorkflowId, type BatcherStats } from '@batcher/shared/workflow';
import { createPool, loadConfig, migrate, signalWithStartBatcher, temporalConnectConfig, WRITES_TABLE, type BatcherConfig, type Pool } from '@batcher/shared/node';
import { createBatcherWorker } from '@batcher/batcher-worker/dist/worker';
import { createMainWorker } from '@batcher/main-worker/dist/worker';
import { awaitTransactions, mapLimit, percentile, startTransactions, summarize, type TransactionOutcome } from '@batcher/starter/dist/run-transactions';

const { values } = parseArgs({
  options: {
    workflows: { type: 'string', default: '1000' },
    'saturation-signals': { type: 'string', default: '3000' },
    'sweep-rates': { type: 'string', default: '50,100,200,400' },
    'sweep-seconds': { type: 'string', default: '10' },
    out: { type: 'string', default: path.resolve(__dirname, '../../.run/bench/results.json') },
  },
});
const N = Number(values.workflows);
const SAT = Number(values['saturation-signals']);
if (!Number.isInteger(N) || N < 1) throw new Error(`--workflows must be a positive integer (got ${values.workflows})`);
if (!Number.isInteger(SAT) || SAT < 0) throw new Error(`--saturation-signals must be a non-negative integer (got ${values['saturation-signals']})`);
const SWEEP_RATES = (values['sweep-rates'] as string).split(',').filter(Boolean).map(Number);
const SWEEP_SECONDS = Number(values['sweep-seconds']);
if (SWEEP_RATES.some((r) => !Number.isInteger(r) || r < 1)) throw new Error(`--sweep-rates must be positive integers separated by commas (got ${values['sweep-rates']})`);
if (!Number.isInteger(SWEEP_SECONDS) || SWEEP_SECONDS < 1) throw new Error(`--sweep-seconds must be a positive integer (got ${values['sweep-seconds']})`);

interface SweepPoint {
  offeredPerS: number;
  sentPerS: number;
  writtenPerS: number;
  /** Seconds from the last signal sent until every offered request was written. */
  drainSeconds: number;
  maxPending: number;
  /** Statistics queries (every 0.7 s) that failed or timed out while the shard was busy. */
  failedSamples: number;
}

/**
 * Offers one fresh shard a steady rate of signals for a while and measures whether it keeps up:
 * a shard is saturated at the first rate where it writes clearly less than it is offered or needs
 * long to drain what piled up.
 */
async function sweepPoint(client: Client, cfg: BatcherConfig, tag: string, rate: number, seconds: number): Promise<SweepPoint> {
  const shardCfg = { ...cfg, shards: 1, workflowIdPrefix: `bench-sweep-${tag}-${rate}` };
  const handle = client.workflow.getHandle(batcherWorkflowId(shardCfg.workflowIdPrefix, 0));
  const total = rate * seconds;
  const tickMs = 100;
  const perTick = rate / (1000 / tickMs);
  const sends: Array<Promise<unknown>> = [];
  let maxPending = 0;
  let failedSamples = 0;
  const sample = async (): Promise<void> => {
    try {
      const stats = await handle.query(batcherStatsQuery);
      // Samples alone can line up with the flushes; the backlog left after each flush cannot hide.
      maxPending = Math.max(maxPending, stats.pending, ...stats.recentBatches.map((b) => b.pendingAfter));
    } catch {
      failedSamples++;
    }
  };
  const t0 = Date.now();
  for (let sent = 0, tick = 1; sent < total; tick++) {
    const due = Math.min(total, Math.round(perTick * tick));
    for (; sent < due; sent++) {
      sends.push(signalWithStartBatcher(client, shardCfg, 0, { requestId: `sweep-${tag}-${rate}-${sent}`, requesterWorkflowId: `sweep-requester-${tag}-${sent}`, payload: { sent }, submittedAtMs: Date.now() }));
    }
    const wait = t0 + tick * tickMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (tick % 7 === 0) await sample();
  }
  await Promise.all(sends);
  const sentAt = Date.now();
  let written = 0;
  for (let i = 0; i < 1200 && written < total; i++) {
    const stats = await handle.query(batcherStatsQuery);
    maxPending = Math.max(maxPending, stats.pending, ...stats.recentBatches.map((b) => b.pendingAfter));
    written = stats.rowsWritten + stats.rejected;
    if (written < total) await new Promise((r) => setTimeout(r, 250));
  }
  const doneAt = Date.now();
  await handle.terminate('benchmark finished').catch(() => undefined);
  return {
    offeredPerS: rate,
    sentPerS: round(total / ((sentAt - t0) / 1000)),
    writtenPerS: round(written / ((doneAt - t0) / 1000)),
    drainSeconds: round((doneAt - sentAt) / 1000),
    maxPending,
    failedSamples,
  };
}

async function statementsSoFar(pool: Pool): Promise<number> {
  const [rows] = await pool.query("SHOW GLOBAL STATUS LIKE 'Questions'");
  return Number((rows as Array<{ Value: string }>)[0]?.Value ?? 0);
}

/** Statements the pipeline sent between two readings, not counting the readings themselves. */
async function measureStatements<T>(pool: Pool, fn: () => Promise<T>): Promise<{ value: T; statements: number }> {
  const before = await statementsSoFar(pool);
  const value = await fn();
  const after = await statementsSoFar(pool);
  return { value, statements: after - before - 1 };
}

async function committedRows(pool: Pool, prefix: string): Promise<{ rows: number; batches: number }> {
  const [r] = await pool.query(`SELECT COUNT(*) AS n, COUNT(DISTINCT batch_id) AS b FROM ${WRITES_TABLE} WHERE status = 'committed' AND requester_workflow_id LIKE ?`, [`${prefix}%`]);
  const row = (r as Array<{ n: number; b: number }>)[0];
  return { rows: Number(row?.n ?? 0), batches: Number(row?.b ?? 0) };
}

async function batcherHistoryEvents(client: Client, workflowId: string): Promise<{ runs: number; events: number }> {
  let runs = 0;
  let events = 0;
  // Visibility lists every run; describe gives each run's exact history length.
  for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    runs++;
    events += (await client.workflow.getHandle(workflowId, wf.runId).describe()).historyLength;
  }
  return { runs, events };
}

interface PipelineFigures {
  workflows: number;
  succeeded: number;
  failed: number;
  seconds: number;
  throughputPerS: number;
  latencyMs: { p50: number; p95: number; p99: number };
  rows: number;
  statements: number;
  statementsPerRow: number;
}

function figures(outcomes: TransactionOutcome[], seconds: number, rows: number, statements: number): PipelineFigures {
  const s = summarize(outcomes);
  return {
    workflows: s.total,
    succeeded: s.succeeded,
    failed: s.failed,
    seconds: round(seconds),
    throughputPerS: round(s.succeeded / seconds),
    latencyMs: s.latencyMs,
    rows,
    statements,
    statementsPerRow: round(statements / Math.max(rows, 1), 4),
  };
}

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const config = loadConfig(['batcher', 'main', 'mysql'], { ...process.env, MYSQL_POOL_SIZE: process.env.MYSQL_POOL_SIZE ?? '20' });
  const temporal = temporalConnectConfig();
  await migrate(config.mysql);
  const pool = createPool(config.mysql);
  const connection = await NativeConnection.connect(temporal.connectionOptions);
  const client = new Client({ connection, namespace: temporal.namespace });
  const tag = Date.now().toString(36);
  const batcher = { ...config.batcher, taskQueue: `bench-batcher-${tag}`, workflowIdPrefix: `bench-batcher-${tag}` };
  const mainTaskQueue = `bench-main-${tag}`;
  const namespace = temporal.namespace;
  const workers = [
    await createBatcherWorker({ connection, namespace, taskQueue: batcher.taskQueue, pool, shutdownGraceMs: 1000 }),
    await createMainWorker({ connection, namespace, taskQueue: mainTaskQueue, pool, batcher, businessStepMs: 0, shutdownGraceMs: 1000, client }),
  ];
  const running = workers.map((w) => w.run());
  const log = (m: string) => console.log(`[bench] ${m}`);

  try {
    log(`batched pipeline: ${N} workflows, batch ${batcher.maxBatchSize} / ${batcher.flushIntervalMs} ms, ${batcher.shards} shard(s), continue-as-new every ${batcher.continueAsNewSignals} signals`);
    const batchedIds = Array.from({ length: N }, (_, i) => `bench-b-${tag}-${i}`);
    const batchedStart = Date.now();
    const batched = await measureStatements(pool, async () => {
      await startTransactions(client, { taskQueue: mainTaskQueue, workflowIds: batchedIds, input: (id, i) => ({ payload: { order: id, amountCents: i } }) });
      return awaitTransactions(client, batchedIds, batchedStart);
    });
    const batchedSeconds = (Date.now() - batchedStart) / 1000;
    const batchedRows = await committedRows(pool, `bench-b-${tag}-`);
    const stats: BatcherStats[] = await Promise.all(
      Array.from({ length: batcher.shards }, (_, s) => client.workflow.getHandle(batcherWorkflowId(batcher.workflowIdPrefix, s)).query(batcherStatsQuery)),
    );
    const history = await Promise.all(Array.from({ length: batcher.shards }, (_, s) => batcherHistoryEvents(client, batcherWorkflowId(batcher.workflowIdPrefix, s))));

    log(`naive baseline: ${N} workflows, one INSERT activity each`);
    const naiveIds = Array.from({ length: N }, (_, i) => `bench-n-${tag}-${i}`);
    const naiveStart = Date.now();
    const naive = await measureStatements(pool, async () => {
      await startTransactions(client, { taskQueue: mainTaskQueue, workflowType: 'directWriteWorkflow', workflowIds: naiveIds, input: (id, i) => ({ payload: { order: id, amountCents: i } }) });
      return awaitTransactions(client, naiveIds, naiveStart);
    });
    const naiveSeconds = (Date.now() - naiveStart) / 1000;
    const naiveRows = await committedRows(pool, `bench-n-${tag}-`);

    // Saturation of one shard: offer signals as fast as the client can send, then see how fast
    // the shard takes them in and writes them (requesters do not exist: confirmations are counted
    // as undeliverable, which costs the same events as delivered ones).
    let saturation: Record<string, number> | undefined;
    if (SAT > 0) {
      log(`one-shard saturation: ${SAT} signals offered at once`);
      const satCfg = { ...batcher, shards: 1, workflowIdPrefix: `bench-sat-${tag}` };
      const satId = batcherWorkflowId(satCfg.workflowIdPrefix, 0);
      const t0 = Date.now();
      await mapLimit(Array.from({ length: SAT }, (_, i) => i), 64, (i) =>
        signalWithStartBatcher(client, satCfg, 0, { requestId: `sat-${tag}-${i}`, requesterWorkflowId: `sat-requester-${tag}-${i}`, payload: { i }, submittedAtMs: Date.now() }),
      );
      const sentS = (Date.now() - t0) / 1000;
      const handle = client.workflow.getHandle(satId);
      let last: BatcherStats | undefined;
      for (let i = 0; i < 600; i++) {
        last = await handle.query(batcherStatsQuery);
        if (last.rowsWritten + last.rejected >= SAT) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      const doneS = (Date.now() - t0) / 1000;
      const satHistory = await batcherHistoryEvents(client, satId);
      saturation = {
        signals: SAT,
        sendSeconds: round(sentS),
        signalsAcceptedPerS: round(SAT / sentS),
        writtenSeconds: round(doneS),
        rowsWritten: last?.rowsWritten ?? 0,
        requestsWrittenPerS: round((last?.rowsWritten ?? 0) / doneS),
        continueAsNew: last?.continueAsNewCount ?? 0,
        runs: satHistory.runs,
        historyEvents: satHistory.events,
        largestContinueAsNewPayloadBytes: last?.largestContinueAsNewPayloadBytes ?? 0,
      };
      await handle.terminate('benchmark finished').catch(() => undefined);
    }

    const sweep: SweepPoint[] = [];
    for (const rate of SWEEP_RATES) {
      log(`one-shard sweep: ${rate} signals/s for ${SWEEP_SECONDS} s`);
      sweep.push(await sweepPoint(client, batcher, tag, rate, SWEEP_SECONDS));
    }

    const b = figures(batched.value, batchedSeconds, batchedRows.rows, batched.statements);
    const n = figures(naive.value, naiveSeconds, naiveRows.rows, naive.statements);
    const events = history.reduce((x, h) => x + h.events, 0);
    const result = {
      when: new Date().toISOString(),
      machine: `${process.platform} ${process.arch}, node ${process.version}`,
      batching: { maxBatchSize: batcher.maxBatchSize, flushIntervalMs: batcher.flushIntervalMs, shards: batcher.shards, continueAsNewSignals: batcher.continueAsNewSignals },
      batched: {
        ...b,
        bulkOperations: batchedRows.batches,
        batcherRuns: history.reduce((x, h) => x + h.runs, 0),
        batcherHistoryEvents: events,
        historyEventsPerRequest: round(events / Math.max(batchedRows.rows, 1)),
        continueAsNew: stats.reduce((x, s) => x + s.continueAsNewCount, 0),
        largestContinueAsNewPayloadBytes: Math.max(...stats.map((s) => s.largestContinueAsNewPayloadBytes)),
      },
      naive: n,
      ratios: {
        statementsPerRow: round(n.statementsPerRow / Math.max(b.statementsPerRow, 1e-9), 1),
        throughput: round(b.throughputPerS / Math.max(n.throughputPerS, 1e-9), 2),
        latencyP50: round(b.latencyMs.p50 / Math.max(n.latencyMs.p50, 1), 1),
      },
      saturation,
      sweep,
    };

    console.log('\n==== benchmark ====');
    console.log(`                         ${pad('batched')}naive`);
    console.log(`workflows ok/failed      ${pad(`${b.succeeded}/${b.failed}`)}${n.succeeded}/${n.failed}`);
    console.log(`throughput (wf/s)        ${pad(b.throughputPerS)}${n.throughputPerS}`);
    console.log(`confirm p50/p95/p99 ms   ${pad(`${b.latencyMs.p50}/${b.latencyMs.p95}/${b.latencyMs.p99}`)}${n.latencyMs.p50}/${n.latencyMs.p95}/${n.latencyMs.p99}`);
    console.log(`rows written             ${pad(b.rows)}${n.rows}`);
    console.log(`DB statements            ${pad(b.statements)}${n.statements}`);
    console.log(`DB statements per row    ${pad(b.statementsPerRow)}${n.statementsPerRow}`);
    console.log(`bulk operations          ${pad(batchedRows.batches)}${n.rows}`);
    console.log(`batcher history events per request: ${result.batched.historyEventsPerRequest} (${events} events in ${result.batched.batcherRuns} runs)`);
    console.log(`continue-as-new: ${result.batched.continueAsNew}, largest payload ${result.batched.largestContinueAsNewPayloadBytes} bytes`);
    console.log(`ratios: statements/row naive÷batched ${result.ratios.statementsPerRow}×, throughput batched÷naive ${result.ratios.throughput}×, p50 latency batched÷naive ${result.ratios.latencyP50}×`);
    if (saturation) {
      console.log(`one shard: ${saturation.signals} signals sent in ${saturation.sendSeconds} s (${saturation.signalsAcceptedPerS}/s accepted), all written after ${saturation.writtenSeconds} s (${saturation.requestsWrittenPerS} requests/s), ${saturation.continueAsNew} continue-as-new, largest payload ${saturation.largestContinueAsNewPayloadBytes} bytes`);
    }
    for (const p of sweep) {
      console.log(`one shard at ${p.offeredPerS} signals/s offered: sent ${p.sentPerS}/s, written ${p.writtenPerS}/s, drained ${p.drainSeconds} s after the last signal, at most ${p.maxPending} pending (samples and after each flush; ${p.failedSamples} samples failed)`);
    }
    await mkdir(path.dirname(values.out as string), { recursive: true });
    await writeFile(values.out as string, JSON.stringify(result, null, 2));
    console.log(`figures written to ${values.out}`);
  } finally {
    for (let s = 0; s < batcher.shards; s++) await client.workflow.getHandle(batcherWorkflowId(batcher.workflowIdPrefix, s)).terminate('benchmark finished').catch(() => undefined);
    for (const w of workers) w.shutdown();
    await Promise.allSettled(running);
    await pool.end();
    await connection.close();
  }
}

const pad = (v: unknown) => String(v).padEnd(22);

main().catch((err) => {
  console.error(`[bench] failed: ${err?.stack ?? err}`);
  process.exit(1);
});
