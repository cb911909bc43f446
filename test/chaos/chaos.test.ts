// The kill rounds in small: 200 transactions while the batcher worker, the main worker, MariaDB and
// Temporal are each SIGKILLed and restarted once (random order, seeded), then every workflow is
// audited against its row. The full run is `npm run chaos` (2,000 transactions, 4 rounds). The team
// workload in small too: 60 of a team's requester workflows on its own schema, each component (the
// team's requester worker in the main worker's place) killed once, every request audited.
import { describe, expect, it } from 'vitest';
import { formatTeamChaosVerdict, formatTimelineEntry, formatVerdict, runChaos, runTeamChaos } from '../../harness/src/chaos/run';

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

  it(
    'when each component is killed and restarted once under 60 team workflows, then no request is lost, phantom, doubled or misreported',
    { timeout: 15 * 60_000 },
    async () => {
      const lines: string[] = [];
      const result = await runTeamChaos({
        seed: SEED,
        transactions: 60,
        rounds: 1,
        shards: 2,
        log: (l) => lines.push(l),
        closeDeadlineMs: 480_000,
      });
      const report = `${result.timeline.map(formatTimelineEntry).join('\n')}\n${formatTeamChaosVerdict(result)}`;
      console.log(report);
      expect(
        result.timeline
          .filter((e) => e.action === 'kill')
          .map((e) => e.component)
          .sort(),
      ).toEqual(['batcher-worker', 'mariadb', 'team-worker', 'temporal']);
      // Whole groups: 60 workflows, or up to two more for the last group.
      expect(result.verdict.workflows).toBeGreaterThanOrEqual(60);
      expect(result.verdict.workflows).toBeLessThanOrEqual(62);
      expect(result.verdict.completed, report).toBe(result.verdict.workflows);
      expect(result.verdict.pairs.total + result.verdict.races.total + result.verdict.orders.total).toBeGreaterThan(0);
      expect(result.violations, report).toBe(0);
    },
  );
});
