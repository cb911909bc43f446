// The team workload's requests as they travel (workflow-safe: no Node import). A request names its
// table, its request id and its row in JSON form (a unit: its further rows too); `dates` lists the
// columns the workflow turns into `Date`s (DATETIME and TIMESTAMP), so the harness and the workflow
// build the very same rows.
import type { ColumnValue } from '@write-batcher/requester';

/** The task queue of the team's requester worker. */
export const TEAM_TASK_QUEUE = 'team-requests';

/** The team workflow's type name. */
export const TEAM_WORKFLOW = 'teamWriteWorkflow';

/** A column value in JSON form: dates as ISO text (see `dates`), DECIMALs as exact text, JSON columns as objects. */
export type JsonColumn = string | number | boolean | null | { [key: string]: unknown };

/** One row of a request, in JSON form. */
export interface TeamRowWrite {
  table: string;
  row: Record<string, JsonColumn>;
  /** Columns whose ISO text the workflow sends as a `Date`. */
  dates: string[];
}

/** One request: one row (`batchedWrite`), or a unit when `moreRows` is set (`batchedWriteUnit`: all rows or none). */
export interface TeamWrite extends TeamRowWrite {
  requestId: string;
  /** A unit's rows after its first, in the order given (the ledger's table is the first row's). */
  moreRows?: TeamRowWrite[];
}

/** Every row of a request, in the order given. */
export function rowsOf(write: TeamWrite): TeamRowWrite[] {
  return [{ table: write.table, row: write.row, dates: write.dates }, ...(write.moreRows ?? [])];
}

export interface TeamWorkflowInput {
  writes: TeamWrite[];
}

/** What the workflow was told for one request: a status (a unit: with each row's), or a typed failure. */
export type Told =
  | {
      requestId: string;
      status: 'committed' | 'updated' | 'ignored' | 'duplicate';
      batchId?: string;
      rows?: Array<{ table: string; status: 'committed' | 'updated' | 'ignored' }>;
    }
  | { requestId: string; error: { type: string; message: string } };

export interface TeamWorkflowResult {
  told: Told[];
}

/** The row batchedWrite is given: the JSON form with the date columns as `Date`s. */
export function rowOf(write: TeamRowWrite): Record<string, ColumnValue> {
  const row: Record<string, ColumnValue> = {};
  for (const [column, value] of Object.entries(write.row)) {
    row[column] = write.dates.includes(column) && typeof value === 'string' ? new Date(value) : (value as ColumnValue);
  }
  return row;
}
