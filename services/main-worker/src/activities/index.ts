// Activities of the main worker, built from their dependencies.
import type { Client } from '@temporalio/client';
import type { BatcherConfig, Pool } from '@batcher/shared/node';
import { createBusinessActivities } from './business';
import { createClaimActivities } from './row-claims';
import { createSubmitActivities } from './submit-write';

export interface MainActivityDeps {
  client: Client;
  pool: Pool;
  batcher: BatcherConfig;
  businessStepMs: number;
  traceCarrier?: () => Record<string, string>;
}

export function createActivities(deps: MainActivityDeps) {
  return {
    ...createBusinessActivities({ stepMs: deps.businessStepMs }),
    ...createSubmitActivities(deps),
    ...createClaimActivities(deps),
  };
}
