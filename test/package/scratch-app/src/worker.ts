// The app's own worker: its task queue, its workflows. Nothing of the batcher is registered here:
// batchedWrite's activities run on the batcher's task queue.
import { NativeConnection, Worker } from '@temporalio/worker';
import { ordersTaskQueue, temporal } from './config';

async function main(): Promise<void> {
  const connection = await NativeConnection.connect({ address: temporal.address });
  const worker = await Worker.create({
    connection,
    namespace: temporal.namespace,
    taskQueue: ordersTaskQueue,
    workflowsPath: require.resolve('./workflows'),
  });
  console.log(`orders worker running on ${ordersTaskQueue}`);
  await worker.run();
  await connection.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
