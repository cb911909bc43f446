// Trace context inside the batcher workflow: a confirmation continues the trace of the request it
// answers (its context travels in the request, across continue-as-new), while a batch and a new run
// start traces of their own instead of growing the trace of whoever started the shard.
// Workflow-safe: only @opentelemetry/api, whose context manager the tracing interceptors install
// in the sandbox; without them every function here simply calls `fn`.
import { ROOT_CONTEXT, context, propagation } from '@opentelemetry/api';
import type { TraceCarrier } from '@batcher/shared/workflow';

/** Runs `fn` in the requester's trace context (when it sent one), so its signal joins that trace. */
export function withRequesterContext<T>(carrier: TraceCarrier | undefined, fn: () => Promise<T>): Promise<T> {
  if (!carrier || Object.keys(carrier).length === 0) return fn();
  return context.with(propagation.extract(ROOT_CONTEXT, carrier), fn);
}

/**
 * Runs `fn` with no parent span, so what it starts (the bulk-write activity, the next run) roots a
 * trace of its own. A shard lives for days: under one parent its trace would never end.
 */
export function inNewTrace<T>(fn: () => Promise<T>): Promise<T> {
  return context.with(ROOT_CONTEXT, fn);
}
