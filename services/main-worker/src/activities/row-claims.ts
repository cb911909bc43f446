// The naive baseline's write: one INSERT per workflow, idempotent on the request id (benchmark only).
import { insertRows, type Pool } from '@batcher/shared/node';

export function createDirectWriteActivities(deps: { pool: Pool }) {
  return {
    async insertRowDirect(input: { requestId: string; requesterWorkflowId: string; payload: Record<string, unknown> }): Promise<void> {
      await insertRows(deps.pool, 'direct', -1, [input]);
    },
  };
}
