// Where the app's processes find Temporal and MySQL (environment, with local defaults).
import type { PoolOptions } from 'mysql2/promise';

const env = (name: string, fallback: string) => process.env[name] ?? fallback;

export const temporal = {
  address: env('TEMPORAL_ADDRESS', '127.0.0.1:7233'),
  namespace: env('TEMPORAL_NAMESPACE', 'default'),
};

export const ordersTaskQueue = env('ORDERS_TASK_QUEUE', 'orders');

export const batcherRouting = {
  taskQueue: env('BATCHER_TASK_QUEUE', 'batcher-queue'),
  workflowIdPrefix: env('BATCHER_WORKFLOW_ID_PREFIX', 'write-batcher'),
  shards: Number(env('BATCHER_SHARDS', '2')),
};

export const mysqlOptions: PoolOptions = {
  host: env('MYSQL_HOST', '127.0.0.1'),
  port: Number(env('MYSQL_PORT', '3306')),
  user: env('MYSQL_USER', 'root'),
  password: env('MYSQL_PASSWORD', ''),
  database: env('MYSQL_DATABASE', 'orders'),
  connectionLimit: 8,
};
