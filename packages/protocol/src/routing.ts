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

/**
 * The id of a new attempt at a write whose id can no longer be written (abandoned after a timeout or
 * a cancellation, refused as overloaded...): a different id, derived deterministically, so a
 * workflow that retries in a loop keeps exactly-once per attempt. `attempt` counts from 1.
 */
export function retryRequestId(requestId: string, attempt: number): string {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be a positive integer, got ${attempt}`);
  return `${requestId}~retry${attempt}`;
}

/**
 * The activity id of the requester's waiting activity for a request: derived from the request id,
 * so a batcher accepts a reply address only when it names exactly this activity.
 */
export function awaitActivityIdFor(requestId: string): string {
  return `batched-write:${requestId}`;
}
