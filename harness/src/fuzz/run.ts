// The generative adversarial suite: a stack of its own (Temporal dev server on its stock settings,
// MariaDB with the services connecting as an ordinary user, both workers and the health monitor,
// each a process), then cases until the budget is spent. A case starts a few honest requesters
// (the demo's transactionWorkflow), performs one generated adversarial action (generate.ts), starts
// a few more, waits for all to close, and checks the invariants (check.ts). A shard found failing
// is terminated after it is recorded, so the next case meets a working stack.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { DEFAULT_MAIN_TASK_QUEUE, type DemoOrder } from '@batcher/demo';
import { DEFAULT_BATCHER_WORKFLOW_ID_PREFIX, awaitActivityIdFor, requestIdFor, shardFor } from '@write-batcher/protocol';
import { delay, freePort, repoRoot } from '../processes';
import { startMariaDb, type MariaDb } from '../mariadb';
import { startTemporalDevServer, type TemporalDevServer } from '../temporal';
import { startStack, type Stack } from '../stack';
import { outcomesOf } from '../chaos/audit';
import { Markers, payloadOf, requestOf, rowOf, type RawPayload } from './build';
import { LogScanner, checkRequests, readTruth, type FuzzViolation, type HonestRequest } from './check';
import { FUZZ_CLASSES, actionOfCase, caseSeed, kindOf, type Action, type CompletionValue, type FuzzClass } from './generate';

export interface FuzzOptions {
  seed: number;
  /** Stop starting cases after this long. */
  minutes?: number;
  /** Stop after this many cases. */
  cases?: number;
  classes?: readonly FuzzClass[];
  /** @default 2 */
  shards?: number;
  keepLogs?: boolean;
  /** A case gives up waiting for its requesters after this long. @default 180000 */
  caseCloseCapMs?: number;
  /** @default .run/fuzz/<seed> */
  dir?: string;
  log?: (line: string) => void;
}

export interface CaseResult {
  n: number;
  action: Action;
  kind: string;
  /** What happened to the action itself (refused by the server, no pending activity found, ...). */
  note: string;
  requests: number;
  answers: Record<string, number>;
  workflowTaskFailures: number;
  /** Answers explained by a forgery the trust boundary leaves open (noted, not violations). */
  boundary: string[];
  repaired: string[];
  violations: FuzzViolation[];
  seconds: number;
}

export interface FuzzResult {
  seed: number;
  classes: readonly FuzzClass[];
  dir: string;
  cases: CaseResult[];
  /** Found after the last case: a shard left failing, a log leak. */
  finalViolations: FuzzViolation[];
  violations: number;
  seconds: number;
}

const BATCHER_USER = 'fuzz_rw';
const BATCHER_PASSWORD = 'fuzz-rw-password';
const HONEST_TIMEOUT_MS = 30_000;
const HONEST_ATTEMPT_MS = 10_000;

type Activity = { workflowId: string; runId?: string; activityId: string };

export async function runFuzz(options: FuzzOptions): Promise<FuzzResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const classes = options.classes?.length ? options.classes : FUZZ_CLASSES;
  const shards = options.shards ?? 2;
  const seed = options.seed;
  const tag = seed.toString(36);
  const dir = options.dir ?? path.join(repoRoot, '.run', 'fuzz', `${tag}-${Date.now().toString(36)}`);
  const logDir = path.join(dir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const deadline = options.minutes !== undefined ? Date.now() + options.minutes * 60_000 : Infinity;
  const maxCases = options.cases ?? (options.minutes === undefined ? 20 : Infinity);
  const closeCapMs = options.caseCloseCapMs ?? 180_000;
  const t0 = Date.now();

  let temporal: TemporalDevServer | undefined;
  let db: MariaDb | undefined;
  let stack: Stack | undefined;
  let connection: Connection | undefined;
  let result: FuzzResult | undefined;
  try {
    log(`[fuzz] starting Temporal dev server (stock settings) and MariaDB; logs ${logDir}`);
    temporal = await startTemporalDevServer({ ui: false, stockSettings: true, logFile: path.join(logDir, 'temporal.log') });
    db = await startMariaDb({ dir: path.join(dir, 'mariadb'), logFile: path.join(logDir, 'mariadb.log') });
    const root = await db.connect();
    try {
      // An ordinary user: read_only applies to it (root would write anyway).
      await root.query(`CREATE USER IF NOT EXISTS '${BATCHER_USER}'@'%' IDENTIFIED BY '${BATCHER_PASSWORD}'`);
      await root.query(`GRANT ALL PRIVILEGES ON \`${db.database}\`.* TO '${BATCHER_USER}'@'%'`);
    } finally {
      await root.end();
    }
    const m = db;
    stack = await startStack({
      dir,
      ports: {
        temporal: 0,
        temporalUi: 0,
        mysql: 0,
        batcherHealth: await freePort(),
        batcherMetrics: 0,
        mainHealth: await freePort(),
        mainMetrics: 0,
        monitor: await freePort(),
      },
      prebundle: true,
      external: { temporal: temporal.env, mysql: { ...m.env, MYSQL_USER: BATCHER_USER, MYSQL_PASSWORD: BATCHER_PASSWORD } },
      env: {
        BATCHER_SHARDS: String(shards),
        BATCH_FLUSH_INTERVAL_MS: '1000',
        BUSINESS_STEP_MS: '20',
        HEALTH_POLL_INTERVAL_MS: '1000',
        LOG_LEVEL: 'info',
        WORKER_SHUTDOWN_GRACE_MS: '2000',
      },
      log: (line) => log(`[fuzz] ${line}`),
    });
    const s = stack;
    log(`[fuzz] stack up in ${((Date.now() - t0) / 1000).toFixed(1)} s: Temporal ${temporal.address}, MariaDB :${m.port}`);
    connection = await Connection.connect({ address: temporal.address });
    const conn = connection;
    const namespace = temporal.namespace;
    const client = new Client({ connection: conn, namespace });
    const taskQueue = s.serviceEnv.MAIN_TASK_QUEUE ?? DEFAULT_MAIN_TASK_QUEUE;
    const prefix = s.serviceEnv.BATCHER_WORKFLOW_ID_PREFIX ?? DEFAULT_BATCHER_WORKFLOW_ID_PREFIX;
    const shardId = (n: number) => `${prefix}-${n}`;
    const scanner = new LogScanner(logDir);
    const wftFailuresSeen = new Map<string, number>();
    const allMarkers: string[] = [];
    const recentMarkers: string[][] = [];
    const cases: CaseResult[] = [];
    /** Log leaks already reported (a file and a marker), so a later scan does not count them again. */
    const leaks = new Set<string>();

    const components = {
      'batcher-worker': s.batcherWorker,
      'main-worker': s.mainWorker,
    };
    const revive = async (): Promise<string[]> => {
      const done: string[] = [];
      for (const [name, c] of Object.entries(components)) {
        if (c.pid === undefined) {
          await c.start();
          done.push(`${name} restarted (found down)`);
        }
      }
      if (m.pid === undefined) {
        await m.startServer();
        done.push('mariadb restarted (found down)');
      }
      return done;
    };

    const rawSignal = (workflowId: string, signalName: string, payload: RawPayload) =>
      conn.workflowService.signalWorkflowExecution({
        namespace,
        workflowExecution: { workflowId },
        signalName,
        input: { payloads: [payload] },
        identity: 'fuzz',
        requestId: randomUUID(),
      });
    const jsonPayload = (value: unknown): RawPayload => ({
      metadata: { encoding: Buffer.from('json/plain') },
      data: Buffer.from(JSON.stringify(value)),
    });
    const pendingActivities = async (workflowId: string) =>
      (await client.workflow.getHandle(workflowId).describe()).raw.pendingActivities ?? [];
    const waitForActivity = async (
      workflowId: string,
      match: (a: { activityId?: string | null; activityType?: { name?: string | null } | null }) => boolean,
      capMs: number,
    ) => {
      const until = Date.now() + capMs;
      while (Date.now() < until) {
        const found = (await pendingActivities(workflowId).catch(() => [])).find(match);
        if (found?.activityId) return found.activityId;
        await delay(100);
      }
      return undefined;
    };
    const errMsg = (err: unknown) => ((err as Error)?.message ?? String(err)).split('\n')[0]?.slice(0, 160) ?? '';

    for (let n = 0; n < maxCases && Date.now() < deadline; n++) {
      const caseStart = Date.now();
      const action = actionOfCase(seed, n, classes, shards);
      const markers = new Markers(caseSeed(seed, n) ^ 0x2545f491);
      const mk = () => markers.next();
      const honest: HonestRequest[] = [];
      const repaired = await revive();
      // A shard the previous case left failing (seen only now: a heal or a late task can hide it at
      // that case's own check) counts against that case, and is terminated before this one starts.
      const previous = cases[cases.length - 1];
      if (previous) {
        for (let sh = 0; sh < shards; sh++) {
          const health = await shardHealth(client, shardId(sh));
          if (!health.failing) continue;
          const v: FuzzViolation = { kind: 'shard-failing', where: shardId(sh), detail: `${health.detail} (found before the next case)` };
          previous.violations.push(v);
          log(`         VIOLATION (case ${previous.n}) ${v.kind} ${v.where}: ${v.detail}`);
          await client.workflow
            .getHandle(shardId(sh))
            .terminate('fuzz: the shard was left failing (recorded as a violation)')
            .catch(() => undefined);
          previous.repaired.push(`terminated failing ${shardId(sh)} before the next case`);
        }
      }
      let note = '';

      /** Starts one honest transaction; `shard` picks an id whose request that shard owns. */
      const startHonest = async (label: string, opts: { order?: boolean; shard?: number } = {}): Promise<HonestRequest> => {
        let workflowId = `fuzz-${tag}-c${n}-${label}`;
        for (let k = 0; opts.shard !== undefined && shardFor(requestIdFor(workflowId), shards) !== opts.shard; k++)
          workflowId = `fuzz-${tag}-c${n}-${label}-${k}`;
        const payload = { m: mk(), case: n, note: 'fuzz ünïcødé €' };
        const order: DemoOrder | undefined = opts.order
          ? {
              amountCents: String(9_007_199_254_740_993n + BigInt(n)),
              currency: 'EUR',
              placedAt: new Date(Date.UTC(2026, 0, 1) + n * 1001).toISOString(),
              lines: [{ sku: mk(), qty: 1 + (n % 5) }],
            }
          : undefined;
        const handle = await client.workflow.start('transactionWorkflow', {
          workflowId,
          taskQueue,
          args: [{ payload, order, confirmationTimeoutMs: HONEST_TIMEOUT_MS, submitAttemptTimeoutMs: HONEST_ATTEMPT_MS }],
        });
        const h: HonestRequest = { workflowId, runId: handle.firstExecutionRunId, requestId: requestIdFor(workflowId), payload, order };
        honest.push(h);
        return h;
      };
      const waitForAwait = (h: HonestRequest, capMs = 20_000) =>
        waitForActivity(h.workflowId, (a) => a.activityId === awaitActivityIdFor(h.requestId), capMs);
      const waitClosed = async (list: readonly HonestRequest[]) => {
        const until = Date.now() + closeCapMs;
        for (const h of list) {
          while (Date.now() < until) {
            const st = await client.workflow
              .getHandle(h.workflowId)
              .describe()
              .then((d) => d.status.name)
              .catch(() => 'RUNNING');
            if (st !== 'RUNNING') break;
            await delay(500);
          }
        }
      };
      /** Something to do once the case's requesters closed, then check with fresh ones (a second worker replacement). */
      const after: { step?: () => Promise<void> } = {};
      const replaceBatcherWorker = async (downMs: number) => {
        await s.batcherWorker.kill();
        await delay(downMs);
        await s.batcherWorker.start();
      };

      /** Performs the case's action; returns a note of what became of it. */
      const perform = async (a: Action): Promise<string> => {
        switch (a.class) {
          case 'messages': {
            const requests = () =>
              a.payload.data.kind === 'requests'
                ? a.payload.data.requests.map((r, i) => requestOf(r, i, { base: `${tag}-c${n}`, mk, batcherPrefix: prefix }))
                : [];
            const notes: string[] = [];
            for (let i = 0; i < a.count; i++) {
              const p = payloadOf(a.payload, requests, mk, (lo, hi) => markers.int(lo, hi));
              await rawSignal(shardId(a.shard), a.name, p).then(
                () => notes.push('accepted'),
                (err: unknown) => notes.push(`refused: ${errMsg(err)}`),
              );
            }
            return `signal ${JSON.stringify(a.name)} ×${a.count}: ${[...new Set(notes)].join('; ')}`;
          }
          case 'forgery': {
            const victim = await startHonest('victim');
            if (a.when === 'while-waiting' && !(await waitForAwait(victim))) return 'the victim never waited';
            await delay(a.delayMs);
            const reply = { workflowId: victim.workflowId, runId: victim.runId, activityId: awaitActivityIdFor(victim.requestId) };
            const ghost = `fuzz-ghost-${tag}-c${n}`;
            const base = {
              requestId: victim.requestId,
              requesterWorkflowId: victim.workflowId,
              table: 'batched_writes',
              submittedAtMs: Date.now(),
              reply,
            };
            const forged =
              a.kind === 'same-id-other-row'
                ? { ...base, row: rowOf('batched_writes', 'valid', mk) }
                : a.kind === 'same-id-invalid-row'
                  ? { ...base, row: rowOf('batched_writes', a.invalidRow, mk) }
                  : a.kind === 'same-id-same-row'
                    ? { ...base, row: { payload: { '@wb': 'json', v: victim.payload } } }
                    : a.kind === 'same-id-ghost-reply'
                      ? {
                          ...base,
                          requesterWorkflowId: ghost,
                          reply: { workflowId: ghost, runId: randomUUID(), activityId: awaitActivityIdFor(victim.requestId) },
                          row: rowOf('batched_writes', 'valid', mk),
                        }
                      : { ...base, requestId: `fzx-${tag}-c${n}-other`, row: rowOf('batched_writes', 'valid', mk) };
            if (a.kind === 'same-id-other-row' || a.kind === 'same-id-invalid-row') victim.forgedFirstPossible = true;
            const target = shardId(shardFor(victim.requestId, shards));
            return rawSignal(target, 'submitWrites', jsonPayload([forged])).then(
              () => `forged request sent to ${target}`,
              (err: unknown) => `refused: ${errMsg(err)}`,
            );
          }
          case 'completions': {
            if (a.target === 'requester') {
              const victim = await startHonest('victim');
              if (!(await waitForAwait(victim))) return 'the victim never waited';
              await delay(a.delayMs);
              const id: Activity = { workflowId: victim.workflowId, runId: victim.runId, activityId: awaitActivityIdFor(victim.requestId) };
              if (a.how === 'complete') {
                const value = completionValue(a.value, victim.requestId, mk);
                if (isCommittedClaim(value)) victim.forgedCommit = true;
                return client.activity.complete(id, value).then(
                  () => `completed with ${a.value}`,
                  (err: unknown) => `refused: ${errMsg(err)}`,
                );
              }
              victim.failedFromOutside = true;
              return client.activity
                .fail(
                  id,
                  ApplicationFailure.create({ type: a.errorType, message: 'fuzz: failed from outside', nonRetryable: a.nonRetryable }),
                )
                .then(
                  () => `failed with ${JSON.stringify(a.errorType)}`,
                  (err: unknown) => `refused: ${errMsg(err)}`,
                );
            }
            // A shard's bulk write, held by a table lock (for at least lockMs) so it is pending when we reach it.
            const lock = await m.connect();
            const lockedAt = Date.now();
            try {
              await lock.query('LOCK TABLES batched_writes WRITE');
              await startHonest('held0', { shard: a.shard });
              await startHonest('held1', { shard: a.shard });
              const activityId = await waitForActivity(shardId(a.shard), (x) => x.activityType?.name === 'bulkWrite', 20_000);
              if (!activityId) return 'no pending bulk write to reach';
              const id: Activity = { workflowId: shardId(a.shard), activityId };
              if (a.how === 'complete')
                return client.activity.complete(id, completionValue(a.value, 'write:none', mk)).then(
                  () => `bulkWrite ${activityId} completed with ${a.value}`,
                  (err: unknown) => `refused: ${errMsg(err)}`,
                );
              if (a.how === 'complete-undecodable')
                return conn.workflowService
                  .respondActivityTaskCompletedById({
                    namespace,
                    workflowId: id.workflowId,
                    activityId,
                    result: { payloads: [{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(`{"rows": "${mk()}"`) }] },
                    identity: 'fuzz',
                  })
                  .then(
                    () => `bulkWrite ${activityId} completed with undecodable bytes`,
                    (err: unknown) => `refused: ${errMsg(err)}`,
                  );
              return client.activity
                .fail(
                  id,
                  ApplicationFailure.create({ type: a.errorType, message: 'fuzz: failed from outside', nonRetryable: a.nonRetryable }),
                )
                .then(
                  () => `bulkWrite ${activityId} failed with ${JSON.stringify(a.errorType)}`,
                  (err: unknown) => `refused: ${errMsg(err)}`,
                );
            } finally {
              await delay(Math.max(500, lockedAt + a.lockMs - Date.now()));
              await lock.query('UNLOCK TABLES').catch(() => undefined);
              await lock.end().catch(() => undefined);
            }
          }
          case 'operator':
            switch (a.kind) {
              case 'query-during-replacement': {
                const q = client.workflow
                  .getHandle(shardId(a.shard))
                  .query(a.query)
                  .then(
                    () => 'answered',
                    (err: unknown) => `failed (${errMsg(err)})`,
                  );
                await delay(a.leadMs);
                await replaceBatcherWorker(a.downMs);
                const answer = await q;
                // The damage, if any, shows at the next replacement.
                after.step = () => replaceBatcherWorker(a.downMs);
                return `query ${a.query} ${answer}; worker replaced twice`;
              }
              case 'reset': {
                const handle = client.workflow.getHandle(shardId(a.shard));
                const history = await handle.fetchHistory().catch(() => undefined);
                const done = (history?.events ?? [])
                  .filter((e) => e.workflowTaskCompletedEventAttributes)
                  .flatMap((e) => (e.eventId ? [e.eventId] : []));
                if (done.length === 0) return 'no completed workflow task to reset to';
                const at = Math.floor(a.point * done.length);
                const to = done[at] as NonNullable<(typeof done)[number]>;
                const runId = (await handle.describe()).runId;
                return conn.workflowService
                  .resetWorkflowExecution({
                    namespace,
                    workflowExecution: { workflowId: shardId(a.shard), runId },
                    reason: 'fuzz: reset to a random completed workflow task',
                    workflowTaskFinishEventId: to,
                    requestId: randomUUID(),
                  })
                  .then(
                    () => `reset to event ${String(to)} (workflow task ${at + 1} of ${done.length})`,
                    (err: unknown) => `refused: ${errMsg(err)}`,
                  );
              }
              case 'terminate':
              case 'cancel': {
                let handle: WorkflowHandle;
                if (a.target === 'requester') {
                  const victim = await startHonest('victim');
                  await waitForAwait(victim);
                  if (a.kind === 'terminate') victim.terminated = true;
                  else victim.cancelled = true;
                  handle = client.workflow.getHandle(victim.workflowId);
                } else handle = client.workflow.getHandle(shardId(a.shard));
                const act = a.kind === 'terminate' ? handle.terminate('fuzz') : handle.cancel();
                return act.then(
                  () => `${a.kind === 'cancel' ? 'cancelled' : 'terminated'} ${handle.workflowId}`,
                  (err: unknown) => `refused: ${errMsg(err)}`,
                );
              }
              case 'kill-worker': {
                const c = components[a.worker];
                await c.kill();
                await delay(a.downMs);
                await c.start();
                return `${a.worker} killed and restarted`;
              }
            }
            break;
          case 'database': {
            if (a.kind === 'kill-mariadb') {
              await m.kill();
              await delay(a.downMs);
              await m.startServer();
              return 'MariaDB killed and restarted';
            }
            const r = await m.connect();
            try {
              if (a.kind === 'lock') await r.query(`LOCK TABLES ${a.table} WRITE`);
              else await r.query('SET GLOBAL read_only = ON');
              await delay(a.holdMs);
              return a.kind === 'lock' ? `${a.table} locked for ${a.holdMs} ms` : `read-only for ${a.holdMs} ms`;
            } finally {
              if (a.kind === 'lock') await r.query('UNLOCK TABLES').catch(() => undefined);
              else await r.query('SET GLOBAL read_only = OFF').catch(() => undefined);
              await r.end().catch(() => undefined);
            }
          }
        }
        return '';
      };

      await startHonest('a0', { order: n % 2 === 0 });
      await startHonest('a1');
      try {
        note = await perform(action);
      } catch (err) {
        note = `the action failed: ${errMsg(err)}`;
      }
      await startHonest('b0');
      await startHonest('b1', { order: true });
      await waitClosed(honest);
      if (after.step) {
        await after.step();
        await startHonest('c0');
        await startHonest('c1');
        await waitClosed(honest);
      }

      // The invariants.
      const violations: FuzzViolation[] = [];
      const boundary: string[] = [];
      const outcomes = await outcomesOf(
        client,
        honest.map((h) => h.workflowId),
        8,
      );
      const truthConn = await mysql.createConnection({
        host: m.host,
        port: m.port,
        user: m.user,
        password: m.password,
        database: m.database,
      });
      try {
        const truth = await readTruth(truthConn, honest);
        for (const v of checkRequests(honest, outcomes, truth.rows, truth.orders, truth.ledger))
          if (v.kind === 'boundary') boundary.push(`${v.where}: ${v.detail}`);
          else violations.push(v);
      } finally {
        await truthConn.end();
      }
      let wftFailures = 0;
      for (let sh = 0; sh < shards; sh++) {
        const health = await shardHealth(client, shardId(sh));
        wftFailures += Math.max(0, health.wftFailures - (wftFailuresSeen.get(health.runId) ?? 0));
        wftFailuresSeen.set(health.runId, health.wftFailures);
        if (health.failing) {
          violations.push({ kind: 'shard-failing', where: shardId(sh), detail: health.detail });
          await client.workflow
            .getHandle(shardId(sh))
            .terminate('fuzz: the shard was left failing (recorded as a violation)')
            .catch(() => undefined);
          repaired.push(`terminated failing ${shardId(sh)}`);
        }
      }
      allMarkers.push(...markers.issued);
      recentMarkers.push(markers.issued);
      if (recentMarkers.length > 3) recentMarkers.shift();
      for (const v of scanner.scan(recentMarkers.flat())) {
        if (leaks.has(leakKey(v))) continue;
        leaks.add(leakKey(v));
        violations.push(v);
      }

      const answers: Record<string, number> = {};
      for (const h of honest) {
        const o = outcomes.get(h.workflowId);
        const k = !o
          ? 'open'
          : o.kind === 'completed'
            ? 'committed'
            : o.kind === 'failed'
              ? o.type
              : o.kind === 'other'
                ? o.status
                : 'open';
        answers[k] = (answers[k] ?? 0) + 1;
      }
      const c: CaseResult = {
        n,
        action,
        kind: kindOf(action),
        note,
        requests: honest.length,
        answers,
        workflowTaskFailures: wftFailures,
        boundary,
        repaired,
        violations,
        seconds: (Date.now() - caseStart) / 1000,
      };
      cases.push(c);
      log(formatCaseLine(c));
      for (const v of violations) log(`         VIOLATION ${v.kind} ${v.where}: ${v.detail}`);
    }

    // At the end: no shard left failing, no marker of the whole run in any log.
    const finalViolations: FuzzViolation[] = [];
    await revive();
    await delay(3000);
    for (let sh = 0; sh < shards; sh++) {
      const health = await shardHealth(client, shardId(sh));
      if (health.failing) finalViolations.push({ kind: 'shard-failing', where: shardId(sh), detail: health.detail });
    }
    finalViolations.push(...new LogScanner(logDir).scanWhole(allMarkers), ...scanner.scan(recentMarkers.flat()));
    const fresh = finalViolations.filter((v) => {
      if (v.kind !== 'log-leak') return true;
      if (leaks.has(leakKey(v))) return false;
      leaks.add(leakKey(v));
      return true;
    });
    const violations = cases.reduce((k, c) => k + c.violations.length, 0) + fresh.length;
    result = { seed, classes, dir, cases, finalViolations: fresh, violations, seconds: (Date.now() - t0) / 1000 };
    return result;
  } finally {
    await connection?.close().catch(() => undefined);
    await stack?.stop();
    await db?.stop().catch(() => undefined);
    await temporal?.stop({ graceMs: 10_000 }).catch(() => undefined);
    if (result?.violations === 0 && !options.keepLogs) fs.rmSync(dir, { recursive: true, force: true });
  }
}

const leakKey = (v: FuzzViolation) => `${v.where} ${/zq[0-9a-f]{8}qz/.exec(v.detail)?.[0] ?? v.detail}`;

function completionValue(kind: CompletionValue, requestId: string, mk: () => string): unknown {
  switch (kind) {
    case 'null':
      return null;
    case 'number':
      return 42;
    case 'string':
      return mk();
    case 'empty-object':
      return {};
    case 'committed-other-id':
      return { requestId: 'write:someone-else', table: 'batched_writes', status: 'committed', batchId: 'forged', shard: 0 };
    case 'committed-forged':
      return { requestId, table: 'batched_writes', status: 'committed', batchId: 'forged', shard: 0 };
    case 'status-garbage':
      return { requestId, table: 'batched_writes', status: mk(), shard: 0 };
  }
}

/** A completion that claims the write is in the table: a forged commit, outside the trust boundary. */
function isCommittedClaim(value: unknown): boolean {
  const status = (value as { status?: unknown } | null)?.status;
  return status === 'committed' || status === 'duplicate';
}

/**
 * How long a shard found failing is given before it counts as left failing: the health monitor heals
 * a nondeterministic shard within a minute (it finds the last good task and resets there), so the
 * check waits for that, sampling every 5 s.
 */
const HEAL_GRACE_MS = 90_000;

/**
 * Whether a shard's current run is failing: its last workflow task failed and none has completed
 * since, still so after the monitor's heal grace ({@link HEAL_GRACE_MS}). A shard that ran on (a
 * completed task, or a new run: the monitor's reset) is not failing. Also counts the failed
 * workflow tasks of the run.
 */
async function shardHealth(
  client: Client,
  workflowId: string,
): Promise<{ runId: string; failing: boolean; wftFailures: number; detail: string }> {
  const sample = async () => {
    const handle = client.workflow.getHandle(workflowId);
    const d = await handle.describe();
    const events = (await handle.fetchHistory()).events ?? [];
    let lastFailed: string | undefined;
    let failures = 0;
    for (const e of events) {
      if (e.workflowTaskFailedEventAttributes) {
        failures++;
        lastFailed = `${String(e.workflowTaskFailedEventAttributes.cause ?? '?')}: ${(e.workflowTaskFailedEventAttributes.failure?.message ?? '').split('\n')[0]?.slice(0, 160)}`;
      }
      if (e.workflowTaskCompletedEventAttributes) lastFailed = undefined;
    }
    const attempt = d.raw.pendingWorkflowTask?.attempt ?? 0;
    return { runId: d.runId, status: d.status.name, failures, lastFailed, attempt, events: events.length };
  };
  try {
    const first = await sample();
    if (first.status !== 'RUNNING' || (first.lastFailed === undefined && first.attempt < 3))
      return { runId: first.runId, failing: false, wftFailures: first.failures, detail: first.status };
    const stuck = (now: Awaited<ReturnType<typeof sample>>) =>
      now.status === 'RUNNING' &&
      now.runId === first.runId &&
      (now.lastFailed !== undefined || now.attempt >= 3) &&
      now.events <= first.events + 1;
    let second = first;
    for (const until = Date.now() + HEAL_GRACE_MS; ;) {
      await delay(5000);
      second = await sample();
      if (!stuck(second) || Date.now() >= until) break;
    }
    const failing = stuck(second);
    if (!failing && second.runId !== first.runId)
      return {
        runId: second.runId,
        failing: false,
        wftFailures: second.failures,
        detail: `healed: run ${first.runId} failing, now run ${second.runId}`,
      };
    return {
      runId: second.runId,
      failing,
      wftFailures: second.failures,
      detail: `workflow task failing (attempt ${second.attempt}, ${second.failures} failed task(s) in run ${second.runId}): ${second.lastFailed ?? 'no failure recorded'}`,
    };
  } catch (err) {
    // Not started yet (no request reached it) or between runs: nothing to judge.
    return { runId: '', failing: false, wftFailures: 0, detail: `not described: ${(err as Error).message}` };
  }
}

export function formatCaseLine(c: CaseResult): string {
  const answers = Object.entries(c.answers)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return `[fuzz] case ${String(c.n).padStart(3)} ${c.action.class.padEnd(11)} ${c.kind}: ${c.note} | ${c.requests} requests: ${answers}${c.workflowTaskFailures ? ` | ${c.workflowTaskFailures} failed workflow task(s)` : ''}${c.boundary.length ? ` | ${c.boundary.length} answered for a forger's row (trust boundary)` : ''}${c.repaired.length ? ` | ${c.repaired.join(', ')}` : ''} | ${c.violations.length ? `${c.violations.length} VIOLATION(S)` : 'ok'} (${c.seconds.toFixed(0)} s)`;
}

/** The table of the report: per class, cases tried and their outcomes; then per kind of action. */
export function formatReport(r: FuzzResult): string {
  const lines: string[] = [];
  const row = (cols: (string | number)[]) => `| ${cols.join(' | ')} |`;
  const summarize = (list: CaseResult[]) => {
    const answers: Record<string, number> = {};
    for (const c of list) for (const [k, v] of Object.entries(c.answers)) answers[k] = (answers[k] ?? 0) + v;
    return {
      cases: list.length,
      clean: list.filter((c) => c.violations.length === 0).length,
      red: list.filter((c) => c.violations.length > 0).length,
      requests: list.reduce((k, c) => k + c.requests, 0),
      answers: Object.entries(answers)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k} ${v}`)
        .join(', '),
      wft: list.reduce((k, c) => k + c.workflowTaskFailures, 0),
      boundary: list.reduce((k, c) => k + c.boundary.length, 0),
    };
  };
  lines.push(`==== generative adversarial suite (seed ${r.seed}, ${r.cases.length} cases, ${r.seconds.toFixed(0)} s) ====`);
  lines.push(
    row([
      'class',
      'cases',
      'no violation',
      'with violations',
      'honest requests',
      'their answers',
      'answered for a forger (trust boundary)',
      'failed workflow tasks',
    ]),
  );
  lines.push(row(['---', '---:', '---:', '---:', '---:', '---', '---:', '---:']));
  for (const cls of r.classes) {
    const s = summarize(r.cases.filter((c) => c.action.class === cls));
    lines.push(row([cls, s.cases, s.clean, s.red, s.requests, s.answers || '-', s.boundary, s.wft]));
  }
  lines.push('');
  lines.push(row(['class', 'action', 'cases', 'no violation', 'with violations']));
  lines.push(row(['---', '---', '---:', '---:', '---:']));
  const kinds = new Map<string, CaseResult[]>();
  for (const c of r.cases) kinds.set(`${c.action.class}\u0000${c.kind}`, [...(kinds.get(`${c.action.class}\u0000${c.kind}`) ?? []), c]);
  for (const [key, list] of [...kinds].sort()) {
    const [cls, kind] = key.split('\u0000');
    const s = summarize(list);
    lines.push(row([cls ?? '', kind ?? '', s.cases, s.clean, s.red]));
  }
  const red = r.cases.filter((c) => c.violations.length > 0);
  if (red.length || r.finalViolations.length) {
    lines.push('');
    lines.push('violations (replay: npm run fuzz -- --seed ' + `${r.seed} --classes ${r.classes.join(',')} --cases <case + 1>):`);
    for (const c of red) {
      lines.push(`  case ${c.n} (${c.action.class}, ${c.kind}): ${JSON.stringify(c.action)}`);
      lines.push(`    action: ${c.note}`);
      for (const v of c.violations) lines.push(`    ${v.kind} ${v.where}: ${v.detail}`);
    }
    for (const v of r.finalViolations) lines.push(`  at the end: ${v.kind} ${v.where}: ${v.detail}`);
  }
  lines.push(
    r.violations === 0
      ? 'VERDICT: PASS (no violation)'
      : `VERDICT: FAIL (${r.violations} violation(s) in ${red.length} case(s)${r.finalViolations.length ? ` and ${r.finalViolations.length} at the end` : ''})`,
  );
  return lines.join('\n');
}
