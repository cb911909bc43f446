// A batcher worker in a process of its own, with stand-in activities (nothing touches a database),
// for tests that replace or kill batcher workers under a shard. Usage:
//   node stand-in-batcher-worker.cjs <address> <namespace> <taskQueue> <identity> [settingsJson]
// Prints READY once it polls; SIGTERM shuts it down gracefully.
const { NativeConnection, Worker } = require('@temporalio/worker');
const { BATCHER_SANDBOX_OPTIONS, shardTaskQueue, workflowsPath } = require('@write-batcher/batcher');
const { batcherSettings, loadConfig } = require('@batcher/service-kit');

const [address, namespace, taskQueue, identity, settingsJson] = process.argv.slice(2);

async function main() {
  const settings = { ...batcherSettings(loadConfig(['batching'], {}).batching), ...JSON.parse(settingsJson ?? '{}') };
  const connection = await NativeConnection.connect({ address });
  const activities = {
    batcherSettings: async () => settings,
    bulkWrite: async (input) => ({
      batchId: input.batchId,
      outcomes: input.rows.map((r) => ({ requestId: r.requestId, status: 'committed', batchId: input.batchId })),
      statements: 4,
      durationMs: 1,
      repliesUndeliverable: 0,
    }),
    deliverAnswers: async (answers) => ({ delivered: answers.length, undeliverable: 0 }),
  };
  const worker = await Worker.create({ connection, namespace, taskQueue, identity, workflowsPath, ...BATCHER_SANDBOX_OPTIONS, activities });
  // The shard's own activities run on its shard task queue, served by a worker of their own.
  const shard = await Worker.create({
    connection,
    namespace,
    taskQueue: shardTaskQueue(taskQueue),
    identity: `${identity}/shard`,
    activities,
  });
  process.once('SIGTERM', () => {
    worker.shutdown();
    shard.shutdown();
  });
  console.log('READY');
  await Promise.all([worker.run(), shard.run()]);
  await connection.close();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
