// Answers requesters by completing (or failing) their waiting activity by id, from the batcher
// worker's activities. Nothing goes through the batcher's history: one call per requester, on the
// requester's own history. A requester that no longer waits (its activity finished or timed out,
// its workflow is gone) is counted, never fatal; an unreachable server fails the activity so it is
// retried (completing twice is harmless: the second call finds nothing to complete).
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, propagation, trace } from '@opentelemetry/api';
import { ActivityCompletionError, ActivityNotFoundError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { ReplyAddress, TraceCarrier, WriteOutcome } from '@write-batcher/protocol';
import type { DirectAnswer } from '../workflows/types';

const tracer = trace.getTracer('@write-batcher/batcher');

/** Replies sent at once; keeps a 100-row batch to a few round trips without flooding the server. */
const CONCURRENCY = 32;

/** An answer to one requester; `trace` is the requester's context, so the answer joins its trace. */
export type Reply = ({ reply: ReplyAddress; outcome: WriteOutcome } | { reply: ReplyAddress; failure: ApplicationFailure }) & {
  trace?: TraceCarrier;
};

export interface Replier {
  /** Delivers every reply; resolves with how many found nobody waiting. Throws when the server is unreachable. */
  deliver(replies: readonly Reply[]): Promise<{ delivered: number; undeliverable: number }>;
}

/** The reply for an answer given without a write. */
export function replyFor(answer: DirectAnswer): Reply {
  const { outcome } = answer;
  if (outcome.status === 'rejected') {
    return {
      reply: answer.reply,
      failure: ApplicationFailure.create({ type: outcome.errorType, message: outcome.reason, nonRetryable: true }),
    };
  }
  return {
    reply: answer.reply,
    outcome: { requestId: answer.requestId, table: answer.table, status: outcome.status, batchId: outcome.batchId, shard: answer.shard },
  };
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
            // The hop back to the requester, as a span of its trace (a no-op when tracing is off).
            const parent = r.trace ? propagation.extract(ROOT_CONTEXT, r.trace) : ROOT_CONTEXT;
            await tracer.startActiveSpan(
              'CompleteActivity:awaitBatchedWrite',
              { kind: SpanKind.CLIENT, attributes: { 'batcher.requester_workflow_id': id.workflowId } },
              parent,
              async (span) => {
                try {
                  // When the answer left: the requester's latency ends here, not when its workflow next runs.
                  if ('outcome' in r) await client.activity.complete(id, { ...r.outcome, answeredAtMs: Date.now() });
                  else await client.activity.fail(id, r.failure);
                } catch (err) {
                  span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
                  // A refused address (malformed, or another namespace's) counts like a requester that is gone.
                  if (err instanceof ActivityNotFoundError || (err instanceof ActivityCompletionError && (await serverReachable())))
                    undeliverable++;
                  else throw err;
                } finally {
                  span.end();
                }
              },
            );
          }),
        );
      }
      return { delivered: replies.length - undeliverable, undeliverable };
    },
  };
}
