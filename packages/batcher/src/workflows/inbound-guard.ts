// The inbound guard: nothing a client sends a shard can fail its workflow tasks.
//
// The SDK (1.24) decodes a signal's input, and refuses a signal name with its reserved prefix
// (`__temporal_`) when a default signal handler is set, before any of the batcher's code runs; both
// throw out of the activation, so the task fails, and fails again on every retry: the shard is dead,
// and the SDK's "Failing workflow task" warning prints the raw signal into the worker's log. An
// undecodable start input does the same. This workflow *internals* interceptor sees each
// activation's jobs before the SDK runs them and rewrites, as a pure function of the jobs:
//   - a signal whose name is empty or reserved, or whose input the workflow's own payload converter
//     cannot decode, into a signal named DROPPED_SIGNAL with no input and no headers, which the
//     shard counts (`undecodableSignalsDropped`) and drops; the guard logs its name and reason only;
//   - a start whose arguments cannot be decoded into a start with none, which `batcherWorkflow`
//     refuses at once, typed ("batcher input rejected"): a failed workflow, never a failing task;
//   - a header of a signal or start that does not decode (tracing's interceptor would throw on it)
//     is removed; the signal or start itself goes on;
//   - an activity of the shard completed (by anyone, by its id) with a result that does not decode
//     into that activity failing, typed (UNDECODABLE_RESULT): a bulk write's batch then fails and
//     its requesters settle in the ledger, an answer delivery counts as lost, a settings read
//     fails the run (the next submission starts a fresh one).
// It decodes with the converter the SDK will use (the activator's, so a host's custom converter
// too), so "decodable" here is exactly "decodable there": a decodable input passes untouched, and a
// history without such signals runs the same commands as without the guard (replay stays green).
// The cost is a second decode of each signal's input.
//
// Why not a payload converter that cannot throw: it would cover decoding only (the reserved name
// still kills the task), it is set per worker, so it would change every host workflow the plugin
// shares a worker with, and a prebuilt bundle fixes it at bundle time. The guard acts on the
// batcher's workflow type only; other workflows of the same bundle are untouched.
//
// Registered twice over, idempotently: `interceptors`, a workflow interceptor module the plugin
// adds to a host worker's `interceptors.workflowModules`, and `installInboundGuard()`, run when the
// batcher's workflows module (workflows/index.ts) is imported, so every bundle of that module (the
// batcher worker's, the images' prebuilt one, replay) has it without a worker option. The SDK
// imports workflow modules once per run, in a shared V8 context too (its module cache is per run),
// and the activator exists by then.
import {
  defaultPayloadConverter,
  log,
  workflowInfo,
  type ActivateInput,
  type PayloadConverter,
  type WorkflowInterceptorsFactory,
  type WorkflowInternalsInterceptor,
} from '@temporalio/workflow';
import type { Next } from '@temporalio/common';
import { BATCHER_WORKFLOW_TYPE } from '@write-batcher/protocol';

/** The signal a dropped one becomes: a name of the batcher's own, outside the SDK's reserved prefix. */
export const DROPPED_SIGNAL = 'batcherDroppedSignal';
/** Signal names the SDK reserves (refused with a TypeError when a default handler is set). */
export const RESERVED_PREFIX = '__temporal_';

/** A payload as the activation carries it. */
export interface GuardPayload {
  metadata?: Record<string, Uint8Array | null | undefined> | null;
  data?: Uint8Array | null;
}

/** The parts of an activation job the guard reads (the SDK's are protobuf messages with more). */
export interface GuardJob {
  signalWorkflow?: { signalName?: string | null; input?: GuardPayload[] | null; headers?: Record<string, GuardPayload> | null } | null;
  initializeWorkflow?: { arguments?: GuardPayload[] | null; headers?: Record<string, GuardPayload> | null } | null;
  resolveActivity?: { seq?: number | null; result?: { completed?: { result?: GuardPayload | null } | null } | null } | null;
}

/** The error type an activity result that does not decode is turned into (the activity then failed, for the shard). */
export const UNDECODABLE_RESULT = 'UndecodableActivityResult';

/** What the guard did to one job. */
export interface GuardRewrite {
  /** A signal dropped, a start's arguments dropped, or one header of a signal or start dropped (the rest delivered). */
  kind: 'signal' | 'start' | 'header' | 'result';
  /** The signal's name as sent (absent for a start), cut to 100 characters (names are the sender's, never row values). */
  name?: string;
  reason: string;
}

/** Why these payloads cannot be decoded (never quoting their data), or undefined. */
export type DecodeCheck = (payloads: readonly GuardPayload[]) => string | undefined;

/** A job copied with `field` replaced, keeping its prototype (the SDK reads a protobuf oneof getter). */
function withField<T extends object>(obj: T, field: Partial<T>): T {
  return Object.assign(Object.create(Object.getPrototypeOf(obj) as object | null) as T, obj, field);
}

/** Bytes or text as printable ASCII of at most 40 characters, for a log line. */
function printable(raw: Uint8Array | string): string {
  let text = '';
  for (let i = 0; i < raw.length && text.length < 40; i++) {
    const c = typeof raw === 'string' ? raw.charCodeAt(i) : (raw[i] as number);
    text += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '?';
  }
  return text;
}

/** The encoding named in a payload's metadata, printable, for a log line. */
function encodingOf(payload: GuardPayload): string | undefined {
  const raw = payload.metadata?.encoding;
  return raw == null ? undefined : printable(raw);
}

/**
 * Headers without those that do not decode (an interceptor that reads one, tracing's, would throw
 * in the task), or undefined when every one decodes.
 */
function cleanHeaders(
  headers: Record<string, GuardPayload> | null | undefined,
  check: DecodeCheck,
): { headers: Record<string, GuardPayload>; reasons: string[] } | undefined {
  if (headers == null) return undefined;
  const reasons: string[] = [];
  const kept = Object.entries(headers).filter(([key, payload]) => {
    const reason = check([payload]);
    if (reason !== undefined) reasons.push(`header "${printable(key)}": ${reason}`);
    return reason === undefined;
  });
  return reasons.length ? { headers: Object.fromEntries(kept), reasons } : undefined;
}

/**
 * A check that decodes each payload with `converter`, as the SDK does: the reason names the
 * payload's position, its encoding and the error's class, never the error's message (a JSON
 * parser's message quotes the text it failed on).
 */
export function decodeCheck(converter: PayloadConverter, context?: unknown): DecodeCheck {
  return (payloads) => {
    for (let i = 0; i < payloads.length; i++) {
      const payload = payloads[i] as GuardPayload;
      try {
        (converter.fromPayload as (p: GuardPayload, c?: unknown) => unknown)(payload, context);
      } catch (err) {
        const encoding = encodingOf(payload);
        const kind = err instanceof Error ? err.name : typeof err;
        return `payload ${i} (${encoding === undefined ? 'no encoding' : `encoding "${encoding}"`}) does not decode: ${kind}`;
      }
    }
    return undefined;
  };
}

/**
 * The guard's rewrite of one activation's jobs (pure): jobs it leaves alone are the same objects,
 * in the same order; `rewrites` lists what it changed, in job order.
 */
export function guardJobs<J extends GuardJob>(jobs: readonly J[], check: DecodeCheck): { jobs: J[]; rewrites: GuardRewrite[] } {
  const rewrites: GuardRewrite[] = [];
  const out = jobs.map((job) => {
    const signal = job.signalWorkflow;
    if (signal != null) {
      const name = signal.signalName ?? '';
      const reason =
        name === ''
          ? 'no signal name'
          : name.startsWith(RESERVED_PREFIX)
            ? `the name has the SDK's reserved prefix ${RESERVED_PREFIX}`
            : check(signal.input ?? []);
      if (reason !== undefined) {
        rewrites.push({ kind: 'signal', name: name.slice(0, 100), reason });
        return withField(job as GuardJob, {
          signalWorkflow: withField(signal, { signalName: DROPPED_SIGNAL, input: [], headers: {} }),
        }) as J;
      }
      const clean = cleanHeaders(signal.headers, check);
      if (clean === undefined) return job;
      for (const r of clean.reasons) rewrites.push({ kind: 'header', name: name.slice(0, 100), reason: r });
      return withField(job as GuardJob, { signalWorkflow: withField(signal, { headers: clean.headers }) }) as J;
    }
    // An activity completed (from outside, by its id) with a result that does not decode: the shard
    // sees that activity fail, typed, and goes on (a batch fails and its requesters settle).
    const resolved = job.resolveActivity;
    const completed = resolved?.result?.completed;
    if (resolved != null && completed?.result != null) {
      const reason = check([completed.result]);
      if (reason === undefined) return job;
      rewrites.push({ kind: 'result', reason });
      const failure = {
        message: `the activity's result does not decode (${reason})`,
        source: 'write-batcher inbound guard',
        applicationFailureInfo: { type: UNDECODABLE_RESULT, nonRetryable: true },
      };
      return withField(job as GuardJob, { resolveActivity: withField(resolved, { result: { failed: { failure } } as never }) }) as J;
    }
    const start = job.initializeWorkflow;
    if (start != null) {
      const reason = check(start.arguments ?? []);
      const clean = cleanHeaders(start.headers, check);
      if (reason === undefined && clean === undefined) return job;
      if (reason !== undefined) rewrites.push({ kind: 'start', reason });
      for (const r of clean?.reasons ?? []) rewrites.push({ kind: 'header', reason: r });
      const changed: Partial<NonNullable<GuardJob['initializeWorkflow']>> = {};
      if (reason !== undefined) changed.arguments = [];
      if (clean !== undefined) changed.headers = clean.headers;
      return withField(job as GuardJob, { initializeWorkflow: withField(start, changed) }) as J;
    }
    return job;
  });
  return { jobs: rewrites.length ? out : [...jobs], rewrites };
}

/** What the guard needs of the SDK's workflow activator (internal to the SDK; pinned by this repository's tests). */
interface ActivatorView {
  payloadConverter?: PayloadConverter;
  workflowSerializationContext?: () => unknown;
  interceptors?: { internals?: WorkflowInternalsInterceptor[] };
}

function activator(): ActivatorView | undefined {
  return (globalThis as { __TEMPORAL_ACTIVATOR__?: ActivatorView }).__TEMPORAL_ACTIVATOR__;
}

/** The internals interceptor of one batcher workflow run. */
export class InboundGuard implements WorkflowInternalsInterceptor {
  readonly isBatcherInboundGuard = true;

  activate(input: ActivateInput, next: Next<WorkflowInternalsInterceptor, 'activate'>): void {
    const jobs = (input.activation.jobs ?? []) as GuardJob[];
    if (!jobs.some((j) => j.signalWorkflow != null || j.initializeWorkflow != null || j.resolveActivity != null)) return next(input);
    const sdk = activator();
    const check = decodeCheck(sdk?.payloadConverter ?? defaultPayloadConverter, sdk?.workflowSerializationContext?.());
    const guarded = guardJobs(jobs, check);
    if (guarded.rewrites.length === 0) return next(input);
    for (const r of guarded.rewrites) {
      if (r.kind === 'signal') log.warn('undecodable signal dropped', { name: r.name, reason: r.reason });
      else if (r.kind === 'start') log.warn('undecodable start input refused', { reason: r.reason });
      else if (r.kind === 'result') log.warn('undecodable activity result taken as a failure', { reason: r.reason });
      else log.warn('undecodable header dropped', { signal: r.name, reason: r.reason });
    }
    next({ ...input, activation: withField(input.activation, { jobs: guarded.jobs as typeof input.activation.jobs }) });
  }
}

const isBatcher = (): boolean => workflowInfo().workflowType === BATCHER_WORKFLOW_TYPE;

/** The workflow interceptor module's factory (see the header): a guard for a batcher run, nothing for any other workflow. */
export const interceptors: WorkflowInterceptorsFactory = () => (isBatcher() ? { internals: [new InboundGuard()] } : {});

/** Adds the guard to this run's activator, unless it has one already or the run is not a batcher's. */
export function installInboundGuard(): void {
  const internals = activator()?.interceptors?.internals;
  if (internals === undefined || !isBatcher()) return;
  if (internals.some((i) => (i as Partial<InboundGuard>).isBatcherInboundGuard === true)) return;
  internals.push(new InboundGuard());
}
