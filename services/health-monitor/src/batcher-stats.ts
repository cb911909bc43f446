// The batcher statistics as the monitor reads them: the shared type plus the fields newer batchers
// report. Optional here so the monitor works with batchers from before and after that change.
import type { BatcherStats } from '@batcher/shared/workflow';

export interface BatcherProgressStats {
  /** How long the oldest pending request has waited, in ms; null when nothing is pending. */
  oldestPendingAgeMs: number | null;
  /** Rows handed to a bulk write that has not finished yet. */
  writesInFlight: number;
  /** Requests the shard refused (overloaded) without holding them. */
  refused: number;
  flushPolicy: 'size-or-interval' | 'eager';
  /** The flush interval the shard runs with (its own setting, not the monitor's copy). */
  flushIntervalMs: number;
}

/** When packages/shared declares these fields itself, this intersection stays valid and can go. */
export type MonitoredBatcherStats = BatcherStats & Partial<BatcherProgressStats>;

export type BatchSample = BatcherStats['recentBatches'][number];
