// When the monitor heals a nondeterministic shard (a reset to its last good workflow task), and
// when it stops trying. Pure: the monitor does the healing and hands in the time.

export interface HealPolicyOptions {
  /** Heal nondeterministic shards at all. @default true */
  enabled?: boolean;
  /** Heals of one shard within an hour after which the monitor stops and asks for an operator. @default 3 */
  maxPerHour?: number;
  /** Least wait before healing a run that a heal produced and that failed again, doubled for each such heal in a row, in ms. @default 60000 */
  backoffMs?: number;
}

export type HealDecision =
  | { action: 'heal' }
  /** Healing is off, or this run was healed (or found unhealable) already: never twice. */
  | { action: 'leave'; reason: string }
  /** The run came from a heal and failed again: wait before the next. */
  | { action: 'wait'; untilMs: number; reason: string }
  /** Too many heals this hour: an operator's turn. */
  | { action: 'give-up'; reason: string };

interface ShardHeals {
  /** Runs a heal was attempted on (healed or found unhealable): at most one heal per run. */
  tried: Set<string>;
  /** Runs that heals produced. */
  produced: Set<string>;
  /** When each heal happened, newest last. */
  atMs: number[];
  /** Heals in a row whose run failed again. */
  streak: number;
}

export class HealPolicy {
  readonly enabled: boolean;
  readonly maxPerHour: number;
  readonly backoffMs: number;
  private readonly shards = new Map<number, ShardHeals>();

  constructor(options: HealPolicyOptions = {}) {
    this.enabled = options.enabled ?? true;
    this.maxPerHour = options.maxPerHour ?? 3;
    this.backoffMs = options.backoffMs ?? 60_000;
  }

  private of(shard: number): ShardHeals {
    let s = this.shards.get(shard);
    if (!s) this.shards.set(shard, (s = { tried: new Set(), produced: new Set(), atMs: [], streak: 0 }));
    return s;
  }

  /** What to do about run `runId` of `shard`, found nondeterministic at `now`. */
  decide(shard: number, runId: string, now: number): HealDecision {
    if (!this.enabled) return { action: 'leave', reason: 'healing is off' };
    const s = this.of(shard);
    if (s.tried.has(runId)) return { action: 'leave', reason: `run ${runId} was healed once already; needs an operator` };
    const lastHour = s.atMs.filter((t) => now - t < 3_600_000);
    if (lastHour.length >= this.maxPerHour)
      return { action: 'give-up', reason: `${lastHour.length} heals within the hour (limit ${this.maxPerHour}); needs an operator` };
    const last = s.atMs.at(-1);
    if (s.produced.has(runId) && last !== undefined) {
      const untilMs = last + this.backoffMs * 2 ** Math.max(0, s.streak - 1);
      if (now < untilMs)
        return {
          action: 'wait',
          untilMs,
          reason: `the healed run ${runId} failed again; next heal not before ${new Date(untilMs).toISOString()}`,
        };
    }
    return { action: 'heal' };
  }

  /** A heal of `runId` was attempted; `newRunId` when it reset the run. */
  record(shard: number, runId: string, now: number, newRunId: string | null): void {
    const s = this.of(shard);
    s.tried.add(runId);
    if (newRunId === null) return;
    s.streak = s.produced.has(runId) ? s.streak + 1 : 1;
    s.produced.add(newRunId);
    s.atMs.push(now);
    // Only the last hour counts.
    while (s.atMs.length > this.maxPerHour + 1) s.atMs.shift();
  }
}
