// Activities of the bare baseline worker: the two business steps (as in main-worker, a sleep) and
// the naive pipeline's one-row INSERT. Benchmark code only.
import { sleep } from '@temporalio/activity';
import type { Pool } from '@batcher/service-kit';
import { DEMO_TABLE } from '@batcher/demo';

export function createBaselineActivities(deps: { pool: Pool; stepMs: number }) {
  return {
    async prepareTransaction(_input: { workflowId: string; payload: Record<string, unknown> }): Promise<void> {
      await sleep(deps.stepMs);
    },
    async finalizeTransaction(_input: { workflowId: string; batchId?: string }): Promise<void> {
      await sleep(deps.stepMs);
    },
    async insertRowDirect(input: { requestId: string; requesterWorkflowId: string; payload: Record<string, unknown> }): Promise<void> {
      // The naive pipeline: one INSERT per workflow, idempotent by the table's unique request id.
      await deps.pool.query(
        `INSERT INTO ${DEMO_TABLE} (request_id, requester_workflow_id, payload, batch_id, shard) VALUES (?, ?, ?, 'direct', -1) ON DUPLICATE KEY UPDATE id = id`,
        [input.requestId, input.requesterWorkflowId, JSON.stringify(input.payload)],
      );
    },
  };
}

export type BaselineActivities = ReturnType<typeof createBaselineActivities>;
