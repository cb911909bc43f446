// Answers requesters by completing (or failing) their waiting activity by id, from the batcher
// worker's activities. Nothing goes through the batcher's history: one call per requester, on the
// requester's own history. A requester that no longer waits (its activity finished or timed out,
// its workflow is gone) is counted, never fatal; an unreachable server fails the activity so it is
// retried (completing twice is harmless: the second call finds nothing to complete).
import { ActivityCompletionError, ActivityNotFoundError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { DirectAnswer, ReplyAddress, WriteOutcome } from '@batcher/shared/workflow';

/** Replies sent at once; keeps a 100-row batch to a few round trips without flooding the server. */
const CONCURRENCY = 32;

export type Reply = { reply: ReplyAddress; outcome: WriteOutcome } | { reply: ReplyAddress; failure: ApplicationFailure };

export interface Replier {
  /** Delivers every reply; resolves with how many found nobody waiting. Throws when the server is unreachable. */
  deliver(replies: readonly Reply[]): Promise<{ delivered: number; undeliverable: number }>;
}

/** The reply for an answer given without a write. */
export function replyFor(answer: DirectAnswer): Reply {
  const { outcome } = answer;
  if (outcome.status === 'rejected') {
    return { reply: answer.reply, failure: ApplicationFailure.create({ type: outcome.errorType, message: outcome.reason, nonRetryable: true }) };
  }
  return { reply: answer.reply, outcome: { requestId: answer.requestId, status: outcome.status, batchId: outcome.batchId, shard: answer.shard } };
}

export function createReplier(client: Client): Replier {
  /** Whether the server answers at all: tells "this reply is refused" from "the server is down". */
  const serverReachable = async (): Promise<boolean> => {
    try {
      await client.workflowService.getSystemInfo({});
      return true;
    } catch {
      return false;
    }
  };
  return {
    async deliver(replies) {
      let undeliverable = 0;
      for (let i = 0; i < replies.length; i += CONCURRENCY) {
        await Promise.all(
          replies.slice(i, i + CONCURRENCY).map(async (r) => {
            const id = { workflowId: r.reply.workflowId, runId: r.reply.runId, activityId: r.reply.activityId };
            try {
              if ('outcome' in r) await client.activity.complete(id, r.outcome);
              else await client.activity.fail(id, r.failure);
            } catch (err) {
              // A refused address (malformed, or another namespace's) counts like a requester that is gone.
              if (err instanceof ActivityNotFoundError || (err instanceof ActivityCompletionError && (await serverReachable()))) undeliverable++;
              else throw err;
            }
          }),
        );
      }
      return { delivered: replies.length - undeliverable, undeliverable };
    },
  };
}
