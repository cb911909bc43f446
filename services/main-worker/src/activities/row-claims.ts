// Direct row access of the main worker. After a confirmation timeout: claims the request id in MySQL as abandoned so no later batch can
// write it, or finds that a batch already did.
import { WRITES_TABLE, type Pool } from '@batcher/shared/node';

export function createClaimActivities(deps: { pool: Pool }) {
  return {
    async claimAbandonedWrite(input: { requestId: string; requesterWorkflowId: string; shard: number }): Promise<{ status: 'committed' | 'abandoned'; batchId?: string }> {
      // The unique key serialises this against the batch insert: exactly one of them owns the id.
      await deps.pool.query(
        `INSERT INTO ${WRITES_TABLE} (request_id, requester_workflow_id, payload, status, batch_id, shard) VALUES (?, ?, NULL, 'abandoned', NULL, ?) ON DUPLICATE KEY UPDATE id = id`,
        [input.requestId, input.requesterWorkflowId, input.shard],
      );
      const [rows] = await deps.pool.query(`SELECT status, batch_id FROM ${WRITES_TABLE} WHERE request_id = ?`, [input.requestId]);
      const row = (rows as Array<{ status: 'committed' | 'abandoned'; batch_id: string | null }>)[0];
      if (!row) throw new Error(`request ${input.requestId} missing right after its claim`);
      return { status: row.status, batchId: row.batch_id ?? undefined };
    },

    /** Baseline for benchmarks only: one INSERT per workflow, idempotent on the request id. */
    async insertRowDirect(input: { requestId: string; requesterWorkflowId: string; payload: Record<string, unknown> }): Promise<void> {
      await deps.pool.query(
        `INSERT INTO ${WRITES_TABLE} (request_id, requester_workflow_id, payload, status, batch_id, shard) VALUES (?, ?, ?, 'committed', NULL, -1) ON DUPLICATE KEY UPDATE id = id`,
        [input.requestId, input.requesterWorkflowId, JSON.stringify(input.payload)],
      );
    },
  };
}
