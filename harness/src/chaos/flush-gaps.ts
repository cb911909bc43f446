// How long a shard held requests without writing a batch, read from outside during a kill-round run:
// the health monitor's /metrics (the shard's own statistics, as the monitor last read them) sampled
// every second. The figure the reliability criteria name ("no shard without a batch for more than
// 30 s while it has pending requests"). Resolution: the monitor's poll interval plus the shard's
// statistics throttle (about 2 s), so a gap is known to within a few seconds. The rounds do not kill
// the monitor; while it holds no current statistics of a shard (the server it reads is down) that
// shard gives no sample, and a gap that spans that time is still measured from its start.

import { delay } from '../processes';

/** One shard's figures in one scrape. */
export interface ShardSample {
  shard: string;
  pending: number;
  writesInFlight: number;
  batchesWritten: number;
}

/** The longest wait per shard, and when it ended (or was last seen, if it never ended). */
export interface FlushGap {
  shard: string;
  longestMs: number;
  /** When that longest wait began and when it ended (or was last seen), in ms from the tracker's start. */
  startedAtMs: number;
  endedAtMs: number;
  samples: number;
}

/** Reads the per-shard gauges out of a Prometheus text exposition. */
export function parseShardSamples(text: string): ShardSample[] {
  const byShard = new Map<string, Partial<ShardSample>>();
  const field: Record<string, keyof ShardSample> = {
    batcher_shard_pending_requests: 'pending',
    batcher_shard_writes_in_flight: 'writesInFlight',
    batcher_shard_batches_written: 'batchesWritten',
  };
  for (const line of text.split('\n')) {
    const m = /^(batcher_shard_[a-z_]+)\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!m) continue;
    const key = field[m[1]!];
    const shard = /(?:^|,)shard="((?:[^"\\]|\\.)*)"/.exec(m[2]!)?.[1];
    const value = Number(m[3]);
    if (!key || shard === undefined || !Number.isFinite(value)) continue;
    const s = byShard.get(shard) ?? { shard };
    (s as Record<string, unknown>)[key] = value;
    byShard.set(shard, s);
  }
  return [...byShard.values()].filter(
    (s): s is ShardSample => s.pending !== undefined && s.writesInFlight !== undefined && s.batchesWritten !== undefined,
  );
}

/**
 * Per shard: work is waiting when requests are pending or a batch is being written; the wait starts
 * when work is first seen after none, or when a batch was written since the last sample, and lasts
 * until the next batch or until nothing waits. The same rule as the monitor's stall check.
 */
export class FlushGapTracker {
  private readonly shards = new Map<
    string,
    { waitingSince: number | null; batches: number; longestMs: number; startedAtMs: number; endedAtMs: number; samples: number }
  >();

  constructor(private readonly startMs: number) {}

  observe(now: number, samples: readonly ShardSample[]): void {
    for (const s of samples) {
      const t = this.shards.get(s.shard) ?? {
        waitingSince: null,
        batches: s.batchesWritten,
        longestMs: 0,
        startedAtMs: 0,
        endedAtMs: 0,
        samples: 0,
      };
      t.samples++;
      const waiting = s.pending + s.writesInFlight > 0;
      if (!waiting) t.waitingSince = null;
      else if (t.waitingSince === null || s.batchesWritten !== t.batches) t.waitingSince = now;
      t.batches = s.batchesWritten;
      if (t.waitingSince !== null && now - t.waitingSince > t.longestMs) {
        t.longestMs = now - t.waitingSince;
        t.startedAtMs = t.waitingSince - this.startMs;
        t.endedAtMs = now - this.startMs;
      }
      this.shards.set(s.shard, t);
    }
  }

  gaps(): FlushGap[] {
    return [...this.shards.entries()]
      .map(([shard, t]) => ({ shard, longestMs: t.longestMs, startedAtMs: t.startedAtMs, endedAtMs: t.endedAtMs, samples: t.samples }))
      .sort((a, b) => a.shard.localeCompare(b.shard));
  }
}

/** Samples `metricsUrl` every `intervalMs` until stopped; a scrape that fails is skipped. */
export function sampleFlushGaps(
  metricsUrl: () => string | undefined,
  startMs = Date.now(),
  intervalMs = 1000,
): { stop(): Promise<FlushGap[]> } {
  const tracker = new FlushGapTracker(startMs);
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const url = metricsUrl();
      if (url) {
        try {
          const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
          if (res.ok) tracker.observe(Date.now(), parseShardSamples(await res.text()));
        } catch {
          // The monitor did not answer in time: no sample this time.
        }
      }
      await delay(intervalMs);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return tracker.gaps();
    },
  };
}

/**
 * One line per shard: its longest wait, and what the run did to the stack from 10 s before that wait
 * began until it ended (the kills and restarts of the timeline), so a long wait can be put down to a kill.
 */
export function formatFlushGaps(
  gaps: readonly FlushGap[],
  timeline: ReadonlyArray<{ t: number; action: string; component: string }>,
  boundMs = 30_000,
): string[] {
  if (gaps.length === 0) return ['no statistics read from the health monitor: the waits for a batch were not measured'];
  return gaps.map((g) => {
    const from = g.startedAtMs / 1000;
    const to = g.endedAtMs / 1000;
    const during = timeline
      .filter((e) => (e.action === 'kill' || e.action === 'restart' || e.action === 'died') && e.t >= from - 10 && e.t <= to)
      .map((e) => `${e.action} ${e.component} +${e.t.toFixed(0)}s`);
    const over = g.longestMs > boundMs ? ` OVER ${boundMs / 1000} s` : '';
    return (
      `${g.shard}: ${(g.longestMs / 1000).toFixed(1)} s${over} (+${from.toFixed(0)}s..+${to.toFixed(0)}s, ${g.samples} samples)` +
      (during.length ? `; around it: ${during.join(', ')}` : '; no kill around it')
    );
  });
}
