// The batcher worker for the app's tables: which tables it may write, and how.
import { NativeConnection } from '@temporalio/worker';
import { createBatcherWorker } from '@write-batcher/batcher';
import mysql from 'mysql2/promise';
import { batcherRouting, mysqlOptions, temporal } from './config';

async function main(): Promise<void> {
  const pool = mysql.createPool(mysqlOptions);
  const connection = await NativeConnection.connect({ address: temporal.address });
  const worker = await createBatcherWorker({
    connection,
    namespace: temporal.namespace,
    pool,
    tables: [
      { table: 'orders', mode: 'insert' },
      { table: 'order_lines', mode: 'insert' },
      { table: 'order_events', mode: 'insert' },
      { table: 'stock', mode: 'upsert', key: ['sku'] },
      { table: 'customers', mode: 'insert-ignore' },
    ],
    routing: batcherRouting,
    settings: { flushIntervalMs: Number(process.env.BATCH_FLUSH_INTERVAL_MS ?? 20_000) },
  });
  console.log(`batcher worker running on ${batcherRouting.taskQueue}`);
  await worker.run();
  await pool.end();
  await connection.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
