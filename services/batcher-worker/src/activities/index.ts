// Activities of the batcher worker, built from their dependencies.
import type { Pool } from '@batcher/shared/node';
import { createBulkWriter } from './bulk-write';

export function createActivities(deps: { pool: Pool }) {
  const writer = createBulkWriter(deps.pool);
  return { bulkWrite: writer.bulkWrite };
}
