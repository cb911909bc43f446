// Starting and addressing batcher shards from clients (starter, health monitor, submit activity).
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  BATCHER_WORKFLOW_TYPE,
  batcherWorkflowId,
  submitWriteSignal,
  type BatcherInput,
  type WriteRequest,
} from '../workflow';
import { batcherSettings, type Config } from './config';

export type BatcherConfig = Config<'batcher'>['batcher'];

/** The input a shard is started with. */
export function batcherInput(cfg: BatcherConfig, shard: number): BatcherInput {
  return { shard, settings: batcherSettings(cfg) };
}

/**
 * Starts the shard unless a run is open; returns true when it found none and started one.
 * Conflict policy USE_EXISTING keeps concurrent callers (starter, monitor, signal-with-start) safe.
 */
export async function ensureBatcherShard(client: Client, cfg: BatcherConfig, shard: number): Promise<boolean> {
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
    args: [batcherInput(cfg, shard)],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  return true;
}

/** Ensures every shard of the configuration is running. */
export async function ensureBatcherShards(client: Client, cfg: BatcherConfig): Promise<void> {
  await Promise.all(Array.from({ length: cfg.shards }, (_, shard) => ensureBatcherShard(client, cfg, shard)));
}

/** Hands a request to its shard, starting the shard if it is not running (signal-with-start). */
export async function signalWithStartBatcher(client: Client, cfg: BatcherConfig, shard: number, request: WriteRequest): Promise<string> {
  const workflowId = batcherWorkflowId(cfg.workflowIdPrefix, shard);
  await client.workflow.signalWithStart(BATCHER_WORKFLOW_TYPE, {
    workflowId,
    taskQueue: cfg.taskQueue,
    args: [batcherInput(cfg, shard)],
    signal: submitWriteSignal,
    signalArgs: [request],
  });
  return workflowId;
}
