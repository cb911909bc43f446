// The batcher workflow: a thin loop around ShardBook (shard-book.ts). It reads its settings from its
// own worker at each run start, takes in groups of requests by signal, starts bulk writes when they
// are due (several at once for full batches), hands refusals and known repeats to a delivery
// activity, and continues as new when its history grows. Requesters are answered by the bulk-write
// activity completing their waiting activity: nothing per request is written to this history but
// its share of one signal.
import {
  ApplicationFailure,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setDefaultSignalHandler,
  setHandler,
  sleep,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import { BATCHER_STATS_MEMO_KEY, BatcherErrorTypes, batcherStatsQuery, batcherWorkflowId, submitWritesSignal, type BatcherInput, type BulkWriteResult, type RowOutcome } from '@write-batcher/requester/protocol';
import type { createActivities } from '../activities';
import { ShardBook, type Batch } from './shard-book';
import { inNewTrace } from './tracing';

type Activities = ReturnType<typeof createActivities>;

const { bulkWrite } = proxyActivities<Activities>({
  startToCloseTimeout: '60 seconds',
  // Connection errors and deadlocks are retried until the database is back, at most 2 s apart, so
  // the first write after an outage comes within seconds of the database's return; data errors
  // never reach here (the activity turns them into per-row rejections).
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '2 seconds' },
});

const { deliverAnswers } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 10 },
});

const { batcherSettings } = proxyLocalActivities<Activities>({ startToCloseTimeout: '10 seconds' });
/** The same activity, run as a regular one (runs started by this release: see `settingsByActivity`). */
const { batcherSettings: readSettings } = proxyActivities<Activities>({ startToCloseTimeout: '10 seconds', retry: { initialInterval: '1 second', maximumInterval: '10 seconds' } });

/** Continue-as-new is due once the history passes this many bytes, whatever Temporal suggests: replays stay short. */
const MAX_HISTORY_BYTES = 4 * 1024 * 1024;
/** … or this many events. */
const MAX_HISTORY_EVENTS = 4000;
/**
 * Continue-as-new waits for this long a pause in the signals. Temporal refuses to close a run while
 * signals wait to be delivered (the task fails "unhandled command"), and the next task replays the
 * whole run: tried in the middle of a flood, every attempt would be longer than the last.
 */
const CONTINUE_AS_NEW_QUIET_MS = 200;
/**
 * Past this size the run continues as new at the first task without a signal, pause or not
 * (Temporal ends a run at 51,200 events or 50 MiB, and refuses its 10,001st signal).
 */
const URGENT_HISTORY_EVENTS = 20_000;
const URGENT_HISTORY_BYTES = 20 * 1024 * 1024;
const URGENT_SIGNALS = 8_000;
/** The memo holds statistics at most this stale (workflow time), while the shard is busy. */
const STATS_MEMO_EVERY_MS = 2_000;
/** … and this many of the latest batches (the monitor's status page and the starter read them there). */
const MEMO_RECENT_BATCHES = 10;

const STATUSES = new Set(['committed', 'duplicate', 'rejected']);

/**
 * Whether an activity result has the shape the batcher reads. Anyone who may complete activities in
 * the namespace could complete a shard's own activity with anything: such a result fails that
 * batch typed, and never the run.
 */
export function bulkWriteResultProblem(result: unknown, batchId: string): string | undefined {
  const r = result as Partial<BulkWriteResult> | null | undefined;
  if (typeof r !== 'object' || r === null) return 'the bulk-write result is not an object';
  if (r.batchId !== batchId) return `the bulk-write result is for batch ${String(r.batchId).slice(0, 80)}, not ${batchId}`;
  if (!Array.isArray(r.outcomes)) return 'the bulk-write result has no outcomes';
  const bad = (r.outcomes as unknown[]).some((o) => typeof o !== 'object' || o === null || typeof (o as RowOutcome).requestId !== 'string' || !STATUSES.has((o as RowOutcome).status));
  if (bad) return 'the bulk-write result holds a malformed outcome';
  if (!Number.isFinite(r.durationMs) || !Number.isInteger(r.repliesUndeliverable) || (r.repliesUndeliverable as number) < 0) return 'the bulk-write result has malformed counters';
  return undefined;
}

/** Why a start input is unusable, or undefined (checked before anything runs). */
function inputProblem(input: unknown): string | undefined {
  if (typeof input !== 'object' || input === null) return 'input must be { shard, state? }';
  const { shard } = input as Partial<BatcherInput>;
  if (typeof shard !== 'number' || !Number.isInteger(shard) || shard < 0) return `shard must be a non-negative integer, got ${JSON.stringify(shard)}`;
  return undefined;
}

export async function batcherWorkflow(input: BatcherInput): Promise<never> {
  // A bad start input fails the run at once (a failed workflow, not a task that fails for ever).
  const invalid = inputProblem(input);
  if (invalid !== undefined) throw ApplicationFailure.create({ type: BatcherErrorTypes.InvalidRequest, message: `batcher input rejected: ${invalid}`, nonRetryable: true });
  // Until this run has its settings, statistics come from the carried state (and the previous
  // run's settings), so a monitor following continue-as-new sees no gap.
  let book: ShardBook | undefined;
  const carriedSettings = input.state?.settings;
  setHandler(batcherStatsQuery, () => {
    if (book) return book.stats(Date.now());
    if (carriedSettings) return new ShardBook(input.shard, carriedSettings, workflowInfo().runId, input.state).stats(Date.now());
    throw new Error(`shard ${input.shard} is starting: its settings are not read yet`);
  });
  /**
   * Runs started by this release decide every patch below at once, then read their settings with a
   * regular activity. A run started by an earlier release read them with a local activity and
   * decided its patches after it: a query that reaches the shard while that local activity runs makes
   * the worker (SDK 1.24) report the task with only the activity's marker and go on in a task of its
   * own, which a replay does not rebuild: the shard is stuck on a nondeterminism error
   * (test/batcher/queries-on-a-cold-worker.test.ts). Earlier runs replay the way they ran.
   */
  const settingsByActivity = patched('settings-by-activity');
  const decidePatches = () => ({
    /**
     * Runs started by this release continue as new in a pause in the signals and keep a timer per
     * moment; a run started by an earlier release (its history has no such marker) replays and goes on
     * as it began: continue-as-new as soon as it is due, one flush timer remembered at a time.
     * (test/batcher/replay.test.ts replays a recorded earlier history.)
     */
    inPause: patched('continue-as-new-in-a-pause'),
    /** Runs started by this release deliver every queued answer before they continue as new. */
    answersFirst: patched('answers-before-continue-as-new'),
    /**
     * Runs started by this release take requests of typed rows for declared tables, with reply
     * addresses bound to the requester; a run started by an earlier release replays the requests of
     * its history (`payload` for the demo table, any well-formed reply address) as that release took
     * them: refusing them now would drop the bulk writes its history holds (non-determinism).
     */
    typedRows: patched('typed-rows-and-bound-replies'),
    /**
     * Runs started by this release publish their statistics in the workflow's memo (at most every
     * STATS_MEMO_EVERY_MS, when they changed): `describe()` reads it from the server, so a thousand
     * readers cost the shard nothing, where a thousand queries each take a turn in its worker.
     */
    statsInMemo: patched('stats-in-memo'),
  });
  const early = settingsByActivity ? decidePatches() : undefined;
  // Settings belong to the batcher worker: read at each run start, so an upgrade reaches running shards.
  // A run started by an earlier release replays the settings its history recorded: no routing there.
  const { routing, ...settings }: Omit<Awaited<ReturnType<Activities['batcherSettings']>>, 'routing'> & { routing?: Awaited<ReturnType<Activities['batcherSettings']>>['routing'] } = await (settingsByActivity ? readSettings() : batcherSettings());
  const { workflowId, runId } = workflowInfo();
  // A shard runs under its own id only, and only within the configured shard count: otherwise it
  // would take requests that routing never sends it.
  if (routing && (input.shard >= routing.shards || workflowId !== batcherWorkflowId(routing.workflowIdPrefix, input.shard))) {
    throw ApplicationFailure.create({
      type: BatcherErrorTypes.InvalidRequest,
      message: `batcher input rejected: shard ${input.shard} under workflow id ${workflowId} is not one of ${routing.workflowIdPrefix}-0 … ${routing.workflowIdPrefix}-${routing.shards - 1}`,
      nonRetryable: true,
    });
  }
  const { inPause, answersFirst, typedRows, statsInMemo } = early ?? decidePatches();
  book = new ShardBook(input.shard, settings, runId, input.state, workflowId, !typedRows);
  /** Bumped on every change the loop may need to act on. */
  let version = 0;
  let answering = false;
  /** When the timers started and not yet fired are due. */
  const timersDueAtMs = new Set<number>();
  /** Earlier releases: the one timer remembered (a later, earlier-due one replaces it). */
  let legacyTimerDueAtMs: number | undefined;

  setHandler(submitWritesSignal, (requests) => {
    book.offerSignal(requests, Date.now());
    version++;
  });
  // A signal of another name would be buffered for ever. Requests sent under an old name are taken
  // in (and answered); anything else is dropped, loudly.
  setDefaultSignalHandler((name, ...args: unknown[]) => {
    const looksLikeRequests = args.length === 1 && (Array.isArray(args[0]) || (typeof args[0] === 'object' && args[0] !== null && 'requestId' in args[0]));
    if (looksLikeRequests) {
      book.offerSignal(args[0], Date.now());
      version++;
      return;
    }
    log.warn('unknown signal dropped', { name: String(name).slice(0, 100) });
  });

  /**
   * When this run may continue as new: undefined while it need not; otherwise the first moment of a
   * pause in the signals (see CONTINUE_AS_NEW_QUIET_MS), or, for a run grown past the urgent size,
   * of a task that brought no signal.
   */
  const continueAsNewUrgent = (): boolean => {
    const info = workflowInfo();
    return info.historySize > URGENT_HISTORY_BYTES || info.historyLength > URGENT_HISTORY_EVENTS || book.signalsThisRun >= URGENT_SIGNALS;
  };
  const continueAsNewAtMs = (): number | undefined => {
    const info = workflowInfo();
    const urgent = inPause && continueAsNewUrgent();
    const due = urgent || book.signalsThisRun >= settings.continueAsNewSignals || info.continueAsNewSuggested || info.historySize > MAX_HISTORY_BYTES || info.historyLength > MAX_HISTORY_EVENTS;
    if (!due) return undefined;
    if (!inPause || book.lastSignalAtMs === null) return Date.now();
    return book.lastSignalAtMs + (urgent ? 1 : CONTINUE_AS_NEW_QUIET_MS);
  };

  const startWrite = (batch: Batch): void => {
    // Each batch is a trace of its own; its span links the requests' traces (see tracing.ts).
    inNewTrace(() => bulkWrite({ batchId: batch.batchId, shard: book.shard, rows: batch.rows }))
      .then(
        (result) => {
          const problem = bulkWriteResultProblem(result, batch.batchId);
          if (problem === undefined) book.finishBatch(batch, result, Date.now());
          else {
            log.error('bulk write result refused', { batchId: batch.batchId, problem });
            // Not the database's verdict: each requester settles in the ledger, which knows whether it committed.
            book.failBatch(batch, `bulk write ${batch.batchId} returned a result the batcher cannot read (${problem}); the write is settled by each requester`, BatcherErrorTypes.SubmissionFailed);
          }
        },
        (err: unknown) => {
          log.error('bulk write failed for good', { batchId: batch.batchId, error: String(err) });
          book.failBatch(batch, `bulk write ${batch.batchId} failed: ${String(err)}`);
        },
      )
      .finally(() => version++);
  };

  const startAnswers = (): void => {
    answering = true;
    deliverAnswers(book.takeAnswers())
      .then(
        (r) => book.countUndeliverable(Number.isInteger(r?.undeliverable) && r.undeliverable >= 0 ? r.undeliverable : 0),
        (err: unknown) => log.warn('answers undeliverable', { error: String(err) }),
      )
      .finally(() => {
        answering = false;
        version++;
      });
  };

  /**
   * One timer for the next moment the loop must look again (an interval flush, a pause to continue
   * as new in), kept until it fires: no timer is started and cancelled per signal.
   */
  const wakeAt = (dueMs: number | undefined): void => {
    if (dueMs === undefined) return;
    if (!inPause) {
      if (legacyTimerDueAtMs !== undefined && legacyTimerDueAtMs <= dueMs) return;
      legacyTimerDueAtMs = dueMs;
      void sleep(Math.max(1, dueMs - Date.now())).then(() => {
        if (legacyTimerDueAtMs === dueMs) legacyTimerDueAtMs = undefined;
        version++;
      });
      return;
    }
    // A timer already due by then wakes the loop, which arms the next one: never two for one moment.
    if ([...timersDueAtMs].some((t) => t <= dueMs)) return;
    timersDueAtMs.add(dueMs);
    void sleep(Math.max(1, dueMs - Date.now())).then(() => {
      timersDueAtMs.delete(dueMs);
      version++;
    });
  };

  let memoAtMs = Number.NEGATIVE_INFINITY;
  let memoKey = '';
  const publishStats = (): void => {
    if (!statsInMemo) return;
    const { recentBatches, ...counters } = book.stats(Date.now());
    const stats = { ...counters, recentBatches: recentBatches.slice(-MEMO_RECENT_BATCHES) };
    const key = `${stats.requestsTotal}:${stats.batchesWritten}:${stats.pending}:${stats.writesInFlight}:${stats.rejected}:${stats.refused}`;
    if (key === memoKey) return;
    // Changed, but published too recently: come back when it may be published again.
    if (Date.now() - memoAtMs < STATS_MEMO_EVERY_MS) return wakeAt(memoAtMs + STATS_MEMO_EVERY_MS);
    memoKey = key;
    memoAtMs = Date.now();
    upsertMemo({ [BATCHER_STATS_MEMO_KEY]: stats });
  };

  for (;;) {
    publishStats();
    const canAtMs = continueAsNewAtMs();
    const continuing = canAtMs !== undefined && Date.now() >= canAtMs;
    if (!answering && book.hasAnswers() && (answersFirst || !continuing)) startAnswers();
    if (continuing) {
      // Writes and answers in progress are awaited, and every queued answer is delivered first
      // (a signal meanwhile ends the pause, and the loop goes back to work); only a run that must
      // end at once carries undelivered answers, up to a byte budget.
      if (book.quiescent() && !answering && (!answersFirst || !book.hasAnswers() || continueAsNewUrgent())) {
        const { state, bytes } = book.carriedForNextRun();
        log.info('continuing as new', { shard: book.shard, pending: book.pendingCount, bytes });
        await inNewTrace(() => continueAsNew<typeof batcherWorkflow>({ shard: book.shard, state }));
      }
    } else {
      while (book.writeDue(Date.now())) startWrite(book.takeBatch());
      wakeAt(book.nextDueAtMs());
      if (inPause) wakeAt(canAtMs);
    }
    const seen = version;
    await condition(() => version !== seen);
  }
}
