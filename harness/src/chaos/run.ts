// The chaos run: a stack of its own (Temporal on a database file, MariaDB, both workers and the
// health monitor, each a process), N transactions started in waves, and between the waves each of
// batcher worker, main worker, MariaDB and Temporal SIGKILLed and restarted after a random downtime,
// R rounds; then every workflow is audited against its row. Two workloads: the demo's transactions
// (`runChaos`), or a team's requester workflows on a team's own schema (`runTeamChaos`, see team/):
// then the team's requester worker is killed in the main worker's place.
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import pLimit from 'p-limit';
import { DEFAULT_MAIN_TASK_QUEUE } from '@batcher/demo';
import { delay, freePort, repoRoot, spawnLogged, type ManagedProcess } from '../processes';
import { startStack, type Stack } from '../stack';
import { attributeFailures, formatAttribution, type FailureAttribution, type TimedFailure } from './attribution';
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
import { sampleFlushGaps, type FlushGap } from './flush-gaps';
import { SeededRandom } from './random';
import { auditTeam, formatTeamVerdict, teamViolationCount, type TeamOutcome, type TeamVerdict } from './team/audit';
import { TEAM_TASK_QUEUE, TEAM_WORKFLOW, type TeamWorkflowResult } from './team/rows';
import { applyTeamSchema, TEAM_BATCHER_TABLES } from './team/schema';
import { readTeamLedger, readTeamRows, startTeamWorker, teamDistFile, teamGroups, type TeamWorkerProcess } from './team/workload';

export const COMPONENTS = ['batcher-worker', 'main-worker', 'mariadb', 'temporal'] as const;
/** The team workload kills the team's requester worker in the main worker's place. */
export const TEAM_COMPONENTS = ['batcher-worker', 'team-worker', 'mariadb', 'temporal'] as const;
export type Component = (typeof COMPONENTS)[number] | (typeof TEAM_COMPONENTS)[number];
/** The team workload's MariaDB runs in a zone other than UTC (the batcher's sessions must not depend on it). */
export const TEAM_MYSQL_TIME_ZONE = '+02:00';

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
  /** Per shard, the longest time it held requests without writing a batch (read from the health monitor). */
  flushGaps: FlushGap[];
  /** The failed transactions against the kills inside their wait (demo run only). */
  failureKills?: FailureAttribution;
}

export interface TeamChaosResult extends Omit<ChaosResult, 'verdict'> {
  verdict: TeamVerdict;
}

/** The kill rounds under the demo's transactions. */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const r = await runRounds(options, false);
  if (!r.verdict) throw new Error('the demo run has no verdict');
  return { ...r, verdict: r.verdict };
}

/** The kill rounds under a team's requester workflows on the team's schema (MariaDB in a non-UTC zone). */
export async function runTeamChaos(options: ChaosOptions): Promise<TeamChaosResult> {
  const r = await runRounds(options, true);
  if (!r.teamVerdict) throw new Error('the team run has no verdict');
  return { ...r, verdict: r.teamVerdict };
}

type RoundsResult = Omit<ChaosResult, 'verdict'> & { verdict?: Verdict; teamVerdict?: TeamVerdict };

async function runRounds(options: ChaosOptions, team: boolean): Promise<RoundsResult> {
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
  let teamWorker: TeamWorkerProcess | undefined;
  let gapSampler: ReturnType<typeof sampleFlushGaps> | undefined;
  let result: RoundsResult | undefined;
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
        ...(team ? { BATCHER_TABLES: TEAM_BATCHER_TABLES } : {}),
      },
      ...(team
        ? {
            mysqlArgs: [`--default-time-zone=${TEAM_MYSQL_TIME_ZONE}`],
            // The team's tables exist before the batcher worker starts (it reads them at start).
            afterMigrate: async (m) => {
              const conn = await m?.connect();
              try {
                if (conn) await applyTeamSchema(conn);
              } finally {
                await conn?.end();
              }
            },
          }
        : {}),
      log: (line) => log(`[chaos] ${line}`),
    });
    const s = stack;
    const temporal = s.temporal;
    const mysql = s.mysql;
    if (!temporal || !mysql) throw new Error('the chaos stack must start its own Temporal and MariaDB');
    log(
      `[chaos] stack up in ${((Date.now() - t0) / 1000).toFixed(1)} s: Temporal ${temporal.address} (pid ${temporal.pid}), MariaDB :${mysql.port} (pid ${mysql.pid}), batcher worker pid ${s.batcherWorker.pid}, main worker pid ${s.mainWorker.pid}, monitor ${s.monitor?.baseUrl} (pid ${s.monitor?.pid}); logs ${s.logDir}`,
    );

    if (team) {
      log('[chaos] bundling the team workflows once, then starting the team requester worker');
      const bundle = path.join(dir, 'bundles', 'team-workflows.js');
      fs.mkdirSync(path.dirname(bundle), { recursive: true });
      const { code } = await bundleWorkflowCode({ workflowsPath: teamDistFile('workflows.js'), logger: quietBundleLogger });
      fs.writeFileSync(bundle, code);
      teamWorker = await startTeamWorker({ env: temporal.env, bundle, logFile: path.join(s.logDir, 'team-worker.log') });
      log(`[chaos] team requester worker pid ${teamWorker.pid} on task queue ${TEAM_TASK_QUEUE}`);
    }
    const tw = teamWorker;

    gapSampler = sampleFlushGaps(() => (s.monitor ? `${s.monitor.baseUrl}/metrics` : undefined), t0);
    connection = await Connection.connect({ address: temporal.address });
    const client = new Client({ connection, namespace: temporal.namespace });
    const taskQueue = team ? TEAM_TASK_QUEUE : (s.serviceEnv.MAIN_TASK_QUEUE ?? DEFAULT_MAIN_TASK_QUEUE);
    const workflowType = team ? TEAM_WORKFLOW : 'transactionWorkflow';
    const teamLoad = team ? teamGroups(n, tag, random) : undefined;

    const sent: SentTransaction[] = Array.from({ length: team ? 0 : n }, (_, i) => ({
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

    type Control = { pid: () => number | undefined; kill: () => Promise<unknown>; start: () => Promise<void> };
    const components: Partial<Record<Component, Control>> = {
      'batcher-worker': { pid: () => s.batcherWorker.pid, kill: () => s.batcherWorker.kill(), start: () => s.batcherWorker.start() },
      'main-worker': { pid: () => s.mainWorker.pid, kill: () => s.mainWorker.kill(), start: () => s.mainWorker.start() },
      mariadb: { pid: () => mysql.pid, kill: () => mysql.kill(), start: () => mysql.startServer() },
      temporal: { pid: () => temporal.pid, kill: () => temporal.kill(), start: () => temporal.startServer() },
      ...(tw ? { 'team-worker': { pid: () => tw.pid, kill: () => tw.kill(), start: () => tw.start() } } : {}),
    };
    const control = (c: Component): Control => {
      const found = components[c];
      if (!found) throw new Error(`no component ${c} in this run`);
      return found;
    };
    const killed: readonly Component[] = team ? TEAM_COMPONENTS : COMPONENTS;
    const events: Component[] = [];
    for (let r = 0; r < rounds; r++) events.push(...random.shuffle(killed));
    const waves = events.length + 1;
    const limit = pLimit(16);

    // Bounded retries: right after a restart the frontend may still refuse for a moment.
    const start = async (workflowId: string, args: unknown[]) => {
      for (let attempt = 1; ; attempt++) {
        try {
          await client.workflow.start(workflowType, { workflowId, taskQueue, args, workflowIdConflictPolicy: 'USE_EXISTING' });
          return;
        } catch (err) {
          if (attempt >= 60) throw new Error(`could not start ${workflowId}: ${(err as Error).message}`, { cause: err });
          await delay(1000);
        }
      }
    };
    const startWave = async (w: number) => {
      if (teamLoad) {
        // Whole groups per wave, each group's workflows started together (they race on one key).
        const groups = teamLoad.groups;
        const from = Math.floor((w * groups.length) / waves);
        const to = Math.floor(((w + 1) * groups.length) / waves);
        const list = groups.slice(from, to);
        await Promise.all(
          list.map((g) => limit(() => Promise.all(g.workflows.map((wf) => start(wf.workflowId, [{ writes: wf.writes }]))))),
        );
        const count = list.reduce((sum, g) => sum + g.workflows.length, 0);
        note({ action: 'wave', component: 'team workflows', note: `started ${count} (groups ${from}..${to - 1})` });
        return;
      }
      const from = Math.floor((w * n) / waves);
      const to = Math.floor(((w + 1) * n) / waves);
      const ids = sent.slice(from, to);
      await Promise.all(ids.map((t) => limit(() => start(t.workflowId, [{ payload: t.payload, order: t.order }]))));
      note({ action: 'wave', component: 'transactions', note: `started ${ids.length} (${from}..${to - 1})` });
    };

    /** A component that died without being killed is restarted too, and the timeline says so. */
    const reviveCrashed = async () => {
      for (const c of Object.keys(components) as Component[]) {
        if (control(c).pid() === undefined) {
          note({ action: 'died', component: c, note: 'found not running (not killed by us); restarting' });
          await control(c).start();
          note({ action: 'restart', component: c, pid: control(c).pid() });
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
      const c = control(event);
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
    const total = teamLoad ? teamLoad.groups.reduce((sum, g) => sum + g.workflows.length, 0) : n;
    let running = total;
    let lastProgress = Date.now();
    let lastLog = 0;
    for (;;) {
      await reviveCrashed();
      const counted = await client.workflow
        .count(`WorkflowType = '${workflowType}' AND ExecutionStatus = 'Running'`)
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
    note({ action: 'audit', component: 'all', note: `${running} workflow(s) still open by the count; auditing ${total}` });
    const flushGaps = await gapSampler.stop();

    if (teamLoad) {
      const ids = teamLoad.groups.flatMap((g) => g.workflows.map((wf) => wf.workflowId));
      const outcomes = new Map<string, TeamOutcome>();
      for (const [id, o] of await outcomesOf(client, ids))
        outcomes.set(id, o.kind === 'completed' ? { kind: 'completed', told: (o.result as unknown as TeamWorkflowResult).told } : o);
      const conn = await mysql.connect();
      let teamVerdict: TeamVerdict;
      try {
        teamVerdict = auditTeam(teamLoad.sent, outcomes, await readTeamRows(conn), await readTeamLedger(conn));
        const [zone] = await conn.query('SELECT @@global.time_zone AS zone');
        teamVerdict.serverTimeZone = String((zone as Array<{ zone: unknown }>)[0]?.zone);
      } finally {
        await conn.end();
      }
      const violations = teamViolationCount(teamVerdict);
      result = { seed: options.seed, tag, dir, timeline, teamVerdict, violations, seconds: (Date.now() - t0) / 1000, flushGaps };
      return result;
    }

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
    const timedFailures: TimedFailure[] = [];
    for (const [workflowId, o] of outcomes)
      if (o.kind === 'failed' && o.startedAt && o.closedAt)
        timedFailures.push({
          workflowId,
          type: o.type,
          startedAt: (o.startedAt.getTime() - t0) / 1000,
          closedAt: (o.closedAt.getTime() - t0) / 1000,
        });
    result = {
      seed: options.seed,
      tag,
      dir,
      timeline,
      verdict,
      violations: violationCount(verdict),
      seconds: (Date.now() - t0) / 1000,
      flushGaps,
      failureKills: attributeFailures(timedFailures, timeline),
    };
    return result;
  } finally {
    await gapSampler?.stop();
    await connection?.close().catch(() => undefined);
    await teamWorker?.stop();
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

/** The team run's verdict lines. */
export function formatTeamChaosVerdict(result: TeamChaosResult): string {
  return formatTeamVerdict(result.verdict, `seed ${result.seed}, ${result.seconds.toFixed(0)} s`, result.violations);
}

/** webpack's chatter stays out of the run's output. */
const quietBundleLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => console.warn(`[chaos] bundler: ${message}`),
  error: (message: string) => console.error(`[chaos] bundler: ${message}`),
};

export function formatVerdict(result: ChaosResult): string {
  const v = result.verdict;
  const lines = [
    `==== chaos verdict (seed ${result.seed}, ${result.seconds.toFixed(0)} s) ====`,
    `transactions   ${v.transactions}`,
    `completed      ${v.completed}`,
    `failed         ${v.failed}`,
    ...Object.entries(v.failedByType).map(([type, count]) => `  ${type.padEnd(26)} ${count}`),
    ...(result.failureKills ? formatAttribution(result.failureKills).map((l) => `    ${l}`) : []),
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
