// The team workload's parts the run needs: the requests (in groups that share a key on purpose),
// the team's requester worker as a process, and the database read back for the audit.
import fs from 'node:fs';
import path from 'node:path';
import type mysql from 'mysql2/promise';
import { encodeRow } from '@write-batcher/protocol';
import { rowDigest } from '@write-batcher/batcher/testing';
import { delay, repoRoot, spawnLogged, type ManagedProcess } from '../../processes';
import type { SeededRandom } from '../random';
import { asText, type LedgerRow, type SentRequest, type TeamRow } from './audit';
import { rowOf, rowsOf, type TeamRowWrite, type TeamWrite } from './rows';
import { TEAM_COLUMNS, TEAM_TABLES } from './schema';
import { TEAM_WORKER_READY } from './worker';

/** Workflows started together: two on one event id, three upserts on one email, or one order with its lines (one unit). */
export interface TeamGroup {
  workflows: Array<{ workflowId: string; writes: TeamWrite[] }>;
}

/** The ledger's digest of a request's rows (a unit's: every row, in the order given), as the batcher computes it. */
export function digestOf(write: TeamWrite): string {
  const encoded = rowsOf(write).map((r) => {
    const e = encodeRow(rowOf(r));
    if ('problem' in e) throw new Error(`team row of ${write.requestId} (${r.table}) does not encode: ${e.problem}`);
    return { table: r.table, row: e.row };
  });
  const [first, ...more] = encoded as [(typeof encoded)[number], ...typeof encoded];
  return rowDigest(first.table, first.row, more.length > 0 ? more : undefined).toString('hex');
}

/** Groups until `n` workflows (the last group may add one or two more). */
export function teamGroups(n: number, tag: string, random: SeededRandom): { groups: TeamGroup[]; sent: SentRequest[] } {
  const groups: TeamGroup[] = [];
  const sent: SentRequest[] = [];
  const instant = () => new Date(Date.UTC(2026, 0, 1) + random.int(0, 364 * 86_400) * 1000 + random.int(0, 999)).toISOString();
  const money = (max: number) => `${random.int(0, max)}.${String(random.int(0, 99)).padStart(2, '0')}`;
  const hex = (len: number) => Array.from({ length: len }, () => random.int(0, 15).toString(16)).join('');
  /** A unit's row (1-based) that breaks a CHECK, by request id. */
  const badRow = new Map<string, number>();
  let count = 0;
  for (let g = 0; count < n; g++) {
    const kind = (['pair', 'race', 'order'] as const)[random.int(0, 2)] ?? 'order';
    const group = `team-${tag}-${g}`;
    const email = `user${g}.${tag}@team.example`;
    const workflows: TeamGroup['workflows'] = [];
    if (kind === 'pair') {
      const eventId = `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`;
      const occurredAt = instant();
      for (let m = 0; m < 2; m++) {
        const workflowId = `${group}-${m}`;
        const requestId = `team:${workflowId}`;
        workflows.push({
          workflowId,
          writes: [
            {
              table: TEAM_TABLES.events,
              requestId,
              dates: ['occurred_at', 'received_at'],
              row: {
                event_id: eventId,
                account_email: email,
                kind: (['login', 'purchase', 'refund'] as const)[random.int(0, 2)] ?? 'login',
                amount: money(5000),
                occurred_at: occurredAt,
                received_at: instant(),
                payload: { source: m === 0 ? 'web' : 'retry', tags: ['a', 'ü'], note: `événement ${g}` },
                written_by: requestId,
              },
            },
          ],
        });
      }
    } else if (kind === 'race') {
      for (let m = 0; m < 3; m++) {
        const workflowId = `${group}-${m}`;
        const requestId = `team:${workflowId}`;
        workflows.push({
          workflowId,
          writes: [
            {
              table: TEAM_TABLES.accounts,
              requestId,
              dates: ['seen_at'],
              row: {
                email,
                display_name: `Zoë Ünal ${g}/${m}`,
                balance: money(1_000_000),
                seen_at: instant(),
                metadata: { plan: m === 0 ? 'free' : 'pro', racer: m, limits: { seats: random.int(1, 50) } },
                written_by: requestId,
              },
            },
          ],
        });
      }
    } else {
      // One unit: the two lines listed before their order (the batcher writes parents first), one request id.
      // One unit in ten carries a line whose qty breaks ck_line_qty: the whole unit must be refused.
      const workflowId = `${group}-0`;
      const requestId = `team:${workflowId}:order`;
      const orderId = `o-${tag}-${g}`;
      const paid = random.int(0, 1) === 1;
      const bad = random.int(0, 9) === 0;
      const lines = [1, 2].map((k): TeamRowWrite => ({
        table: TEAM_TABLES.lines,
        dates: [],
        row: {
          order_id: orderId,
          line_no: k,
          sku: `sku-${random.int(1, 999)}`,
          qty: bad && k === 2 ? 0 : random.int(1, 9),
          unit_price: money(999),
          written_by: requestId,
        },
      }));
      const order: TeamRowWrite = {
        table: TEAM_TABLES.orders,
        dates: ['placed_at', 'paid_at'],
        row: {
          order_id: orderId,
          account_email: email,
          order_no: g,
          total: money(100_000),
          placed_at: instant(),
          paid_at: paid ? instant() : null,
          metadata: { channel: 'app', coupon: paid ? null : 'WINTER-€5' },
          written_by: requestId,
        },
      };
      const [line1, line2] = lines as [TeamRowWrite, TeamRowWrite];
      if (bad) badRow.set(requestId, 2);
      workflows.push({ workflowId, writes: [{ ...line1, requestId, moreRows: [line2, order] }] });
    }
    groups.push({ workflows });
    count += workflows.length;
    for (const w of workflows)
      for (const write of w.writes) {
        const bad = badRow.get(write.requestId);
        sent.push({ ...write, workflowId: w.workflowId, group, groupKind: kind, digest: digestOf(write), ...(bad ? { badRow: bad } : {}) });
      }
  }
  return { groups, sent };
}

export interface TeamWorkerProcess {
  readonly pid: number | undefined;
  start(): Promise<void>;
  kill(): Promise<unknown>;
  stop(): Promise<void>;
}

/** A file of the built team workload (the tests run the harness from its sources, the worker runs built). */
export function teamDistFile(name: 'worker.js' | 'workflows.js'): string {
  const file = path.join(repoRoot, 'harness', 'dist', 'chaos', 'team', name);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run npm run build`);
  return file;
}

/** Starts the team's requester worker (`harness/dist/chaos/team/worker.js`); ready once it logs TEAM_WORKER_READY. */
export async function startTeamWorker(options: {
  env: Record<string, string>;
  bundle?: string;
  logFile: string;
}): Promise<TeamWorkerProcess> {
  const main = teamDistFile('worker.js');
  let proc: ManagedProcess | undefined;
  const start = async () => {
    if (proc && !proc.hasExited()) return;
    const offset = fs.existsSync(options.logFile) ? fs.statSync(options.logFile).size : 0;
    const started = spawnLogged({
      name: 'team-worker',
      command: process.execPath,
      args: [main],
      env: { ...options.env, ...(options.bundle ? { TEAM_WORKFLOW_BUNDLE: options.bundle } : {}) },
      logFile: options.logFile,
    });
    proc = started;
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (started.hasExited()) throw new Error(`team worker exited during start-up; log ${options.logFile}:\n${started.logTail()}`);
      const text = fs.readFileSync(options.logFile).subarray(offset).toString('utf8');
      if (text.includes(TEAM_WORKER_READY)) return;
      if (Date.now() > deadline) {
        await started.stop({ graceMs: 5000 });
        throw new Error(`team worker not ready within 120 s; log ${options.logFile}:\n${started.logTail()}`);
      }
      await delay(250);
    }
  };
  await start();
  return {
    get pid() {
      return proc && !proc.hasExited() ? proc.pid : undefined;
    },
    start,
    kill: async () => proc?.kill(),
    stop: async () => {
      await proc?.stop({ graceMs: 5000 });
    },
  };
}

/** Every row of the team's tables, values in the audit's form (the session keeps the server's zone: TIMESTAMPs are read as instants). */
export async function readTeamRows(conn: mysql.Connection): Promise<TeamRow[]> {
  const out: TeamRow[] = [];
  for (const [table, spec] of Object.entries(TEAM_COLUMNS)) {
    const select = Object.entries(spec.columns).map(([c, kind]) => {
      if (kind === 'decimal') return `CAST(${c} AS CHAR) AS ${c}`;
      if (kind === 'datetime')
        return `CONCAT(DATE_FORMAT(${c}, '%Y-%m-%dT%H:%i:%s.'), LPAD(FLOOR(MICROSECOND(${c}) / 1000), 3, '0'), 'Z') AS ${c}`;
      if (kind === 'timestamp') return `CAST(ROUND(UNIX_TIMESTAMP(${c}) * 1000) AS CHAR) AS ${c}`;
      return c;
    });
    const [rows] = await conn.query(`SELECT ${select.join(', ')}, written_by FROM ${table}`);
    for (const raw of rows as Array<Record<string, unknown>>) {
      const values: Record<string, unknown> = {};
      for (const [c, kind] of Object.entries(spec.columns)) {
        const value = raw[c] ?? null;
        if (value === null) values[c] = null;
        else if (kind === 'timestamp') values[c] = new Date(Number(value)).toISOString();
        else if (kind === 'json') values[c] = typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
        else if (kind === 'int') values[c] = Number(value);
        else values[c] = asText(value);
      }
      out.push({ table, writtenBy: asText(raw.written_by), key: spec.key.map((k) => asText(values[k])).join('\u0000'), values });
    }
  }
  return out;
}

/** The ledger entries of the team's requests (a unit's with its `row_statuses`). */
export async function readTeamLedger(conn: mysql.Connection): Promise<Map<string, LedgerRow>> {
  const [rows] = await conn.query(
    `SELECT request_id, status, target_table, LOWER(HEX(row_digest)) AS digest, batch_id, row_statuses FROM batcher_ledger WHERE request_id LIKE 'team:%'`,
  );
  const text = (v: unknown) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
  return new Map(
    (rows as Array<Record<string, unknown>>).map((r) => [
      text(r.request_id),
      {
        requestId: text(r.request_id),
        status: String(r.status) as LedgerRow['status'],
        table: text(r.target_table),
        digest: String(r.digest),
        ...(r.batch_id == null ? {} : { batchId: text(r.batch_id) }),
        ...(r.row_statuses == null ? {} : { rowStatuses: text(r.row_statuses) }),
      },
    ]),
  );
}
