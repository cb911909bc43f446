// The kill rounds in small: 200 transactions while the batcher worker, the main worker, MariaDB and
// Temporal are each SIGKILLed and restarted once (random order, seeded), then every workflow is
// audited against its row. The full run is `npm run chaos` (2,000 transactions, 4 rounds).
import { describe, expect, it } from 'vitest';
import { formatTimelineEntry, formatVerdict, runChaos } from '../../harness/src/chaos/run';

const SEED = Number(process.env.CHAOS_SEED ?? 20261128);

describe('chaos (small)', () => {
  it(
    'when each component is killed and restarted once under 200 transactions, then no workflow is lost, phantom, doubled, orphaned or left open',
    { timeout: 15 * 60_000 },
    async () => {
      const lines: string[] = [];
      const result = await runChaos({
        seed: SEED,
        transactions: 200,
        rounds: 1,
        shards: 2,
        log: (l) => lines.push(l),
        closeDeadlineMs: 480_000,
      });
      const report = `${result.timeline.map(formatTimelineEntry).join('\n')}\n${formatVerdict(result)}`;
      console.log(report);
      expect(
        result.timeline
          .filter((e) => e.action === 'kill')
          .map((e) => e.component)
          .sort(),
      ).toEqual(['batcher-worker', 'main-worker', 'mariadb', 'temporal']);
      expect(result.verdict.transactions).toBe(200);
      expect(result.verdict.completed + result.verdict.failed, report).toBe(200);
      expect(result.violations, report).toBe(0);
    },
  );
});
