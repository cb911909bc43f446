// The batcher workflow: collects write requests from many requesters, writes them in one bulk
// insert every flush interval or every maxBatchSize requests, and confirms each requester.
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  BatcherErrorTypes,
  MAX_PAYLOAD_BYTES,
  batcherStatsQuery,
  submitWriteSignal,
  writeConfirmationSignal,
  type BatcherInput,
  type BatcherState,
  type BatcherStats,
  type PendingRequest,
  type RowOutcome,
  type WriteConfirmation,
  type WriteRequest,
} from '@batcher/shared/workflow';
import type { createActivities } from '../activities';
import { inNewTrace, withRequesterContext } from './tracing';

type Outcome = BatcherState['recent'][number][1];

const { bulkWrite } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '60 seconds',
  // Connection errors and deadlocks are retried until the database is back; data errors never
  // reach here (the activity turns them into per-row rejections).
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/** Temporal caps pending outgoing signals of one run at 2000; stay well below it. */
const MAX_CONFIRMATIONS_IN_FLIGHT = 1000;

/** How many recent batches the statistics keep for charts. */
const RECENT_BATCHES = 30;

export function emptyBatcherState(): BatcherState {
  return {
    pending: [],
    recent: [],
    counters: {
      batchesWritten: 0,
      rowsWritten: 0,
      duplicates: 0,
      rejected: 0,
      signalsTotal: 0,
      continueAsNewCount: 0,
      confirmationsUndeliverable: 0,
      largestContinueAsNewPayloadBytes: 0,
    },
    lastFlushAtMs: null,
    recentBatches: [],
  };
}

/** Returns a reason when a request cannot be accepted at all, undefined when it is well formed. */
function invalidReason(req: unknown): string | undefined {
  if (typeof req !== 'object' || req === null) return 'request must be an object';
  const r = req as Partial<WriteRequest>;
  if (typeof r.requestId !== 'string' || r.requestId.length === 0) return 'requestId must be a non-empty string';
  if (typeof r.requesterWorkflowId !== 'string' || r.requesterWorkflowId.length === 0) return 'requesterWorkflowId must be a non-empty string';
  if (typeof r.payload !== 'object' || r.payload === null || Array.isArray(r.payload)) return 'payload must be a JSON object';
  const size = JSON.stringify(r.payload).length;
  if (size > MAX_PAYLOAD_BYTES) return `payload is ${size} bytes; the limit is ${MAX_PAYLOAD_BYTES}`;
  return undefined;
}

export async function batcherWorkflow(input: BatcherInput): Promise<never> {
  const { shard, settings } = input;
  const state = input.state ?? emptyBatcherState();
  const { counters } = state;
  let pending: PendingRequest[] = state.pending;
  let pendingBytes = pending.reduce((n, r) => n + JSON.stringify(r).length, 0);
  /** Ids pending or being written now: a repeat of one of them is simply dropped. */
  const inProgress = new Set(pending.map((r) => r.requestId));
  /** Insertion-ordered window of recently finished ids: answers repeats without a write. */
  const recent = new Map<string, Outcome>(state.recent);
  let signalsThisRun = 0;

  const remember = (requestId: string, outcome: Outcome): void => {
    recent.delete(requestId);
    recent.set(requestId, outcome);
    while (recent.size > settings.dedupWindowSize) recent.delete(recent.keys().next().value as string);
  };

  /** Confirmation signals sent but not yet acknowledged by the server. */
  const confirmationsInFlight = new Set<Promise<void>>();
  const track = (p: Promise<void>): void => {
    confirmationsInFlight.add(p);
    void p.finally(() => confirmationsInFlight.delete(p));
  };

  /** Signals a requester; a requester that is gone is logged and counted, never fatal. */
  const confirm = async (req: Pick<WriteRequest, 'requestId' | 'requesterWorkflowId' | 'trace'>, outcome: Outcome): Promise<void> => {
    const confirmation: WriteConfirmation = { requestId: req.requestId, shard, ...outcome };
    try {
      await withRequesterContext(req.trace, () =>
        getExternalWorkflowHandle(req.requesterWorkflowId).signal(writeConfirmationSignal, confirmation),
      );
    } catch (err) {
      counters.confirmationsUndeliverable++;
      log.warn('confirmation undeliverable', { requestId: req.requestId, requester: req.requesterWorkflowId, error: String(err) });
    }
  };

  const carriedState = (): BatcherState => ({
    ...state,
    pending,
    recent: [...recent.entries()],
  });

  setHandler(submitWriteSignal, async (req: WriteRequest) => {
    signalsThisRun++;
    counters.signalsTotal++;
    const invalid = invalidReason(req);
    if (invalid !== undefined) {
      counters.rejected++;
      log.warn('invalid write request', { reason: invalid });
      const requester = (req as Partial<WriteRequest> | null)?.requesterWorkflowId;
      if (typeof requester === 'string' && requester) {
        await confirm({ requestId: String(req.requestId ?? ''), requesterWorkflowId: requester, trace: req.trace }, {
          status: 'rejected',
          errorType: BatcherErrorTypes.InvalidRequest,
          reason: invalid,
        });
      }
      return;
    }
    if (inProgress.has(req.requestId)) {
      counters.duplicates++; // already queued or being written: one row, one confirmation
      return;
    }
    const known = recent.get(req.requestId);
    if (known) {
      counters.duplicates++;
      await confirm(req, known.status === 'committed' ? { ...known, status: 'duplicate' } : known);
      return;
    }
    const size = JSON.stringify(req).length;
    if (pendingBytes + size > settings.maxPendingBytes) {
      counters.rejected++;
      await confirm(req, {
        status: 'rejected',
        errorType: BatcherErrorTypes.Overloaded,
        reason: `shard ${shard} already holds ${pendingBytes} bytes of pending requests (limit ${settings.maxPendingBytes})`,
      });
      return;
    }
    pending.push({ ...req, receivedAtMs: Date.now() });
    pendingBytes += size;
    inProgress.add(req.requestId);
  });

  setHandler(batcherStatsQuery, (): BatcherStats => {
    const last = state.recentBatches[state.recentBatches.length - 1];
    return {
      shard,
      pending: pending.length,
      pendingBytes,
      batchesWritten: counters.batchesWritten,
      rowsWritten: counters.rowsWritten,
      duplicates: counters.duplicates,
      rejected: counters.rejected,
      signalsThisRun,
      signalsTotal: counters.signalsTotal,
      continueAsNewCount: counters.continueAsNewCount,
      dedupWindowSize: recent.size,
      continueAsNewPayloadBytes: JSON.stringify(carriedState()).length,
      largestContinueAsNewPayloadBytes: counters.largestContinueAsNewPayloadBytes,
      lastFlushAtMs: state.lastFlushAtMs,
      lastBatch: last ? { batchId: last.batchId, rows: last.rows, durationMs: last.durationMs } : null,
      confirmationsUndeliverable: counters.confirmationsUndeliverable,
      recentBatches: state.recentBatches,
    };
  });

  const flush = async (): Promise<void> => {
    const batch = pending.slice(0, settings.maxBatchSize);
    pending = pending.slice(batch.length);
    pendingBytes = pending.reduce((n, r) => n + JSON.stringify(r).length, 0);
    // The run id makes batch ids unique even if a shard is terminated and started afresh.
    const batchId = `s${shard}-${workflowInfo().runId}-${counters.batchesWritten + 1}`;
    // Each batch is a trace of its own; its span links the requests' traces (see tracing.ts).
    const result = await inNewTrace(() =>
      bulkWrite({
        batchId,
        shard,
        rows: batch.map(({ requestId, requesterWorkflowId, payload, trace }) => ({ requestId, requesterWorkflowId, payload, trace })),
      }),
    );
    const byId = new Map<string, RowOutcome>(result.outcomes.map((o) => [o.requestId, o]));
    counters.batchesWritten++;
    state.lastFlushAtMs = Date.now();
    let written = 0;
    for (const req of batch) {
      const o = byId.get(req.requestId);
      const outcome: Outcome = o
        ? { status: o.status, batchId: o.batchId, reason: o.reason, errorType: o.errorType }
        : { status: 'rejected', errorType: BatcherErrorTypes.DataRejected, reason: 'bulk write returned no outcome for this request' };
      if (outcome.status === 'committed') written++;
      else if (outcome.status === 'duplicate') counters.duplicates++;
      else counters.rejected++;
      remember(req.requestId, outcome);
      inProgress.delete(req.requestId);
      track(confirm(req, outcome));
    }
    counters.rowsWritten += written;
    state.recentBatches = [...state.recentBatches, { batchId, rows: written, atMs: state.lastFlushAtMs, pendingAfter: pending.length, durationMs: result.durationMs }].slice(-RECENT_BATCHES);
    // Confirmations go out while the next batch fills; only a long backlog holds the loop, so the
    // run stays under Temporal's cap on pending outgoing signals.
    await condition(() => confirmationsInFlight.size <= MAX_CONFIRMATIONS_IN_FLIGHT);
  };

  const shouldContinueAsNew = (): boolean => signalsThisRun >= settings.continueAsNewSignals || workflowInfo().continueAsNewSuggested;

  for (;;) {
    // Continue-as-new comes before a due flush: a run never takes much more than its share of
    // signals, whatever the burst; pending requests simply move to the next run.
    if (shouldContinueAsNew()) {
      // Let running signal handlers and confirmations finish so nothing is dropped.
      await condition(() => allHandlersFinished() && confirmationsInFlight.size === 0);
      const carried = carriedState();
      const bytes = JSON.stringify(carried).length;
      carried.counters = {
        ...counters,
        continueAsNewCount: counters.continueAsNewCount + 1,
        largestContinueAsNewPayloadBytes: Math.max(counters.largestContinueAsNewPayloadBytes, bytes),
      };
      log.info('continuing as new', { shard, pending: pending.length, dedupWindow: recent.size, bytes });
      await inNewTrace(() => continueAsNew<typeof batcherWorkflow>({ shard, settings, state: carried }));
    }
    const oldest = pending[0];
    if (pending.length >= settings.maxBatchSize || (oldest !== undefined && Date.now() >= oldest.receivedAtMs + settings.flushIntervalMs)) {
      await flush();
      continue;
    }
    if (oldest === undefined) {
      await condition(() => pending.length > 0 || shouldContinueAsNew());
    } else {
      await condition(() => pending.length >= settings.maxBatchSize || shouldContinueAsNew(), oldest.receivedAtMs + settings.flushIntervalMs - Date.now());
    }
  }
}
