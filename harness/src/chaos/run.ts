// The chaos run: a stack of its own (Temporal on a database file, MariaDB, both workers and the
// health monitor, each a process), N transactions started in waves, and between the waves each of
// batcher worker, main worker, MariaDB and Temporal SIGKILLed and restarted after a random downtime,
// R rounds; then every workflow is audited against its row.
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import pLimit from 'p-limit';
import { DEFAULT_MAIN_TASK_QUEUE } from '@batcher/demo';
import { delay, freePort, repoRoot, spawnLogged, type ManagedProcess } from '../processes';
import { startStack, type Stack } from '../stack';
import {
  audit,
  outcomesOf,
  readLedger,
  readOrders,
  readRows,
  violationCount,
  type Outcome,
  type SentTransaction,
  type Verdict,
} from './audit';
import { SeededRandom } from './random';

export const COMPONENTS = ['batcher-worker', 'main-worker', 'mariadb', 'temporal'] as const;
export type Component = (typeof COMPONENTS)[number];

export interface ChaosOptions {
  /** @default 2000 */
  transactions?: number;
  /** Kill rounds; each kills every component once, in a random order. @default 4 */
  rounds?: number;
  /** @default 2 */
  shards?: number;
  seed: number;
  /** Run a CPU burner beside the stack. @default false */
  busy?: boolean;
  /** Keep the run's directory (logs, data) after a passing run. @default false (kept when red) */
  keepLogs?: boolean;
  /** Downtime of a killed component, ms. @default [1000, 8000] */
  downtimeMs?: [number, number];
  /**
   * After the last wave, workflows may take this long to close while they make progress: the wait
   * ends when none has closed for `closeStallMs`, or at this cap. @default 1800000
   */
  closeDeadlineMs?: number;
  /** Give up waiting when no workflow closed for this long (above the 120 s confirmation timeout). @default 180000 */
  closeStallMs?: number;
  /** @default .run/chaos/<tag> */
  dir?: string;
  /** Progress lines. @default console.log */
  log?: (line: string) => void;
}

export interface TimelineEntry {
  /** Seconds since the run started. */
  t: number;
  action: 'wave' | 'kill' | 'restart' | 'died' | 'audit';
  component: string;
  pid?: number;
  downtimeMs?: number;
  note?: string;
}

export interface ChaosResult {
  seed: number;
  tag: string;
  dir: string;
  timeline: TimelineEntry[];
  verdict: Verdict;
  violations: number;
  seconds: number;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const n = options.transactions ?? 2000;
  const rounds = options.rounds ?? 4;
  const shards = options.shards ?? 2;
  const [downMin, downMax] = options.downtimeMs ?? [1000, 8000];
  const log = options.log ?? ((line: string) => console.log(line));
  const random = new SeededRandom(options.seed);
  const tag = `${options.seed.toString(36)}-${Date.now().toString(36)}`;
  const dir = options.dir ?? path.join(repoRoot, '.run', 'chaos', tag);
  fs.mkdirSync(dir, { recursive: true });

  const t0 = Date.now();
  const timeline: TimelineEntry[] = [];
  const note = (entry: Omit<TimelineEntry, 't'>) => {
    const e = { t: (Date.now() - t0) / 1000, ...entry };
    timeline.push(e);
    log(formatTimelineEntry(e));
  };

  let burner: ManagedProcess | undefined;
  let stack: Stack | undefined;
  let connection: Connection | undefined;
  let result: ChaosResult | undefined;
  try {
    if (options.busy) {
      // Busy-loops until stopped: the stack then shares the cores with a hungry neighbour.
      burner = spawnLogged({
        name: 'cpu-burner',
        command: process.execPath,
        args: ['-e', 'for (;;) {}'],
        logFile: path.join(dir, 'logs', 'cpu-burner.log'),
      });
      log(`[chaos] CPU burner running (pid ${burner.pid})`);
    }
    const ports = {
      temporal: await freePort(),
      temporalUi: 0,
      mysql: await freePort(),
      batcherHealth: await freePort(),
      batcherMetrics: 0,
      mainHealth: await freePort(),
      mainMetrics: 0,
      monitor: await freePort(),
    };
    stack = await startStack({
      dir,
      ports,
      temporalDbFile: true,
      prebundle: true,
      env: {
        BATCHER_SHARDS: String(shards),
        BATCH_FLUSH_INTERVAL_MS: '1000',
        BUSINESS_STEP_MS: '20',
        HEALTH_POLL_INTERVAL_MS: '1000',
        LOG_LEVEL: 'info',
        WORKER_SHUTDOWN_GRACE_MS: '2000',
      },
      log: (line) => log(`[chaos] ${line}`),
    });
    const s = stack;
    const temporal = s.temporal;
    const mysql = s.mysql;
    if (!temporal || !mysql) throw new Error('the chaos stack must start its own Temporal and MariaDB');
    log(
      `[chaos] stack up in ${((Date.now() - t0) / 1000).toFixed(1)} s: Temporal ${temporal.address} (pid ${temporal.pid}), MariaDB :${mysql.port} (pid ${mysql.pid}), batcher worker pid ${s.batcherWorker.pid}, main worker pid ${s.mainWorker.pid}, monitor ${s.monitor?.baseUrl} (pid ${s.monitor?.pid}); logs ${s.logDir}`,
    );

    connection = await Connection.connect({ address: temporal.address });
    const client = new Client({ connection, namespace: temporal.namespace });
    const taskQueue = s.serviceEnv.MAIN_TASK_QUEUE ?? DEFAULT_MAIN_TASK_QUEUE;

    const sent: SentTransaction[] = Array.from({ length: n }, (_, i) => ({
      workflowId: `chaos-${tag}-${i}`,
      // Non-ASCII on purpose: ids and payloads must come back byte for byte.
      payload: { run: tag, n: i, amountCents: random.int(1, 100_000), note: `chaos ${i} · ünïcødé €` },
      // The typed row: an amount beyond 2^53, a millisecond date, a JSON column.
      order: {
        amountCents: `${9_007_199_254_740_993n + BigInt(i)}`,
        currency: i % 2 ? 'EUR' : 'USD',
        placedAt: new Date(Date.UTC(2026, 0, 1) + i * 1001).toISOString(),
        lines: [{ sku: `s-${i}`, qty: 1 + (i % 5) }],
      },
    }));

    const components: Record<Component, { pid: () => number | undefined; kill: () => Promise<unknown>; start: () => Promise<void> }> = {
      'batcher-worker': { pid: () => s.batcherWorker.pid, kill: () => s.batcherWorker.kill(), start: () => s.batcherWorker.start() },
      'main-worker': { pid: () => s.mainWorker.pid, kill: () => s.mainWorker.kill(), start: () => s.mainWorker.start() },
      mariadb: { pid: () => mysql.pid, kill: () => mysql.kill(), start: () => mysql.startServer() },
      temporal: { pid: () => temporal.pid, kill: () => temporal.kill(), start: () => temporal.startServer() },
    };
    const events: Component[] = [];
    for (let r = 0; r < rounds; r++) events.push(...random.shuffle(COMPONENTS));
    const waves = events.length + 1;
    const limit = pLimit(16);

    const startWave = async (w: number) => {
      const from = Math.floor((w * n) / waves);
      const to = Math.floor(((w + 1) * n) / waves);
      const ids = sent.slice(from, to);
      await Promise.all(
        ids.map((t) =>
          limit(async () => {
            // Bounded retries: right after a restart the frontend may still refuse for a moment.
            for (let attempt = 1; ; attempt++) {
              try {
                await client.workflow.start('transactionWorkflow', {
                  workflowId: t.workflowId,
                  taskQueue,
                  args: [{ payload: t.payload, order: t.order }],
                  workflowIdConflictPolicy: 'USE_EXISTING',
                });
                return;
              } catch (err) {
                if (attempt >= 60) throw new Error(`could not start ${t.workflowId}: ${(err as Error).message}`, { cause: err });
                await delay(1000);
              }
            }
          }),
        ),
      );
      note({ action: 'wave', component: 'transactions', note: `started ${ids.length} (${from}..${to - 1})` });
    };

    /** A component that died without being killed is restarted too, and the timeline says so. */
    const reviveCrashed = async () => {
      for (const c of COMPONENTS) {
        if (components[c].pid() === undefined) {
          note({ action: 'died', component: c, note: 'found not running (not killed by us); restarting' });
          await components[c].start();
          note({ action: 'restart', component: c, pid: components[c].pid() });
        }
      }
    };

    for (let w = 0; w < waves; w++) {
      await startWave(w);
      const event = events[w];
      if (event === undefined) break;
      // Let the wave get under way, so the kill hits work in flight.
      await delay(random.int(500, 3000));
      await reviveCrashed();
      const c = components[event];
      const pid = c.pid();
      const downtimeMs = random.int(downMin, downMax);
      await c.kill();
      note({ action: 'kill', component: event, pid, downtimeMs, note: 'SIGKILL' });
      await delay(downtimeMs);
      const restartAt = Date.now();
      await c.start();
      note({ action: 'restart', component: event, pid: c.pid(), note: `ready in ${((Date.now() - restartAt) / 1000).toFixed(1)} s` });
    }

    // Every workflow must close: poll the count of running ones, reviving crashed parts, while
    // they keep closing (a loaded machine is slow, not wrong), bounded by a stall time and a cap.
    const waitStart = Date.now();
    const cap = waitStart + (options.closeDeadlineMs ?? 1_800_000);
    const stallMs = options.closeStallMs ?? 180_000;
    let running = n;
    let lastProgress = Date.now();
    let lastLog = 0;
    for (;;) {
      await reviveCrashed();
      const counted = await client.workflow
        .count(`WorkflowType = 'transactionWorkflow' AND ExecutionStatus = 'Running'`)
        .then((c) => c.count)
        .catch(() => undefined);
      if (counted !== undefined && counted < running) lastProgress = Date.now();
      running = counted ?? running;
      if (running === 0) break;
      if (Date.now() > cap || Date.now() - lastProgress > stallMs) break;
      if (Date.now() - lastLog > 15_000) {
        log(
          `[chaos] waiting for ${running} open workflow(s) (${Math.round((Date.now() - waitStart) / 1000)} s; gives up after ${stallMs / 1000} s without one closing)`,
        );
        lastLog = Date.now();
      }
      await delay(2000);
    }
    note({ action: 'audit', component: 'all', note: `${running} workflow(s) still open by the count; auditing ${n}` });

    const outcomes: Map<string, Outcome> = await outcomesOf(
      client,
      sent.map((t) => t.workflowId),
    );
    const conn = await mysql.connect();
    let verdict: Verdict;
    try {
      verdict = audit(sent, outcomes, await readRows(conn), { orders: await readOrders(conn), ledger: await readLedger(conn) });
    } finally {
      await conn.end();
    }
    result = { seed: options.seed, tag, dir, timeline, verdict, violations: violationCount(verdict), seconds: (Date.now() - t0) / 1000 };
    return result;
  } finally {
    await connection?.close().catch(() => undefined);
    await stack?.stop();
    await burner?.stop({ graceMs: 1000 });
    // A red (or broken) run keeps its logs and data for reading.
    if (result?.violations === 0 && !options.keepLogs) fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function formatTimelineEntry(e: TimelineEntry): string {
  const t = `+${e.t.toFixed(1)}s`.padStart(8);
  const pid = e.pid === undefined ? '' : `pid ${e.pid}`;
  const down = e.downtimeMs === undefined ? '' : `down ${(e.downtimeMs / 1000).toFixed(1)} s`;
  return `${t}  ${e.action.padEnd(8)} ${e.component.padEnd(15)} ${pid.padEnd(11)} ${down.padEnd(12)} ${e.note ?? ''}`.trimEnd();
}

export function formatVerdict(result: ChaosResult): string {
  const v = result.verdict;
  const lines = [
    `==== chaos verdict (seed ${result.seed}, ${result.seconds.toFixed(0)} s) ====`,
    `transactions   ${v.transactions}`,
    `completed      ${v.completed}`,
    `failed         ${v.failed}`,
    ...Object.entries(v.failedByType).map(([type, count]) => `  ${type.padEnd(26)} ${count}`),
    `lost           ${v.lost}`,
    `phantom        ${v.phantom}`,
    `doubled        ${v.doubled}`,
    `orphan         ${v.orphan}`,
    `conflicting values (typed rows) ${v.mismatch} of ${v.typedRowsChecked} checked`,
    `still open     ${v.open}`,
  ];
  if (v.other) lines.push(`closed otherwise (terminated/cancelled/timed out) ${v.other}`);
  if (v.untypedFailures) lines.push(`failed with a type not in BatcherErrorTypes ${v.untypedFailures}`);
  const byKind = new Map<string, string[]>();
  for (const x of v.violations) byKind.set(x.kind, [...(byKind.get(x.kind) ?? []), `${x.workflowId}: ${x.detail}`]);
  for (const [kind, list] of byKind) {
    lines.push(`${kind}, e.g.:`);
    for (const item of list.slice(0, 3)) lines.push(`  ${item}`);
  }
  lines.push(result.violations === 0 ? 'VERDICT: PASS (no violation)' : `VERDICT: FAIL (${result.violations} violation(s))`);
  return lines.join('\n');
}
