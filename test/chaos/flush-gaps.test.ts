// The kill rounds' measure of "a shard holding requests without writing a batch": the monitor's
// /metrics read per shard, and the longest wait per shard against a reference computed sample by
// sample. (The measure in a real run is printed by `npm run chaos`.)
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlushGapTracker, formatFlushGaps, parseShardSamples, type ShardSample } from '../../harness/src/chaos/flush-gaps';

const exposition = `# HELP batcher_shard_pending_requests Requests waiting in the shard for the next batch.
# TYPE batcher_shard_pending_requests gauge
batcher_shard_pending_requests{shard="0"} 12
batcher_shard_pending_requests{shard="1"} 0
# TYPE batcher_shard_writes_in_flight gauge
batcher_shard_writes_in_flight{shard="0"} 0
batcher_shard_writes_in_flight{shard="1"} 100
# TYPE batcher_shard_batches_written gauge
batcher_shard_batches_written{shard="0"} 7
batcher_shard_batches_written{shard="1"} 9
batcher_shard_state{shard="0",state="running"} 1
process_cpu_seconds_total 1.5
`;

describe('the kill rounds’ wait-for-a-batch measure', () => {
  it('when the monitor’s exposition is read, then each shard with all three gauges is one sample', () => {
    expect(parseShardSamples(exposition)).toEqual([
      { shard: '0', pending: 12, writesInFlight: 0, batchesWritten: 7 },
      { shard: '1', pending: 0, writesInFlight: 100, batchesWritten: 9 },
    ]);
    // A shard whose statistics the monitor does not hold (its gauges removed) gives no sample.
    expect(parseShardSamples(exposition.replace('batcher_shard_batches_written{shard="1"} 9\n', ''))).toHaveLength(1);
    expect(parseShardSamples('')).toEqual([]);
  });

  it('when work waits, a batch is written, and work waits again, then the longest wait is the longer stretch', () => {
    const t = new FlushGapTracker(1000);
    const at = (ms: number, pending: number, batches: number) =>
      t.observe(1000 + ms, [{ shard: '0', pending, writesInFlight: 0, batchesWritten: batches }]);
    at(0, 0, 0); // idle
    at(1000, 5, 0); // waiting from 1 s
    at(4000, 8, 0);
    at(5000, 3, 1); // a batch: the wait starts again at 5 s
    at(20_000, 3, 1); // still waiting: 15 s
    at(21_000, 0, 2); // done
    at(60_000, 0, 2); // idle for long: not a wait
    expect(t.gaps()).toEqual([{ shard: '0', longestMs: 15_000, startedAtMs: 5000, endedAtMs: 20_000, samples: 7 }]);
    const lines = formatFlushGaps(t.gaps(), [{ t: 6, action: 'kill', component: 'batcher-worker' }], 10_000);
    expect(lines[0]).toMatch(/^0: 15\.0 s OVER 10 s .*kill batcher-worker \+6s/);
  });

  it('for any sequence of samples, the longest wait equals a direct computation over the sequence', () => {
    const sample = fc.record({
      dt: fc.integer({ min: 1, max: 10_000 }),
      pending: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 500 })),
      writesInFlight: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 100 })),
      batch: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(sample, { maxLength: 60 }), (seq) => {
        const t = new FlushGapTracker(0);
        let now = 0;
        let batches = 0;
        const seen: Array<{ now: number } & ShardSample> = [];
        for (const s of seq) {
          now += s.dt;
          if (s.batch) batches++;
          const x = { shard: 's', pending: s.pending, writesInFlight: s.writesInFlight, batchesWritten: batches };
          seen.push({ now, ...x });
          t.observe(now, [x]);
        }
        // Reference: for every sample i that waits, go back while the samples before it wait with
        // the same batch count; the wait began at the first of them.
        let longest = 0;
        seen.forEach((s, i) => {
          if (s.pending + s.writesInFlight === 0) return;
          let j = i;
          while (j > 0 && seen[j - 1]!.pending + seen[j - 1]!.writesInFlight > 0 && seen[j - 1]!.batchesWritten === s.batchesWritten) j--;
          longest = Math.max(longest, s.now - seen[j]!.now);
        });
        expect(t.gaps()[0]?.longestMs ?? 0).toBe(longest);
      }),
      { numRuns: 300 },
    );
  });
});
