// Everything the monitor asks Temporal: is the namespace reachable, what is the newest run of a
// shard and its statistics (one describe: the shard publishes them in its memo; never a query, see
// readBatcherStatsMemo), the newest workflow-task failure of a shard whose task is retrying (its
// history's tail), who polls the task queue, and starting a shard again. Each call has its own deadline.
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { BATCHER_WORKFLOW_TYPE } from '@write-batcher/protocol';
import { publishedStats } from '@write-batcher/batcher';
import type { PendingWorkflowTask, ShardObservation, WorkflowTaskFailure } from './shard-state';

/** The shard's bulk-write activity type (the name of `bulkWrite` in the batcher's activities). */
const BULK_WRITE_ACTIVITY = 'bulkWrite';

/** Events read from the end of a run's history to find its newest workflow-task failure. */
const FAILURE_TAIL_EVENTS = 50;

export interface ShardPollerOptions {
  client: Client;
  /** Deadline of each Temporal call (describe, start), in ms. @default 5000 */
  rpcTimeoutMs?: number;
}

export type StartOutcome =
  | { started: true; runId: string }
  /** Another caller (a second monitor replica, a signal-with-start) started it first. */
  | { started: false };

export class ShardPoller {
  private readonly client: Client;
  readonly rpcTimeoutMs: number;

  constructor(options: ShardPollerOptions) {
    this.client = options.client;
    this.rpcTimeoutMs = options.rpcTimeoutMs ?? 5000;
  }

  get namespace(): string {
    return this.client.options.namespace;
  }

  /** Describes the namespace: proves both the connection and that the namespace exists. */
  async checkTemporal(): Promise<{ reachable: true } | { reachable: false; error: string }> {
    try {
      await this.withDeadline(() => this.client.workflowService.describeNamespace({ namespace: this.namespace }));
      return { reachable: true };
    } catch (err) {
      return { reachable: false, error: errorMessage(err) };
    }
  }

  /** Describes the newest run of the workflow and, when it is RUNNING, reads the statistics it published. Never throws. */
  async observe(workflowId: string): Promise<ShardObservation> {
    // No run id: the handle always addresses the newest run, so continue-as-new is followed for free.
    const handle = this.client.workflow.getHandle(workflowId);
    let description;
    try {
      description = await this.withDeadline(() => handle.describe());
    } catch (err) {
      if (err instanceof WorkflowNotFoundError)
        return { kind: 'described', runId: null, status: 'NOT_FOUND', historyLength: null, pendingWorkflowTask: null, stats: null };
      return { kind: 'describe-failed', error: errorMessage(err) };
    }
    const task = description.raw.pendingWorkflowTask;
    const pendingWorkflowTask: PendingWorkflowTask | null = task
      ? {
          attempt: task.attempt ?? 1,
          scheduledAtMs: optionalTsToMs(task.originalScheduledTime) ?? optionalTsToMs(task.scheduledTime) ?? null,
          startedAtMs: optionalTsToMs(task.startedTime) ?? null,
        }
      : null;
    const described = {
      kind: 'described' as const,
      runId: description.runId,
      status: description.status.name,
      historyLength: description.historyLength,
      pendingWorkflowTask,
    };
    if (description.status.name !== 'RUNNING') return { ...described, stats: null };
    // The memo's oldest-request age is as of its publication: a lower bound of its age now, which
    // is how the stall check uses it. None published yet (a run's first moments): no statistics,
    // which is no failure either.
    const published = publishedStats(description) ?? null;
    // The shard publishes its statistics when its loop wakes (a signal, a finished write, a flush
    // timer); a change held back by its throttle waits for the next wake-up, and when every write
    // in flight hangs (a database that refuses every connection) none comes: the memo may still say
    // nothing is being written. The bulk writes the server holds as pending activities are the
    // truth: counted in, so a shard whose writes never end is seen waiting, and stalled in time.
    const bulkWritesPending = (description.raw.pendingActivities ?? []).filter((a) => a.activityType?.name === BULK_WRITE_ACTIVITY).length;
    const memo =
      published && bulkWritesPending > published.writesInFlight ? { ...published, writesInFlight: bulkWritesPending } : published;
    // A task on its first attempt has not failed; a retrying one may have failed for good.
    const lastTaskFailure =
      pendingWorkflowTask && pendingWorkflowTask.attempt >= 2
        ? await this.lastTaskFailure(workflowId, description.runId).catch(() => null)
        : null;
    return { ...described, stats: memo, lastTaskFailure };
  }

  /**
   * The run's newest WorkflowTaskFailed, from the tail of its history (one page, newest first), or
   * null when a workflow task completed after it, or none is within the tail.
   */
  async lastTaskFailure(workflowId: string, runId: string): Promise<WorkflowTaskFailure | null> {
    const EventType = temporal.api.enums.v1.EventType;
    const page = await this.withDeadline(() =>
      this.client.workflowService.getWorkflowExecutionHistoryReverse({
        namespace: this.namespace,
        execution: { workflowId, runId },
        maximumPageSize: FAILURE_TAIL_EVENTS,
      }),
    );
    for (const event of page.history?.events ?? []) {
      if (event.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) return null;
      const failed = event.workflowTaskFailedEventAttributes;
      if (event.eventType !== EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED || !failed) continue;
      const cause = temporal.api.enums.v1.WorkflowTaskFailedCause[failed.cause ?? 0] ?? String(failed.cause);
      return { eventId: Number(event.eventId), cause, message: firstLine(failed.failure?.message ?? '') };
    }
    return null;
  }

  /** Workers that polled the task queue's workflow tasks lately (the server keeps a few minutes of them); null when it did not answer. */
  async workflowPollers(taskQueue: string): Promise<number | null> {
    try {
      const answer = await this.withDeadline(() =>
        this.client.workflowService.describeTaskQueue({
          namespace: this.namespace,
          taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
          taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        }),
      );
      return answer.pollers?.length ?? 0;
    } catch {
      return null;
    }
  }

  /** Starts a batcher run unless one is already open (conflict policy FAIL, so a lost race is told apart). */
  async start(workflowId: string, taskQueue: string, input: unknown): Promise<StartOutcome> {
    try {
      const handle = await this.withDeadline(() =>
        this.client.workflow.start(BATCHER_WORKFLOW_TYPE, { workflowId, taskQueue, args: [input], workflowIdConflictPolicy: 'FAIL' }),
      );
      return { started: true, runId: handle.firstExecutionRunId };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return { started: false };
      throw err;
    }
  }

  private withDeadline<T>(fn: () => Promise<T>): Promise<T> {
    return this.client.withDeadline(Date.now() + this.rpcTimeoutMs, fn);
  }
}

/** The first line, at most 300 characters: enough to name a failure, too little to carry a payload. */
function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
