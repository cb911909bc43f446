// Plain stack traces in the batcher's workflow sandbox.
//
// The SDK records a source-mapped stack trace for every promise a workflow creates (it serves the
// `__stack_trace` query): it makes an Error in a promise hook and reads its stack. The SDK makes
// several promises per signal, so under a flood of single-request signals that bookkeeping was most
// of the batcher's CPU (profiled: 3.7 of 6.1 CPU-s of the workflow thread, against 0.2 CPU-s for
// the batcher's own code). Node formats a stack with the `Error.prepareStackTrace` of the realm that
// made the error, so the one set here answers the hook's errors with an empty stack (the SDK then
// records nothing) and formats every other error as V8 does, with positions in the workflow bundle
// instead of the TypeScript sources. The cost: `__stack_trace` shows no stacks for a batcher.
//
// Only possible when each workflow has a V8 context of its own: the batcher worker runs with
// `reuseV8Context: false` (worker.ts); in a shared context the built-ins are frozen and this does
// nothing.
interface CallSite {
  getFunctionName(): string | null;
  getFileName(): string | undefined | null;
  toString(): string;
}

/** The SDK's promise hook (`init` in its vm-shared module) asking for a stack it only records. */
function madeByPromiseHook(frames: CallSite[]): boolean {
  const top = frames[0];
  return top !== undefined && top.getFunctionName() === 'init' && /[\\/]vm-shared\.js$/.test(top.getFileName() ?? '');
}

/** How many of the hook's stack requests this workflow context answered empty (tests read it: a renamed hook shows as 0). */
export const skippedHookStacks = { count: 0 };

export function usePlainStackTraces(): void {
  if (Object.isFrozen(Error)) return;
  (Error as unknown as { prepareStackTrace: (err: Error, frames: CallSite[]) => string }).prepareStackTrace = (err, frames) => {
    if (madeByPromiseHook(frames)) {
      skippedHookStacks.count++;
      return 'Error';
    }
    return `${String(err)}${frames.map((f) => `\n    at ${String(f)}`).join('')}`;
  };
}
