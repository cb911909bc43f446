// Gathers the submissions of one worker process that are bound for the same shard, for a few
// milliseconds or up to a size, and sends them as one signal: a shard then sees a few signals a
// second instead of one per request. A process that dies holding a group loses nothing: each
// requester's activity is still open, and Temporal runs it again when its attempt times out.

export interface SubmitGroupsOptions {
  /** How long the first request of a group waits for company, in ms. @default 250 */
  lingerMs: number;
  /** A group this large is sent at once. @default 500 */
  maxRequests: number;
  /** A group this large (JSON bytes of its requests) is sent at once. @default 524288 */
  maxBytes: number;
}

interface Group<T> {
  items: T[];
  bytes: number;
  waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }>;
  timer?: NodeJS.Timeout;
}

/** Groups items by key and hands each group to `send`; each `submit` settles with its group's send. */
export class SubmitGroups<K, T> {
  private readonly open = new Map<K, Group<T>>();

  constructor(
    private readonly send: (key: K, items: T[]) => Promise<void>,
    private readonly options: SubmitGroupsOptions,
  ) {}

  /**
   * Queues `item` (of `bytes` bytes) for `key`; resolves once the signal carrying it was accepted.
   * An `urgent` item sends its group at once (with whatever it holds already).
   */
  submit(key: K, item: T, bytes: number, urgent = false): Promise<void> {
    let group = this.open.get(key);
    if (group && group.bytes + bytes > this.options.maxBytes) {
      this.flush(key);
      group = undefined;
    }
    if (!group) {
      group = { items: [], bytes: 0, waiters: [] };
      this.open.set(key, group);
    }
    const done = new Promise<void>((resolve, reject) => group.waiters.push({ resolve, reject }));
    group.items.push(item);
    group.bytes += bytes;
    if (urgent || group.items.length >= this.options.maxRequests || group.bytes >= this.options.maxBytes || this.options.lingerMs <= 0) {
      this.flush(key);
    } else if (!group.timer) {
      group.timer = setTimeout(() => this.flush(key), this.options.lingerMs);
    }
    return done;
  }

  private flush(key: K): void {
    const group = this.open.get(key);
    if (!group) return;
    this.open.delete(key);
    if (group.timer) clearTimeout(group.timer);
    this.send(key, group.items).then(
      () => group.waiters.forEach((w) => w.resolve()),
      (err: unknown) => group.waiters.forEach((w) => w.reject(err)),
    );
  }
}
