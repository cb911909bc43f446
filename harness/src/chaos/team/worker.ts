// The team's requester worker: a process of its own (`node harness/dist/chaos/team/worker.js`) that
// runs the team's workflows on TEAM_TASK_QUEUE and registers nothing of the batcher's. Configured by
// TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and, for quick restarts, TEAM_WORKFLOW_BUNDLE (a prebuilt
// bundle of ./workflows; without it the worker bundles `workflowsPath` itself).
import { NativeConnection, Worker } from '@temporalio/worker';
import { TEAM_TASK_QUEUE } from './rows';

/** The line the harness waits for in the worker's log. */
export const TEAM_WORKER_READY = 'team worker ready';

async function main(): Promise<void> {
  const address = process.env.TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEMPORAL_ADDRESS is required');
  const connection = await NativeConnection.connect({ address });
  const bundle = process.env.TEAM_WORKFLOW_BUNDLE;
  const worker = await Worker.create({
    connection,
    namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: TEAM_TASK_QUEUE,
    ...(bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath: require.resolve('./workflows') }),
  });
  console.log(TEAM_WORKER_READY);
  await worker.run();
  await connection.close();
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: Error) => {
      console.error(`team worker: ${err.stack ?? err.message}`);
      process.exit(1);
    },
  );
}
