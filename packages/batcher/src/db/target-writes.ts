// The statements that put a batch's rows into one declared table, inside the batch's transaction:
// one multi-row statement per table, mode and column set. `insert-ignore` and `upsert` first find
// which rows' declared keys exist (a locking read joined on the declared key only), so neither can
// ever match another unique key of the table, as `ON DUPLICATE KEY UPDATE` would.
import type { PoolConnection } from 'mysql2/promise';
import type { WireRow } from '@write-batcher/protocol';
import { RowValueError, quoteIdent, sqlValue, type TableInfo } from './targets';

type Queryable = Pick<PoolConnection, 'query'>;

export interface TargetRow {
  /** What the result is keyed by: the request id, or for a unit's row its own key (several rows share one request id). @default requestId */
  key?: string;
  requestId: string;
  requesterWorkflowId: string;
  row: WireRow;
}

/** written: inserted as given; updated: written over the row holding its key (upsert); kept: insert-ignore found its key and left the existing row. */
export type TargetResult = 'written' | 'updated' | 'kept';

type SqlValue = ReturnType<typeof sqlValue>;

/** The row with the batcher's own columns filled in, as column → SQL value. */
function fullRow(info: TableInfo, r: TargetRow, batch: { batchId: string; shard: number }): Map<string, SqlValue> {
  const out = new Map<string, SqlValue>();
  for (const [c, v] of Object.entries(r.row)) out.set(c, sqlValue(info.columns.get(c), v));
  for (const [c, what] of Object.entries(info.target.fill)) {
    out.set(
      c,
      what === 'requestId'
        ? r.requestId
        : what === 'requesterWorkflowId'
          ? r.requesterWorkflowId
          : what === 'batchId'
            ? batch.batchId
            : batch.shard,
    );
  }
  return out;
}

/**
 * Why a row's values cannot be turned into SQL parameters, or undefined: the bulk write refuses
 * such a row alone before its transaction (writeTargetRows would throw a RowValueError for it).
 */
export function conversionProblem(info: TableInfo, row: WireRow): string | undefined {
  try {
    for (const [c, v] of Object.entries(row)) sqlValue(info.columns.get(c), v);
    return undefined;
  } catch (err) {
    return err instanceof RowValueError
      ? `table ${info.target.table}: ${err.message}`
      : `table ${info.target.table}: the row cannot be converted`;
  }
}

/** `SELECT ? AS a, ? AS b UNION ALL SELECT ?, ? …`: the batch's rows as a derived table. */
function derivedTable(columns: string[], rows: SqlValue[][]): { sql: string; params: SqlValue[] } {
  const first = `SELECT ${columns.map((c) => `? AS ${quoteIdent(c)}`).join(', ')}`;
  const rest = `SELECT ${columns.map(() => '?').join(', ')}`;
  return { sql: [first, ...rows.slice(1).map(() => rest)].join(' UNION ALL '), params: rows.flat() };
}

/**
 * Writes rows into one table in the open transaction. Throws the database's error (a data error
 * or a duplicate key: the caller isolates the row that caused it), or a RowValueError for a value
 * that cannot be converted (the caller isolates it the same way).
 */
export async function writeTargetRows(
  conn: Queryable,
  info: TableInfo,
  rows: readonly TargetRow[],
  batch: { batchId: string; shard: number },
  count: () => void,
): Promise<Map<string, TargetResult>> {
  // Keyed by TargetRow.key (or the request id).
  const results = new Map<string, TargetResult>();
  // One statement per column set (rows may leave optional columns out).
  const groups = new Map<string, Array<{ r: TargetRow; values: Map<string, SqlValue> }>>();
  for (const r of rows) {
    const values = fullRow(info, r, batch);
    const shape = [...values.keys()].sort().join(',');
    groups.set(shape, [...(groups.get(shape) ?? []), { r, values }]);
  }
  for (const group of groups.values()) {
    const columns = [...(group[0] as { values: Map<string, SqlValue> }).values.keys()].sort();
    const insert = async (list: typeof group) => {
      if (list.length === 0) return;
      count();
      await conn.query(`INSERT INTO ${info.quoted} (${columns.map(quoteIdent).join(', ')}) VALUES ?`, [
        list.map((g) => columns.map((c) => g.values.get(c) ?? null)),
      ]);
      for (const g of list) results.set(g.r.key ?? g.r.requestId, 'written');
    };
    if (info.target.mode === 'insert') {
      await insert(group);
      continue;
    }
    const key = info.target.key;
    // Rows of one batch with the same key go in successive passes, so the later one sees the earlier.
    let remaining = group;
    while (remaining.length > 0) {
      const seen = new Set<string>();
      const pass: typeof group = [];
      const later: typeof group = [];
      for (const g of remaining) {
        const k = JSON.stringify(key.map((c) => g.values.get(c) ?? null));
        (seen.has(k) ? later : pass).push(g);
        seen.add(k);
      }
      remaining = later;
      const probe = derivedTable(
        ['_i', ...key],
        pass.map((g, i) => [i, ...key.map((c) => g.values.get(c) ?? null)]),
      );
      count();
      const [found] = await conn.query(
        `SELECT v.${quoteIdent('_i')} AS i FROM (${probe.sql}) AS v JOIN ${info.quoted} AS t ON ${key.map((c) => `t.${quoteIdent(c)} = v.${quoteIdent(c)}`).join(' AND ')} FOR UPDATE`,
        probe.params,
      );
      const existing = new Set((found as Array<{ i: number | string }>).map((f) => Number(f.i)));
      await insert(pass.filter((_, i) => !existing.has(i)));
      const present = pass.filter((_, i) => existing.has(i));
      if (present.length === 0) continue;
      const setColumns = columns.filter((c) => !key.includes(c));
      if (info.target.mode === 'insert-ignore' || setColumns.length === 0) {
        for (const g of present) results.set(g.r.key ?? g.r.requestId, info.target.mode === 'insert-ignore' ? 'kept' : 'updated');
        continue;
      }
      const source = derivedTable(
        [...key, ...setColumns],
        present.map((g) => [...key, ...setColumns].map((c) => g.values.get(c) ?? null)),
      );
      count();
      await conn.query(
        `UPDATE ${info.quoted} AS t JOIN (${source.sql}) AS v ON ${key.map((c) => `t.${quoteIdent(c)} = v.${quoteIdent(c)}`).join(' AND ')} SET ${setColumns.map((c) => `t.${quoteIdent(c)} = v.${quoteIdent(c)}`).join(', ')}`,
        source.params,
      );
      for (const g of present) results.set(g.r.key ?? g.r.requestId, 'updated');
    }
  }
  return results;
}
