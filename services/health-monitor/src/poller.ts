// Everything the monitor asks Temporal: is the namespace reachable, what is the newest run of a
// shard (describe + statistics query), and starting a shard again. Each call has its own deadline.
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { BATCHER_WORKFLOW_TYPE, batcherStatsQuery } from '@batcher/shared/workflow';
import type { MonitoredBatcherStats } from './batcher-stats';
import type { PendingWorkflowTask, ShardObservation } from './shard-state';

export interface ShardPollerOptions {
  client: Client;
  /** Deadline of each Temporal call (describe, query, start), in ms. @default 5000 */
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

  /** Describes the newest run of the workflow and, when it is RUNNING, queries its statistics. Never throws. */
  async observe(workflowId: string): Promise<ShardObservation> {
    // No run id: the handle always addresses the newest run, so continue-as-new is followed for free.
    const handle = this.client.workflow.getHandle(workflowId);
    let description;
    try {
      description = await this.withDeadline(() => handle.describe());
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { kind: 'described', runId: null, status: 'NOT_FOUND', historyLength: null, pendingWorkflowTask: null, stats: null, statsError: null };
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
    const described = { kind: 'described' as const, runId: description.runId, status: description.status.name, historyLength: description.historyLength, pendingWorkflowTask };
    if (description.status.name !== 'RUNNING') return { ...described, stats: null, statsError: null };
    try {
      const stats: MonitoredBatcherStats = await this.withDeadline(() => handle.query(batcherStatsQuery));
      return { ...described, stats, statsError: null };
    } catch (err) {
      // Usually no batcher worker answers on the task queue; the shard state machine decides.
      return { ...described, stats: null, statsError: errorMessage(err) };
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

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
