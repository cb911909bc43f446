// The bulk-write activity: one multi-row INSERT in one transaction per batch, idempotent by the
// unique request id, isolating rows whose data the database refuses so they cannot poison a batch.
import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { BatcherErrorTypes, type BulkWriteInput, type BulkWriteResult, type RowOutcome } from '@batcher/shared/workflow';
import { WRITES_TABLE, type Pool } from '@batcher/shared/node';

type Row = BulkWriteInput['rows'][number];

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
  bulkWrite(input: BulkWriteInput): Promise<BulkWriteResult>;
}

export function createBulkWriter(pool: Pool): BulkWriter {
  /** One transaction: insert what is new, then read back who owns each id. */
  async function writeOnce(input: BulkWriteInput, rows: Row[], count: () => void): Promise<RowOutcome[]> {
    const conn = await pool.getConnection();
    try {
      await conn.beginTransaction();
      count();
      // ON DUPLICATE KEY UPDATE keeps strict-mode data errors (INSERT IGNORE would silently truncate)
      // and turns an id that already exists into a no-op: the unique key is the dedup authority.
      await conn.query(
        `INSERT INTO ${WRITES_TABLE} (request_id, requester_workflow_id, payload, status, batch_id, shard) VALUES ? ON DUPLICATE KEY UPDATE id = id`,
        [rows.map((r) => [r.requestId, r.requesterWorkflowId, JSON.stringify(r.payload), 'committed', input.batchId, input.shard])],
      );
      count();
      const [found] = await conn.query(`SELECT request_id, status, batch_id FROM ${WRITES_TABLE} WHERE request_id IN (?)`, [rows.map((r) => r.requestId)]);
      count();
      await conn.commit();
      count();
      const owner = new Map((found as Array<{ request_id: string; status: string; batch_id: string | null }>).map((f) => [f.request_id, f]));
      return rows.map((r): RowOutcome => {
        const f = owner.get(r.requestId);
        if (!f) return { requestId: r.requestId, status: 'rejected', errorType: BatcherErrorTypes.DataRejected, reason: 'row not found after insert' };
        if (f.status === 'abandoned') {
          return { requestId: r.requestId, status: 'rejected', errorType: BatcherErrorTypes.Abandoned, reason: 'the requester abandoned this write after its confirmation timeout' };
        }
        if (f.batch_id === input.batchId) return { requestId: r.requestId, status: 'committed', batchId: input.batchId };
        return { requestId: r.requestId, status: 'duplicate', batchId: f.batch_id ?? undefined };
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
      const started = Date.now();
      let statements = 0;
      const outcomes = input.rows.length ? await writeIsolating(input, input.rows, () => statements++) : [];
      const durationMs = Date.now() - started;
      const tally = (s: RowOutcome['status']) => outcomes.filter((o) => o.status === s).length;
      log.info('batch written', {
        batchId: input.batchId,
        shard: input.shard,
        rows: input.rows.length,
        committed: tally('committed'),
        duplicates: tally('duplicate'),
        rejected: tally('rejected'),
        statements,
        durationMs,
      });
      return { batchId: input.batchId, outcomes, statements, durationMs };
    },
  };
}
