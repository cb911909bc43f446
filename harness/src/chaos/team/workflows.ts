// The team's requester workflow, as a team would write it: its requests in parallel, each with its
// own request id, a single row through `batchedWrite` and an order with its lines as ONE unit through
// `batchedWriteUnit`. It reports what it was told for every request (a status, with each row's for a
// unit, or the typed failure), so the audit can hold each answer against the tables and the ledger.
import { batchedWrite, batchedWriteUnit, writeErrorType } from '@write-batcher/requester';
import { rowOf, rowsOf, type TeamWorkflowInput, type TeamWorkflowResult, type TeamWrite, type Told } from './rows';

function send(w: TeamWrite) {
  if (w.moreRows && w.moreRows.length > 0)
    return batchedWriteUnit(
      rowsOf(w).map((r) => ({ table: r.table, row: rowOf(r) })),
      { requestId: w.requestId },
    );
  return batchedWrite(w.table, rowOf(w), { requestId: w.requestId });
}

export async function teamWriteWorkflow(input: TeamWorkflowInput): Promise<TeamWorkflowResult> {
  const settled = await Promise.allSettled(input.writes.map(send));
  const told = settled.map((s, i): Told => {
    const requestId = input.writes[i]?.requestId ?? '?';
    if (s.status === 'fulfilled') {
      const rows = s.value.rows?.map((r) => ({ table: r.table, status: r.status }));
      return { requestId, status: s.value.status, batchId: s.value.batchId, ...(rows ? { rows } : {}) };
    }
    // Only a batcher's typed failure is an answer; anything else fails the workflow (the audit counts it).
    if (writeErrorType(s.reason) === undefined) throw s.reason;
    return { requestId, error: { type: writeErrorType(s.reason) ?? '?', message: (s.reason as Error).message } };
  });
  return { told };
}
