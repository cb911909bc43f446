// What a batcher worker with its workflow cache off (maxCachedWorkflows: 0) costs, beside the same
// worker with its cache on: N requests into one shard, one request per signal (the most workflow
// tasks), each mode with a batcher worker process of its own. Prints, per mode, the shard's
// workflow task time (WorkflowTaskStarted to WorkflowTaskCompleted, from its histories), the
// worker process's CPU seconds (from /proc) and the wall time to the last row.
//
//   node bench/dist/cache-off.js [--requests 1000] [--concurrency 20]
//
// Temporal and MariaDB come from the environment (TEMPORAL_ADDRESS, MYSQL_*), as for bench/dist/main.js.
import { fork } from 'node:child_process';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type WorkerPlugin } from '@temporalio/worker';
import { batcherWorkflowId, type WriteRequest, awaitActivityIdFor } from '@write-batcher/protocol';
import { createBatcherWorker, signalWithStartBatcher } from '@write-batcher/batcher';
import { batcherSettings, createPool, loadConfig } from '@batcher/service-kit';
import { DEMO_TABLE } from '@batcher/demo';
import { migrateDatabase } from '@batcher/batcher-worker/schema';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '20' },
    modes: { type: 'string', default: 'on,off' },
    // Internal: this script as the worker process of one mode.
    worker: { type: 'string' },
  },
});
const env = process.env;
const temporalAddress = env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
const runTag = Date.now().toString(36);

function settingsEnv(mode: string): Record<string, string> {
  return {
    BATCHER_TASK_QUEUE: `cache-${mode}-${runTag}`,
    BATCHER_WORKFLOW_ID_PREFIX: `cache-${mode}-${runTag}`,
    BATCHER_SHARDS: '1',
    MYSQL_DATABASE: `cache_${mode}_${runTag}`,
  };
}

const CLK_TCK = 100;
/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** The worker process of one mode: a batcher worker, its cache on or off; says 'ready' once it polls. */
async function workerMain(mode: string): Promise<void> {
  // The parent hands its settings down in the environment (its run tag included).
  const config = loadConfig(['batcher', 'mysql', 'batching'], env);
  const pool = createPool(config.mysql, { connectionLimit: 8 });
  const connection = await NativeConnection.connect({ address: temporalAddress });
  const cacheOff: WorkerPlugin = { name: 'cache-off', configureWorker: (w) => ({ ...w, maxCachedWorkflows: 0 }) };
  const worker = await createBatcherWorker({
    connection,
    pool,
    tables: config.batching.tables,
    routing: config.batcher,
    settings: batcherSettings(config.batching),
    shutdownGraceMs: 1000,
    plugins: mode === 'off' ? [cacheOff] : [],
  });
  process.on('message', (m) => m === 'stop' && worker.shutdown());
  const run = worker.run();
  process.send?.('ready');
  await run;
  await pool.end();
  await connection.close();
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

async function measure(mode: string, n: number, concurrency: number) {
  const all = { ...env, ...settingsEnv(mode) };
  const config = loadConfig(['batcher', 'mysql'], all);
  await migrateDatabase(config.mysql);
  const pool = createPool(config.mysql, { connectionLimit: 2 });
  const connection = await Connection.connect({ address: temporalAddress });
  const client = new Client({ connection });
  const child = fork(__filename, ['--worker', mode], { env: all, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`worker (cache ${mode}) exited with ${code}`)));
  });
  const cpu0 = cpuSeconds(child.pid!);
  const t0 = Date.now();
  let next = 0;
  let firstRunId: string | undefined;
  const sendOne = async (i: number) => {
    const requestId = `write:cache-${mode}-${runTag}-${i}`;
    const requesterWorkflowId = `requester-${requestId}`;
    const request: WriteRequest = {
      requestId,
      requesterWorkflowId,
      table: DEMO_TABLE,
      row: { payload: { '@wb': 'json', v: { i } } },
      submittedAtMs: Date.now(),
      reply: { workflowId: requesterWorkflowId, runId: 'bench', activityId: awaitActivityIdFor(requestId) },
    };
    const signalled = await signalWithStartBatcher(client, config.batcher, 0, [request]);
    firstRunId ??= signalled.runId;
  };
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await sendOne(next++);
    }),
  );
  for (;;) {
    const [rows] = await pool.query(`SELECT COUNT(*) AS n FROM ${DEMO_TABLE} WHERE status = 'committed'`);
    if (Number((rows as Array<{ n: number }>)[0]?.n) >= n) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const wallMs = Date.now() - t0;
  const cpu = cpuSeconds(child.pid!) - cpu0;
  child.send('stop');
  await new Promise((r) => child.once('exit', r));

  // Workflow task times over every run of the shard, from its first run along its continue-as-new
  // chain (the visibility list may not show the newest run yet).
  const workflowId = batcherWorkflowId(config.batcher.workflowIdPrefix, 0);
  const taskMs: number[] = [];
  let runs = 0;
  let runId: string | undefined = firstRunId;
  while (runId) {
    runs++;
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    let startedAt: number | null = null;
    runId = undefined;
    for (const e of history.events ?? []) {
      const at = Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
      if (e.workflowTaskStartedEventAttributes) startedAt = at;
      else if (e.workflowTaskCompletedEventAttributes && startedAt !== null) taskMs.push(at - startedAt);
      runId = e.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? runId;
    }
  }
  await client.workflow
    .getHandle(workflowId)
    .terminate('bench done')
    .catch(() => undefined);
  taskMs.sort((a, b) => a - b);
  await pool.query(`DROP DATABASE IF EXISTS \`${config.mysql.database}\``);
  await pool.end();
  await connection.close();
  const mean = taskMs.reduce((a, b) => a + b, 0) / Math.max(1, taskMs.length);
  return {
    mode,
    requests: n,
    runs,
    workflowTasks: taskMs.length,
    taskMsMean: Math.round(mean * 10) / 10,
    taskMsP50: percentile(taskMs, 50),
    taskMsP95: percentile(taskMs, 95),
    taskMsMax: taskMs.at(-1) ?? Number.NaN,
    workerCpuSeconds: Math.round(cpu * 100) / 100,
    workerCpuSecondsPer1000: Math.round((cpu / n) * 1000 * 100) / 100,
    wallSeconds: Math.round(wallMs / 100) / 10,
  };
}

async function main(): Promise<void> {
  if (values.worker) return workerMain(values.worker);
  const n = Number(values.requests);
  const concurrency = Number(values.concurrency);
  const results = [];
  for (const mode of values.modes.split(',')) {
    const r = await measure(mode, n, concurrency);
    console.log(`[cache-off] cache ${mode}: ${JSON.stringify(r)}`);
    results.push(r);
  }
  const [on, off] = results;
  if (on && off)
    console.log(
      `[cache-off] cache off / on: workflow task time (mean) x${(off.taskMsMean / on.taskMsMean).toFixed(2)}, worker CPU x${(off.workerCpuSeconds / on.workerCpuSeconds).toFixed(2)}`,
    );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error('[cache-off] error:', err);
    process.exit(1);
  },
);
