// Prometheus metrics of the health monitor: per-shard gauges mirrored from the batcher's own
// statistics, the monitor's start, restart and heal counters, and prom-client's default process metrics.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { MonitoredBatcherStats } from './batcher-stats';
import type { MonitorStatus } from './monitor';
import { SHARD_STATES } from './shard-state';

const LABELS = ['shard'] as const;

/**
 * Counters kept inside the batcher workflow (batches, rows, signals...) are exported as gauges:
 * the monitor only observes their value, and they restart from zero when a shard is restarted
 * from scratch. Series of a shard whose statistics are not current are removed rather than frozen.
 */
const STAT_GAUGES = {
  pending: ['batcher_shard_pending_requests', 'Requests waiting in the shard for the next batch.', (s) => s.pending],
  pendingBytes: ['batcher_shard_pending_bytes', 'Bytes of the requests waiting in the shard.', (s) => s.pendingBytes],
  batchesWritten: [
    'batcher_shard_batches_written',
    'Batches the shard has written (counted by the workflow, kept across continue-as-new).',
    (s) => s.batchesWritten,
  ],
  rowsWritten: [
    'batcher_shard_rows_written',
    'Rows the shard has committed (counted by the workflow, kept across continue-as-new).',
    (s) => s.rowsWritten,
  ],
  duplicates: ['batcher_shard_duplicates', 'Requests the shard answered as duplicates of rows already written.', (s) => s.duplicates],
  rejected: ['batcher_shard_rejected', 'Requests the shard rejected (invalid, overloaded, refused by the database).', (s) => s.rejected],
  signalsThisRun: [
    'batcher_shard_signals_this_run',
    'Write requests received by the current run (continue-as-new resets it).',
    (s) => s.signalsThisRun,
  ],
  signalsTotal: ['batcher_shard_signals', 'Write requests received by the shard over all its runs.', (s) => s.signalsTotal],
  continueAsNewCount: ['batcher_shard_continue_as_new', 'Times the shard has continued as new.', (s) => s.continueAsNewCount],
  dedupWindowSize: ['batcher_shard_dedup_window_size', 'Recently written request ids the shard remembers.', (s) => s.dedupWindowSize],
  continueAsNewPayloadBytes: [
    'batcher_shard_continue_as_new_payload_bytes',
    'Size of the state the next continue-as-new would carry (JSON estimate).',
    (s) => s.continueAsNewPayloadBytes,
  ],
  largestContinueAsNewPayloadBytes: [
    'batcher_shard_largest_continue_as_new_payload_bytes',
    'Largest state carried by a continue-as-new so far.',
    (s) => s.largestContinueAsNewPayloadBytes,
  ],
  confirmationsUndeliverable: [
    'batcher_shard_confirmations_undeliverable',
    'Confirmations whose requester workflow no longer existed.',
    (s) => s.confirmationsUndeliverable,
  ],
  writesInFlight: ['batcher_shard_writes_in_flight', 'Rows handed to a bulk write that has not finished yet.', (s) => s.writesInFlight],
  refused: ['batcher_shard_refused', 'Requests the shard refused without holding them (overloaded).', (s) => s.refused],
  flushInterval: ['batcher_shard_flush_interval_seconds', 'The flush interval the shard runs with.', (s) => s.flushIntervalMs / 1000],
} satisfies Record<string, [string, string, (s: MonitoredBatcherStats) => number]>;

export interface MonitorMetrics {
  readonly registry: Registry;
  /** Brings every series in line with a monitor status; call right before each scrape. */
  update(status: MonitorStatus, now?: number): void;
}

/** A registry of its own, so several monitors (tests) can live in one process. */
export function createMonitorMetrics(): MonitorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const up = new Gauge({
    name: 'batcher_shard_up',
    help: '1 while the newest run of the shard is RUNNING (even if stalled), else 0.',
    labelNames: LABELS,
    registers: [registry],
  });
  const state = new Gauge({
    name: 'batcher_shard_state',
    help: `1 for the state the shard is in, 0 for the others (${SHARD_STATES.join(', ')}).`,
    labelNames: ['shard', 'state'],
    registers: [registry],
  });
  const stats = Object.values(STAT_GAUGES).map(([name, help, read]) => ({
    gauge: new Gauge({ name, help, labelNames: LABELS, registers: [registry] }),
    read,
  }));
  const sinceFlush = new Gauge({
    name: 'batcher_shard_seconds_since_last_flush',
    help: 'Seconds since the shard last wrote a batch (absent until it has written one).',
    labelNames: LABELS,
    registers: [registry],
  });
  const starts = new Counter({
    name: 'batcher_shard_starts_total',
    help: 'Times the health monitor started a shard that had not run under its watch: never started, or found closed at its first look (a first start, not a restart).',
    labelNames: LABELS,
    registers: [registry],
  });
  const restarts = new Counter({
    name: 'batcher_shard_restarts_total',
    help: 'Times the health monitor started a shard again after it stopped under its watch (seen running, or started by it).',
    labelNames: LABELS,
    registers: [registry],
  });
  const heals = new Counter({
    name: 'batcher_shard_heals_total',
    help: 'Times the health monitor healed a shard: reset a run whose workflow task failed (cause: nondeterminism) to its last good workflow task.',
    labelNames: ['shard', 'cause'],
    registers: [registry],
  });
  const temporalUp = new Gauge({
    name: 'batcher_monitor_temporal_up',
    help: '1 when the last check reached Temporal, else 0.',
    registers: [registry],
  });
  const ready = new Gauge({
    name: 'batcher_monitor_ready',
    help: '1 while the monitor can serve a current picture (it reached Temporal recently), else 0; says nothing about the shards.',
    registers: [registry],
  });
  const healthy = new Gauge({
    name: 'batcher_monitor_healthy',
    help: '1 when the overall status is ok (Temporal reachable, every shard running and making progress), 0 when degraded.',
    registers: [registry],
  });
  const polls = new Gauge({
    name: 'batcher_monitor_last_poll_duration_seconds',
    help: 'How long the last check of all shards took.',
    registers: [registry],
  });

  /** Starts and restarts already added to the counters, per shard: the monitor reports totals, a Counter wants increments. */
  const startsExported = new Map<number, number>();
  const restartsExported = new Map<number, number>();
  const healsExported = new Map<string, number>();

  return {
    registry,
    update(status, now = Date.now()) {
      temporalUp.set(status.temporal.reachable ? 1 : 0);
      ready.set(status.readiness.ready ? 1 : 0);
      healthy.set(status.overall === 'ok' ? 1 : 0);
      if (status.lastPollDurationMs !== null) polls.set(status.lastPollDurationMs / 1000);
      for (const s of status.shards) {
        const labels = { shard: String(s.shard) };
        up.set(labels, s.workflowStatus === 'RUNNING' && s.state !== 'unknown' ? 1 : 0);
        for (const each of SHARD_STATES) state.set({ ...labels, state: each }, s.state === each ? 1 : 0);
        // inc(0) still creates the series, so it reads 0 before the first (re)start.
        starts.inc(labels, s.starts - (startsExported.get(s.shard) ?? 0));
        startsExported.set(s.shard, s.starts);
        restarts.inc(labels, s.restarts - (restartsExported.get(s.shard) ?? 0));
        restartsExported.set(s.shard, s.restarts);
        for (const cause of new Set(['nondeterminism', ...Object.keys(s.healsByCause)])) {
          const key = `${s.shard}/${cause}`;
          const total = s.healsByCause[cause] ?? 0;
          heals.inc({ ...labels, cause }, total - (healsExported.get(key) ?? 0));
          healsExported.set(key, total);
        }

        // Current only if the statistics last read belong to the last check of a RUNNING shard (stalled included).
        const current = s.workflowStatus === 'RUNNING' && s.stats !== null && s.statsAtMs !== null && s.statsAtMs >= (s.checkedAtMs ?? 0);
        for (const { gauge, read } of stats) {
          const value = current && s.stats ? read(s.stats) : undefined;
          if (value === undefined) gauge.remove(labels);
          else gauge.set(labels, value);
        }
        if (current && s.stats?.lastFlushAtMs != null) sinceFlush.set(labels, Math.max(0, (now - s.stats.lastFlushAtMs) / 1000));
        else sinceFlush.remove(labels);
      }
    },
  };
}
