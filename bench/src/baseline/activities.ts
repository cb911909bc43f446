// Activities of the bare baseline worker: the two business steps (as in main-worker, a sleep) and
// the naive pipeline's one-row INSERT. Benchmark code only.
import { sleep } from '@temporalio/activity';
import { insertRows, type Pool } from '@batcher/shared/node';

export function createBaselineActivities(deps: { pool: Pool; stepMs: number }) {
  return {
    async prepareTransaction(_input: { workflowId: string; payload: Record<string, unknown> }): Promise<void> {
      await sleep(deps.stepMs);
    },
    async finalizeTransaction(_input: { workflowId: string; batchId?: string }): Promise<void> {
      await sleep(deps.stepMs);
    },
    async insertRowDirect(input: { requestId: string; requesterWorkflowId: string; payload: Record<string, unknown> }): Promise<void> {
      await insertRows(deps.pool, 'direct', -1, [input]);
    },
  };
}

export type BaselineActivities = ReturnType<typeof createBaselineActivities>;
