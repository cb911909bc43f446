// Activities of the main worker, built from their dependencies: only the business steps.
import { createBusinessActivities } from './business';

export interface MainActivityDeps {
  businessStepMs: number;
}

export function createActivities(deps: MainActivityDeps) {
  return createBusinessActivities({ stepMs: deps.businessStepMs });
}
