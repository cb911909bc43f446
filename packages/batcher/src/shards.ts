// Starting and addressing batcher shards from clients (the submit activity, the health monitor, tools).
import { WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import { BATCHER_WORKFLOW_TYPE, batcherWorkflowId, submitWritesSignal, type WriteRequest } from '@write-batcher/protocol';
import { BATCHER_STATS_MEMO_KEY, type BatcherInput, type BatcherStats } from './workflows/types';

/** Where the shards are: task queue, id prefix, shard count (the routing every caller shares). */
export interface ShardRouting {
  /** Task queue of the batcher workers. @default 'batcher-queue' */
  taskQueue: string;
  /** Number of shards; requests are routed by a hash of their id. @default 1 */
  shards: number;
  /** Shard n runs as `<prefix>-<n>`. @default 'write-batcher' */
  workflowIdPrefix: string;
}

/** The input a shard is started with: only where it is; its settings come from its own worker. */
export function batcherInput(shard: number): BatcherInput {
  return { shard };
}

/** Whether a workflow id is the id of one of the configured shards' family (`<prefix>-<n>`). */
export function isBatcherWorkflowId(cfg: ShardRouting, workflowId: string): boolean {
  const prefix = `${cfg.workflowIdPrefix}-`;
  return workflowId.startsWith(prefix) && /^\d+$/.test(workflowId.slice(prefix.length));
}

/**
 * Starts the shard unless a run is open; returns true when it found none and started one.
 * Conflict policy USE_EXISTING keeps concurrent callers (starter, monitor, signal-with-start) safe.
 */
export async function ensureBatcherShard(client: Client, cfg: ShardRouting, shard: number): Promise<boolean> {
  const workflowId = batcherWorkflowId(cfg.workflowIdPrefix, shard);
  try {
    const { status } = await client.workflow.getHandle(workflowId).describe();
    if (status.name === 'RUNNING') return false;
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  await client.workflow.start(BATCHER_WORKFLOW_TYPE, {
    workflowId,
    taskQueue: cfg.taskQueue,
    args: [batcherInput(shard)],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  return true;
}

/** Ensures every shard of the configuration is running. */
export async function ensureBatcherShards(client: Client, cfg: ShardRouting): Promise<void> {
  await Promise.all(Array.from({ length: cfg.shards }, (_, shard) => ensureBatcherShard(client, cfg, shard)));
}

/**
 * Hands a group of requests to their shard, starting the shard if it is not running
 * (signal-with-start). Returns the run that received the signal.
 */
export async function signalWithStartBatcher(
  client: Client,
  cfg: ShardRouting,
  shard: number,
  requests: WriteRequest[],
): Promise<{ workflowId: string; runId: string }> {
  const workflowId = batcherWorkflowId(cfg.workflowIdPrefix, shard);
  const handle = await client.workflow.signalWithStart(BATCHER_WORKFLOW_TYPE, {
    workflowId,
    taskQueue: cfg.taskQueue,
    args: [batcherInput(shard)],
    signal: submitWritesSignal,
    signalArgs: [requests],
  });
  return { workflowId, runId: handle.signaledRunId };
}

/**
 * A shard's statistics as its memo holds them: the last ones it published (at most a few seconds
 * old while it is busy; `oldestPendingAgeMs` as of then), with its latest 10 batches.
 */
export type PublishedBatcherStats = BatcherStats;

/** The statistics a shard published in its memo, from a description of it; undefined while it published none. */
export function publishedStats(description: WorkflowExecutionDescription): PublishedBatcherStats | undefined {
  return description.memo?.[BATCHER_STATS_MEMO_KEY] as PublishedBatcherStats | undefined;
}

/**
 * A shard's statistics as published in its memo, read with `describe()`: served by the Temporal
 * server, so any number of readers cost the shard nothing, and never a query. The project's own
 * readers (health monitor, starter) read statistics this way only: a query that reaches a batcher
 * worker without the run cached while a task of the run waits (a worker was just replaced) can leave
 * the shard stuck on a nondeterminism error — a defect of the Temporal SDK 1.24 (docs/reliability.md,
 * "Queries and a worker change"). Undefined while the run has published none yet.
 */
export async function readBatcherStatsMemo(
  client: Client,
  routing: Pick<ShardRouting, 'workflowIdPrefix'>,
  shard: number,
): Promise<PublishedBatcherStats | undefined> {
  return publishedStats(await client.workflow.getHandle(batcherWorkflowId(routing.workflowIdPrefix, shard)).describe());
}
