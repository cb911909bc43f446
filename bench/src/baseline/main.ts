// A bare TypeScript worker, as a team would write it without this project: the SDK's defaults, no
// tracing plugin, no JSON logger. It runs the benchmark's no-write ceiling and naive pipeline, and
// is the yardstick for main-worker's CPU per transaction. Run as its own process by the benchmark:
//   node bench/dist/baseline/main.js   (TEMPORAL_ADDRESS, MYSQL_*, MAIN_TASK_QUEUE, BUSINESS_STEP_MS)
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createPool, loadConfig } from '@batcher/service-kit';
import { createBaselineActivities } from './activities';

async function main(): Promise<void> {
  const config = loadConfig(['main', 'mysql'], process.env);
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS ?? 'localhost:7233' });
  const pool = createPool(config.mysql);
  const worker = await Worker.create({
    connection,
    taskQueue: config.main.taskQueue,
    workflowsPath: require.resolve('./workflows'),
    activities: createBaselineActivities({ pool, stepMs: config.main.businessStepMs }),
  });
  console.log('baseline worker running');
  await worker.run();
  await pool.end();
  await connection.close();
}

main().catch((err: unknown) => {
  console.error(String(err));
  process.exit(1);
});
