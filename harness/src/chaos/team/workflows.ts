// The team's requester workflow, as a team would write it: its writes in parallel through
// `batchedWrite`, each with its own request id. It reports what it was told for every request (a
// status, or the typed failure), so the audit can hold each answer against the table and the ledger.
import { batchedWrite, writeErrorType } from '@write-batcher/requester';
import { rowOf, type TeamWorkflowInput, type TeamWorkflowResult, type Told } from './rows';

export async function teamWriteWorkflow(input: TeamWorkflowInput): Promise<TeamWorkflowResult> {
  const settled = await Promise.allSettled(input.writes.map((w) => batchedWrite(w.table, rowOf(w), { requestId: w.requestId })));
  const told = settled.map((s, i): Told => {
    const requestId = input.writes[i]?.requestId ?? '?';
    if (s.status === 'fulfilled') return { requestId, status: s.value.status, batchId: s.value.batchId };
    // Only a batcher's typed failure is an answer; anything else fails the workflow (the audit counts it).
    if (writeErrorType(s.reason) === undefined) throw s.reason;
    return { requestId, error: { type: writeErrorType(s.reason) ?? '?', message: (s.reason as Error).message } };
  });
  return { told };
}
