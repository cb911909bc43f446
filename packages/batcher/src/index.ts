// @write-batcher/batcher: the batcher side. Run it as a Worker of its own or add it to yours:
//
//   const worker = await createBatcherWorker({ connection, pool, tables: [{ table: 'orders', mode: 'insert' }] });
//   // or: Worker.create({ connection, taskQueue: 'batcher-queue', plugins: [await writeBatcherPlugin({ pool, tables })] })
//
// Before the first start, create the ledger (and the demo table): `await migrate(pool)`.
export {
  createBatcherWorker,
  writeBatcherPlugin,
  workflowsPath,
  BATCHER_SANDBOX_OPTIONS,
  DEFAULT_BATCHER_SETTINGS,
  DEFAULT_ROUTING,
  DEFAULT_SUBMIT,
  DEFAULT_LEDGER_RETENTION_HOURS,
  type BatcherOptions,
  type BatcherWorkerOptions,
} from './worker';
export type { TargetTable, WriteMode, BatcherFilledValue } from './db/targets';
export { DEMO_TABLE, DEMO_TARGET, DEMO_ORDERS_TABLE, DEMO_ORDERS_TARGET, applySchema } from './db/demo-table';
export { LEDGER_TABLE, purgeLedger } from './db/ledger';
export { ensureBatcherShard, ensureBatcherShards, isBatcherWorkflowId, publishedStats, readBatcherStatsMemo, signalWithStartBatcher, type PublishedBatcherStats, type ShardRouting } from './shards';
export type { SubmitSettings } from './activities/submit';
export type { BatcherSettings, FlushPolicy, BatcherStats } from '@write-batcher/requester/protocol';
export { batcherStatsQuery } from '@write-batcher/requester/protocol';
export { migrate } from './db/migrate';
