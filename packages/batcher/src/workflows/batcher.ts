// The batcher workflow: a thin loop around ShardBook (shard-book.ts, the shard's state) and ShardLoop
// (shard-loop.ts, the loop's timers, memo and continue-as-new timing). It reads its settings from
// its own worker at each run start, takes in groups of requests by signal, starts bulk writes when
// they are due (several at once for full batches), hands refusals and known repeats to a delivery
// activity, and continues as new when its history grows, or when a batcher worker announces other
// settings than its run's (the settingsChanged signal), so that the next run reads them.
// Requesters are answered by the bulk-write activity completing their waiting activity: nothing
// per request is written to this history but its share of one signal.
//
// Every change to this folder must keep replaying the histories in test/batcher/fixtures (the
// baseline release's, and those recorded since: test/batcher/replay.test.ts); a change that cannot
// needs `patched()` and a fixture of its own. Patches: SHARD_TASK_QUEUE_PATCH (types.ts),
// RESET_SAFE_SHARD_PATCH and THIN_TRAFFIC_PATCH (below).
import {
  ApplicationFailure,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  setDefaultSignalHandler,
  setHandler,
  sleep,
  upsertMemo,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import { BatcherErrorTypes, batcherWorkflowId, submitWritesSignal } from '@write-batcher/protocol';
import type { createActivities } from '../activities';
import { ShardBook, type Batch } from './shard-book';
import { ShardLoop } from './shard-loop';
import { DROPPED_SIGNAL } from './inbound-guard';
import { inNewTrace } from './tracing';
import { settingsFingerprint } from './settings-fingerprint';
import {
  BATCHER_STATS_MEMO_KEY,
  SHARD_TASK_QUEUE_PATCH,
  batcherStatsQuery,
  settingsChangedSignal,
  shardTaskQueue,
  type BatcherInput,
  type BatcherSettings,
} from './types';

type Activities = ReturnType<typeof createActivities>;

/** The patch that made a shard safe to reset to any workflow task (batch ids, per-task limit). */
const RESET_SAFE_SHARD_PATCH = 'reset-safe-shard';
/** The patch that spends fewer Temporal actions on thin traffic (interval from submission, no memo timers). */
const THIN_TRAFFIC_PATCH = 'thin-traffic-actions';

/**
 * The shard's own activities (bulk write, answers, settings), on the shard task queue of the
 * workflow's queue (`shardTaskQueue`, served by a worker of their own inside every batcher worker:
 * see worker.ts), so submissions and settle claims, which fill the batcher queue's activity slots
 * under load, can never make a shard's write wait. Histories of the baseline ran them on the
 * workflow's own queue, and keep doing so on replay (the patch).
 */
function shardActivities() {
  const taskQueue = patched(SHARD_TASK_QUEUE_PATCH) ? shardTaskQueue(workflowInfo().taskQueue) : undefined;
  const { bulkWrite } = proxyActivities<Activities>({
    taskQueue,
    startToCloseTimeout: '60 seconds',
    // Connection errors and deadlocks are retried until the database is back, at most 2 s apart, so
    // the first write after an outage comes within seconds of the database's return; data errors
    // never reach here (the activity turns them into per-row rejections).
    retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '2 seconds' },
  });
  const { deliverAnswers } = proxyActivities<Activities>({
    taskQueue,
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 10 },
  });
  // The settings, read at each run start as a regular activity: a query that reaches a shard while a
  // local activity runs in its first task makes the worker (SDK 1.24) report that task with only the
  // activity's marker, which a replay does not rebuild (test/batcher/queries-on-a-cold-worker.test.ts).
  const { batcherSettings } = proxyActivities<Activities>({
    taskQueue,
    startToCloseTimeout: '10 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
  });
  return { bulkWrite, deliverAnswers, batcherSettings };
}

/** Why a start input is unusable, or undefined (checked before anything runs). */
function inputProblem(input: unknown): string | undefined {
  if (typeof input !== 'object' || input === null) return 'input must be { shard, state? }';
  const { shard } = input as Partial<BatcherInput>;
  if (typeof shard !== 'number' || !Number.isInteger(shard) || shard < 0)
    return `shard must be a non-negative integer, got ${JSON.stringify(shard)}`;
  return undefined;
}

/**
 * This run's settings, from its own worker, and their fingerprint (of all the worker returned, as
 * the worker computes it to announce them): read at each run start, so an upgrade reaches running
 * shards (a restarted worker's settingsChanged signal brings a start about). A shard runs under its
 * own id only, and only within the configured shard count: otherwise it would take requests that
 * routing never sends it. (A worker may give no routing: the tests' stand-ins.)
 */
async function readSettings(
  shard: number,
  read: () => ReturnType<Activities['batcherSettings']>,
): Promise<{ settings: BatcherSettings; fingerprint: string }> {
  const served = await read();
  const { routing, ...settings } = served;
  const { workflowId } = workflowInfo();
  if (routing !== undefined && (shard >= routing.shards || workflowId !== batcherWorkflowId(routing.workflowIdPrefix, shard))) {
    throw ApplicationFailure.create({
      type: BatcherErrorTypes.InvalidRequest,
      message: `batcher input rejected: shard ${shard} under workflow id ${workflowId} is not one of ${routing.workflowIdPrefix}-0 … ${routing.workflowIdPrefix}-${routing.shards - 1}`,
      nonRetryable: true,
    });
  }
  return { settings, fingerprint: settingsFingerprint(served) };
}

export async function batcherWorkflow(input: BatcherInput): Promise<never> {
  // A bad start input fails the run at once (a failed workflow, not a task that fails for ever).
  const invalid = inputProblem(input);
  if (invalid !== undefined)
    throw ApplicationFailure.create({
      type: BatcherErrorTypes.InvalidRequest,
      message: `batcher input rejected: ${invalid}`,
      nonRetryable: true,
    });
  // Until this run has its settings, statistics come from the carried state (and the previous
  // run's settings), so a monitor following continue-as-new sees no gap.
  let loop: ShardLoop | undefined;
  const carriedSettings = input.state?.settings;
  setHandler(batcherStatsQuery, () => {
    if (loop) return loop.stats(Date.now());
    if (carriedSettings) return new ShardBook(input.shard, carriedSettings, workflowInfo().runId, input.state).stats(Date.now());
    throw new Error(`shard ${input.shard} is starting: its settings are not read yet`);
  });

  // Every patch is decided in the run's first workflow task, before anything is awaited: Temporal
  // answers no query before that task completes, and a query answered with a later task can make
  // the SDK (1.24) record a patch marker that a replay does not find where it was recorded.
  const { bulkWrite, deliverAnswers, batcherSettings } = shardActivities();
  // Batch ids from the workflow's seeded randomness, never the run id, so a reset run replays its
  // recorded bulk writes; requests past a task's limit wait for the next task (see ShardRunStyle).
  // A run started before this patch keeps `s<shard>-<runId>-<n>` and its refusals on replay.
  const resetSafe = patched(RESET_SAFE_SHARD_PATCH);
  // Thin traffic costs fewer actions: the interval counts from submission (the batcher worker may
  // hold a group for up to all of it), and statistics arm no timer of their own.
  const thin = patched(THIN_TRAFFIC_PATCH);
  const { settings, fingerprint } = await readSettings(input.shard, batcherSettings);
  const { workflowId, runId } = workflowInfo();
  const style = resetSafe ? { batchToken: uuid4, dueFromSubmission: thin } : runId;
  const shard = new ShardLoop(new ShardBook(input.shard, settings, style, input.state, workflowId), !thin, fingerprint);
  loop = shard;

  setHandler(submitWritesSignal, (requests) => shard.offer(requests, Date.now()));
  // Before the default handler, which would take a settingsChanged signal buffered while the run read its settings.
  setHandler(settingsChangedSignal, (announced) => {
    if (shard.settingsAnnounced(announced))
      log.info('other settings announced: continuing as new to read them', {
        shard: shard.book.shard,
        reloads: shard.book.counters.settingsReloads,
      });
  });
  // A signal of another name would be buffered for ever: dropped, counted, and logged by name only
  // (its arguments may hold row values). DROPPED_SIGNAL is one the inbound guard emptied (a reserved
  // name, an input that does not decode): the guard logged its name and reason, so it is only counted.
  setDefaultSignalHandler((name) => {
    if (name === DROPPED_SIGNAL) {
      shard.book.counters.undecodableSignalsDropped++;
      return;
    }
    shard.dropUnknownSignal();
    log.warn('unknown signal dropped', { name: String(name).slice(0, 100), dropped: shard.book.counters.unknownSignalsDropped });
  });

  const write = (batch: Batch): void => {
    // Each batch is a trace of its own; its span links the requests' traces (see tracing.ts).
    inNewTrace(() => bulkWrite({ batchId: batch.batchId, shard: shard.book.shard, rows: batch.rows })).then(
      (result) => {
        const problem = shard.batchWritten(batch, result, Date.now());
        if (problem !== undefined) log.error('bulk write result refused', { batchId: batch.batchId, problem });
      },
      (err: unknown) => {
        log.error('bulk write failed for good', { batchId: batch.batchId, error: String(err) });
        shard.batchFailed(batch, String(err));
      },
    );
  };

  for (;;) {
    const step = shard.next(Date.now(), workflowInfo());
    if (step.memo) upsertMemo({ [BATCHER_STATS_MEMO_KEY]: step.memo });
    if (step.answers) {
      deliverAnswers(step.answers).then(
        (r) => shard.answersDelivered(r),
        (err: unknown) => {
          log.warn('answers undeliverable', { error: String(err) });
          shard.answersDelivered(undefined);
        },
      );
    }
    if (step.continueAsNew) {
      log.info('continuing as new', { shard: shard.book.shard, pending: shard.book.pendingCount, bytes: step.continueAsNew.bytes });
      const { state } = step.continueAsNew;
      await inNewTrace(() => continueAsNew<typeof batcherWorkflow>({ shard: shard.book.shard, state }));
    }
    step.batches.forEach(write);
    for (const dueMs of step.timers) void sleep(Math.max(1, dueMs - Date.now())).then(() => shard.timerFired(dueMs));
    const seen = shard.version;
    await condition(() => shard.version !== seen);
  }
}
