// Activities of a batcher worker, built from their dependencies: the bulk write, the answers the
// shard gives without a write, the shard's settings, and the requester-facing submit and settle.
import type { Client } from '@temporalio/client';
import type { TraceCarrier } from '@write-batcher/protocol';
import type { BatcherSettings, DeliverAnswersResult, DirectAnswer } from '../workflows/types';
import type { Pool } from 'mysql2/promise';
import type { Catalog } from '../db/targets';
import type { ShardRouting } from '../shards';
import { createBulkWriter } from './bulk-write';
import { createReplier, replyFor } from './replies';
import { createSubmitActivities, type SubmitSettings } from './submit';

export interface BatcherActivityDeps {
  pool: Pool;
  client: Client;
  catalog: Catalog;
  routing: ShardRouting;
  /** The batcher worker's own batching settings; every shard run it serves reads them at its start. */
  settings: BatcherSettings;
  submit: SubmitSettings;
  traceCarrier?: () => TraceCarrier;
}

export function createActivities(deps: BatcherActivityDeps) {
  const replier = createReplier(deps.client);
  const writer = createBulkWriter(deps.pool, deps.catalog, replier);
  return {
    bulkWrite: writer.bulkWrite,
    /** Answers requesters the batcher could answer without a write (refusals, known repeats). */
    async deliverAnswers(answers: DirectAnswer[]): Promise<DeliverAnswersResult> {
      return replier.deliver(answers.map(replyFor));
    },
    /** The settings a batcher run uses, read by the run itself at its start (a regular activity: see workflows/batcher.ts). */
    async batcherSettings(): Promise<BatcherSettings & { routing: ShardRouting }> {
      return { ...deps.settings, tables: deps.catalog.names(), routing: deps.routing };
    },
    ...createSubmitActivities(deps),
  };
}
