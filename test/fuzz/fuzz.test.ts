// The generative adversarial suite in small: a stack of its own on Temporal's stock settings, then
// two generated cases of each class (messages, forgery, completions, operator, database), each
// checked for every honest request answered once with the truth, no shard left failing and no row
// value in any log. The seed is random and printed (FUZZ_SEED replays it); the long run is
// `npm run fuzz -- --minutes N`.
import { describe, expect, it } from 'vitest';
import { newSeed } from '../../harness/src/chaos/random';
import { FUZZ_CLASSES } from '../../harness/src/fuzz/generate';
import { formatCaseLine, formatReport, runFuzz } from '../../harness/src/fuzz/run';

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : newSeed();
const CASES = 2 * FUZZ_CLASSES.length;

describe('generative adversarial suite (small)', () => {
  it(
    `when ${CASES} generated adversarial cases run against a live stack (seed ${SEED}), then no invariant is violated and every class got a case`,
    { timeout: 30 * 60_000 },
    async () => {
      console.log(`[fuzz] seed ${SEED} (replay with FUZZ_SEED=${SEED}, or npm run fuzz -- --seed ${SEED} --cases ${CASES})`);
      const lines: string[] = [];
      const result = await runFuzz({ seed: SEED, cases: CASES, log: (l) => lines.push(l) });
      const report = `${result.cases.map(formatCaseLine).join('\n')}\n${formatReport(result)}\nlogs and data: ${result.dir}`;
      console.log(report);
      expect(result.cases.length).toBe(CASES);
      for (const cls of FUZZ_CLASSES)
        expect(result.cases.filter((c) => c.action.class === cls).length, `${cls}\n${report}`).toBeGreaterThan(0);
      expect(result.cases.reduce((k, c) => k + c.requests, 0)).toBeGreaterThanOrEqual(4 * CASES);
      expect(result.violations, report).toBe(0);
    },
  );
});
