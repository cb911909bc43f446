// Resetting a shard (`temporal workflow reset`, the operator's remedy for a stuck run) to any
// completed workflow task of a run that wrote batches: the reset run replays the run's first part
// (batch ids come from the workflow's seeded randomness, not the run id: see ShardRunStyle), takes
// every later signal again, and writes on. Against the run's real Temporal dev server and MariaDB.
import { randomUUID } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import { describe, expect, it, vi } from 'vitest';
import { batcherWorkflowId, requestIdFor } from '@write-batcher/protocol';
import { pipelinePerTest, type Pipeline } from '../pipeline/pipeline';

const start = pipelinePerTest();
const EventType = temporal.api.enums.v1.EventType;
const Cause = temporal.api.enums.v1.WorkflowTaskFailedCause;

/** At most this many resets per test (a count, not a time budget). */
const MAX_RESETS = 12;

type History = temporal.api.history.v1.IHistory;

/** The run's WorkflowTaskCompleted events: every tenth, and the last. */
function resetPoints(history: History): Array<{ eventId: NonNullable<temporal.api.history.v1.IHistoryEvent['eventId']>; nth: number }> {
  const completed = (history.events ?? []).filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
  const picked = completed.flatMap((e, i) =>
    (i + 1) % 10 === 0 || i === completed.length - 1 ? [{ eventId: e.eventId!, nth: i + 1 }] : [],
  );
  return picked;
}

/** Workflow task failures of a run other than the reset's own marker (a nondeterministic replay shows here). */
function taskFailures(history: History): string[] {
  return (history.events ?? []).flatMap((e) => {
    const f = e.workflowTaskFailedEventAttributes;
    if (!f || f.cause === Cause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW) return [];
    const cause = Cause[f.cause ?? 0] ?? String(f.cause);
    return [`${cause}: ${(f.failure?.message ?? '').slice(0, 200)}`];
  });
}

/** The runs from `runId` on, following continue-as-new, each with its history. */
async function runsFrom(pipeline: Pipeline, workflowId: string, runId: string): Promise<Array<{ runId: string; history: History }>> {
  const runs: Array<{ runId: string; history: History }> = [];
  for (let id: string | undefined = runId; id && runs.length < 50;) {
    const history = await pipeline.client.workflow.getHandle(workflowId, id).fetchHistory();
    runs.push({ runId: id, history });
    id =
      history.events?.find((e) => e.workflowExecutionContinuedAsNewEventAttributes)?.workflowExecutionContinuedAsNewEventAttributes
        ?.newExecutionRunId ?? undefined;
  }
  return runs;
}

describe('resetting a shard', () => {
  it('when a shard that wrote batches is reset to every tenth workflow task and its last, then each reset run writes on: nothing lost, doubled or refused', async (ctx) => {
    // One signal per request (SUBMIT_LINGER_MS=0), small batches, a short flush, a low per-task
    // limit: a reset to an early point gets far more requests again in one task than the limit.
    const pipeline = await start({
      title: ctx.task.name,
      env: {
        SUBMIT_LINGER_MS: '0',
        BATCH_MAX_SIZE: '20',
        BATCH_FLUSH_INTERVAL_MS: '300',
        CONTINUE_AS_NEW_SIGNALS: '150',
        BATCHER_MAX_REQUESTS_PER_TASK: '25',
      },
    });
    const workflowId = batcherWorkflowId(pipeline.batcher.workflowIdPrefix, 0);
    const namespace = pipeline.client.options.namespace;
    const all: string[] = [];
    const runAll = async (ids: string[], timeoutMs?: number) => {
      all.push(...ids);
      const outcomes = await pipeline.run(ids, timeoutMs);
      expect(outcomes.filter((o) => !o.ok).map((o) => `${o.workflowId}: ${o.errorType} ${o.message}`)).toEqual([]);
      return outcomes;
    };

    // A first run ends in continue-as-new (160 signals past the 150 threshold); the second run, the
    // one reset below, takes 100 requests in ten waves (many workflow tasks), in batches of at most 20.
    await runAll(pipeline.ids(160, 'first'));
    await vi.waitFor(async () => expect((await pipeline.stats()).continueAsNewCount).toBeGreaterThanOrEqual(1), {
      timeout: 30_000,
      interval: 200,
    });
    const second = pipeline.ids(100, 'second');
    for (let wave = 0; wave < 10; wave++) await runAll(second.slice(wave * 10, wave * 10 + 10));
    const base = await pipeline.client.workflow.getHandle(workflowId).describe();
    const baseHistory = await pipeline.client.workflow.getHandle(workflowId, base.runId).fetchHistory();
    const bulkWrites = (baseHistory.events ?? []).filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'bulkWrite',
    ).length;
    expect(bulkWrites).toBeGreaterThanOrEqual(5);
    expect(taskFailures(baseHistory)).toEqual([]);

    // The base run's points, then one of the first run (the one that continued as new): a reset
    // there takes the later signals of both runs again.
    const firstRunId = baseHistory.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    expect(firstRunId).toBeTruthy();
    const firstPoints = resetPoints(await pipeline.client.workflow.getHandle(workflowId, firstRunId!).fetchHistory());
    const points = resetPoints(baseHistory).map((p) => ({ ...p, runId: base.runId, label: `base run, task ${p.nth}` }));
    expect(points.length).toBeGreaterThanOrEqual(3);
    const last = firstPoints.at(-1)!;
    const chosen = [
      ...(points.length < MAX_RESETS ? points : [...points.slice(0, MAX_RESETS - 2), points.at(-1)!]),
      { ...last, runId: firstRunId!, label: `first run, task ${last.nth} (its last)` },
    ];
    console.log(`base run: ${bulkWrites} bulk writes; resetting at ${chosen.map((p) => p.label).join('; ')}`);

    for (const [i, point] of chosen.entries()) {
      const { runId } = await pipeline.client.workflowService.resetWorkflowExecution({
        namespace,
        workflowExecution: { workflowId, runId: point.runId },
        workflowTaskFinishEventId: point.eventId,
        requestId: randomUUID(),
        reason: `reset test: ${point.label}`,
      });
      expect(runId).toBeTruthy();

      // Fresh requests are written and answered by the reset run (or a run it continued as new into).
      const fresh = await runAll(pipeline.ids(10, `fresh${i}`), 60_000);
      expect(fresh.filter((o) => o.result?.verifiedAfterTimeout)).toEqual([]);
      expect(fresh.map((o) => o.result?.status)).toEqual(fresh.map(() => 'committed'));

      const runs = await runsFrom(pipeline, workflowId, runId);
      const failures = runs.flatMap((r) => taskFailures(r.history).map((f) => `${r.runId}: ${f}`));
      expect(failures.filter((f) => /NON_DETERMINISTIC|TMPRL1100|[Nn]ondetermin/.test(f))).toEqual([]);

      // The ledger: every request so far exactly once, committed, its row once in the table.
      const rows = await pipeline.rows();
      expect(rows.filter((r) => r.status !== 'committed' || r.rows_in_table !== 1)).toEqual([]);
      expect(rows.map((r) => r.request_id).sort()).toEqual(all.map(requestIdFor).sort());

      // Nobody was refused for capacity: not the fresh requesters, not the requests taken again.
      const stats = await pipeline.stats();
      expect(stats.refused).toBe(0);
      console.log(
        `reset ${i + 1}/${chosen.length} at ${point.label}: ${runs.length} run(s), ${rows.length} ledger rows, requests ${stats.requestsTotal}, duplicates ${stats.duplicates}, refused ${stats.refused}`,
      );
    }
  }, 900_000); // a safety net against a hang only: the test is bounded by its count of resets
});
