// The chaos run's only source of chance: one seeded generator, so `--seed` replays the same kill
// order, downtimes and pauses (pure-rand's xoroshiro128+).
import prand from 'pure-rand';

export class SeededRandom {
  private readonly rng: prand.RandomGenerator;
  constructor(readonly seed: number) {
    this.rng = prand.xoroshiro128plus(seed);
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return prand.unsafeUniformIntDistribution(min, max, this.rng);
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }
}

/** A seed for when none is given: printed, so the run can be replayed. */
export function newSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}
