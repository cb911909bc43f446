// Forgeries against live requests, generated (fast-check), on the real Temporal dev server and
// MariaDB: a hand-built submitWrites signal under a victim's request id and reply address (another
// valid row, an invalid row, or the same row; before, while or after the victim's request), a
// failure of the victim's waiting activity sent from outside (each batcher error type), and a
// completion of it from outside with garbage. The invariant, per victim: what its workflow was told
// agrees with the ledger and the table. Told committed ⇔ the ledger holds its id committed for its
// own row and the table holds that row once; told failed ⇒ its id is settled in the ledger and its
// row is not in the table (no phantom). A forged well-formed "committed" completion is outside what
// the batcher can check (docs/reliability.md, "Trust boundary"), so it is not generated.
//
// FUZZ_RUNS sets the number of cases (default 20, the first 10 of them fixed examples); FUZZ_SEED
// replays a run (the seed is printed, and fast-check prints it with any counterexample).
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import {
  BatcherErrorTypes,
  awaitActivityIdFor,
  batcherWorkflowId,
  requestIdFor,
  shardFor,
  type WireRow,
  type WriteRequest,
} from '@write-batcher/protocol';
import { signalWithStartBatcher } from '@write-batcher/batcher';
import { awaitTransactions, startTransactions, type TransactionOutcome } from '@batcher/demo/transactions';
import { allRows } from '../support/ledger-view';
import { delay, waitUntil } from '../support/processes';
import { demoRow, pipelinePerTest, type Pipeline } from './pipeline';

const startPipeline = pipelinePerTest();

type When = 'before' | 'while' | 'after';
type Forgery =
  | { kind: 'signal'; row: 'other' | 'invalid' | 'same'; when: When; realRunId: boolean; delayMs: number }
  | { kind: 'fail'; errorType: string; nonRetryable: boolean; delayMs: number }
  | { kind: 'complete'; garbage: unknown; delayMs: number };

const ERROR_TYPES = Object.values(BatcherErrorTypes);
const GARBAGE: unknown[] = [
  'garbage',
  null,
  42,
  [],
  { status: 'committed' },
  { requestId: 'write:someone-else', table: 'batched_writes', status: 'committed' },
];

const forgery: fc.Arbitrary<Forgery> = fc.oneof(
  fc.record({
    kind: fc.constant('signal' as const),
    row: fc.constantFrom('other' as const, 'invalid' as const, 'same' as const),
    when: fc.constantFrom('before' as const, 'while' as const, 'after' as const),
    realRunId: fc.boolean(),
    delayMs: fc.integer({ min: 0, max: 600 }),
  }),
  fc.record({
    kind: fc.constant('fail' as const),
    errorType: fc.constantFrom(...ERROR_TYPES),
    nonRetryable: fc.boolean(),
    delayMs: fc.integer({ min: 0, max: 600 }),
  }),
  fc.record({ kind: fc.constant('complete' as const), garbage: fc.constantFrom(...GARBAGE), delayMs: fc.integer({ min: 0, max: 600 }) }),
);

/** Every class at least once, whatever the seed. */
const EXAMPLES: Forgery[] = [
  { kind: 'signal', row: 'other', when: 'while', realRunId: true, delayMs: 0 },
  { kind: 'signal', row: 'invalid', when: 'while', realRunId: true, delayMs: 0 },
  { kind: 'signal', row: 'same', when: 'while', realRunId: true, delayMs: 0 },
  { kind: 'signal', row: 'other', when: 'before', realRunId: false, delayMs: 0 },
  { kind: 'signal', row: 'other', when: 'after', realRunId: true, delayMs: 0 },
  { kind: 'fail', errorType: BatcherErrorTypes.Conflict, nonRetryable: true, delayMs: 0 },
  { kind: 'fail', errorType: BatcherErrorTypes.Abandoned, nonRetryable: true, delayMs: 0 },
  { kind: 'fail', errorType: BatcherErrorTypes.Conflict, nonRetryable: false, delayMs: 0 },
  { kind: 'signal', row: 'other', when: 'while', realRunId: false, delayMs: 0 },
  { kind: 'complete', garbage: { status: 'committed' }, delayMs: 0 },
];

/** The label of a case in the summary. */
const classOf = (f: Forgery): string =>
  f.kind === 'signal'
    ? `signal ${f.row} row ${f.when}${f.when === 'before' ? '' : f.realRunId ? ' (real run id)' : ' (made-up run id)'}`
    : f.kind === 'fail'
      ? `activity.fail ${f.errorType}${f.nonRetryable ? '' : ' (retryable)'}`
      : 'activity.complete garbage';

/** Whether the victim's own request (its run's reply address) has reached its shard. */
async function requestInShard(pipeline: Pipeline, requestId: string, runId: string): Promise<boolean> {
  const shardId = batcherWorkflowId(pipeline.batcher.workflowIdPrefix, shardFor(requestId, pipeline.batcher.shards));
  const history = await pipeline.client.workflow
    .getHandle(shardId)
    .fetchHistory()
    .catch(() => undefined);
  return (history?.events ?? []).some((e) =>
    (e.workflowExecutionSignaledEventAttributes?.input?.payloads ?? []).some((p) => {
      const text = Buffer.from(p.data ?? []).toString('utf8');
      return text.includes(JSON.stringify(requestId)) && text.includes(runId);
    }),
  );
}

describe('forgeries against live requests', () => {
  it('when requests are forged under live request ids, or their waiting activities are failed or completed from outside, then every victim is told what the ledger and the table hold', async (ctx) => {
    const pipeline = await startPipeline({ title: ctx.task.name, env: { BATCH_FLUSH_INTERVAL_MS: '1500' }, businessStepMs: 0 });
    const routing = pipeline.batcher;
    const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const numRuns = Math.max(EXAMPLES.length, Number(process.env.FUZZ_RUNS ?? 20));
    console.log(
      `forgery property: seed ${seed}, ${numRuns} cases, the first ${EXAMPLES.length} fixed examples (FUZZ_SEED=${seed} replays)`,
    );
    const summary = new Map<string, Map<string, number>>();
    let n = 0;

    const forgeSignal = async (f: Forgery & { kind: 'signal' }, victim: string, runId: string, payload: Record<string, unknown>) => {
      const requestId = requestIdFor(victim);
      const row: WireRow =
        f.row === 'same'
          ? demoRow(payload)
          : f.row === 'other'
            ? demoRow({ forged: true, victim })
            : ({ payload: { '@wb': 'bigint', v: 'not a number' }, no_such_column: 1 } as unknown as WireRow);
      const request: WriteRequest = {
        requestId,
        requesterWorkflowId: victim,
        table: 'batched_writes',
        row,
        submittedAtMs: Date.now(),
        reply: {
          workflowId: victim,
          runId: f.realRunId && f.when !== 'before' ? runId : randomUUID(),
          activityId: awaitActivityIdFor(requestId),
        },
      };
      await signalWithStartBatcher(pipeline.client, routing, shardFor(requestId, routing.shards), [request]);
    };

    const property = fc.asyncProperty(forgery, async (f) => {
      const victim = `victim-${++n}-${randomUUID().slice(0, 6)}`;
      const requestId = requestIdFor(victim);
      const payload = { victim, n };
      if (f.kind === 'signal' && f.when === 'before') await forgeSignal(f, victim, '', payload);
      const startedAt = Date.now();
      await startTransactions(pipeline.client, {
        taskQueue: pipeline.mainTaskQueue,
        workflowIds: [victim],
        input: () => ({ payload, confirmationTimeoutMs: 60_000, batcherTaskQueue: routing.taskQueue }),
      });
      const handle = pipeline.client.workflow.getHandle(victim);
      const runId = (await handle.describe()).runId;
      const address = { workflowId: victim, runId, activityId: awaitActivityIdFor(requestId) };
      const outcome: Promise<TransactionOutcome> = awaitTransactions(pipeline.client, [victim], startedAt).then(
        ([o]) => o as TransactionOutcome,
      );
      let landed = 'sent';
      if (f.kind !== 'signal' || f.when === 'while') {
        // While the victim waits: its own request is in its shard (so a forged one comes second).
        await waitUntil('the victim’s request in its shard', () => requestInShard(pipeline, requestId, runId), { timeoutMs: 30_000 });
        await delay(f.delayMs);
        try {
          if (f.kind === 'signal') await forgeSignal(f, victim, runId, payload);
          else if (f.kind === 'fail')
            await pipeline.client.activity.fail(
              address,
              ApplicationFailure.create({ type: f.errorType, message: `forged ${f.errorType}`, nonRetryable: f.nonRetryable }),
            );
          else await pipeline.client.activity.complete(address, f.garbage);
        } catch (err) {
          landed = `missed (${(err as Error).name})`; // the activity had finished already
        }
      }
      const told = await outcome;
      if (f.kind === 'signal' && f.when === 'after') {
        await forgeSignal(f, victim, runId, payload);
        await delay(2_500); // a flush interval and its answers: anything the forgery caused has landed
      }
      const entry = (await allRows(pipeline.pool)).find((r) => r.requestId === requestId);
      const ownRow = entry !== undefined && JSON.stringify(entry.payload) === JSON.stringify(payload);
      const verdict = told.ok ? `told ${told.result?.status}` : `told ${told.errorType}`;
      const byClass = summary.get(classOf(f)) ?? new Map<string, number>();
      const key = `${verdict}${landed === 'sent' ? '' : `, ${landed}`}`;
      byClass.set(key, (byClass.get(key) ?? 0) + 1);
      summary.set(classOf(f), byClass);
      const seen = { forgery: f, told: verdict, ledger: entry ? { status: entry.status, ownRow, rowsInTable: entry.rowsInTable } : 'none' };
      if (told.ok) {
        // Told committed ⇔ the ledger says committed for its row, and the table holds it once.
        expect(seen).toMatchObject({ ledger: { status: 'committed', ownRow: true, rowsInTable: 1 } });
      } else {
        // Told failed: typed, the id settled, and its own row nowhere (no phantom).
        expect(ERROR_TYPES).toContain(told.errorType);
        expect(seen.ledger).not.toBe('none');
        expect(seen).not.toMatchObject({ ledger: { status: 'committed', ownRow: true } });
      }
      return true;
    });
    await fc.assert(property, { seed, numRuns, examples: EXAMPLES.map((e) => [e]), endOnFailure: true });

    for (const [what, verdicts] of summary) console.log(`${what}: ${[...verdicts].map(([v, c]) => `${c} ${v}`).join('; ')}`);
    // The shard lived through all of it: no workflow task of it failed.
    for (let shard = 0; shard < routing.shards; shard++) {
      const history = await pipeline.client.workflow
        .getHandle(batcherWorkflowId(routing.workflowIdPrefix, shard))
        .fetchHistory()
        .catch(() => undefined);
      expect(history?.events?.filter((e) => e.workflowTaskFailedEventAttributes) ?? []).toEqual([]);
    }
    const stats = await pipeline.stats();
    console.log(`shard 0: requests ${stats.requestsTotal}, rejected ${stats.rejected}, replies refused ${stats.repliesRefused}`);
  }, 900_000);
});
