// @write-batcher/batcher: the batcher side. Run it as a Worker of its own or add it to yours:
//
//   const worker = await createBatcherWorker({ connection, pool, tables: [{ table: 'orders', mode: 'insert' }] });
//   // or: Worker.create({ connection, taskQueue: 'batcher-queue', plugins: [await writeBatcherPlugin({ pool, tables })] })
//
// Before the first start, create the ledger: `await migrate(pool)`. Your tables are yours to create.
export {
  createBatcherWorker,
  writeBatcherPlugin,
  workflowsPath,
  inboundGuardModule,
  BATCHER_SANDBOX_OPTIONS,
  DEFAULT_BATCHER_SETTINGS,
  DEFAULT_ROUTING,
  DEFAULT_SUBMIT,
  DEFAULT_LEDGER_RETENTION_HOURS,
  type BatcherOptions,
  type BatcherWorkerOptions,
} from './worker';
export type { TargetTable, WriteMode, BatcherFilledValue } from './db/targets';
export { LEDGER_TABLE, purgeLedger } from './db/ledger';
export {
  ensureBatcherShard,
  ensureBatcherShards,
  isBatcherWorkflowId,
  publishedStats,
  readBatcherStatsMemo,
  signalWithStartBatcher,
  type PublishedBatcherStats,
  type ShardRouting,
} from './shards';
export { findLastGoodTask, healShard, healRequestId, type HealReplayCode, type HealOutcome, type LastGoodTask } from './heal';
export type { SubmitSettings } from './activities/submit';
export type {
  BatcherSettings,
  FlushPolicy,
  BatcherStats,
  BatcherInput,
  BulkWriteInput,
  BulkWriteResult,
  RowOutcome,
  DirectAnswer,
  DeliverAnswersResult,
} from './workflows/types';
export { batcherStatsQuery, settingsChangedSignal, BATCHER_STATS_MEMO_KEY, shardTaskQueue } from './workflows/types';
export { migrate } from './db/migrate';
