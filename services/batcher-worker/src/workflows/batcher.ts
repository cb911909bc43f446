// The batcher workflow: a thin loop around ShardBook (shard-book.ts). It reads its settings from its
// own worker at each run start, takes in groups of requests by signal, starts bulk writes when they
// are due (several at once for full batches), hands refusals and known repeats to a delivery
// activity, and continues as new when its history grows. Requesters are answered by the bulk-write
// activity completing their waiting activity: nothing per request is written to this history but
// its share of one signal.
import {
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setDefaultSignalHandler,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import { batcherStatsQuery, submitWritesSignal, type BatcherInput } from '@batcher/shared/workflow';
import type { createActivities } from '../activities';
import { ShardBook, type Batch } from './shard-book';
import { inNewTrace } from './tracing';

type Activities = ReturnType<typeof createActivities>;

const { bulkWrite } = proxyActivities<Activities>({
  startToCloseTimeout: '60 seconds',
  // Connection errors and deadlocks are retried until the database is back; data errors never
  // reach here (the activity turns them into per-row rejections).
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

const { deliverAnswers } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 10 },
});

const { batcherSettings } = proxyLocalActivities<Activities>({ startToCloseTimeout: '10 seconds' });

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

export async function batcherWorkflow(input: BatcherInput): Promise<never> {
  // Until this run has its settings, statistics come from the carried state (and the previous
  // run's settings), so a monitor following continue-as-new sees no gap.
  let book: ShardBook | undefined;
  const carriedSettings = input.state?.settings;
  setHandler(batcherStatsQuery, () => {
    if (book) return book.stats(Date.now());
    if (carriedSettings) return new ShardBook(input.shard, carriedSettings, workflowInfo().runId, input.state).stats(Date.now());
    throw new Error(`shard ${input.shard} is starting: its settings are not read yet`);
  });
  // Settings belong to the batcher worker: read at each run start, so an upgrade reaches running shards.
  const settings = await batcherSettings();
  book = new ShardBook(input.shard, settings, workflowInfo().runId, input.state);
  /**
   * Runs started by this release continue as new in a pause in the signals and keep a timer per
   * moment; a run started by an earlier release (its history has no such marker) replays and goes on
   * as it began: continue-as-new as soon as it is due, one flush timer remembered at a time.
   * (test/batcher/replay.test.ts replays a recorded earlier history.)
   */
  const inPause = patched('continue-as-new-in-a-pause');
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
  // A signal of another name would be buffered for ever; drop it, loudly.
  setDefaultSignalHandler((name) => {
    log.warn('unknown signal dropped', { name: String(name).slice(0, 100) });
  });

  /**
   * When this run may continue as new: undefined while it need not; otherwise the first moment of a
   * pause in the signals (see CONTINUE_AS_NEW_QUIET_MS), or, for a run grown past the urgent size,
   * of a task that brought no signal.
   */
  const continueAsNewAtMs = (): number | undefined => {
    const info = workflowInfo();
    const urgent = inPause && (info.historySize > URGENT_HISTORY_BYTES || info.historyLength > URGENT_HISTORY_EVENTS || book.signalsThisRun >= URGENT_SIGNALS);
    const due = urgent || book.signalsThisRun >= settings.continueAsNewSignals || info.continueAsNewSuggested || info.historySize > MAX_HISTORY_BYTES || info.historyLength > MAX_HISTORY_EVENTS;
    if (!due) return undefined;
    if (!inPause || book.lastSignalAtMs === null) return Date.now();
    return book.lastSignalAtMs + (urgent ? 1 : CONTINUE_AS_NEW_QUIET_MS);
  };

  const startWrite = (batch: Batch): void => {
    // Each batch is a trace of its own; its span links the requests' traces (see tracing.ts).
    inNewTrace(() => bulkWrite({ batchId: batch.batchId, shard: book.shard, rows: batch.rows }))
      .then(
        (result) => book.finishBatch(batch, result, Date.now()),
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
        (r) => book.countUndeliverable(r.undeliverable),
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

  for (;;) {
    const canAtMs = continueAsNewAtMs();
    const continuing = canAtMs !== undefined && Date.now() >= canAtMs;
    if (!answering && book.hasAnswers() && !continuing) startAnswers();
    if (continuing) {
      // Answers still queued travel with the state; writes and a delivery in progress are awaited
      // (a signal meanwhile ends the pause, and the loop goes back to work).
      if (book.quiescent() && !answering) {
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
