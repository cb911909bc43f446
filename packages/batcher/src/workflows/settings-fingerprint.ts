// The fingerprint of the settings a batcher worker serves (what its `batcherSettings` activity
// returns: the tunables, the allow-list, the routing). The worker announces it to its running shards
// when it starts (worker.ts), and a shard compares it with its own run's (batcher.ts): another one
// means the shard continues as new and reads the settings again. Pure and workflow-safe: no
// node:crypto, the same text on both sides.
import { textHash } from './text-hash';

/** JSON with every object's keys sorted: the same settings give the same text, whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** FNV-1a and djb2 over the canonical JSON, 64 bits in all, plus its length: `s1-<16 hex>-<length>`. */
export function settingsFingerprint(settings: unknown): string {
  const text = canonicalJson(settings);
  const [a, b] = textHash(text);
  return `s1-${a.toString(16).padStart(8, '0')}${b.toString(16).padStart(8, '0')}-${text.length}`;
}

/** Longest fingerprint a shard reads from a signal (anything longer is not one). */
export const MAX_SETTINGS_FINGERPRINT_LENGTH = 64;
