// The transactional main workflow: a business step, one row handed to a batcher, wait for its
// confirmation (or give up safely), then the final business step.
import { context, type Context } from '@opentelemetry/api';
import { ApplicationFailure, condition, log, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import {
  BatcherErrorTypes,
  requestIdFor,
  writeConfirmationSignal,
  type TransactionInput,
  type TransactionResult,
  type WriteConfirmation,
} from '@batcher/shared/workflow';
import type { createActivities } from '../activities';

type Activities = ReturnType<typeof createActivities>;

const DEFAULT_CONFIRMATION_TIMEOUT_MS = 120_000;

const business = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5 },
});

const { submitWriteRequest } = proxyActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  // Signal-with-start starts the batcher if needed; after these attempts the workflow fails typed.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 6 },
});

const { claimAbandonedWrite } = proxyActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  // Must eventually succeed: until it does, the workflow cannot know whether its row exists.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

export async function transactionWorkflow(input: TransactionInput): Promise<TransactionResult> {
  const { workflowId } = workflowInfo();
  // Derived from the workflow id, so a retried or restarted transaction reuses it and cannot write twice.
  const requestId = requestIdFor(workflowId);
  const timeoutMs = input.confirmationTimeoutMs ?? DEFAULT_CONFIRMATION_TIMEOUT_MS;

  let confirmation: WriteConfirmation | undefined;
  /** The confirmation's HandleSignal span, so the final step continues the trace from there. */
  let confirmedIn: Context | undefined;
  setHandler(writeConfirmationSignal, (c) => {
    if (c.requestId === requestId && confirmation === undefined) {
      confirmation = c;
      confirmedIn = context.active();
    }
  });

  await business.prepareTransaction({ workflowId, payload: input.payload });

  const submittedAt = Date.now();
  let shard: number;
  try {
    ({ shard } = await submitWriteRequest({ requestId, requesterWorkflowId: workflowId, payload: input.payload, submittedAtMs: submittedAt }));
  } catch (err) {
    throw ApplicationFailure.create({
      type: BatcherErrorTypes.SubmissionFailed,
      message: `could not hand write ${requestId} to a batcher`,
      nonRetryable: true,
      cause: err as Error,
    });
  }

  const confirmed = await condition(() => confirmation !== undefined, timeoutMs);
  const latencyMs = Date.now() - submittedAt;
  let result: TransactionResult;
  if (!confirmed || confirmation === undefined) {
    // Close the race with a batch that might still write the row: claim the id as abandoned.
    // Either the claim wins (no row can ever appear) or the row already exists and we know it.
    const claim = await claimAbandonedWrite({ requestId, requesterWorkflowId: workflowId, shard });
    if (claim.status !== 'committed') {
      throw ApplicationFailure.create({
        type: BatcherErrorTypes.ConfirmationTimeout,
        message: `no confirmation for write ${requestId} within ${timeoutMs} ms; it was abandoned and will never be written`,
        nonRetryable: true,
        details: [{ requestId, shard, timeoutMs }],
      });
    }
    log.warn('confirmation missing but row is committed', { requestId, batchId: claim.batchId });
    result = { requestId, status: 'committed', batchId: claim.batchId, shard, confirmationLatencyMs: latencyMs, verifiedAfterTimeout: true };
  } else if (confirmation.status === 'rejected') {
    throw ApplicationFailure.create({
      type: confirmation.errorType ?? BatcherErrorTypes.DataRejected,
      message: `write ${requestId} was rejected: ${confirmation.reason ?? 'no reason given'}`,
      nonRetryable: true,
      details: [confirmation],
    });
  } else {
    result = { requestId, status: confirmation.status, batchId: confirmation.batchId, shard: confirmation.shard, confirmationLatencyMs: latencyMs };
  }

  await context.with(confirmedIn ?? context.active(), () => business.finalizeTransaction({ workflowId, batchId: result.batchId }));
  return result;
}
