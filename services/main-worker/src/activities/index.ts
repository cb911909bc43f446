// Activities of the main worker, built from their dependencies.
import type { Client } from '@temporalio/client';
import { createBatchedWriteActivities, type BatchedWriteDeps, type BatcherConfig, type Pool } from '@batcher/shared/node';
import { createBusinessActivities } from './business';

export interface MainActivityDeps {
  client: Client;
  pool: Pool;
  batcher: BatcherConfig;
  requester: BatchedWriteDeps['requester'];
  businessStepMs: number;
  traceCarrier?: () => Record<string, string>;
}

export function createActivities(deps: MainActivityDeps) {
  return {
    ...createBusinessActivities({ stepMs: deps.businessStepMs }),
    ...createBatchedWriteActivities(deps),
  };
}
