// The bulk-write activity: one multi-row INSERT in one transaction per batch, idempotent by the
// unique request id, isolating rows whose data the database refuses so they cannot poison a batch.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, isSpanContextValid, propagation, trace, type Attributes, type Link } from '@opentelemetry/api';
import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { BatcherErrorTypes, type BulkWriteInput, type BulkWriteResult, type RowOutcome } from '@batcher/shared/workflow';
import { INSERT_SQL, WRITES_TABLE, insertRows as insertTableRows, ownersOf, type Pool } from '@batcher/shared/node';
import type { Replier, Reply } from './replies';

type Row = BulkWriteInput['rows'][number];

const tracer = trace.getTracer('@batcher/batcher-worker');

/**
 * OpenTelemetry database attributes of the batch insert, by hand: instrumentation-mysql2 for
 * OTel JS 1.x (0.45) would put every row's payload into db.statement. Both the current names
 * (db.namespace, db.operation.name, db.collection.name) and the older ones (db.name, db.operation,
 * db.sql.table) that many backends still read.
 */
function dbAttributes(database: string | undefined): Attributes {
  return {
    'db.system': 'mysql',
    ...(database ? { 'db.namespace': database, 'db.name': database } : {}),
    'db.operation.name': 'INSERT',
    'db.operation': 'INSERT',
    'db.collection.name': WRITES_TABLE,
    'db.sql.table': WRITES_TABLE,
  };
}

/** One link per request to the span that submitted it, so a batch leads to every trace it served. */
export function requesterLinks(rows: Row[]): Link[] {
  return rows.flatMap((r) => {
    if (!r.trace) return [];
    const spanContext = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, r.trace));
    if (!spanContext || !isSpanContextValid(spanContext)) return [];
    return [{ context: spanContext, attributes: { 'batcher.request_id': r.requestId, 'batcher.requester_workflow_id': r.requesterWorkflowId } }];
  });
}

/** The database the pool connects to (mysql2 keeps it in the pool's connection config). */
function databaseOf(pool: Pool): string | undefined {
  return (pool as unknown as { pool?: { config?: { connectionConfig?: { database?: string } } } }).pool?.config?.connectionConfig?.database;
}

/**
 * MySQL/MariaDB errors caused by a row's own data: retrying cannot help, the row is rejected.
 * 1048 null, 1264 out of range, 1292/1366 bad value, 1300 bad charset, 1406 too long,
 * 1452 foreign key, 3140 invalid JSON, 3819 (MySQL) / 4025 (MariaDB) CHECK constraint.
 */
const DATA_ERRNOS = new Set([1048, 1264, 1292, 1300, 1366, 1406, 1452, 3140, 3819, 4025]);

interface SqlError extends Error {
  errno?: number;
  code?: string;
  sqlMessage?: string;
}

export function isDataError(err: unknown): err is SqlError {
  return typeof (err as SqlError)?.errno === 'number' && DATA_ERRNOS.has((err as SqlError).errno as number);
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
            message: `write ${row.requestId} was rejected: ${o?.reason ?? 'no outcome'}`,
            nonRetryable: true,
          }),
        };
      }
      const status = o.status === 'committed' && i === 0 ? 'committed' : 'duplicate';
      return { reply, trace: row.trace, outcome: { requestId: row.requestId, status, batchId: o.batchId, shard: input.shard } };
    });
  });
}

export function createBulkWriter(pool: Pool, replier: Replier): BulkWriter {
  const database = databaseOf(pool);

  /** The INSERT statement as a database client span, like a driver instrumentation would make. */
  async function insertRows(conn: Awaited<ReturnType<Pool['getConnection']>>, input: BulkWriteInput, rows: Row[]): Promise<void> {
    const attributes = { ...dbAttributes(database), 'db.query.text': INSERT_SQL, 'db.statement': INSERT_SQL, 'batcher.batch_id': input.batchId, 'batcher.rows': rows.length };
    await tracer.startActiveSpan(`INSERT ${WRITES_TABLE}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
      try {
        await insertTableRows(conn, input.batchId, input.shard, rows);
      } catch (err) {
        span.recordException(err as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
        throw err;
      } finally {
        span.end();
      }
    });
  }

  /** One transaction: insert what is new, then read back who owns each id. */
  async function writeOnce(input: BulkWriteInput, rows: Row[], count: () => void): Promise<RowOutcome[]> {
    const conn = await pool.getConnection();
    try {
      await conn.beginTransaction();
      count();
      await insertRows(conn, input, rows);
      count();
      const owner = await ownersOf(conn, rows.map((r) => r.requestId));
      count();
      await conn.commit();
      count();
      return rows.map((r): RowOutcome => {
        const f = owner.get(r.requestId);
        // Ids are compared byte for byte on both sides (VARBINARY), so a missing row is a real fault.
        if (!f) return { requestId: r.requestId, status: 'rejected', errorType: BatcherErrorTypes.DataRejected, reason: 'row not found after insert' };
        if (f.status === 'abandoned') {
          return { requestId: r.requestId, status: 'rejected', errorType: BatcherErrorTypes.Abandoned, reason: 'the requester abandoned this write after its confirmation timeout' };
        }
        if (f.batchId === input.batchId) return { requestId: r.requestId, status: 'committed', batchId: input.batchId };
        return { requestId: r.requestId, status: 'duplicate', batchId: f.batchId };
      });
    } catch (err) {
      await conn.rollback().catch(() => undefined);
      throw err;
    } finally {
      conn.release();
    }
  }

  /** Writes rows; when one row's data is refused, splits the batch until that row stands alone. */
  async function writeIsolating(input: BulkWriteInput, rows: Row[], count: () => void): Promise<RowOutcome[]> {
    try {
      return await writeOnce(input, rows, count);
    } catch (err) {
      if (!isDataError(err)) {
        throw ApplicationFailure.create({
          type: BatcherErrorTypes.DatabaseUnavailable,
          message: `bulk write of ${input.batchId} failed: ${(err as Error).message}`,
          cause: err as Error,
        });
      }
      if (rows.length === 1) {
        const only = rows[0] as Row;
        return [{ requestId: only.requestId, status: 'rejected', errorType: BatcherErrorTypes.DataRejected, reason: `${err.code ?? err.errno}: ${err.sqlMessage ?? err.message}` }];
      }
      const half = Math.ceil(rows.length / 2);
      return [...(await writeIsolating(input, rows.slice(0, half), count)), ...(await writeIsolating(input, rows.slice(half), count))];
    }
  }

  return {
    async bulkWrite(input) {
      // The activity's span (made by the tracing interceptor) describes the batch and links its requests.
      const span = trace.getActiveSpan();
      span?.setAttributes({ 'batcher.batch_id': input.batchId, 'batcher.shard': input.shard, 'batcher.rows': input.rows.length, ...dbAttributes(database) });
      span?.addLinks(requesterLinks(input.rows));
      const started = Date.now();
      let statements = 0;
      const outcomes = input.rows.length ? await writeIsolating(input, input.rows, () => statements++) : [];
      const durationMs = Date.now() - started;
      // After the commit: a failure here retries the activity, whose write is then a no-op.
      const { undeliverable } = await replier.deliver(repliesFor(input, outcomes));
      const tally = (s: RowOutcome['status']) => outcomes.filter((o) => o.status === s).length;
      span?.setAttributes({ 'batcher.committed': tally('committed'), 'batcher.duplicates': tally('duplicate'), 'batcher.rejected': tally('rejected'), 'batcher.statements': statements });
      log.info('batch written', {
        batchId: input.batchId,
        shard: input.shard,
        rows: input.rows.length,
        committed: tally('committed'),
        duplicates: tally('duplicate'),
        rejected: tally('rejected'),
        statements,
        durationMs,
        repliesUndeliverable: undeliverable,
      });
      return { batchId: input.batchId, outcomes, statements, durationMs, repliesUndeliverable: undeliverable };
    },
  };
}
