// Deterministic mapping of request ids to batcher shards and of transactions to request ids.

/** FNV-1a 32-bit: tiny, stable across processes and runtimes, and well spread for short ids. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** The shard (0-based) that owns a request id. */
export function shardFor(requestId: string, shards: number): number {
  if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`shards must be a positive integer, got ${shards}`);
  return fnv1a(requestId) % shards;
}

/** Workflow id of a batcher shard. */
export function batcherWorkflowId(prefix: string, shard: number): string {
  return `${prefix}-${shard}`;
}

/** The request id of a business transaction: derived from its workflow id, so retries and restarts reuse it. */
export function requestIdFor(workflowId: string): string {
  return `write:${workflowId}`;
}
