// The activities behind `batchedWrite()`, run on the batcher's task queue (where the database and
// the shards are): hand a request to its shard and wait for the batcher to complete the activity,
// and settle an id in the ledger. Requests are checked against the declared tables before they are
// queued, and grouped per shard in this process, so a shard sees a few signals a second however
// many requester workers there are.
import { CompleteAsyncError, activityInfo } from '@temporalio/activity';
import { isGrpcServiceError, type Client } from '@temporalio/client';

/** gRPC status codes (as @grpc/grpc-js numbers them). */
const INVALID_ARGUMENT = 3;
const PERMISSION_DENIED = 7;
const UNIMPLEMENTED = 12;
const UNAUTHENTICATED = 16;
type ServiceError = Error & { code: number; details: string };
import { ApplicationFailure } from '@temporalio/common';
import {
  BATCHER_WORKFLOW_TYPE,
  BatcherErrorTypes,
  MAX_REQUESTER_WORKFLOW_ID_BYTES,
  MAX_REQUEST_ID_BYTES,
  awaitActivityIdFor,
  idProblem,
  jsonBytes,
  measurePayload,
  moreRowsProblem,
  shardFor,
  type AwaitWriteInput,
  type SettleWriteInput,
  type SettleWriteResult,
  type TraceCarrier,
  type UnitRow,
  type WriteOutcome,
  type WriteRequest,
} from '@write-batcher/protocol';
import type { Pool } from 'mysql2/promise';
import { claimAbandoned, decodeRowStatuses, judgeRepeat, rowDigest } from '../db/ledger';
import type { Catalog } from '../db/targets';
import { isBatcherWorkflowId, signalWithStartBatcher, type ShardRouting } from '../shards';
import { SubmitGroups } from './submit-groups';
import type { BatcherSettings } from '../workflows/types';

/** gRPC codes that no retry can change: the request or the configuration is wrong. */
const PERMANENT = new Set([INVALID_ARGUMENT, PERMISSION_DENIED, UNAUTHENTICATED, UNIMPLEMENTED]);

/** The largest submit signal this worker sends, in JSON bytes (Temporal refuses a payload over 2 MB). */
const MAX_GROUP_BYTES = 512 * 1024;

export interface SubmitSettings {
  /**
   * The longest the first request for a shard waits for company before its signal is sent, in ms:
   * a bound, not the wait itself (see {@link effectiveGrouping}). @default 20000
   */
  lingerMs: number;
  /** A group this large is sent at once (never more than a full batch). @default 500 */
  maxRequests: number;
}

/** The linger of the eager policy: it writes at once, so a group waits only for what arrives together. */
export const EAGER_LINGER_MS = 250;

/**
 * How long a group really lingers, and at what size it goes, under the shard's batching policy.
 * Each signal is a Temporal action, so a group should carry as many requests as the policy's own
 * wait allows: under size-or-interval a request waits for its batch up to the flush interval anyway,
 * and the shard counts that interval from the request's submission, so a group lingers up to the
 * whole interval (within the operator's bound) and is written as it arrives, with no timer of the
 * shard's; it goes as soon as it holds a full batch. Under eager it lingers only
 * {@link EAGER_LINGER_MS}. At saturation groups fill before the linger ends.
 */
export function effectiveGrouping(
  submit: SubmitSettings,
  settings: Pick<BatcherSettings, 'flushPolicy' | 'flushIntervalMs' | 'maxBatchSize'> | undefined,
): { lingerMs: number; maxRequests: number } {
  if (!settings) return { lingerMs: submit.lingerMs, maxRequests: submit.maxRequests };
  const policyLinger = settings.flushPolicy === 'eager' ? EAGER_LINGER_MS : settings.flushIntervalMs;
  return {
    lingerMs: Math.min(submit.lingerMs, policyLinger),
    maxRequests: Math.max(1, Math.min(submit.maxRequests, settings.maxBatchSize)),
  };
}

export interface SubmitDeps {
  client: Client;
  pool: Pool;
  catalog: Catalog;
  routing: ShardRouting;
  submit: SubmitSettings;
  /** The shards' batching policy (this worker's): how long a group may linger and how large it gets. */
  settings?: Pick<BatcherSettings, 'flushPolicy' | 'flushIntervalMs' | 'maxBatchSize'>;
  /** The active trace context, so the batch links the requester's trace. */
  traceCarrier?: () => TraceCarrier;
}

/**
 * A refusal that lasts only until the shard continues as new: Temporal takes at most 10,000 signals
 * per run (by default) and answers the next with INVALID_ARGUMENT. The batcher continues as new in
 * the next pause, so the attempt is retried like any transient failure.
 */
export function isSignalLimitRefusal(err: unknown): boolean {
  const grpc = grpcErrorOf(err);
  return grpc?.code === INVALID_ARGUMENT && String(grpc.details).includes('limit for signal events');
}

/** The gRPC error behind a client error (the client wraps it as a ServiceError's cause). */
function grpcErrorOf(err: unknown): ServiceError | undefined {
  if (isGrpcServiceError(err)) return err;
  const cause = (err as Error | undefined)?.cause;
  return isGrpcServiceError(cause) ? cause : undefined;
}

const invalid = (message: string) => ApplicationFailure.create({ type: BatcherErrorTypes.InvalidRequest, message, nonRetryable: true });

/** Who is asking: the workflow that scheduled this activity, as Temporal says (never what the input claims). */
function requester(routing: ShardRouting, requestId: unknown): { workflowId: string; runId: string; activityId: string } {
  const info = activityInfo();
  if (!info.workflowExecution) throw invalid('this activity answers a workflow: schedule it through batchedWrite()');
  const { workflowId, runId } = info.workflowExecution;
  const problem =
    idProblem('requester workflow id', workflowId, MAX_REQUESTER_WORKFLOW_ID_BYTES) ??
    idProblem('request id', requestId, MAX_REQUEST_ID_BYTES);
  if (problem !== undefined) throw invalid(problem);
  if (isBatcherWorkflowId(routing, workflowId))
    throw invalid(`requester workflow id ${workflowId} is a batcher's id (${routing.workflowIdPrefix}-<n>); choose another id`);
  return { workflowId, runId, activityId: info.activityId };
}

export function createSubmitActivities(deps: SubmitDeps) {
  /** Runs of each shard already checked to be batchers (a workflow of another type may hold the id). */
  const verifiedRuns = new Map<number, string>();

  const groups = new SubmitGroups<number, WriteRequest>(
    async (shard, requests) => {
      const { workflowId, runId } = await signalWithStartBatcher(deps.client, deps.routing, shard, requests);
      if (verifiedRuns.get(shard) === runId) return;
      const { type } = await deps.client.workflow.getHandle(workflowId, runId).describe();
      if (type !== BATCHER_WORKFLOW_TYPE) {
        throw ApplicationFailure.create({
          type: BatcherErrorTypes.SubmissionFailed,
          message: `workflow id ${workflowId} is held by a ${type} workflow, not a batcher: shard ${shard} cannot take requests until it ends`,
          nonRetryable: true,
        });
      }
      verifiedRuns.set(shard, runId);
    },
    { ...effectiveGrouping(deps.submit, deps.settings), maxBytes: MAX_GROUP_BYTES },
  );

  return {
    /** Hands the request to its shard; the batcher completes this activity (by its id) with the outcome. */
    async awaitBatchedWrite(input: AwaitWriteInput): Promise<WriteOutcome> {
      const who = requester(deps.routing, input?.requestId);
      if (who.activityId !== awaitActivityIdFor(input.requestId)) {
        // The batcher answers only the activity batchedWrite derives from the request id.
        throw invalid(
          `activity id ${who.activityId.slice(0, 80)} is not ${awaitActivityIdFor(input.requestId).slice(0, 80)}: schedule awaitBatchedWrite through batchedWrite()`,
        );
      }
      if (typeof input.table !== 'string') throw invalid('table must be a string');
      const measured = measurePayload(input.row);
      if ('problem' in measured) throw invalid(measured.problem.replace(/^payload/, 'row'));
      const unitProblem = moreRowsProblem(input.moreRows, measured.bytes);
      if (unitProblem !== undefined) throw invalid(unitProblem);
      const moreRows = input.moreRows?.length ? input.moreRows : undefined;
      // Every value's wire form, then the table as it is now (re-read once before a refusal for its
      // shape), for each row of a unit, named by its place.
      const rows: UnitRow[] = [{ table: input.table, row: input.row }, ...(moreRows ?? [])];
      for (const [i, r] of rows.entries()) {
        const problem = await deps.catalog.freshProblem(r.table, r.row);
        if (problem !== undefined) throw invalid(moreRows ? `row ${i + 1} of the unit: ${problem}` : problem);
      }
      const shard = shardFor(input.requestId, deps.routing.shards);
      const request: WriteRequest = {
        requestId: input.requestId,
        requesterWorkflowId: who.workflowId,
        table: input.table,
        row: input.row,
        ...(moreRows ? { moreRows } : {}),
        submittedAtMs: typeof input.submittedAtMs === 'number' ? input.submittedAtMs : Date.now(),
        reply: { workflowId: who.workflowId, runId: who.runId, activityId: who.activityId },
        trace: deps.traceCarrier?.(),
      };
      try {
        // A later attempt was sent again because an earlier one got no answer (a batcher worker that
        // died holding its group, a shard that lost it): it has waited long enough, its group goes at once.
        await groups.submit(shard, request, jsonBytes(request), activityInfo().attempt > 1);
      } catch (err) {
        if (err instanceof ApplicationFailure) throw err;
        const grpc = grpcErrorOf(err);
        if (grpc !== undefined && PERMANENT.has(grpc.code) && !isSignalLimitRefusal(err)) {
          throw ApplicationFailure.create({
            type: BatcherErrorTypes.SubmissionFailed,
            message: `Temporal refused the submission to shard ${shard}: ${grpc.details || (err as Error).message}`,
            nonRetryable: true,
          });
        }
        // Unreachable server, deadline, a shard at its signal limit: this attempt fails and Temporal
        // retries it, within the write's deadline.
        throw err;
      }
      throw new CompleteAsyncError();
    },

    /** Claims the id as abandoned in the ledger, or finds it committed (and whether for this row). Idempotent. */
    async settleBatchedWrite(input: SettleWriteInput): Promise<SettleWriteResult> {
      const who = requester(deps.routing, input?.requestId);
      const shard = shardFor(input.requestId, deps.routing.shards);
      if (typeof input.table !== 'string') throw invalid('table must be a string');
      const measured = measurePayload(input.row);
      if ('problem' in measured) throw invalid(measured.problem.replace(/^payload/, 'row'));
      const unitProblem = moreRowsProblem(input.moreRows, measured.bytes);
      if (unitProblem !== undefined) throw invalid(unitProblem);
      const table = input.table;
      const moreRows = input.moreRows?.length ? input.moreRows : undefined;
      const digest = rowDigest(table, input.row, moreRows);
      const entry = await claimAbandoned(deps.pool, {
        requestId: input.requestId,
        requesterWorkflowId: who.workflowId,
        table,
        digest,
        shard,
      });
      if (entry.status === 'abandoned') return { status: 'abandoned', shard, ...(entry.claimedNow ? {} : { abandonedEarlier: true }) };
      const verdict = judgeRepeat(entry, table, digest);
      // A unit's rows, each with what its batch did with it, as the ledger recorded them.
      const rows =
        moreRows && verdict.status !== 'conflict'
          ? decodeRowStatuses(entry.rowStatuses, [table, ...moreRows.map((m) => m.table)])
          : undefined;
      return {
        // What the batch did with the row, as the ledger recorded it (a conflict below overrides it).
        status: entry.status === 'ignored' || entry.status === 'updated' ? entry.status : 'committed',
        batchId: entry.batchId,
        ...(rows ? { rows } : {}),
        shard,
        ...(verdict?.status === 'conflict' ? { conflict: `${verdict.reason}; the row written first stays` } : {}),
      };
    },
  };
}
