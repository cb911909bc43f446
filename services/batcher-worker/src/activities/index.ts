// Activities of the batcher worker, built from their dependencies.
import type { Client } from '@temporalio/client';
import type { BatcherSettings, DeliverAnswersResult, DirectAnswer } from '@batcher/shared/workflow';
import type { Pool } from '@batcher/shared/node';
import { createBulkWriter } from './bulk-write';
import { createReplier, replyFor } from './replies';

export interface BatcherActivityDeps {
  pool: Pool;
  client: Client;
  /** The batcher worker's own batching settings (BATCH_*, BATCHER_*, ...). */
  settings: BatcherSettings;
}

export function createActivities(deps: BatcherActivityDeps) {
  const replier = createReplier(deps.client);
  const writer = createBulkWriter(deps.pool, replier);
  return {
    bulkWrite: writer.bulkWrite,
    /** Answers requesters the batcher could answer without a write (refusals, known repeats). */
    async deliverAnswers(answers: DirectAnswer[]): Promise<DeliverAnswersResult> {
      return replier.deliver(answers.map(replyFor));
    },
    /** The settings a batcher run uses, read by the run itself at its start (a local activity). */
    async batcherSettings(): Promise<BatcherSettings> {
      return deps.settings;
    },
  };
}
