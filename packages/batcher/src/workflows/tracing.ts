// Trace context inside the batcher workflow: a batch and a new run start traces of their own
// instead of growing the trace of whoever started the shard. (Answers join each requester's trace
// in the bulk-write activity, from the context carried in the request.)
// Workflow-safe: only @opentelemetry/api, whose context manager the tracing interceptors install
// in the sandbox; without them every function here simply calls `fn`.
import { ROOT_CONTEXT, context } from '@opentelemetry/api';

/**
 * Runs `fn` with no parent span, so what it starts (the bulk-write activity, the next run) roots a
 * trace of its own. A shard lives for days: under one parent its trace would never end.
 */
export function inNewTrace<T>(fn: () => Promise<T>): Promise<T> {
  return context.with(ROOT_CONTEXT, fn);
}
