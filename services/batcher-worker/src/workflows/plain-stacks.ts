// Plain stack traces in the batcher's workflow sandbox.
//
// The SDK records a source-mapped stack trace for every promise a workflow creates (it serves the
// `__stack_trace` query). The SDK makes several promises per signal, so under a flood of signals
// that bookkeeping was most of the batcher's CPU: profiled at 3.7 of 6.1 CPU-s of the workflow
// thread, against 0.2 CPU-s for the batcher's own code. Node formats a stack with the
// `Error.prepareStackTrace` of the realm that made the error, so one set here keeps errors' stack
// traces (positions in the workflow bundle, not the TypeScript sources) and skips the per-promise
// recording. The cost: `__stack_trace` shows no stacks for a batcher.
//
// Only possible when each workflow has a V8 context of its own: the batcher worker runs with
// `reuseV8Context: false` (worker.ts), where the built-ins are not frozen. Elsewhere this does nothing.
type CallSite = { toString(): string };

export function usePlainStackTraces(): void {
  const ErrorCtor = Error as unknown as { prepareStackTrace?: (err: Error, frames: CallSite[]) => string };
  if (Object.isFrozen(Error)) return;
  ErrorCtor.prepareStackTrace = (err, frames) => `${String(err)}${frames.map((f) => `\n    at ${String(f)}`).join('')}`;
}
