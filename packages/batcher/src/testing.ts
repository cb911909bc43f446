// Internals for tests and tools (not a stable API): the shard's state class, the activities'
// builders and the ledger's statements, so each can be tested alone against a real database.
export { ShardBook, fingerprint, batcherFamilyTest, MAX_BATCH_BYTES, emptyCounters, type Batch } from './workflows/shard-book';
export { ShardLoop, bulkWriteResultProblem, type HistoryInfo, type Step } from './workflows/shard-loop';
export { settingsFingerprint, canonicalJson, MAX_SETTINGS_FINGERPRINT_LENGTH } from './workflows/settings-fingerprint';
export { guardJobs, decodeCheck, DROPPED_SIGNAL, UNDECODABLE_RESULT, type GuardJob, type GuardRewrite } from './workflows/inbound-guard';
export { createBulkWriter, repliesFor, requesterLinks, databaseOf } from './activities/bulk-write';
export { createReplier, replyFor, type Replier, type Reply } from './activities/replies';
export { createSubmitActivities, effectiveGrouping, isSignalLimitRefusal, EAGER_LINGER_MS } from './activities/submit';
export { SubmitGroups } from './activities/submit-groups';
export { createActivities } from './activities';
export { claimAbandoned, claimForBatch, judgeRepeat, ledgerEntries, rowDigest, LEDGER_SCHEMA_SQL } from './db/ledger';
export {
  Catalog,
  describeTable,
  rowProblemFor,
  sqlValue,
  checkTargets,
  MAX_JSON_DEPTH,
  jsonDepth,
  quoteIdent,
  parentsFirst,
  qualifiedName,
  type TableInfo,
} from './db/targets';
export { conversionProblem, writeTargetRows } from './db/target-writes';
export { classifiedErrnos, classifyDbError, describeDbError, errorName, isDataError, serverKindOf } from './db/db-errors';
