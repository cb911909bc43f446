// The kill rounds put each failed transaction against the kills that fell inside its own wait, so
// a verdict says how many WriteConfirmationTimeouts came with a batcher worker kill, and how many
// with none (npm run chaos prints it). Pure logic, checked against a reference over generated runs.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { attributeFailures, formatAttribution, type TimedFailure } from '../../harness/src/chaos/attribution';
import type { TimelineEntry } from '../../harness/src/chaos/run';

const COMPONENTS = ['batcher-worker', 'main-worker', 'mysql', 'temporal'];

const kill = (t: number, component: string): TimelineEntry => ({ t, action: 'kill', component });

describe('failures against the kills in their wait', () => {
  it('when a failure waited through a batcher worker kill and another through nothing, then each is counted where it belongs', () => {
    const timeline: TimelineEntry[] = [
      { t: 0, action: 'wave', component: 'transactions' },
      kill(10, 'batcher-worker'),
      { t: 12, action: 'restart', component: 'batcher-worker' },
      kill(50, 'temporal'),
    ];
    const failures: TimedFailure[] = [
      { workflowId: 'a', type: 'WriteConfirmationTimeout', startedAt: 5, closedAt: 125 },
      { workflowId: 'b', type: 'WriteConfirmationTimeout', startedAt: 60, closedAt: 180 },
      { workflowId: 'c', type: 'BatcherOverloaded', startedAt: 11, closedAt: 11.5 },
    ];
    const a = attributeFailures(failures, timeline);
    expect(a.total).toEqual({ WriteConfirmationTimeout: 2, BatcherOverloaded: 1 });
    expect(a.byComponent).toEqual({ WriteConfirmationTimeout: { 'batcher-worker': 1, temporal: 1 } });
    expect(a.withoutKill).toEqual({ WriteConfirmationTimeout: 1, BatcherOverloaded: 1 });
    expect(formatAttribution(a)).toEqual([
      'WriteConfirmationTimeout: 2, during a kill of batcher-worker 1, temporal 1; with no kill in its wait 1',
      'BatcherOverloaded: 1, during a kill of nothing; with no kill in its wait 1',
    ]);
  });

  it('for any timeline and failures, then each failure is counted once in its total, and under "no kill" exactly when no kill or death lies in its wait', () => {
    const entry = fc.record({
      t: fc.integer({ min: 0, max: 600 }),
      action: fc.constantFrom<TimelineEntry['action']>('wave', 'kill', 'restart', 'died', 'audit'),
      component: fc.constantFrom(...COMPONENTS),
    });
    const failure = fc.record({
      workflowId: fc.uuid(),
      type: fc.constantFrom('WriteConfirmationTimeout', 'WriteAbandoned'),
      startedAt: fc.integer({ min: 0, max: 600 }),
      wait: fc.integer({ min: 0, max: 200 }),
    });
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 30 }), fc.array(failure, { maxLength: 30 }), (timeline, generated) => {
        const failures: TimedFailure[] = generated.map(({ wait, ...f }) => ({ ...f, closedAt: f.startedAt + wait }));
        const a = attributeFailures(failures, timeline);
        for (const type of new Set(failures.map((f) => f.type))) {
          const mine = failures.filter((f) => f.type === type);
          expect(a.total[type]).toBe(mine.length);
          const hit = (f: TimedFailure, c?: string) =>
            timeline.some(
              (e) =>
                (e.action === 'kill' || e.action === 'died') &&
                (c === undefined || e.component === c) &&
                e.t >= f.startedAt &&
                e.t <= f.closedAt,
            );
          expect(a.withoutKill[type] ?? 0).toBe(mine.filter((f) => !hit(f)).length);
          for (const c of COMPONENTS) expect(a.byComponent[type]?.[c] ?? 0).toBe(mine.filter((f) => hit(f, c)).length);
        }
      }),
    );
  });
});
