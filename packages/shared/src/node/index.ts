// Node-only entry point: config, connections, MySQL, logging and telemetry. Never import from workflow code.
export * from './config';
export * from './logger';
export * from './temporal';
export * from './mysql';
export * from './telemetry';
export * from './health-server';
export * from './service-main';
// The batcher package, for the services and tools of this repository.
export {
  DEMO_TABLE,
  DEMO_TARGET,
  DEMO_ORDERS_TABLE,
  DEMO_ORDERS_TARGET,
  LEDGER_TABLE,
  applySchema,
  ensureBatcherShard,
  ensureBatcherShards,
  isBatcherWorkflowId,
  publishedStats,
  purgeLedger,
  readBatcherStatsMemo,
  signalWithStartBatcher,
  type PublishedBatcherStats,
  type ShardRouting,
  type ShardRouting as BatcherConfig,
  type TargetTable,
} from '@write-batcher/batcher';
export * from './ledger-view';
