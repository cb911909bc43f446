// The batcher statistics as the monitor reads them: what the shard published in its memo, except
// the oldest request's age, which is as of the memo's publication (possibly long ago when nothing
// changed since): the poller leaves it out, and the stall check counts from when it saw the work.
import type { BatcherStats } from '@write-batcher/batcher';

export type MonitoredBatcherStats = Omit<BatcherStats, 'oldestPendingAgeMs'> & {
  /** How long the oldest pending request has waited, as of now; undefined when not known. */
  oldestPendingAgeMs?: number | null;
};

export type BatchSample = BatcherStats['recentBatches'][number];
