// The batcher statistics as the monitor reads them. The progress fields are optional here so the
// monitor also reads a shard still running an older release during a rolling upgrade.
import type { BatcherStats } from '@batcher/shared/workflow';

type ProgressField = 'oldestPendingAgeMs' | 'writesInFlight' | 'refused' | 'flushPolicy' | 'flushIntervalMs' | 'maxBatchSize' | 'requestsTotal' | 'lastRequestAtMs';

export type BatcherProgressStats = Pick<BatcherStats, ProgressField>;

export type MonitoredBatcherStats = Omit<BatcherStats, ProgressField> & Partial<BatcherProgressStats>;

export type BatchSample = BatcherStats['recentBatches'][number];
