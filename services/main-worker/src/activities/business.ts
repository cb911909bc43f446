// Stand-ins for the business steps around the write (validation, notification...).
import { log, sleep } from '@temporalio/activity';

export function createBusinessActivities(deps: { stepMs: number }) {
  return {
    async prepareTransaction(input: { workflowId: string; payload: Record<string, unknown> }): Promise<void> {
      await sleep(deps.stepMs);
      log.info('transaction prepared', { workflowId: input.workflowId });
    },
    async finalizeTransaction(input: { workflowId: string; batchId?: string }): Promise<void> {
      await sleep(deps.stepMs);
      log.info('transaction finalized', { workflowId: input.workflowId, batchId: input.batchId });
    },
  };
}
