// The chaos audit's judgement on hand-made outcomes and rows: each kind of violation is caught,
// and a clean run is clean. (The real kill rounds are in chaos.test.ts.)
import { describe, expect, it } from 'vitest';
import { audit, violationCount, type Outcome, type SentTransaction } from '../../harness/src/chaos/audit';

const sent: SentTransaction[] = ['a', 'b', 'c'].map((id, n) => ({ workflowId: `wf-${id}`, payload: { n, note: 'ü €' } }));
const row = (workflowId: string, payload: unknown, status = 'committed', requestId = `write:${workflowId}`) => ({
  request_id: Buffer.from(requestId, 'utf8'),
  status,
  batch_id: 'batch-1',
  requester_workflow_id: workflowId,
  payload: JSON.stringify(payload),
});
const completed: Outcome = { kind: 'completed', result: { status: 'committed', batchId: 'batch-1' } };
const allCompleted = new Map(sent.map((t) => [t.workflowId, completed]));

describe('chaos audit', () => {
  it('when every completed workflow has its own committed row with its payload, then there is no violation', () => {
    const v = audit(
      sent,
      allCompleted,
      sent.map((t) => row(t.workflowId, t.payload)),
    );
    expect(v).toMatchObject({ completed: 3, failed: 0, lost: 0, phantom: 0, doubled: 0, orphan: 0, open: 0 });
    expect(violationCount(v)).toBe(0);
  });

  it('when a completed workflow has no row, or only an abandoned one, or one whose id differs in case, then it is lost', () => {
    const rows = [
      row('wf-a', sent[0]!.payload, 'abandoned'),
      row('wf-b', sent[1]!.payload, 'committed', 'WRITE:wf-b'),
      row('wf-c', sent[2]!.payload),
    ];
    const v = audit(sent, allCompleted, rows);
    expect(v.lost).toBe(2);
    expect(v.violations.filter((x) => x.kind === 'lost').map((x) => x.workflowId)).toEqual(['wf-a', 'wf-b']);
    // The row under the wrong-case id belongs to no workflow of the run.
    expect(v.orphan).toBe(1);
  });

  it('when a failed workflow has a committed row, then it is a phantom; with an abandoned row it is not', () => {
    const outcomes = new Map<string, Outcome>([
      ...allCompleted,
      ['wf-a', { kind: 'failed', type: 'WriteConfirmationTimeout', message: 'timeout' }],
      ['wf-b', { kind: 'failed', type: 'WriteConfirmationTimeout', message: 'timeout' }],
    ]);
    const v = audit(sent, outcomes, [
      row('wf-a', sent[0]!.payload),
      row('wf-b', sent[1]!.payload, 'abandoned'),
      row('wf-c', sent[2]!.payload),
    ]);
    expect(v).toMatchObject({ completed: 1, failed: 2, failedByType: { WriteConfirmationTimeout: 2 }, phantom: 1, lost: 0 });
    expect(v.violations.map((x) => `${x.kind}:${x.workflowId}`)).toEqual(['phantom:wf-a']);
  });

  it('when a row holds another payload than the one sent, or an id has two rows, then it is doubled', () => {
    const rows = [
      row('wf-a', { n: 99 }),
      row('wf-b', sent[1]!.payload),
      row('wf-b', sent[1]!.payload, 'abandoned'),
      row('wf-c', sent[2]!.payload),
    ];
    const v = audit(sent, allCompleted, rows);
    expect(v.doubled).toBe(2);
    expect(violationCount(v)).toBe(2);
  });

  it('when a workflow is still open and has a committed row, then it is open and its row an orphan; a row of no workflow is an orphan', () => {
    const outcomes = new Map<string, Outcome>([...allCompleted, ['wf-c', { kind: 'open' }]]);
    const rows = [...sent.map((t) => row(t.workflowId, t.payload)), row('wf-zzz', {})];
    const v = audit(sent, outcomes, rows);
    expect(v).toMatchObject({ open: 1, orphan: 2, completed: 2 });
  });

  it('when a workflow fails with a type outside BatcherErrorTypes, then the verdict counts it', () => {
    const outcomes = new Map<string, Outcome>([...allCompleted, ['wf-a', { kind: 'failed', type: 'TypeError', message: 'boom' }]]);
    const v = audit(
      sent,
      outcomes,
      sent.slice(1).map((t) => row(t.workflowId, t.payload)),
    );
    expect(v.untypedFailures).toBe(1);
    expect(violationCount(v)).toBe(1);
  });
});
