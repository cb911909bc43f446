// The batcher statistics as the monitor reads them: what the shard published in its memo. The
// oldest request's age is as of the memo's publication (possibly long ago when nothing changed
// since): the stall check takes it as a lower bound of its age now.
import type { BatcherStats } from '@write-batcher/batcher';

export type MonitoredBatcherStats = Omit<BatcherStats, 'oldestPendingAgeMs'> & {
  /** How long the oldest pending request had waited when the memo was published (at least that long now); null or undefined when not known. */
  oldestPendingAgeMs?: number | null;
};

export type BatchSample = BatcherStats['recentBatches'][number];
