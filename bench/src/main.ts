// The benchmark, all in one run on the same servers (started by the harness; their addresses come
// from the environment): the no-write ceiling, the naive pipeline, the batcher with each flush
// policy (and once with tracing on), a steady rate at half of saturation, a burst into one shard and
// a flood of single-request signals. Every worker is a process of its own, so CPU is read per
// process from /proc. Prints its figures and writes them as JSON.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { awaitActivityIdFor, batcherWorkflowId, type WriteRequest } from '@write-batcher/protocol';
import { batcherStatsQuery, LEDGER_TABLE, readBatcherStatsMemo, signalWithStartBatcher, type BatcherStats } from '@write-batcher/batcher';
import { createPool, loadConfig, type Pool } from '@batcher/service-kit';
import { DEMO_TABLE } from '@batcher/demo';
import { awaitTransactions, mapLimit, percentile, startTransactions, type TransactionOutcome } from '@batcher/demo/transactions';
import { migrateDatabase } from '@batcher/batcher-worker/schema';
import { startDbProxy } from './db-proxy';

const { values } = parseArgs({
  options: {
    transactions: { type: 'string', default: '1000' },
    'step-ms': { type: 'string', default: '2000' },
    burst: { type: 'string', default: '3000' },
    flood: { type: 'string', default: '5000' },
    'flood-seconds': { type: 'string', default: '60' },
    /** Signals/s of the sustained flood; 0: twice the measured saturation (200/s when not measured). */
    'flood-rate': { type: 'string', default: '0' },
    /** Requests per signal of the max-rate flood (1: single-request signals, the worst case for the shard's workflow tasks). */
    'flood-group': { type: 'string', default: '1' },
    'steady-seconds': { type: 'string', default: '30' },
    /** Seconds of the slow phase: one transaction a second, the default policy (where the batcher's own actions weigh most). */
    'slow-seconds': { type: 'string', default: '120' },
    'grouped-rate': { type: 'string', default: '100' },
    'grouped-seconds': { type: 'string', default: '30' },
    /** Database-bound phase (`dbbound`): ms the latency proxy holds each chunk, each way (a statement pays twice this). */
    'db-delay-ms': { type: 'string', default: '200' },
    /** Database-bound phase: connections in each worker's pool (MYSQL_POOL_SIZE), the same for naive and batched. */
    'db-pool': { type: 'string', default: '2' },
    phases: { type: 'string', default: 'ceiling,naive,batched,typed,unit,eager,traced,steady,slow,burst,requesters,flood' },
    out: { type: 'string', default: path.resolve(__dirname, '../../.run/bench/results.json') },
  },
});
const positive = (name: string, v: string | undefined, min = 1): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number >= ${min} (got ${v})`);
  return n;
};
const N = positive('transactions', values.transactions);
const STEP_MS = positive('step-ms', values['step-ms'], 0);
const BURST = positive('burst', values.burst, 0);
const FLOOD = positive('flood', values.flood, 0);
const FLOOD_SECONDS = positive('flood-seconds', values['flood-seconds'], 0);
const FLOOD_RATE = positive('flood-rate', values['flood-rate'], 0);
const FLOOD_GROUP = positive('flood-group', values['flood-group']);
const STEADY_SECONDS = positive('steady-seconds', values['steady-seconds'], 0);
const SLOW_SECONDS = positive('slow-seconds', values['slow-seconds'], 0);
const GROUPED_RATE = positive('grouped-rate', values['grouped-rate']);
const GROUPED_SECONDS = positive('grouped-seconds', values['grouped-seconds']);
const DB_DELAY_MS = positive('db-delay-ms', values['db-delay-ms'], 0);
const DB_POOL = positive('db-pool', values['db-pool']);
const PHASES = new Set(values.phases.split(',').filter(Boolean));
const repoRoot = path.resolve(__dirname, '../..');
const runTag = Date.now().toString(36);
const logDir = path.join(path.dirname(values.out), 'logs');
fs.mkdirSync(logDir, { recursive: true });
const say = (line: string) => console.log(`[bench] ${line}`);

// ---------- processes and /proc ----------

/** The PID listening on a TCP port of this machine (from /proc/net/tcp and each process's fds). */
function pidListeningOn(port: number): number | undefined {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const lines = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').slice(1) : [];
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && Number.parseInt(f[1]?.split(':')[1] ?? '', 16) === port) inodes.add(f[9] as string);
    }
  }
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1] as string)) return Number(pid);
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return undefined;
}

const CLK_TCK = 100;
/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/** Peak resident memory of a process, in MB. */
function peakRssMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

interface WorkerProc {
  name: string;
  pid: number;
  child: ChildProcess;
  /** Port of its SDK metrics (batcher workers only). */
  metricsPort?: number;
  stop(): Promise<void>;
}

/**
 * The batcher worker's own view of its workflow tasks (the SDK's execution-latency histogram):
 * how many, their time in all, and how many took over 1 s in the worker. A task the server saw
 * take longer spent the difference in the server and between the two.
 */
async function workerSideTasks(worker: WorkerProc): Promise<{ count: number; totalMs: number; over1s: number } | undefined> {
  if (!worker.metricsPort) return undefined;
  const text = await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`).then(
    (r) => r.text(),
    () => '',
  );
  const value = (name: string, le?: string) => {
    const line = text
      .split('\n')
      .find(
        (l) => l.startsWith(`${name}{`) && l.includes('workflow_type="batcherWorkflow"') && (le === undefined || l.includes(`le="${le}"`)),
      );
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
  };
  const count = value('temporal_workflow_task_execution_latency_count');
  if (!Number.isFinite(count)) return undefined;
  return {
    count,
    totalMs: value('temporal_workflow_task_execution_latency_sum'),
    over1s: count - value('temporal_workflow_task_execution_latency_bucket', '1000'),
  };
}

/** Starts a worker program as a process of its own and waits until it polls (its /readyz, or its first line). */
async function startWorker(name: string, script: string, env: Record<string, string>): Promise<WorkerProc> {
  const healthPort = await freePort();
  const metricsPort = script.includes('batcher-worker') ? await freePort() : undefined;
  const log = fs.openSync(path.join(logDir, `${runTag}-${name}.log`), 'a');
  const child = spawn(
    process.execPath,
    [
      ...(name.startsWith('flood') && process.env.BENCH_FLOOD_EXEC_ARGV ? process.env.BENCH_FLOOD_EXEC_ARGV.split(' ') : []),
      path.join(repoRoot, script),
    ],
    {
      env: {
        ...process.env,
        WORKER_HEALTH_PORT: String(healthPort),
        WORKER_METRICS_PORT: String(metricsPort ?? 0),
        LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', log, log],
    },
  );
  fs.closeSync(log);
  const pid = child.pid as number;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited at start (see ${logDir})`);
    const ready = await fetch(`http://127.0.0.1:${healthPort}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    const baselineUp =
      script.includes('baseline') &&
      fs.readFileSync(path.join(logDir, `${runTag}-${name}.log`), 'utf8').includes('baseline worker running');
    if (ready || baselineUp) break;
    if (Date.now() > deadline) throw new Error(`${name} not ready in 120 s`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    name,
    pid,
    child,
    metricsPort,
    async stop() {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(t);
    },
  };
}

// ---------- the servers ----------

const env = process.env as Record<string, string>;
const temporalAddress = env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
const mysqlCfg = loadConfig(['mysql'], { ...env, MYSQL_DATABASE: env.MYSQL_DATABASE ?? 'bench' }).mysql;
const temporalPid = pidListeningOn(Number(temporalAddress.split(':')[1]));
const mysqldPid = pidListeningOn(mysqlCfg.port);

async function mysqlStatus(pool: Pool): Promise<Record<string, number>> {
  const [rows] = await pool.query("SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions','Com_commit','Handler_commit','Com_insert')");
  return Object.fromEntries((rows as Array<{ Variable_name: string; Value: string }>).map((r) => [r.Variable_name, Number(r.Value)]));
}

// ---------- Temporal actions (what Temporal Cloud bills) ----------

/** The dev server's Prometheus endpoint (the harness passes it); without it no action is counted. */
const metricsUrl = process.env.TEMPORAL_METRICS_URL;

/**
 * The server's own `action` counter for the default namespace, by action type: the count Temporal
 * Cloud bills (workflow starts, signals, activities, timers, queries...). Read before and after a
 * phase; the difference is the phase's.
 */
async function temporalActions(): Promise<Map<string, number> | undefined> {
  if (!metricsUrl) return undefined;
  const text = await fetch(metricsUrl).then((r) => r.text());
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^action\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || !/namespace="default"/.test(m[1] as string)) continue;
    const type = /action_type="([^"]*)"/.exec(m[1] as string)?.[1] ?? '?';
    out.set(type, (out.get(type) ?? 0) + Number(m[2]));
  }
  return out;
}

function actionsBetween(a: Map<string, number> | undefined, b: Map<string, number> | undefined): Record<string, number> | undefined {
  if (!a || !b) return undefined;
  const out: Record<string, number> = {};
  for (const [type, n] of b) if (n - (a.get(type) ?? 0) > 0) out[type] = n - (a.get(type) ?? 0);
  return out;
}

const sum = (r: Record<string, number> | undefined) => Object.values(r ?? {}).reduce((n, x) => n + x, 0);

// ---------- one pipeline run ----------

interface PipelineFigures {
  name: string;
  transactions: number;
  succeeded: number;
  failedByType: Record<string, number>;
  seconds: number;
  throughputPerS: number;
  confirmationMs: { p50: number; p95: number; p99: number };
  endToEndMs: { p50: number; p95: number; p99: number };
  mainEventsPerTxn: number;
  batcherEventsPerTxn: number;
  batcherSignals: number;
  /** The longest batcher workflow task as the server saw it (started → completed). */
  batcherLongestTaskMs: number;
  /** The same tasks as the batcher worker saw them (its SDK metric). */
  batcherWorkerSideTasks?: { count: number; totalMs: number; over1s: number };
  rowsWritten: number;
  statementsPerRow: number;
  commitsPerRow: number;
  cpuSecondsPer1000: Record<string, number>;
  mysqldCpuSecondsPer1000Rows: number;
  peakRssMb: Record<string, number>;
  /** Temporal actions of the phase by type (the server's `action` metric), from the first start to the last close. */
  actions?: Record<string, number>;
  actionsPerTxn?: number;
  /** Memo upserts of the shard's runs (in the server's metric as command_ModifyWorkflowProperties). */
  memoUpserts: number;
}

const p = (xs: number[]) => ({ p50: percentile(xs, 50), p95: percentile(xs, 95), p99: percentile(xs, 99) });

/** History length, start and close time of every workflow on a task queue (visibility). */
async function closedOnQueue(client: Client, taskQueue: string): Promise<Array<{ workflowId: string; historyLength: number; ms: number }>> {
  const out: Array<{ workflowId: string; historyLength: number; ms: number }> = [];
  for await (const w of client.workflow.list({ query: `TaskQueue = '${taskQueue}'` })) {
    if (w.closeTime)
      out.push({ workflowId: w.workflowId, historyLength: w.historyLength, ms: w.closeTime.getTime() - w.startTime.getTime() });
  }
  return out;
}

/** Events of every run of a shard (continue-as-new makes several). */
async function shardEvents(
  client: Client,
  workflowId: string,
): Promise<{ runs: number; events: number; longestTaskMs: number; memoUpserts: number }> {
  // Visibility lags a little behind the last run's close: read until every run shows as closed.
  for (let attempt = 0; ; attempt++) {
    let runs = 0;
    let events = 0;
    let open = 0;
    const runIds: string[] = [];
    for await (const w of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      runs++;
      events += w.historyLength;
      if (!w.closeTime || w.historyLength === 0) open++;
      runIds.push(w.runId);
    }
    if (open === 0 || attempt >= 20) {
      let longestTaskMs = 0;
      let memoUpserts = 0;
      for (const runId of runIds) {
        const run = await longestWorkflowTaskMs(client, workflowId, runId);
        longestTaskMs = Math.max(longestTaskMs, run.longest);
        memoUpserts += run.memoUpserts;
      }
      return { runs, events, longestTaskMs, memoUpserts };
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** When an event was recorded, in ms (server time). */
const eventMs = (e: HistoryEvent | undefined): number =>
  Number(e?.eventTime?.seconds ?? 0) * 1000 + Math.floor((e?.eventTime?.nanos ?? 0) / 1e6);

/** An event's type, as the name of the attributes it carries (`workflowTaskFailed`). */
const eventKind = (e: HistoryEvent | undefined): string =>
  Object.keys(e ?? {})
    .find((key) => key.endsWith('EventAttributes') && (e as Record<string, unknown>)[key])
    ?.replace('EventAttributes', '') ?? '?';

/** The longest workflow task (started → completed, server time) of one run, and the signals it took in. */
async function longestWorkflowTaskMs(client: Client, workflowId: string, runId: string): Promise<{ longest: number; memoUpserts: number }> {
  const { events } = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  let longest = 0;
  let scheduled: number | undefined;
  let started: number | undefined;
  let signalsBefore = 0;
  let signals = 0;
  let detail = '';
  const list = events ?? [];
  for (let k = 0; k < list.length; k++) {
    const e = list[k];
    if (!e) continue;
    const at = eventMs(e);
    if (e.workflowExecutionSignaledEventAttributes) signals++;
    if (e.workflowTaskScheduledEventAttributes) scheduled = at;
    if (e.workflowTaskStartedEventAttributes) {
      started = at;
      signalsBefore = signals;
      signals = 0;
    } else if (
      (e.workflowTaskCompletedEventAttributes || e.workflowTaskFailedEventAttributes || e.workflowTaskTimedOutEventAttributes) &&
      started !== undefined
    ) {
      if (at - started > longest) {
        longest = at - started;
        // What the task answered with: the commands recorded right after it.
        const after: string[] = [];
        for (let j = k + 1; j < list.length && after.length < 6 && !list[j]?.workflowTaskScheduledEventAttributes; j++)
          after.push(eventKind(list[j]));
        detail = `event ${k}, took in ${signalsBefore} signal(s), waited ${scheduled === undefined ? '?' : started - scheduled} ms for a worker, then ${after.join(', ') || 'nothing'}`;
      }
      started = undefined;
    }
  }
  if (longest > 1000) {
    // The whole run as one line per event (index, ms since its start, type), to see what surrounds the long task.
    const t0 = eventMs(list[0]);
    const file = path.join(logDir, `${runTag}-${workflowId}-${runId}.events.txt`);
    fs.writeFileSync(
      file,
      list
        .map((e, k) => {
          const cause = e.workflowTaskFailedEventAttributes?.cause;
          return `${k} +${eventMs(e) - t0} ${eventKind(e)}${cause ? ` ${temporal.api.enums.v1.WorkflowTaskFailedCause[cause]}` : ''}`;
        })
        .join('\n') + '\n',
    );
    say(`  ${workflowId} run ${runId}: a ${longest} ms workflow task (${detail}); events in ${path.relative(repoRoot, file)}`);
  }
  return { longest, memoUpserts: list.filter((e) => e.workflowPropertiesModifiedEventAttributes).length };
}

/** Rows a run put into the demo's tables (the JSON one and the typed one), counted in the tables themselves. */
async function rowsOfRun(pool: Pool, tag: string): Promise<number> {
  const [json] = await pool.query(`SELECT COUNT(*) AS n FROM batched_writes WHERE request_id LIKE ?`, [`write:${tag}-%`]);
  const [typed] = await pool.query(`SELECT COUNT(*) AS n FROM demo_orders WHERE order_id LIKE ?`, [`${tag}-%`]);
  return Number((json as Array<{ n: number }>)[0]?.n ?? 0) + Number((typed as Array<{ n: number }>)[0]?.n ?? 0);
}

interface RunSpec {
  name: string;
  workflowType: string;
  /** 'baseline': the bare worker; 'batcher': batcher-worker + main-worker. */
  kind: 'baseline' | 'batcher';
  env?: Record<string, string>;
  n: number;
  stepMs: number;
  /** Start one workflow every this many ms instead of all at once. */
  rateIntervalMs?: number;
  /** The workflow's input beside its payload (e.g. a typed order row instead of the JSON one). */
  extraInput?: (id: string, i: number) => Record<string, unknown>;
}

async function runPipeline(client: Client, pool: Pool, spec: RunSpec): Promise<PipelineFigures> {
  const tag = `${spec.name}-${runTag}`;
  const queues = { MAIN_TASK_QUEUE: `main-${tag}`, BATCHER_TASK_QUEUE: `batcher-${tag}`, BATCHER_WORKFLOW_ID_PREFIX: `batcher-${tag}` };
  const common = { TEMPORAL_ADDRESS: temporalAddress, ...mysqlEnv, BUSINESS_STEP_MS: String(spec.stepMs), ...queues, ...spec.env };
  const workers =
    spec.kind === 'baseline'
      ? [await startWorker(`${spec.name}-baseline`, 'bench/dist/baseline/main.js', common)]
      : [
          await startWorker(`${spec.name}-batcher-worker`, 'services/batcher-worker/dist/main.js', common),
          await startWorker(`${spec.name}-main-worker`, 'services/main-worker/dist/main.js', common),
        ];
  const pids: Record<string, number> = {
    temporal: temporalPid ?? -1,
    mysqld: mysqldPid ?? -1,
    ...Object.fromEntries(workers.map((w) => [w.name.replace(`${spec.name}-`, ''), w.pid])),
  };
  const cpu0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  const db0 = await mysqlStatus(pool);
  const actions0 = await temporalActions();
  const ids = Array.from({ length: spec.n }, (_, i) => `${tag}-${i}`);
  const startedAt = Date.now();
  if (spec.rateIntervalMs) {
    // A steady rate: one start every interval, not waiting for the previous one.
    const starts: Array<Promise<void>> = [];
    for (let i = 0; i < ids.length; i++) {
      starts.push(
        startTransactions(client, {
          taskQueue: queues.MAIN_TASK_QUEUE,
          workflowType: spec.workflowType,
          workflowIds: [ids[i] as string],
          input: (id, j) => ({ payload: { order: id, n: j }, batcherTaskQueue: queues.BATCHER_TASK_QUEUE, ...spec.extraInput?.(id, i) }),
        }),
      );
      await new Promise((r) => setTimeout(r, Math.max(0, startedAt + (i + 1) * spec.rateIntervalMs! - Date.now())));
    }
    await Promise.all(starts);
  } else {
    await startTransactions(client, {
      taskQueue: queues.MAIN_TASK_QUEUE,
      workflowType: spec.workflowType,
      workflowIds: ids,
      input: (id, j) => ({ payload: { order: id, n: j }, batcherTaskQueue: queues.BATCHER_TASK_QUEUE, ...spec.extraInput?.(id, j) }),
    });
  }
  const outcomes: TransactionOutcome[] = await awaitTransactions(client, ids, startedAt);
  const seconds = (Date.now() - startedAt) / 1000;
  // Before the bench's own query and terminate below, once the server's counters are flushed (it
  // reports them every few seconds): two equal reads 2 s apart.
  let actions1 = await temporalActions();
  for (let i = 0; i < 10 && actions1; i++) {
    await new Promise((r) => setTimeout(r, 2000));
    const again = await temporalActions();
    if (sum(actionsBetween(actions1, again)) === 0) break;
    actions1 = again;
  }
  const actions = actionsBetween(actions0, actions1);
  const cpu1 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  const db1 = await mysqlStatus(pool);
  const rss = Object.fromEntries(workers.map((w) => [w.name.replace(`${spec.name}-`, ''), peakRssMb(w.pid)]));
  let batcher = { runs: 0, events: 0, longestTaskMs: 0, memoUpserts: 0 };
  let stats: BatcherStats | undefined;
  const batcherWorker = workers.find((w) => w.metricsPort);
  const workerSide = batcherWorker ? await workerSideTasks(batcherWorker) : undefined;
  if (spec.kind === 'batcher') {
    const shardId = batcherWorkflowId(queues.BATCHER_WORKFLOW_ID_PREFIX, 0);
    stats = await client.workflow.getHandle(shardId).query(batcherStatsQuery);
    await client.workflow.getHandle(shardId).terminate('bench phase finished');
    batcher = await shardEvents(client, shardId);
  }
  await Promise.all(workers.map((w) => w.stop()));
  const closed = await closedOnQueue(client, queues.MAIN_TASK_QUEUE);
  const rows = await rowsOfRun(pool, tag);
  const failedByType: Record<string, number> = {};
  for (const o of outcomes) if (!o.ok) failedByType[o.errorType ?? '?'] = (failedByType[o.errorType ?? '?'] ?? 0) + 1;
  const per1000 = (x: number, of: number) => Math.round((x / Math.max(1, of)) * 1000 * 100) / 100;
  const figures: PipelineFigures = {
    name: spec.name,
    transactions: spec.n,
    succeeded: outcomes.filter((o) => o.ok).length,
    failedByType,
    seconds,
    throughputPerS: Math.round((spec.n / seconds) * 100) / 100,
    confirmationMs: p(outcomes.flatMap((o) => (o.result ? [o.result.confirmationLatencyMs] : []))),
    endToEndMs: p(closed.map((c) => c.ms)),
    mainEventsPerTxn: Math.round((closed.reduce((n, c) => n + c.historyLength, 0) / Math.max(1, closed.length)) * 100) / 100,
    batcherEventsPerTxn: Math.round((batcher.events / spec.n) * 1000) / 1000,
    batcherSignals: stats?.signalsTotal ?? 0,
    batcherLongestTaskMs: batcher.longestTaskMs,
    batcherWorkerSideTasks: workerSide,
    rowsWritten: rows,
    statementsPerRow: rows ? Math.round((((db1.Questions ?? 0) - (db0.Questions ?? 0) - 1) / rows) * 1000) / 1000 : 0,
    commitsPerRow: rows ? Math.round((((db1.Handler_commit ?? 0) - (db0.Handler_commit ?? 0)) / rows) * 1000) / 1000 : 0,
    cpuSecondsPer1000: Object.fromEntries(Object.keys(pids).map((k) => [k, per1000((cpu1[k] ?? 0) - (cpu0[k] ?? 0), spec.n)])),
    mysqldCpuSecondsPer1000Rows: per1000((cpu1.mysqld ?? 0) - (cpu0.mysqld ?? 0), rows),
    peakRssMb: rss,
    actions,
    actionsPerTxn: actions ? Math.round((sum(actions) / spec.n) * 1000) / 1000 : undefined,
    memoUpserts: batcher.memoUpserts,
  };
  say(
    `${spec.name}: ${figures.succeeded}/${spec.n} ok in ${seconds.toFixed(1)} s = ${figures.throughputPerS}/s; confirmation p50/p95/p99 ${figures.confirmationMs.p50}/${figures.confirmationMs.p95}/${figures.confirmationMs.p99} ms; ` +
      `end-to-end ${figures.endToEndMs.p50}/${figures.endToEndMs.p95}/${figures.endToEndMs.p99} ms; events/txn main ${figures.mainEventsPerTxn} batcher ${figures.batcherEventsPerTxn} (${batcher.runs} runs, ${figures.batcherSignals} signals, longest task ${batcher.longestTaskMs} ms${workerSide ? `; worker-side ${workerSide.over1s} of ${workerSide.count} tasks over 1 s` : ''}); ` +
      `statements/row ${figures.statementsPerRow}, commits/row ${figures.commitsPerRow}; CPU-s/1000 txn ${JSON.stringify(figures.cpuSecondsPer1000)}; mysqld CPU-s/1000 rows ${figures.mysqldCpuSecondsPer1000Rows}` +
      (Object.keys(failedByType).length ? `; failed ${JSON.stringify(failedByType)}` : '') +
      (actions ? `; Temporal actions/txn ${figures.actionsPerTxn} ${JSON.stringify(actions)}, memo upserts ${batcher.memoUpserts}` : ''),
  );
  return figures;
}

/**
 * What writing costs in Temporal actions, per row written: a phase's actions per transaction minus
 * the no-write ceiling's (the same workflow start and business steps), spread over the rows each
 * transaction wrote. The server's metric counts memo upserts (`command_ModifyWorkflowProperties`)
 * and patch markers' search-attribute upserts too, as Temporal Cloud bills them.
 */
function writeActionsPerRow(pipelines: Record<string, PipelineFigures>): Record<string, number> {
  const ceiling = pipelines.ceiling;
  const out: Record<string, number> = {};
  if (!ceiling?.actions) return out;
  const base = sum(ceiling.actions) / ceiling.transactions;
  for (const [name, f] of Object.entries(pipelines)) {
    if (name === 'ceiling' || !f.actions || f.rowsWritten === 0) continue;
    out[name] = Math.round(((sum(f.actions) - base * f.transactions) / f.rowsWritten) * 1000) / 1000;
  }
  return out;
}

const mysqlEnv = {
  MYSQL_HOST: mysqlCfg.host,
  MYSQL_PORT: String(mysqlCfg.port),
  MYSQL_USER: mysqlCfg.user,
  MYSQL_PASSWORD: mysqlCfg.password,
  MYSQL_DATABASE: mysqlCfg.database,
};

// ---------- one shard: burst and flood ----------

/** A burst of transactions (no business step) into one shard: how long after the last request arrived was the last one written. */
async function burst(client: Client, pool: Pool, n: number): Promise<Record<string, unknown>> {
  const spec: RunSpec = {
    name: 'burst',
    workflowType: 'transactionWorkflow',
    kind: 'batcher',
    n,
    stepMs: 0,
    env: {
      BATCH_FLUSH_POLICY: 'eager',
      BATCHER_MAX_PENDING_REQUESTS: String(Math.max(2000, n)),
      BATCHER_MAX_REQUESTS_PER_TASK: String(Math.max(1000, n)),
    },
  };
  const tag = `${spec.name}-${runTag}`;
  const shardId = batcherWorkflowId(`batcher-${tag}`, 0);
  let lastArrivalMs = 0;
  let lastFlushMs = 0;
  let maxBatch = 0;
  // Sample the shard while the burst runs (the stats say when requests arrived and batches ended).
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const s = await client.workflow
        .getHandle(shardId)
        .query(batcherStatsQuery)
        .catch(() => undefined);
      if (s) {
        lastFlushMs = Math.max(lastFlushMs, s.lastFlushAtMs ?? 0);
        maxBatch = Math.max(maxBatch, ...s.recentBatches.map((b) => b.rows));
        if (s.lastRequestAtMs) lastArrivalMs = Math.max(lastArrivalMs, s.lastRequestAtMs);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  const figures = await runPipeline(client, pool, spec);
  sampling = false;
  await sampler;
  const result = {
    transactions: n,
    writtenWithinMsOfLastArrival: lastFlushMs - lastArrivalMs,
    largestBatch: maxBatch,
    throughputPerS: figures.throughputPerS,
    confirmationMs: figures.confirmationMs,
  };
  say(
    `burst: ${n} transactions into one shard (eager): last write ended ${result.writtenWithinMsOfLastArrival} ms after the last request arrived (workflow time), largest batch ${maxBatch}`,
  );
  return result;
}

/**
 * A flood of single-request signals into one shard (no grouping: the worst a client can do), first
 * `count` as fast as this process can send, then `ratePerS` for `seconds`. Requests carry reply
 * addresses nobody waits on; what matters is what the shard accepts, refuses and writes.
 */
async function flood(client: Client, pool: Pool, count: number, ratePerS: number, seconds: number): Promise<Record<string, unknown>> {
  const tag = `flood-${runTag}`;
  const cfg = { taskQueue: `batcher-${tag}`, workflowIdPrefix: `batcher-${tag}`, shards: 1 };
  const worker = await startWorker('flood-batcher-worker', 'services/batcher-worker/dist/main.js', {
    TEMPORAL_ADDRESS: temporalAddress,
    ...mysqlEnv,
    BATCHER_TASK_QUEUE: cfg.taskQueue,
    BATCHER_WORKFLOW_ID_PREFIX: cfg.workflowIdPrefix,
  });
  const request = (i: number): WriteRequest => ({
    requestId: `write:${tag}-${i}`,
    requesterWorkflowId: `${tag}-${i}`,
    table: 'batched_writes',
    row: { payload: { '@wb': 'json', v: { i } } },
    submittedAtMs: Date.now(),
    // A well-formed address of a requester that does not exist: the shard accepts it, its answer is undeliverable.
    reply: {
      workflowId: `${tag}-${i}`,
      runId: '00000000-0000-4000-8000-000000000000',
      activityId: awaitActivityIdFor(`write:${tag}-${i}`),
    },
  });
  const results: Record<string, unknown> = {};
  let next = 0;
  /** Offers `n` signals of `group` requests each (at `perS` signals/s, or as fast as this process sends). */
  const offer = async (label: string, n: number, perS: number | undefined, group = 1): Promise<void> => {
    const before = await client.workflow
      .getHandle(batcherWorkflowId(cfg.workflowIdPrefix, 0))
      .query(batcherStatsQuery)
      .catch(() => undefined);
    const first = next;
    const t0 = Date.now();
    const inFlight = new Set<Promise<unknown>>();
    let sendErrors = 0;
    /** What the server answered to the signals it refused, by message, with counts. */
    const sendErrorKinds = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const signal = Array.from({ length: group }, () => request(next++));
      const pr = signalWithStartBatcher(client, cfg, 0, signal).catch((err: unknown) => {
        sendErrors += group;
        const e = err as Error & { cause?: Error };
        const kind = `${String(e?.message ?? err)}${e?.cause ? `: ${String(e.cause.message)}` : ''}`.slice(0, 200);
        sendErrorKinds.set(kind, (sendErrorKinds.get(kind) ?? 0) + 1);
      });
      inFlight.add(pr);
      void pr.finally(() => inFlight.delete(pr));
      if (perS) await new Promise((r) => setTimeout(r, Math.max(0, t0 + ((i + 1) * 1000) / perS - Date.now())));
      else if (inFlight.size >= 64) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    const offeredSeconds = (Date.now() - t0) / 1000;
    // Let the shard drain what it accepted (bounded).
    const deadline = Date.now() + 240_000;
    let s: BatcherStats | undefined;
    for (;;) {
      s = await client.workflow
        .getHandle(batcherWorkflowId(cfg.workflowIdPrefix, 0))
        .query(batcherStatsQuery)
        .catch(() => undefined);
      if ((s && s.pending === 0 && s.writesInFlight === 0) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const [entries] = await pool.query(`SELECT request_id FROM ${LEDGER_TABLE} WHERE target_table = ? AND request_id LIKE ?`, [
      DEMO_TABLE,
      `write:${tag}-%`,
    ]);
    const written = (entries as Array<{ request_id: Buffer }>).filter((r) => {
      const m = new RegExp(`^write:${tag}-(\\d+)$`).exec(String(r.request_id));
      return m && Number(m[1]) >= first && Number(m[1]) < next;
    }).length;
    const refused = (s?.refused ?? 0) - (before?.refused ?? 0);
    const offered = n * group;
    results[label] = {
      signals: n,
      requestsPerSignal: group,
      offered,
      offeredPerS: Math.round((offered / offeredSeconds) * 10) / 10,
      sendErrors,
      sendErrorKinds: Object.fromEntries(sendErrorKinds),
      accepted: written,
      refused,
      neitherWrittenNorRefused: offered - sendErrors - written - refused,
    };
    say(
      `flood ${label}: offered ${offered} requests in ${n} signals at ${(n / offeredSeconds).toFixed(1)} signals/s; written ${written}, refused ${refused} (BatcherOverloaded), send errors ${sendErrors}, neither ${offered - sendErrors - written - refused}`,
    );
    for (const [kind, times] of sendErrorKinds) say(`  ${times} signal(s) refused by the server: ${kind}`);
  };
  if (count > 0) await offer(FLOOD_GROUP > 1 ? `max-rate-${FLOOD_GROUP}-per-signal` : 'max-rate', count, undefined, FLOOD_GROUP);
  if (seconds > 0 && ratePerS > 0) await offer(`${ratePerS}-per-s-for-${seconds}-s`, ratePerS * seconds, ratePerS);
  const shardId = batcherWorkflowId(cfg.workflowIdPrefix, 0);
  await client.workflow
    .getHandle(shardId)
    .terminate('bench flood finished')
    .catch(() => undefined);
  const own = await workerSideTasks(worker);
  results.workerSideTasks = own;
  if (own)
    say(`flood: the worker ran ${own.count} batcher workflow tasks, ${own.totalMs} ms in all, ${own.over1s} over 1 s (its own SDK metric)`);
  const events = await shardEvents(client, shardId);
  results.longestBatcherTaskMs = events.longestTaskMs;
  results.batcherRuns = events.runs;
  const batcherWorkerPeakRssMb = peakRssMb(worker.pid);
  results.batcherWorkerPeakRssMb = batcherWorkerPeakRssMb;
  say(
    `flood: longest batcher workflow task ${events.longestTaskMs} ms over ${events.runs} runs; batcher-worker peak RSS ${batcherWorkerPeakRssMb} MB`,
  );

  // Grouped, as a main worker sends them (SUBMIT_LINGER_MS 250: a group every 250 ms), at
  // GROUPED_RATE requests/s on a fresh shard served by the same worker: its history events per request.
  const groupedCfg = { ...cfg, workflowIdPrefix: `${cfg.workflowIdPrefix}-grouped` };
  const groupedId = batcherWorkflowId(groupedCfg.workflowIdPrefix, 0);
  const perGroup = Math.max(1, Math.round(GROUPED_RATE / 4));
  const groups = GROUPED_SECONDS * 4;
  const g0 = Date.now();
  for (let g = 0; g < groups; g++) {
    await signalWithStartBatcher(
      client,
      groupedCfg,
      0,
      Array.from({ length: perGroup }, () => request(next++)),
    );
    await new Promise((r) => setTimeout(r, Math.max(0, g0 + (g + 1) * 250 - Date.now())));
  }
  await waitUntilDrained(client, groupedId);
  const gStats = await client.workflow.getHandle(groupedId).query(batcherStatsQuery);
  await client.workflow
    .getHandle(groupedId)
    .terminate('bench grouped finished')
    .catch(() => undefined);
  const gEvents = await shardEvents(client, groupedId);
  results.grouped = {
    requestsPerS: Math.round(((groups * perGroup) / ((Date.now() - g0) / 1000)) * 10) / 10,
    signalsPerS: Math.round((groups / GROUPED_SECONDS) * 10) / 10,
    requests: groups * perGroup,
    rowsWritten: gStats.rowsWritten,
    batcherEventsPerRequest: Math.round((gEvents.events / (groups * perGroup)) * 1000) / 1000,
    longestBatcherTaskMs: gEvents.longestTaskMs,
  };
  say(
    `grouped: ${groups * perGroup} requests at ${GROUPED_RATE}/s in ${groups} signals (${perGroup} each, 4 signals/s), default policy: ${gStats.rowsWritten} written, batcher events per request ${(results.grouped as { batcherEventsPerRequest: number }).batcherEventsPerRequest}, longest task ${gEvents.longestTaskMs} ms`,
  );
  await worker.stop();
  return results;
}

/**
 * The flood as it comes on the real path: `count` requester workflows, each one batchedWrite and
 * nothing else, all started as fast as this process can. Their submissions run on the batcher's
 * task queue and are grouped there, so however many requesters there are the shard sees a few
 * signals a second per batcher worker. What matters: every requester answered, none refused,
 * no batcher task over 1 s (the worker's own metric), on whatever server settings the bench runs.
 */
async function requestersFlood(client: Client, count: number): Promise<Record<string, unknown>> {
  const tag = `rflood-${runTag}`;
  const queues = {
    MAIN_TASK_QUEUE: `requesters-${tag}`,
    BATCHER_TASK_QUEUE: `batcher-${tag}`,
    BATCHER_WORKFLOW_ID_PREFIX: `batcher-${tag}`,
  };
  const env = {
    TEMPORAL_ADDRESS: temporalAddress,
    ...mysqlEnv,
    BUSINESS_STEP_MS: '0',
    ...queues,
    BATCHER_MAX_PENDING_REQUESTS: String(Math.max(2000, count)),
  };
  const batcher = await startWorker('rflood-batcher-worker', 'services/batcher-worker/dist/main.js', env);
  const requesters = await startWorker('rflood-requester-worker', 'bench/dist/baseline/main.js', env);
  const ids = Array.from({ length: count }, (_, i) => `${tag}-${i}`);
  const t0 = Date.now();
  await startTransactions(client, {
    taskQueue: queues.MAIN_TASK_QUEUE,
    workflowType: 'floodWriteWorkflow',
    workflowIds: ids,
    concurrency: 200,
    input: (_id, n) => ({ batcherTaskQueue: queues.BATCHER_TASK_QUEUE, n }) as never,
  });
  const startedS = (Date.now() - t0) / 1000;
  // 1,000 statistics queries at once while the requests flow: what they cost, and whether writes wait.
  const shardForQueries = client.workflow.getHandle(batcherWorkflowId(queues.BATCHER_WORKFLOW_ID_PREFIX, 0));
  const q0 = Date.now();
  const queryMs = await Promise.all(
    Array.from({ length: 1000 }, async () => {
      const s0 = Date.now();
      await shardForQueries.query(batcherStatsQuery).catch(() => undefined);
      return Date.now() - s0;
    }),
  );
  const queriesWallMs = Date.now() - q0;
  queryMs.sort((a, b) => a - b);
  // The same 1,000 readers through the memo (describe(): answered by the server, not the shard's worker).
  const m0 = Date.now();
  const memoMs = await Promise.all(
    Array.from({ length: 1000 }, async () => {
      const s0 = Date.now();
      await readBatcherStatsMemo(client, { workflowIdPrefix: queues.BATCHER_WORKFLOW_ID_PREFIX }, 0).catch(() => undefined);
      return Date.now() - s0;
    }),
  );
  const memoWallMs = Date.now() - m0;
  memoMs.sort((a, b) => a - b);
  const outcomes = await mapLimit(ids, 200, (id) =>
    client.workflow
      .getHandle(id)
      .result()
      .then(
        (r) => String(r),
        (err: unknown) => `workflow failed: ${(err as Error).message}`,
      ),
  );
  const seconds = (Date.now() - t0) / 1000;
  const byOutcome: Record<string, number> = {};
  for (const o of outcomes) byOutcome[o] = (byOutcome[o] ?? 0) + 1;
  const shardId = batcherWorkflowId(queues.BATCHER_WORKFLOW_ID_PREFIX, 0);
  const stats = await client.workflow.getHandle(shardId).query(batcherStatsQuery);
  await client.workflow
    .getHandle(shardId)
    .terminate('bench requesters flood finished')
    .catch(() => undefined);
  const own = await workerSideTasks(batcher);
  const events = await shardEvents(client, shardId);
  const result = {
    requesters: count,
    startedPerS: Math.round((count / startedS) * 10) / 10,
    seconds: Math.round(seconds * 10) / 10,
    outcomes: byOutcome,
    // A requester answered neither with an outcome nor with a typed failure.
    unanswered: outcomes.filter((o) => o.startsWith('workflow failed') || o === 'untyped').length,
    signals: stats.signalsTotal,
    batches: stats.batchesWritten,
    refused: stats.refused,
    answersDropped: stats.answersDropped,
    workerSideTasks: own,
    longestBatcherTaskMs: events.longestTaskMs,
    batcherRuns: events.runs,
    batcherWorkerPeakRssMb: peakRssMb(batcher.pid),
    parallelQueries: { count: 1000, wallMs: queriesWallMs, p50Ms: queryMs[500], p95Ms: queryMs[950], maxMs: queryMs[999] },
    parallelMemoReads: { count: 1000, wallMs: memoWallMs, p50Ms: memoMs[500], p95Ms: memoMs[950], maxMs: memoMs[999] },
  };
  say(
    `requesters flood: ${count} requester workflows started at ${result.startedPerS}/s, all closed in ${result.seconds} s: ${JSON.stringify(byOutcome)}; shard took ${stats.signalsTotal} signals, wrote ${stats.batchesWritten} batches, refused ${stats.refused}, answers dropped ${stats.answersDropped}; ` +
      `worker-side ${own ? `${own.count} batcher tasks, ${own.over1s} over 1 s` : 'n/a'}; longest batcher task (server's view) ${events.longestTaskMs} ms over ${events.runs} runs; ` +
      `1,000 parallel stats queries during the flood: p50 ${queryMs[500]} ms, p95 ${queryMs[950]} ms, max ${queryMs[999]} ms (${queriesWallMs} ms in all); ` +
      `1,000 parallel reads of the stats memo: p50 ${memoMs[500]} ms, p95 ${memoMs[950]} ms, max ${memoMs[999]} ms (${memoWallMs} ms in all)`,
  );
  await Promise.all([batcher.stop(), requesters.stop()]);
  return result;
}

/** Waits (bounded) until a shard holds nothing pending and no write is in flight. */
async function waitUntilDrained(client: Client, workflowId: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const s = await client.workflow
      .getHandle(workflowId)
      .query(batcherStatsQuery)
      .catch(() => undefined);
    if ((s && s.pending === 0 && s.writesInFlight === 0) || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 500));
  }
}

// ---------- main ----------

/** A stand-in OTLP endpoint: accepts and discards, so "tracing on" costs what exporting costs. */
async function otlpSink(): Promise<{ url: string; close(): void; requests: () => number }> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, close: () => server.close(), requests: () => requests };
}

async function main(): Promise<void> {
  await migrateDatabase(mysqlCfg);
  const pool = createPool(mysqlCfg, { connectionLimit: 2 });
  // A flooded shard's history pages run past gRPC's default 4 MB message limit.
  const connection = await Connection.connect({
    address: temporalAddress,
    channelArgs: { 'grpc.max_receive_message_length': 128 * 1024 * 1024 },
  });
  const client = new Client({ connection });
  say(
    `servers: Temporal ${temporalAddress} (pid ${temporalPid}), MariaDB ${mysqlCfg.host}:${mysqlCfg.port} (pid ${mysqldPid}); ${N} transactions, business steps ${STEP_MS} ms`,
  );
  const results: Record<string, unknown> = {
    startedAt: new Date().toISOString(),
    transactions: N,
    stepMs: STEP_MS,
    machine: { cpus: (await import('node:os')).cpus().length, loadavg: (await import('node:os')).loadavg() },
  };
  const pipelines: Record<string, PipelineFigures> = {};
  try {
    if (PHASES.has('ceiling'))
      pipelines.ceiling = await runPipeline(client, pool, {
        name: 'ceiling',
        workflowType: 'noWriteWorkflow',
        kind: 'baseline',
        n: N,
        stepMs: STEP_MS,
      });
    if (PHASES.has('naive'))
      pipelines.naive = await runPipeline(client, pool, {
        name: 'naive',
        workflowType: 'directWriteWorkflow',
        kind: 'baseline',
        n: N,
        stepMs: STEP_MS,
      });
    if (PHASES.has('batched'))
      pipelines.batched = await runPipeline(client, pool, {
        name: 'batched',
        workflowType: 'transactionWorkflow',
        kind: 'batcher',
        n: N,
        stepMs: STEP_MS,
      });
    // The same pipeline into a typed table (demo_orders: BIGINT, CHAR, DATETIME(3), JSON) instead of the JSON one.
    if (PHASES.has('typed')) {
      pipelines.typed = await runPipeline(client, pool, {
        name: 'typed',
        workflowType: 'transactionWorkflow',
        kind: 'batcher',
        n: N,
        stepMs: STEP_MS,
        extraInput: (_id, j) => ({
          writeJsonRow: false,
          order: {
            amountCents: String(9_007_199_254_740_993n + BigInt(j)),
            currency: 'EUR',
            placedAt: new Date(Date.UTC(2026, 0, 1) + j).toISOString(),
            lines: [{ sku: `s-${j % 9}`, qty: 1 }],
          },
        }),
      });
    }
    // The demo's two rows (the JSON row and the typed order) as ONE unit: one request, one wait, one transaction.
    if (PHASES.has('unit')) {
      pipelines.unit = await runPipeline(client, pool, {
        name: 'unit',
        workflowType: 'transactionWorkflow',
        kind: 'batcher',
        n: N,
        stepMs: STEP_MS,
        extraInput: (_id, j) => ({
          asUnit: true,
          order: {
            amountCents: String(1_000 + j),
            currency: 'EUR',
            placedAt: new Date(Date.UTC(2026, 0, 1) + j).toISOString(),
            lines: [{ sku: `s-${j % 9}`, qty: 1 }],
          },
        }),
      });
    }
    if (PHASES.has('eager'))
      pipelines.eager = await runPipeline(client, pool, {
        name: 'eager',
        workflowType: 'transactionWorkflow',
        kind: 'batcher',
        n: N,
        stepMs: STEP_MS,
        env: { BATCH_FLUSH_POLICY: 'eager' },
      });
    if (PHASES.has('traced')) {
      const sink = await otlpSink();
      pipelines.traced = await runPipeline(client, pool, {
        name: 'traced',
        workflowType: 'transactionWorkflow',
        kind: 'batcher',
        n: N,
        stepMs: STEP_MS,
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url },
      });
      say(`traced: ${sink.requests()} OTLP export requests received`);
      sink.close();
    }
    const saturation = pipelines.eager?.throughputPerS ?? pipelines.batched?.throughputPerS;
    if (PHASES.has('steady') && saturation && STEADY_SECONDS > 0) {
      const rate = saturation / 2;
      say(`steady: eager policy at ${rate.toFixed(1)} transactions/s (half of ${saturation}/s) for ${STEADY_SECONDS} s`);
      pipelines.steady = await runPipeline(client, pool, {
        name: 'steady',
        workflowType: 'transactionWorkflow',
        kind: 'batcher',
        n: Math.round(rate * STEADY_SECONDS),
        stepMs: STEP_MS,
        rateIntervalMs: 1000 / rate,
        env: { BATCH_FLUSH_POLICY: 'eager' },
      });
    }
    if (PHASES.has('slow') && SLOW_SECONDS > 0) {
      say(`slow: one transaction a second, the default policy, for ${SLOW_SECONDS} s`);
      pipelines.slow = await runPipeline(client, pool, {
        name: 'slow',
        workflowType: 'transactionWorkflow',
        kind: 'batcher',
        n: SLOW_SECONDS,
        stepMs: STEP_MS,
        rateIntervalMs: 1000,
      });
    }
    // The database, not Temporal, as the bottleneck: both pipelines' workers reach MariaDB through a
    // latency proxy (every statement pays 2 × DB_DELAY_MS), each with a pool of DB_POOL connections.
    const dbNaive = PHASES.has('dbbound') || PHASES.has('naive-dbbound');
    const dbBatched = PHASES.has('dbbound') || PHASES.has('batched-dbbound');
    if (dbNaive || dbBatched) {
      const proxy = await startDbProxy({
        repoRoot,
        target: { host: mysqlCfg.host, port: mysqlCfg.port },
        delayMs: DB_DELAY_MS,
        logFile: path.join(logDir, `${runTag}-latency-proxy.log`),
      });
      const dbEnv = { MYSQL_HOST: proxy.host, MYSQL_PORT: String(proxy.port), MYSQL_POOL_SIZE: String(DB_POOL) };
      say(
        `dbbound: MariaDB through a latency proxy (${DB_DELAY_MS} ms each way: ${2 * DB_DELAY_MS} ms a round trip), ${DB_POOL} connection(s) per worker pool; ` +
          `naive's bound: ${DB_POOL} / ${(2 * DB_DELAY_MS) / 1000} s = ${DB_DELAY_MS > 0 ? Math.round((DB_POOL / ((2 * DB_DELAY_MS) / 1000)) * 100) / 100 : '∞'} INSERTs/s`,
      );
      try {
        if (dbNaive)
          pipelines['naive-dbbound'] = await runPipeline(client, pool, {
            name: 'naive-dbbound',
            workflowType: 'directWriteWorkflow',
            kind: 'baseline',
            n: N,
            stepMs: STEP_MS,
            env: dbEnv,
          });
        if (dbBatched)
          pipelines['batched-dbbound'] = await runPipeline(client, pool, {
            name: 'batched-dbbound',
            workflowType: 'transactionWorkflow',
            kind: 'batcher',
            n: N,
            stepMs: STEP_MS,
            env: dbEnv,
          });
      } finally {
        await proxy.stop();
      }
      const naiveDb = pipelines['naive-dbbound'];
      const batchedDb = pipelines['batched-dbbound'];
      results.dbbound = {
        delayMsEachWay: DB_DELAY_MS,
        poolSize: DB_POOL,
        batchedToNaive: naiveDb && batchedDb ? Math.round((batchedDb.throughputPerS / naiveDb.throughputPerS) * 100) / 100 : undefined,
        batchedToCeiling:
          batchedDb && pipelines.ceiling
            ? Math.round((batchedDb.throughputPerS / pipelines.ceiling.throughputPerS) * 100) / 100
            : undefined,
      };
      say(`dbbound (${DB_DELAY_MS} ms each way, pool ${DB_POOL}): ${JSON.stringify(results.dbbound)}`);
    }
    results.pipelines = pipelines;
    results.writeActionsPerRow = writeActionsPerRow(pipelines);
    say(
      `Temporal actions per written row, the write's share (phase minus the no-write ceiling): ${JSON.stringify(results.writeActionsPerRow)}`,
    );
    const ratio = (a?: PipelineFigures, b?: PipelineFigures) =>
      a && b ? Math.round((a.throughputPerS / b.throughputPerS) * 100) / 100 : undefined;
    results.ratios = {
      batchedToNaive: ratio(pipelines.batched, pipelines.naive),
      typedToNaive: ratio(pipelines.typed, pipelines.naive),
      unitToNaive: ratio(pipelines.unit, pipelines.naive),
      typedToBatched: ratio(pipelines.typed, pipelines.batched),
      batchedToCeiling: ratio(pipelines.batched, pipelines.ceiling),
      eagerToNaive: ratio(pipelines.eager, pipelines.naive),
      eagerToCeiling: ratio(pipelines.eager, pipelines.ceiling),
      naiveToCeiling: ratio(pipelines.naive, pipelines.ceiling),
      mainWorkerCpuToBare:
        pipelines.batched && pipelines.ceiling
          ? Math.round(
              ((pipelines.batched.cpuSecondsPer1000['main-worker'] ?? 0) / (pipelines.ceiling.cpuSecondsPer1000.baseline ?? 1)) * 100,
            ) / 100
          : undefined,
      tracedMainWorkerCpuToUntraced:
        pipelines.traced && pipelines.batched
          ? Math.round(
              ((pipelines.traced.cpuSecondsPer1000['main-worker'] ?? 0) / (pipelines.batched.cpuSecondsPer1000['main-worker'] ?? 1)) * 100,
            ) / 100
          : undefined,
    };
    say(`ratios: ${JSON.stringify(results.ratios)}`);
    if (PHASES.has('burst') && BURST > 0) results.burst = await burst(client, pool, BURST);
    if (PHASES.has('requesters') && FLOOD > 0) results.requestersFlood = await requestersFlood(client, FLOOD);
    if (PHASES.has('flood') && (FLOOD > 0 || FLOOD_SECONDS > 0)) {
      // Twice what one shard sustains: the eager pipeline's saturation is the reference, else 200/s.
      results.flood = await flood(client, pool, FLOOD, FLOOD_RATE || Math.round(2 * (saturation ?? 100)), FLOOD_SECONDS);
    }
  } finally {
    fs.mkdirSync(path.dirname(values.out), { recursive: true });
    fs.writeFileSync(values.out, JSON.stringify(results, null, 2));
    say(`figures written to ${values.out}`);
    await pool.end();
    await connection.close();
  }
}

main().catch((err: unknown) => {
  console.error(`[bench] failed: ${String((err as Error)?.stack ?? err)}`);
  process.exit(1);
});
