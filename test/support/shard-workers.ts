// Stand-in batcher workers for tests that run the batcher workflow with activities of their own:
// the workflow's worker on the batcher queue, and beside it the shard worker on its shard task
// queue (`shardTaskQueue`), which is where a shard schedules its bulk write, answers and settings.
import { Worker, type WorkerOptions } from '@temporalio/worker';
import { shardTaskQueue } from '@write-batcher/batcher';

export interface StandInWorkers {
  runUntil<R>(fn: () => Promise<R>): Promise<R>;
}

/** Both workers of a batcher made of `options` (its activities serve both queues). */
export async function createStandInWorkers(options: WorkerOptions): Promise<StandInWorkers> {
  const worker = await Worker.create(options);
  const shard = await Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: shardTaskQueue(options.taskQueue),
    activities: options.activities,
  });
  return { runUntil: (fn) => worker.runUntil(() => shard.runUntil(fn)) };
}
