// The invariants checked after each case of the generative adversarial suite: every honest request
// answered once, with the truth the ledger and the tables hold; no shard left failing; no row value
// in any log. Pure where it can be (checkRequests), so it is tested without a stack.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type mysql from 'mysql2/promise';
import type { DemoOrder } from '@batcher/demo';
import { BatcherErrorTypes, canonicalRowText, isBatcherErrorType } from '@write-batcher/protocol';
import type { Outcome } from '../chaos/audit';
import { MARKER_PATTERN, markerForms } from './build';

/** One honest requester of a case (a demo transactionWorkflow) and what the case did to it. */
export interface HonestRequest {
  workflowId: string;
  runId: string;
  requestId: string;
  payload: Record<string, unknown>;
  order?: DemoOrder;
  /** A forged "committed" completion reached it: outside the trust boundary, its answer is not checked. */
  forgedCommit?: boolean;
  /** Terminated by the case: it has no answer to check. */
  terminated?: boolean;
  /** Cancelled by the case. */
  cancelled?: boolean;
  /** Its waiting activity was failed from outside (any type may then be reported, as long as it is true). */
  failedFromOutside?: boolean;
  /**
   * A request under its id with its real reply address and another row was sent: when that one
   * reached the shard first, the victim is answered for the forger's row (outside the trust
   * boundary, docs/reliability.md), which is then noted, not counted as a violation.
   */
  forgedFirstPossible?: boolean;
}

export interface FuzzViolation {
  /** `boundary`: an answer explained by a forgery the trust boundary leaves open; a note, not a violation. */
  kind:
    'lost' | 'phantom' | 'doubled' | 'false-answer' | 'ledger' | 'open' | 'other' | 'untyped' | 'shard-failing' | 'log-leak' | 'boundary';
  where: string;
  detail: string;
}

export interface JsonRow {
  request_id: string;
  status: string;
  payload: unknown;
}
export interface OrderRowRead {
  order_id: string;
  amount_cents: string;
  currency: string;
  placed_at: string;
  items: unknown;
}
export interface LedgerRow {
  request_id: string;
  status: 'committed' | 'abandoned';
  target_table: string;
  digest: string;
}

/** SHA-256 (hex) of the honest JSON row, as the ledger records its digest. */
export function honestDigest(payload: Record<string, unknown>): string {
  return createHash('sha256')
    .update(canonicalRowText('batched_writes', { payload: { '@wb': 'json', v: payload as never } }))
    .digest('hex');
}

function parseJson(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return parseJson(value.toString('utf8'));
  if (typeof value === 'string') {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return value;
    }
  }
  return value;
}

const DATA_ANSWERS = new Set<string>([BatcherErrorTypes.InvalidRequest, BatcherErrorTypes.DataRejected, BatcherErrorTypes.KeyExists]);

/** Checks each honest request's answer against its rows and ledger entry. */
export function checkRequests(
  honest: readonly HonestRequest[],
  outcomes: ReadonlyMap<string, Outcome>,
  rows: readonly JsonRow[],
  orders: readonly OrderRowRead[],
  ledger: readonly LedgerRow[],
): FuzzViolation[] {
  const out: FuzzViolation[] = [];
  const add = (kind: FuzzViolation['kind'], where: string, detail: string) => out.push({ kind, where, detail });
  for (const h of honest) {
    const own = rows.filter((r) => r.request_id === h.requestId);
    const entry = ledger.find((l) => l.request_id === h.requestId);
    const mine = own.filter((r) => r.status === 'committed' && isDeepStrictEqual(parseJson(r.payload), h.payload));
    const others = own.filter((r) => !isDeepStrictEqual(parseJson(r.payload), h.payload));
    const outcome = outcomes.get(h.workflowId) ?? { kind: 'open' as const };
    const w = h.workflowId;
    if (own.length > 1) add('doubled', w, `${own.length} rows under request id ${h.requestId}`);
    if (own.length > 0 && entry?.status !== 'committed')
      add('ledger', w, `a row is in batched_writes under ${h.requestId} but its ledger entry is ${entry?.status ?? 'missing'}`);
    if (own.length === 0 && entry?.status === 'committed' && entry.target_table === 'batched_writes')
      add('lost', w, `the ledger says ${h.requestId} is committed, batched_writes has no row`);
    switch (outcome.kind) {
      case 'completed': {
        if (h.forgedCommit) break;
        if (mine.length === 0 && others.length > 0 && h.forgedFirstPossible) {
          add('boundary', w, "told committed for the forger's row, which reached the shard first and holds its id");
          break;
        }
        if (mine.length === 0)
          add(
            'lost',
            w,
            `completed (${outcome.result.status ?? '?'}) but no committed row with its payload under ${h.requestId}${others.length ? ' (another row holds the id)' : ''}`,
          );
        else if (entry?.status !== 'committed' || entry.digest !== honestDigest(h.payload))
          add(
            'ledger',
            w,
            `completed, but the ledger entry of ${h.requestId} is ${entry ? `${entry.status}${entry.digest !== honestDigest(h.payload) ? ' for another row' : ''}` : 'missing'}`,
          );
        if (h.order) {
          const o = orders.filter((r) => r.order_id === h.workflowId);
          const want = {
            amount_cents: h.order.amountCents,
            currency: h.order.currency,
            placed_at: new Date(h.order.placedAt).toISOString(),
            items: h.order.lines ?? null,
          };
          if (o.length !== 1) add(o.length === 0 ? 'lost' : 'doubled', w, `completed with ${o.length} order rows`);
          for (const r of o) {
            const got = {
              amount_cents: String(r.amount_cents),
              currency: r.currency,
              placed_at: r.placed_at,
              items: parseJson(r.items) ?? null,
            };
            if (!isDeepStrictEqual(got, want)) add('false-answer', w, `order row ${JSON.stringify(got)} is not the one sent`);
          }
        }
        break;
      }
      case 'failed':
        if (!isBatcherErrorType(outcome.type)) add('untyped', w, `failed with ${outcome.type}: ${outcome.message.slice(0, 200)}`);
        if (mine.length > 0 && !(h.order && !outcome.message.includes(h.requestId) && outcome.message.includes(`order:${h.workflowId}`)))
          add('phantom', w, `failed ${outcome.type} (${outcome.message.slice(0, 160)}) but its row is committed`);
        if (!h.failedFromOutside && h.forgedFirstPossible && mine.length === 0 && DATA_ANSWERS.has(outcome.type))
          add('boundary', w, `answered ${outcome.type} for the forger's row, which reached the shard first`);
        else if (!h.failedFromOutside && DATA_ANSWERS.has(outcome.type))
          add('false-answer', w, `its valid rows were answered ${outcome.type} (${outcome.message.slice(0, 160)})`);
        if (!h.failedFromOutside && others.length > 0 && outcome.type !== BatcherErrorTypes.Conflict)
          add('false-answer', w, `another row holds its id, but it was answered ${outcome.type}, not ${BatcherErrorTypes.Conflict}`);
        break;
      case 'open':
        add('open', w, 'still running when the case gave up waiting');
        break;
      case 'other':
        if (h.terminated) break;
        if (h.cancelled && outcome.status === 'CANCELLED') {
          if (mine.length > 0) add('phantom', w, 'closed as cancelled but its row is committed');
          break;
        }
        add('other', w, `closed as ${outcome.status}`);
        break;
    }
  }
  return out;
}

/** The rows, orders and ledger entries of some request ids (the fuzz user's view). */
export async function readTruth(
  conn: mysql.Connection,
  honest: readonly HonestRequest[],
): Promise<{ rows: JsonRow[]; orders: OrderRowRead[]; ledger: LedgerRow[] }> {
  if (honest.length === 0) return { rows: [], orders: [], ledger: [] };
  const ids = honest.map((h) => h.requestId);
  const orderIds = honest.map((h) => h.workflowId);
  const [rows] = await conn.query(
    `SELECT CAST(request_id AS CHAR CHARACTER SET utf8mb4) AS request_id, status, payload FROM batched_writes WHERE request_id IN (?)`,
    [ids],
  );
  const [orders] = await conn.query(
    `SELECT order_id, CAST(amount_cents AS CHAR) AS amount_cents, currency, CONCAT(DATE_FORMAT(placed_at, '%Y-%m-%dT%H:%i:%s.'), LPAD(FLOOR(MICROSECOND(placed_at) / 1000), 3, '0'), 'Z') AS placed_at, items FROM demo_orders WHERE order_id IN (?)`,
    [orderIds],
  );
  const [ledger] = await conn.query(
    `SELECT CAST(request_id AS CHAR CHARACTER SET utf8mb4) AS request_id, status, CAST(target_table AS CHAR) AS target_table, LOWER(HEX(row_digest)) AS digest FROM batcher_ledger WHERE request_id IN (?)`,
    [ids],
  );
  return { rows: rows as JsonRow[], orders: orders as OrderRowRead[], ledger: ledger as LedgerRow[] };
}

/**
 * Reads the run's log files from where it last stopped (less a little overlap) and reports any
 * marker it is asked about, in any of the forms a log could print it in.
 */
export class LogScanner {
  private readonly offsets = new Map<string, number>();
  constructor(private readonly dir: string) {}

  private files(): string[] {
    const out: string[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) out.push(p);
      }
    };
    if (fs.existsSync(this.dir)) walk(this.dir);
    return out;
  }

  /**
   * Every marker of the run that any log holds as text, from the start of every file (one regular
   * expression pass: the encoded forms are looked for by the scans after each case).
   */
  scanWhole(markers: readonly string[]): FuzzViolation[] {
    const issued = new Set(markers);
    const found: FuzzViolation[] = [];
    for (const file of this.files()) {
      const hits = new Set<string>();
      for (const match of fs.readFileSync(file, 'latin1').matchAll(MARKER_PATTERN)) if (issued.has(match[0])) hits.add(match[0]);
      for (const marker of hits)
        found.push({ kind: 'log-leak', where: path.relative(this.dir, file), detail: `row value ${marker} is in the log` });
    }
    return found;
  }

  /** Markers found in what was logged since the last scan (or in everything, with `fromStart`). */
  scan(markers: readonly string[], fromStart = false): FuzzViolation[] {
    const found: FuzzViolation[] = [];
    const forms = markers.map((m) => [m, markerForms(m)] as const);
    for (const file of this.files()) {
      const size = fs.statSync(file).size;
      const from = fromStart ? 0 : Math.max(0, (this.offsets.get(file) ?? 0) - 4096);
      if (size <= from) continue;
      const fd = fs.openSync(file, 'r');
      let text: string;
      try {
        const buf = Buffer.alloc(size - from);
        fs.readSync(fd, buf, 0, buf.length, from);
        text = buf.toString('latin1');
      } finally {
        fs.closeSync(fd);
      }
      if (!fromStart) this.offsets.set(file, size);
      for (const [marker, list] of forms) {
        const form = list.find((f) => f.length >= 8 && text.includes(f));
        if (form !== undefined)
          found.push({
            kind: 'log-leak',
            where: path.relative(this.dir, file),
            detail: `row value ${marker} is in the log${form === marker ? '' : ` (encoded as ${form})`}`,
          });
      }
    }
    return found;
  }
}
