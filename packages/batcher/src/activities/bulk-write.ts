// The bulk-write activity: a batch's rows, for any of the declared tables, in ONE transaction with
// their ledger entries. Only rows whose ledger entry this batch won reach their table; a repeated
// id is answered from the ledger (duplicate, abandoned or conflict). A row whose values fail the
// wire check or the conversion to SQL is refused alone before the transaction; a row whose data the
// database refuses is isolated (the batch is split until it stands alone) so it cannot poison the
// others. A unit (one request, several rows) is written whole or not at all: it is one request to
// the isolation, and a row of it that fails refuses the unit, named by its place. Database errors are sorted once (db/db-errors.ts): data refuses the row, a changed table
// is re-read once first, configuration and transient errors are retried (the writes wait).
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  isSpanContextValid,
  propagation,
  trace,
  type Attributes,
  type Link,
} from '@opentelemetry/api';
import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { BatcherErrorTypes, wireRowProblem, type UnitRowOutcome } from '@write-batcher/protocol';
import type { BulkWriteInput, BulkWriteResult, RowOutcome } from '../workflows/types';
import type { Pool } from 'mysql2/promise';
import { classifyDbError, describeDbError, serverKindOf, type DbErrorKind, type ServerKind } from '../db/db-errors';
import {
  LEDGER_TABLE,
  claimForBatch,
  decodeRowStatuses,
  encodeRowStatuses,
  judgeRepeat,
  markOutcomes,
  markUnitRows,
  rowDigest,
} from '../db/ledger';
import { utcTransaction } from '../db/sessions';
import { conversionProblem, writeTargetRows, type TargetResult, type TargetRow } from '../db/target-writes';
import { RowValueError, type Catalog } from '../db/targets';
import type { Replier, Reply } from './replies';

type Row = BulkWriteInput['rows'][number];

/** One row to write: a one-row request's row, or one of a unit's rows (keyed apart: they share a request id). */
interface Part extends TargetRow {
  key: string;
  table: string;
  /** Its place in the request (0: the request's own row). */
  index: number;
}

/** A request's rows as parts. A unit's keys add the row's place after a space, which no request id holds. */
export function partsOf(r: Pick<Row, 'requestId' | 'requesterWorkflowId' | 'table' | 'row' | 'moreRows'>): Part[] {
  const all = [{ table: r.table, row: r.row }, ...(r.moreRows ?? [])];
  return all.map((p, index) => ({
    key: all.length === 1 ? r.requestId : `${r.requestId} ${index}`,
    index,
    requestId: r.requestId,
    requesterWorkflowId: r.requesterWorkflowId,
    table: p.table,
    row: p.row,
  }));
}

/** Where a unit's row is named in a refusal: `row 2 of the unit: ` (nothing for a one-row request). */
const placeOf = (r: Pick<Row, 'moreRows'>, index: number): string => (r.moreRows?.length ? `row ${index + 1} of the unit: ` : '');

/** What the ledger answers for a request it knows: its status, and a unit's row outcomes when it kept them. */
function ledgerRows(r: Row, rowStatuses: string | undefined): { rows?: RowOutcome['rows'] } {
  if (!r.moreRows?.length) return {};
  const rows = decodeRowStatuses(
    rowStatuses,
    partsOf(r).map((p) => p.table),
  );
  return rows ? { rows } : {};
}

const tracer = trace.getTracer('@write-batcher/batcher');

/**
 * OpenTelemetry database attributes of the batch, by hand: a driver instrumentation would put every
 * row's values into db.statement. Both the current names and the older ones many backends read.
 */
function dbAttributes(database: string | undefined, tables: string[]): Attributes {
  const collection = tables.join(',');
  return {
    'db.system': 'mysql',
    ...(database ? { 'db.namespace': database, 'db.name': database } : {}),
    'db.operation.name': 'INSERT',
    'db.operation': 'INSERT',
    'db.collection.name': collection,
    'db.sql.table': collection,
  };
}

/** One link per request to the span that submitted it, so a batch leads to every trace it served. */
export function requesterLinks(rows: Row[]): Link[] {
  return rows.flatMap((r) => {
    if (!r.trace) return [];
    const spanContext = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, r.trace));
    if (!spanContext || !isSpanContextValid(spanContext)) return [];
    return [
      { context: spanContext, attributes: { 'batcher.request_id': r.requestId, 'batcher.requester_workflow_id': r.requesterWorkflowId } },
    ];
  });
}

/** The database the pool connects to (mysql2 keeps it in the pool's connection config). */
export function databaseOf(pool: Pool): string | undefined {
  return (pool as unknown as { pool?: { config?: { connectionConfig?: { database?: string } } } }).pool?.config?.connectionConfig?.database;
}

export interface BulkWriter {
  // A function property, not a method: activities are passed around unbound.
  bulkWrite: (input: BulkWriteInput) => Promise<BulkWriteResult>;
}

/** The reply each waiting requester gets for its row's outcome (the first of several gets "committed"). */
export function repliesFor(input: BulkWriteInput, outcomes: RowOutcome[]): Reply[] {
  const byId = new Map(outcomes.map((o) => [o.requestId, o]));
  return input.rows.flatMap((row) => {
    const o = byId.get(row.requestId);
    return row.replies.map((reply, i): Reply => {
      if (!o || o.status === 'rejected') {
        return {
          reply,
          trace: row.trace,
          failure: ApplicationFailure.create({
            type: o?.errorType ?? BatcherErrorTypes.DataRejected,
            message: `write ${row.requestId} to ${row.table} was not written: ${o?.reason ?? 'no outcome'}`,
            nonRetryable: true,
          }),
        };
      }
      // The first requester of a written row hears what its batch did; the others that asked for the
      // same id meanwhile, that it was written (duplicate). An ignored row is ignored for every one.
      const status =
        o.status === 'ignored' ? 'ignored' : (o.status === 'committed' || o.status === 'updated') && i === 0 ? o.status : 'duplicate';
      return {
        reply,
        trace: row.trace,
        outcome: {
          requestId: row.requestId,
          table: row.table,
          status,
          batchId: o.batchId,
          ...(o.rows ? { rows: o.rows } : {}),
          shard: input.shard,
        },
      };
    });
  });
}

const rejected = (requestId: string, errorType: RowOutcome['errorType'], reason: string): RowOutcome => ({
  requestId,
  status: 'rejected',
  errorType,
  reason,
});

export function createBulkWriter(pool: Pool, catalog: Catalog, replier: Replier): BulkWriter {
  const database = databaseOf(pool);
  let server: ServerKind | undefined;
  const serverKind = async (): Promise<ServerKind> => {
    if (server) return server;
    const [rows] = await pool.query('SELECT VERSION() AS v');
    return (server = serverKindOf((rows as Array<{ v: string }>)[0]?.v));
  };

  /** One transaction: the ledger claims, then each table's rows, then commit. */
  async function writeOnce(input: BulkWriteInput, rows: Row[], count: () => void): Promise<RowOutcome[]> {
    // The zone and the transaction's start in one statement (db/sessions.ts).
    const { conn, commit, release } = await utcTransaction(pool);
    try {
      count();
      const digests = new Map(rows.map((r) => [r.requestId, rowDigest(r.table, r.row, r.moreRows)]));
      const known = await claimForBatch(
        conn,
        input.batchId,
        input.shard,
        rows.map((r) => ({
          requestId: r.requestId,
          requesterWorkflowId: r.requesterWorkflowId,
          table: r.table,
          digest: digests.get(r.requestId) as Buffer,
        })),
        count,
      );
      const outcomes = new Map<string, RowOutcome>();
      const wonRequests: Row[] = [];
      const won = new Map<string, Part[]>();
      for (const r of rows) {
        const entry = known.get(r.requestId);
        if (!entry) {
          wonRequests.push(r);
          for (const p of partsOf(r)) won.set(p.table, [...(won.get(p.table) ?? []), p]);
          continue;
        }
        if (entry.status !== 'abandoned' && entry.batchId === input.batchId && entry.digest.equals(digests.get(r.requestId) as Buffer)) {
          // An earlier attempt of this very batch committed: the ledger says what it did with the row.
          outcomes.set(r.requestId, {
            requestId: r.requestId,
            status: entry.status,
            batchId: input.batchId,
            ...ledgerRows(r, entry.rowStatuses),
          });
          continue;
        }
        const verdict = judgeRepeat(entry, r.table, digests.get(r.requestId) as Buffer);
        if (verdict.status === 'duplicate' || verdict.status === 'ignored')
          outcomes.set(r.requestId, {
            requestId: r.requestId,
            status: verdict.status,
            batchId: verdict.batchId,
            ...ledgerRows(r, entry.rowStatuses),
          });
        else if (verdict.status === 'abandoned') {
          outcomes.set(
            r.requestId,
            rejected(
              r.requestId,
              BatcherErrorTypes.Abandoned,
              'its request id was claimed as abandoned by an earlier write under this id that was refused, timed out or was cancelled; it can never be written: use a new request id',
            ),
          );
        } else
          outcomes.set(r.requestId, rejected(r.requestId, BatcherErrorTypes.Conflict, `${verdict.reason}; the row written first stays`));
      }
      // Parents before children: a child row and its parent in one batch (or one unit) go in foreign-key order.
      const results = new Map<string, TargetResult>();
      for (const table of catalog.writeOrder([...won.keys()])) {
        const tableRows = won.get(table) as Part[];
        const info = catalog.get(table);
        // Checked before the transaction; a table that went missing since is a transient fault.
        if (!info) throw Object.assign(new Error(`table ${table} is not known to this worker`), { transient: true });
        const written = await tracer.startActiveSpan(
          `INSERT ${table}`,
          {
            kind: SpanKind.CLIENT,
            attributes: {
              ...dbAttributes(database, [table]),
              'batcher.batch_id': input.batchId,
              'batcher.rows': tableRows.length,
              'batcher.mode': info.target.mode,
            },
          },
          async (span) => {
            try {
              return await writeTargetRows(conn, info, tableRows, input, count);
            } catch (err) {
              span.setStatus({ code: SpanStatusCode.ERROR, message: describeDbError(err, server ?? 'mysql', false) });
              throw err;
            } finally {
              span.end();
            }
          },
        );
        for (const [key, result] of written) results.set(key, result);
      }
      // The ledger entries claimed above say committed; a row the table kept (insert-ignore) or wrote
      // over (upsert) is recorded as such in the same transaction, so a re-run answers the same. A
      // unit's entry stays committed and records each row's outcome.
      const statusOf = (result: TargetResult | undefined): UnitRowOutcome['status'] =>
        result === 'kept' ? 'ignored' : result === 'updated' ? 'updated' : 'committed';
      const byStatus = { ignored: [] as string[], updated: [] as string[] };
      const unitRows = new Map<string, string>();
      for (const r of wonRequests) {
        const parts = partsOf(r);
        if (parts.length === 1) {
          const status = statusOf(results.get(r.requestId));
          if (status !== 'committed') byStatus[status].push(r.requestId);
          outcomes.set(r.requestId, { requestId: r.requestId, status, batchId: input.batchId });
          continue;
        }
        const unit = parts.map((p) => ({ table: p.table, status: statusOf(results.get(p.key)) }));
        unitRows.set(r.requestId, encodeRowStatuses(unit.map((u) => u.status)));
        outcomes.set(r.requestId, { requestId: r.requestId, status: 'committed', batchId: input.batchId, rows: unit });
      }
      for (const status of ['ignored', 'updated'] as const) {
        if (byStatus[status].length === 0) continue;
        count();
        await markOutcomes(conn, status, byStatus[status]);
      }
      if (unitRows.size > 0) {
        count();
        await markUnitRows(conn, unitRows);
      }
      count();
      await commit();
      return rows.map((r) => outcomes.get(r.requestId) ?? rejected(r.requestId, BatcherErrorTypes.DataRejected, 'no outcome'));
    } catch (err) {
      await conn.rollback().catch(() => undefined);
      throw err;
    } finally {
      await release();
    }
  }

  /**
   * The row of a unit whose write fails: its rows written one at a time, in foreign-key order, in a
   * transaction that is always rolled back. Undefined when none fails alone (the unit failed as a whole).
   */
  async function failingPart(input: BulkWriteInput, unit: Row): Promise<{ part: Part; err: unknown } | undefined> {
    const { conn, release } = await utcTransaction(pool);
    try {
      const parts = partsOf(unit);
      const order = catalog.writeOrder([...new Set(parts.map((p) => p.table))]);
      for (const table of order) {
        const info = catalog.get(table);
        if (!info) return undefined;
        for (const part of parts.filter((p) => p.table === table)) {
          try {
            await writeTargetRows(conn, info, [part], input, () => undefined);
          } catch (err) {
            return { part, err };
          }
        }
      }
      return undefined;
    } catch {
      return undefined;
    } finally {
      await conn.rollback().catch(() => undefined);
      await release();
    }
  }

  /**
   * Writes rows; when one row's data is refused, splits the batch until that row (or unit) stands alone.
   * `reread` is shared by one attempt: a changed table is read again at most once per attempt.
   */
  async function writeIsolating(input: BulkWriteInput, rows: Row[], count: () => void, reread: { done: boolean }): Promise<RowOutcome[]> {
    const kind = await serverKind();
    try {
      return await writeOnce(input, rows, count);
    } catch (err) {
      const sorted: DbErrorKind = err instanceof RowValueError ? { class: 'data', rereadTable: false } : classifyDbError(err, kind);
      if (sorted.rereadTable && !reread.done) {
        // The table changed under the worker (a column added, dropped or made NOT NULL, the table
        // dropped): read it again, refuse the rows that no longer fit it, write the others.
        reread.done = true;
        await Promise.all([...new Set(rows.map((r) => r.table))].map((t) => catalog.reread(t)));
        const refused: RowOutcome[] = [];
        const rest: Row[] = [];
        for (const r of rows) {
          const problem = partsOf(r)
            .map((p) => {
              const found = catalog.get(p.table) ? catalog.problem(p.table, p.row) : undefined;
              return found === undefined ? undefined : `${placeOf(r, p.index)}${found}`;
            })
            .find((x) => x !== undefined);
          if (problem !== undefined) refused.push(rejected(r.requestId, BatcherErrorTypes.InvalidRequest, problem));
          else rest.push(r);
        }
        return [...refused, ...(rest.length ? await writeIsolating(input, rest, count, reread) : [])];
      }
      if (sorted.class !== 'data') {
        // Transient (the database is away) or configuration (a table, column or grant the operator
        // must restore): retried by the batcher, the rows wait. No SQL, no values, no cause chain
        // (mysql2 errors carry the statement with every row's values).
        throw ApplicationFailure.create({
          type: BatcherErrorTypes.DatabaseUnavailable,
          message: `bulk write of ${input.batchId} failed (${sorted.class === 'configuration' ? 'configuration: waits until the table or grant is restored' : 'transient'}): ${describeDbError(err, kind)}`,
        });
      }
      if (rows.length === 1) {
        const only = rows[0] as Row;
        // A unit is refused whole; the row that failed is found (in a transaction rolled back) to name it.
        const culprit = only.moreRows?.length ? await failingPart(input, only) : undefined;
        const where = culprit ? placeOf(only, culprit.part.index) : '';
        const failure = culprit?.err ?? err;
        const table = culprit?.part.table ?? only.table;
        if (failure instanceof RowValueError)
          return [rejected(only.requestId, BatcherErrorTypes.InvalidRequest, `${where}table ${table}: ${failure.message}`)];
        const duplicateKey = (failure as { errno?: number }).errno === 1062;
        return [
          rejected(
            only.requestId,
            duplicateKey ? BatcherErrorTypes.KeyExists : BatcherErrorTypes.DataRejected,
            duplicateKey
              ? `${where}table ${table} already holds a row with this key (${describeDbError(failure, kind)})`
              : `${where}${describeDbError(failure, kind)}`,
          ),
        ];
      }
      const half = Math.ceil(rows.length / 2);
      return [
        ...(await writeIsolating(input, rows.slice(0, half), count, reread)),
        ...(await writeIsolating(input, rows.slice(half), count, reread)),
      ];
    }
  }

  return {
    async bulkWrite(input) {
      const tables = [...new Set(input.rows.flatMap((r) => partsOf(r).map((p) => p.table)))];
      // The activity's span (made by the tracing interceptor) describes the batch and links its requests.
      const span = trace.getActiveSpan();
      span?.setAttributes({
        'batcher.batch_id': input.batchId,
        'batcher.shard': input.shard,
        'batcher.rows': input.rows.length,
        ...dbAttributes(database, [LEDGER_TABLE, ...tables]),
      });
      span?.addLinks(requesterLinks(input.rows));
      const started = Date.now();
      let statements = 0;
      // Checked again here: a request may have reached the shard by a signal that skipped the submit
      // activity. A table that is declared but cannot be read now (dropped, renamed) waits. A row
      // refused for the table's shape is refused only after the table is read again (once a batch).
      const outcomes = new Map<string, RowOutcome>();
      const checkPart = (p: Part): { problem: string; schema: boolean } | undefined => {
        const wire = wireRowProblem(p.row);
        if (wire !== undefined) return { problem: wire, schema: false };
        const info = catalog.get(p.table);
        if (!info)
          return catalog.names().includes(p.table)
            ? undefined
            : { problem: catalog.problem(p.table, p.row) ?? 'unknown table', schema: false };
        const found = catalog.rowCheck(p.table, p.row);
        if (found) return found;
        const unconvertible = conversionProblem(info, p.row);
        return unconvertible === undefined ? undefined : { problem: unconvertible, schema: false };
      };
      // A unit's first row that fails names the unit's refusal.
      const check = (r: Row): { problem: string; schema: boolean; tables: string[] } | undefined => {
        for (const p of partsOf(r)) {
          const found = checkPart(p);
          if (found) return { ...found, problem: `${placeOf(r, p.index)}${found.problem}`, tables: [p.table] };
        }
        return undefined;
      };
      const since = Date.now();
      let checked = input.rows.map((r) => ({ r, found: check(r) }));
      const changed = [...new Set(checked.flatMap((c) => (c.found?.schema ? c.found.tables : [])))];
      if (changed.length) {
        await Promise.all(changed.map((t) => catalog.reread(t, since)));
        checked = checked.map((c) => (c.found?.schema ? { r: c.r, found: check(c.r) } : c));
      }
      const writable: Row[] = [];
      for (const { r, found } of checked) {
        if (found !== undefined) outcomes.set(r.requestId, rejected(r.requestId, BatcherErrorTypes.InvalidRequest, found.problem));
        else writable.push(r);
      }
      const reread = { done: false };
      for (const o of writable.length ? await writeIsolating(input, writable, () => statements++, reread) : [])
        outcomes.set(o.requestId, o);
      const ordered = input.rows.map((r) => outcomes.get(r.requestId) as RowOutcome);
      const durationMs = Date.now() - started;
      // After the commit: a failure here retries the activity, which then finds its own ledger entries.
      const { undeliverable } = await replier.deliver(repliesFor(input, ordered));
      const tally = (s: RowOutcome['status']) => ordered.filter((o) => o.status === s).length;
      span?.setAttributes({
        'batcher.committed': tally('committed'),
        'batcher.updated': tally('updated'),
        'batcher.ignored': tally('ignored'),
        'batcher.duplicates': tally('duplicate'),
        'batcher.rejected': tally('rejected'),
        'batcher.statements': statements,
      });
      log.info('batch written', {
        batchId: input.batchId,
        shard: input.shard,
        tables,
        rows: input.rows.length,
        committed: tally('committed'),
        updated: tally('updated'),
        ignored: tally('ignored'),
        duplicates: tally('duplicate'),
        rejected: tally('rejected'),
        statements,
        durationMs,
        repliesUndeliverable: undeliverable,
      });
      return { batchId: input.batchId, outcomes: ordered, statements, durationMs, repliesUndeliverable: undeliverable };
    },
  };
}
