// Which kills each failed transaction lived through: a transaction that failed (most often
// WriteConfirmationTimeout) is put against the kills of the timeline that fell inside its own
// wait, from its start to its close, so a verdict can say how many failures came with a batcher
// worker kill, with another kill only, or with none at all (the ones that need explaining).
import type { TimelineEntry } from './run';

export interface TimedFailure {
  workflowId: string;
  type: string;
  /** Seconds since the run started (the timeline's clock). */
  startedAt: number;
  closedAt: number;
}

export interface FailureAttribution {
  /** Per failure type: how many failed with at least one kill of that component in their wait. */
  byComponent: Record<string, Record<string, number>>;
  /** Per failure type: how many failed with no kill at all in their wait. */
  withoutKill: Record<string, number>;
  total: Record<string, number>;
}

/** Puts each failure against the kills inside [startedAt, closedAt]; a failure with several kills counts once under each. */
export function attributeFailures(failures: readonly TimedFailure[], timeline: readonly TimelineEntry[]): FailureAttribution {
  const kills = timeline.filter((e) => e.action === 'kill' || e.action === 'died');
  const out: FailureAttribution = { byComponent: {}, withoutKill: {}, total: {} };
  for (const f of failures) {
    out.total[f.type] = (out.total[f.type] ?? 0) + 1;
    const during = new Set(kills.filter((k) => k.t >= f.startedAt && k.t <= f.closedAt).map((k) => k.component));
    if (during.size === 0) {
      out.withoutKill[f.type] = (out.withoutKill[f.type] ?? 0) + 1;
      continue;
    }
    const byType = (out.byComponent[f.type] ??= {});
    for (const c of during) byType[c] = (byType[c] ?? 0) + 1;
  }
  return out;
}

/** One line per failure type, e.g. `WriteConfirmationTimeout: 3, during a kill of batcher-worker 2, temporal 1; with no kill 0`. */
export function formatAttribution(a: FailureAttribution): string[] {
  return Object.entries(a.total).map(([type, n]) => {
    const by = Object.entries(a.byComponent[type] ?? {})
      .sort(([x], [y]) => x.localeCompare(y))
      .map(([c, k]) => `${c} ${k}`)
      .join(', ');
    return `${type}: ${n}, during a kill of ${by || 'nothing'}; with no kill in its wait ${a.withoutKill[type] ?? 0}`;
  });
}
