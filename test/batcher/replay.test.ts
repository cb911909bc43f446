// Replay: the batcher workflow of this tree replays the baseline history, a real run recorded from
// the baseline release's workflow code on the time-skipping server (test/batcher/record-history.test.ts):
// groups of requests by signal, one of them refused (an answer delivered), a signal of an unknown
// name dropped, bulk writes of 5 rows, its statistics published in the memo, and continue-as-new due
// after 3 signals while writes were still in flight.
//
// Every change to the workflow code (packages/batcher/src/workflows) must keep replaying this
// fixture: a shard running when its workers are replaced goes on only if the new code makes the
// same commands from its history. When a change cannot, it needs `patched()` (and, once no run
// without it can exist, `deprecatePatch()`), plus a fixture recorded from its own code, replayed here
// beside this one.
import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { BATCHER_SANDBOX_OPTIONS, workflowsPath } from '@write-batcher/batcher';

function recorded(name: string): temporal.api.history.v1.History {
  return temporal.api.history.v1.History.decode(fs.readFileSync(path.join(__dirname, 'fixtures', name)));
}

/** Each event's type, as the name of the attributes it carries. */
const kinds = (history: temporal.api.history.v1.IHistory) =>
  (history.events ?? []).map((e) => Object.keys(e).find((k) => k.endsWith('EventAttributes') && (e as Record<string, unknown>)[k]));

/** The activity types the run scheduled, in order. */
const activityTypes = (history: temporal.api.history.v1.IHistory) =>
  (history.events ?? []).flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);

const BASELINE = 'batcher-history-baseline.bin';

describe('replaying the baseline history', () => {
  it('when a shard ran the baseline release, then this tree replays its run to the same end', async () => {
    const history = recorded(BASELINE);
    const types = kinds(history);
    // The run is one that matters: it took signals, read its settings, wrote, answered, published its
    // statistics and continued as new.
    expect(types.filter((t) => t === 'workflowExecutionSignaledEventAttributes').length).toBeGreaterThanOrEqual(5);
    expect(activityTypes(history)).toEqual(expect.arrayContaining(['batcherSettings', 'bulkWrite', 'deliverAnswers']));
    expect(activityTypes(history)[0]).toBe('batcherSettings');
    expect(types).toContain('workflowPropertiesModifiedEventAttributes');
    expect(types).not.toContain('markerRecordedEventAttributes'); // no patch, no local activity
    expect(types.at(-1)).toBe('workflowExecutionContinuedAsNewEventAttributes');
    await Worker.runReplayHistory({ workflowsPath, ...BATCHER_SANDBOX_OPTIONS }, history, 'batcher-replay-baseline');
  });

  it('when a workflow was changed without a patch (a timer before its settings are read), then replaying the baseline fails as nondeterministic', async () => {
    const history = recorded(BASELINE);
    const changed = path.join(__dirname, 'fixtures', 'changed-batcher-workflow.ts');
    await expect(
      Worker.runReplayHistory({ workflowsPath: changed, ...BATCHER_SANDBOX_OPTIONS }, history, 'batcher-replay-changed'),
    ).rejects.toThrow(DeterminismViolationError);
  });

  it('when one event of the baseline is altered (the first bulk write scheduled as another activity), then the unchanged workflow does not replay it', async () => {
    const history = recorded(BASELINE);
    const scheduled = history.events.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'bulkWrite',
    )?.activityTaskScheduledEventAttributes;
    expect(scheduled?.activityType).toBeDefined();
    scheduled!.activityType!.name = 'deliverAnswers';
    await expect(Worker.runReplayHistory({ workflowsPath, ...BATCHER_SANDBOX_OPTIONS }, history, 'batcher-replay-altered')).rejects.toThrow(
      DeterminismViolationError,
    );
  });
});

describe('replaying a reset history', () => {
  // Recorded from this tree's code on the dev server (test/batcher/record-history.test.ts): a shard
  // wrote batches and took a group past its per-task limit, was reset to a workflow task in the
  // middle, got the later signals again (past the limit once more) and wrote on under a new run id.
  const RESET = 'batcher-history-reset.bin';

  it('when a shard was reset to a workflow task in the middle of its batches, then this tree replays the reset run, before and after the reset point', async () => {
    const history = recorded(RESET);
    const events = history.events ?? [];
    const resetAt = events.findIndex(
      (e) =>
        e.workflowTaskFailedEventAttributes?.cause ===
        temporal.api.enums.v1.WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW,
    );
    expect(resetAt).toBeGreaterThan(0);
    const bulkWrites = (part: typeof events) => activityTypes({ events: part }).filter((t) => t === 'bulkWrite').length;
    // Batches whose results the replay must accept as its own, and batches the reset run wrote.
    expect(bulkWrites(events.slice(0, resetAt))).toBeGreaterThanOrEqual(3);
    expect(bulkWrites(events.slice(resetAt))).toBeGreaterThanOrEqual(3);
    expect(events.slice(resetAt).some((e) => e.timerStartedEventAttributes)).toBe(true);
    expect(events.flatMap((e) => e.markerRecordedEventAttributes ?? []).length).toBeGreaterThanOrEqual(1); // the patch
    await Worker.runReplayHistory({ workflowsPath, ...BATCHER_SANDBOX_OPTIONS }, history, 'batcher-replay-reset');
  });

  it('when the reset history is replayed as if its batch ids were not its own (each bulk-write result names another batch), then it does not replay', async () => {
    // What a shard whose batch ids follow the run id meets after a reset: the recorded results are
    // another batch's, the shard refuses them, and its commands differ from the history's.
    const history = recorded(RESET);
    for (const e of history.events ?? []) {
      const done = e.activityTaskCompletedEventAttributes;
      const payload = done?.result?.payloads?.[0];
      if (!payload?.data) continue;
      const result = JSON.parse(Buffer.from(payload.data).toString()) as { batchId?: string };
      if (typeof result.batchId !== 'string') continue;
      payload.data = Buffer.from(JSON.stringify({ ...result, batchId: `${result.batchId}-other` }));
    }
    await expect(
      Worker.runReplayHistory({ workflowsPath, ...BATCHER_SANDBOX_OPTIONS }, history, 'batcher-replay-reset-other'),
    ).rejects.toThrow(DeterminismViolationError);
  });
});

describe('replaying the history of this release (every patch on)', () => {
  const CURRENT = 'batcher-history-thin.bin';

  it('when a shard ran with the shard task queue, reset-safe ids and thin-traffic patches, then this tree replays its run to the same end', async () => {
    const history = recorded(CURRENT);
    const types = kinds(history);
    const patches = (history.events ?? []).flatMap((e) => {
      const details = e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data;
      return details ? [JSON.parse(Buffer.from(details).toString()).id as string] : [];
    });
    expect(patches).toEqual(expect.arrayContaining(['shard-activities-own-queue', 'reset-safe-shard', 'thin-traffic-actions']));
    // Its activities ran on the shard task queue, its batch ids are not the run's.
    const scheduled = (history.events ?? []).flatMap((e) => e.activityTaskScheduledEventAttributes ?? []);
    expect(scheduled.length).toBeGreaterThan(2);
    for (const a of scheduled) expect(a.taskQueue?.name).toMatch(/-shard$/);
    expect(activityTypes(history)).toEqual(expect.arrayContaining(['batcherSettings', 'bulkWrite', 'deliverAnswers']));
    expect(types.at(-1)).toBe('workflowExecutionContinuedAsNewEventAttributes');
    await Worker.runReplayHistory({ workflowsPath, ...BATCHER_SANDBOX_OPTIONS }, history, 'batcher-replay-current');
  });
});

describe('replaying a history with a unit and a settings reload', () => {
  const UNITS = 'batcher-history-units.bin';

  it('when a shard wrote a unit of three rows and then continued as new on a settings announcement, then this tree replays its run to the same end', async () => {
    const history = recorded(UNITS);
    const events = history.events ?? [];
    // What the fixture holds: the unit's further rows in a bulk write's input, the announcement, the continue-as-new.
    const bulkInputs = events.flatMap((e) =>
      e.activityTaskScheduledEventAttributes?.activityType?.name === 'bulkWrite'
        ? [Buffer.from(e.activityTaskScheduledEventAttributes.input?.payloads?.[0]?.data ?? []).toString()]
        : [],
    );
    expect(bulkInputs.some((input) => input.includes('"moreRows"'))).toBe(true);
    expect(events.some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'settingsChanged')).toBe(true);
    expect(kinds(history).at(-1)).toBe('workflowExecutionContinuedAsNewEventAttributes');
    await Worker.runReplayHistory({ workflowsPath, ...BATCHER_SANDBOX_OPTIONS }, history, 'batcher-replay-units');
  });
});
