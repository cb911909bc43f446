// Healing a shard whose workflow task fails on a nondeterminism error (Node only, never in workflow
// code): find the newest workflow task its history replays to with this package's workflow code,
// and reset the run there. The reset run keeps every event before that task, runs the task again
// with sound code, and gets every later signal again (the ledger keeps each row once).
import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { Worker, bundleWorkflowCode, type ReplayWorkerOptions } from '@temporalio/worker';
import { BATCHER_SANDBOX_OPTIONS, workflowsPath } from './worker';

type History = temporal.api.history.v1.IHistory;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** The workflow code replays use: the batcher worker's own (its prebuilt bundle, or its workflows path). */
export interface HealReplayCode {
  /** A bundle written from `workflowsPath` (what the batcher worker runs). @default bundled once per process from workflowsPath */
  workflowBundlePath?: string;
  /** @default this package's workflowsPath */
  workflowsPath?: string;
}

export interface LastGoodTask {
  /** Event id of the WorkflowTaskCompleted to reset to. */
  eventId: number;
  /** Replays made to find it. */
  replays: number;
  /** WorkflowTaskCompleted events in the run. */
  completedTasks: number;
}

export interface FindLastGoodTaskOptions {
  /** The run's whole history, fetched with its run id. */
  history: History;
  workflowId: string;
  /** The run's real run id: replay then runs under the id the live run had. */
  runId: string;
  code?: HealReplayCode;
}

const bundles = new Map<string, Promise<{ code: string }>>();

/** Replay options for the batcher's code; bundles once per process when no bundle is given. */
async function replayOptions(code: HealReplayCode = {}): Promise<ReplayWorkerOptions> {
  if (code.workflowBundlePath) return { workflowBundle: { codePath: code.workflowBundlePath }, ...BATCHER_SANDBOX_OPTIONS };
  const path = code.workflowsPath ?? workflowsPath;
  let bundle = bundles.get(path);
  if (!bundle) {
    bundle = bundleWorkflowCode({ workflowsPath: path, logger: quietLogger });
    bundles.set(path, bundle);
    bundle.catch(() => bundles.delete(path));
  }
  return { workflowBundle: await bundle, ...BATCHER_SANDBOX_OPTIONS };
}

const noop = (): void => undefined;
const quietLogger = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop };

/**
 * The history as the reset to `completed` would keep it: every event before that
 * WorkflowTaskCompleted (it ends with the task's WorkflowTaskStarted, so the task itself runs
 * afresh, as after the reset), under the real run id.
 */
function truncatedBefore(history: History, completed: HistoryEvent, runId: string): History {
  const cut = Number(completed.eventId);
  const events = (history.events ?? []).filter((e) => Number(e.eventId) < cut);
  const [first, ...rest] = events;
  if (!first?.workflowExecutionStartedEventAttributes) return { events };
  // Replay takes the run id from the start event: the run's own, not the run it was reset or continued from.
  const started = {
    ...first,
    workflowExecutionStartedEventAttributes: { ...first.workflowExecutionStartedEventAttributes, originalExecutionRunId: runId },
  };
  return { events: [started, ...rest] };
}

/**
 * The newest WorkflowTaskCompleted whose history before it replays with the batcher's code: the
 * newest first (the usual case: only the last tasks are bad), then by bisection (a replay that
 * fails at one task fails at every later one). Null when not even the first task replays.
 */
export async function findLastGoodTask(options: FindLastGoodTaskOptions): Promise<LastGoodTask | null> {
  const completed = (options.history.events ?? []).filter((e) => e.workflowTaskCompletedEventAttributes);
  if (completed.length === 0) return null;
  const replay = await replayOptions(options.code);
  let replays = 0;
  const good = async (i: number): Promise<boolean> => {
    replays++;
    try {
      await Worker.runReplayHistory(
        { ...replay, replayName: `heal-${options.workflowId}` },
        truncatedBefore(options.history, completed[i]!, options.runId),
        options.workflowId,
      );
      return true;
    } catch {
      return false;
    }
  };
  const result = (i: number): LastGoodTask => ({ eventId: Number(completed[i]!.eventId), replays, completedTasks: completed.length });
  let hi = completed.length - 1;
  if (await good(hi)) return result(hi);
  // Invariant: every index above hi is bad; lo is the newest index known good (-1: none yet).
  let lo = -1;
  hi--;
  while (lo < hi) {
    const m = Math.floor((lo + hi + 1) / 2); // in (lo, hi]
    if (await good(m)) lo = m;
    else hi = m - 1;
  }
  return lo >= 0 ? result(lo) : null;
}

export interface HealShardOptions {
  client: Client;
  workflowId: string;
  /** The run to heal: its history is read and it is reset by this id, never "the newest run". */
  runId: string;
  /** Why, for the reset's reason (e.g. "nondeterminism: [TMPRL1100] …"); no row values. */
  cause: string;
  code?: HealReplayCode;
}

export type HealOutcome =
  | { healed: true; eventId: number; newRunId: string; replays: number; completedTasks: number }
  | { healed: false; reason: string; replays: number };

/** A request id for the reset of `runId` at `eventId`: the same on a retry, so the server resets once. */
export function healRequestId(runId: string, eventId: number): string {
  const h = createHash('sha256').update(`heal:${runId}:${eventId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Finds the run's last good workflow task and resets the run to it. Throws only when Temporal does. */
export async function healShard(options: HealShardOptions): Promise<HealOutcome> {
  const { client, workflowId, runId } = options;
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const good = await findLastGoodTask({ history, workflowId, runId, code: options.code });
  if (!good) return { healed: false, reason: 'no workflow task of the run replays with the batcher code', replays: 0 };
  // The event id as the history holds it (an int64).
  const eventId = history.events?.find((e) => Number(e.eventId) === good.eventId)?.eventId;
  const answer: temporal.api.workflowservice.v1.IResetWorkflowExecutionResponse = await client.workflowService.resetWorkflowExecution({
    namespace: client.options.namespace,
    workflowExecution: { workflowId, runId },
    workflowTaskFinishEventId: eventId,
    requestId: healRequestId(runId, good.eventId),
    reason: `health monitor heal: ${options.cause}`.slice(0, 1000),
  });
  return { healed: true, eventId: good.eventId, newRunId: answer.runId ?? '', replays: good.replays, completedTasks: good.completedTasks };
}
