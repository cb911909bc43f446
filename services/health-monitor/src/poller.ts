// Everything the monitor asks Temporal: is the namespace reachable, what is the newest run of a
// shard and its statistics (one describe: the shard publishes them in its memo; never a query, see
// readBatcherStatsMemo), and starting a shard again. Each call has its own deadline.
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { BATCHER_WORKFLOW_TYPE } from '@write-batcher/protocol';
import { publishedStats } from '@write-batcher/batcher';
import type { PendingWorkflowTask, ShardObservation } from './shard-state';

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
    // The memo's oldest-request age is as of its publication, which may be long ago when nothing
    // changed: left out, so the stall check counts from when this monitor saw the work. None
    // published yet (a run's first moments): no statistics, which is no failure either.
    const memo = publishedStats(description);
    return { ...described, stats: memo ? { ...memo, oldestPendingAgeMs: undefined } : null };
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

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
