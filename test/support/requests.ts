// Write requests as batchedWrite sends them, for tests that signal a shard directly: a row of the
// demo table in its wire form, and the one reply address a shard accepts for it (the requester's
// own workflow, the activity id derived from the request id).
import { randomUUID } from 'node:crypto';
import { awaitActivityIdFor, type ReplyAddress, type WireRow, type WriteRequest } from '@write-batcher/protocol';
import { DEMO_TABLE } from '@batcher/demo';

/** The wire form of a demo-table row (what batchedWrite sends for `{ payload }`). */
export function demoWireRow(payload: Record<string, unknown>): WireRow {
  return { payload: { '@wb': 'json', v: payload as never } };
}

/** The reply address batchedWrite gives request `requestId` of workflow `workflowId`. */
export function replyFor(workflowId: string, requestId: string, runId: string = randomUUID()): ReplyAddress {
  return { workflowId, runId, activityId: awaitActivityIdFor(requestId) };
}

/** A well-formed request for the demo table, from requester `requesterWorkflowId`. */
export function demoRequest(
  requestId: string,
  requesterWorkflowId: string,
  payload: Record<string, unknown>,
  extra: Partial<WriteRequest> = {},
): WriteRequest {
  return {
    requestId,
    requesterWorkflowId,
    table: DEMO_TABLE,
    row: demoWireRow(payload),
    submittedAtMs: 0,
    reply: replyFor(requesterWorkflowId, requestId),
    ...extra,
  };
}

/** n requests `write:<tag>-<i>` from requesters `<tag>-<i>`, with payload `{ i }`. */
export function demoRequests(n: number, tag: string): WriteRequest[] {
  return Array.from({ length: n }, (_, i) => demoRequest(`write:${tag}-${i}`, `${tag}-${i}`, { i }));
}
