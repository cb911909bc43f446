// A list that keeps only its newest entries: the monitor's per-shard charts and its event log.

/** Oldest first; appending beyond the capacity drops the oldest entries. */
export class BoundedHistory<T> {
  private items: T[] = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`history capacity must be a positive integer, got ${capacity}`);
  }

  push(...items: T[]): void {
    this.items.push(...items);
    if (this.items.length > this.capacity) this.items.splice(0, this.items.length - this.capacity);
  }

  /**
   * Adds the items whose key is not held yet, keeps the whole list ordered by `order`, and trims
   * it. For batches reported again in every memo the monitor reads, and again after continue-as-new.
   */
  merge(items: readonly T[], key: (item: T) => string, order: (item: T) => number): number {
    const known = new Set(this.items.map(key));
    const fresh = items.filter((item) => !known.has(key(item)));
    if (fresh.length === 0) return 0;
    this.items = [...this.items, ...fresh].sort((a, b) => order(a) - order(b));
    if (this.items.length > this.capacity) this.items.splice(0, this.items.length - this.capacity);
    return fresh.length;
  }

  get length(): number {
    return this.items.length;
  }

  /** A copy, oldest first. */
  toArray(): T[] {
    return [...this.items];
  }
}
