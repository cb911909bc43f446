// The generative adversarial suite's own parts, without a stack: the same seed draws the same
// actions, every class gets a case in every round, and the invariant check catches each kind of
// violation on hand-made answers, rows and ledger entries. (The live run is fuzz.test.ts.)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Outcome } from '../../harness/src/chaos/audit';
import { Markers, markerForms } from '../../harness/src/fuzz/build';
import { LogScanner, checkRequests, honestDigest, type HonestRequest, type JsonRow, type LedgerRow } from '../../harness/src/fuzz/check';
import { FUZZ_CLASSES, actionOfCase, classOfCase } from '../../harness/src/fuzz/generate';

const h = (id: string, extra: Partial<HonestRequest> = {}): HonestRequest => ({
  workflowId: id,
  runId: 'run',
  requestId: `write:${id}`,
  payload: { m: `zq0000000${id.length}qz`, note: 'ü €' },
  ...extra,
});
const rowOf = (x: HonestRequest, payload: unknown = x.payload): JsonRow => ({
  request_id: x.requestId,
  status: 'committed',
  payload: JSON.stringify(payload),
});
const committed = (x: HonestRequest, digest = honestDigest(x.payload)): LedgerRow => ({
  request_id: x.requestId,
  status: 'committed',
  target_table: 'batched_writes',
  digest,
});
const done: Outcome = { kind: 'completed', result: { status: 'committed' } };
const failed = (type: string, message = 'write'): Outcome => ({ kind: 'failed', type, message });

describe('fuzz generation', () => {
  it('when the same seed is drawn twice, then the same actions come out, and another seed gives others', () => {
    const draw = (seed: number) => Array.from({ length: 20 }, (_, n) => actionOfCase(seed, n, FUZZ_CLASSES, 2));
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
  });

  it('when cases are drawn, then every class has one case in each round of as many cases as classes', () => {
    for (const seed of [1, 2, 3]) {
      for (let round = 0; round < 4; round++) {
        const got = FUZZ_CLASSES.map((_, i) => classOfCase(seed, round * FUZZ_CLASSES.length + i, FUZZ_CLASSES));
        expect([...got].sort()).toEqual([...FUZZ_CLASSES].sort());
      }
    }
    expect(classOfCase(5, 3, ['forgery'])).toBe('forgery');
  });
});

describe('fuzz invariants', () => {
  it('when every request completed with its own row and ledger entry, then there is no violation', () => {
    const list = [h('a'), h('bb')];
    expect(
      checkRequests(
        list,
        new Map(list.map((x) => [x.workflowId, done])),
        list.map((x) => rowOf(x)),
        [],
        list.map((x) => committed(x)),
      ),
    ).toEqual([]);
  });

  it('when a request is told committed without its row, then it is lost; with another row under its id, lost as well', () => {
    const a = h('a');
    const b = h('bb');
    const v = checkRequests(
      [a, b],
      new Map([
        [a.workflowId, done],
        [b.workflowId, done],
      ]),
      [rowOf(b, { other: 1 })],
      [],
      [committed(b, 'f'.repeat(64))],
    );
    expect(v.map((x) => [x.kind, x.where])).toEqual([
      ['lost', 'a'],
      ['lost', 'bb'],
    ]);
  });

  it('when a request is told it failed while its own row is committed, then it is a phantom', () => {
    const a = h('a');
    const v = checkRequests([a], new Map([[a.workflowId, failed('WriteConflict')]]), [rowOf(a)], [], [committed(a)]);
    expect(v.map((x) => x.kind)).toEqual(['phantom']);
  });

  it('when a valid request is answered InvalidWriteRequest for its own id, or not WriteConflict while another row holds its id, then the answer is false', () => {
    const a = h('a');
    const b = h('bb');
    const v = checkRequests(
      [a, b],
      new Map([
        [a.workflowId, failed('InvalidWriteRequest', `write ${a.requestId} cannot be accepted`)],
        [b.workflowId, failed('WriteAbandoned')],
      ]),
      [rowOf(b, { forged: true })],
      [],
      [committed(b, '0'.repeat(64))],
    );
    expect(v.map((x) => [x.kind, x.where])).toEqual([
      ['false-answer', 'a'],
      ['false-answer', 'bb'],
    ]);
  });

  it('when a failure is untyped, a row has no committed ledger entry, or a request is still open, then each is a violation', () => {
    const a = h('a');
    const b = h('bb');
    const c = h('ccc');
    const v = checkRequests(
      [a, b, c],
      new Map<string, Outcome>([
        [a.workflowId, failed('Error')],
        [b.workflowId, done],
      ]),
      [rowOf(b)],
      [],
      [{ ...committed(b), status: 'abandoned' }],
    );
    expect(v.map((x) => [x.kind, x.where])).toEqual([
      ['untyped', 'a'],
      ['ledger', 'bb'],
      ['ledger', 'bb'],
      ['open', 'ccc'],
    ]);
  });

  it('when a forged commit reached a request, or the case terminated it, then its answer is not held against the batcher; a cancelled one with a row is a phantom', () => {
    const a = h('a', { forgedCommit: true });
    const b = h('bb', { terminated: true });
    const c = h('ccc', { cancelled: true });
    const v = checkRequests(
      [a, b, c],
      new Map<string, Outcome>([
        [a.workflowId, done],
        [b.workflowId, { kind: 'other', status: 'TERMINATED' }],
        [c.workflowId, { kind: 'other', status: 'CANCELLED' }],
      ]),
      [rowOf(c)],
      [],
      [committed(c)],
    );
    expect(v.map((x) => [x.kind, x.where])).toEqual([['phantom', 'ccc']]);
  });
});

describe('fuzz trust boundary', () => {
  it("when a victim a forger may have beaten to the shard is told committed for the forger's row, or refused for its invalid row, then it is noted, not a violation; with no row at all it is still lost", () => {
    const a = h('a', { forgedFirstPossible: true });
    const b = h('bb', { forgedFirstPossible: true });
    const c = h('ccc', { forgedFirstPossible: true });
    const v = checkRequests(
      [a, b, c],
      new Map<string, Outcome>([
        [a.workflowId, done],
        [b.workflowId, failed('InvalidWriteRequest')],
        [c.workflowId, done],
      ]),
      [rowOf(a, { forged: true })],
      [],
      [committed(a, '0'.repeat(64))],
    );
    expect(v.map((x) => [x.kind, x.where])).toEqual([
      ['boundary', 'a'],
      ['boundary', 'bb'],
      ['lost', 'ccc'],
    ]);
  });
});

describe('fuzz log check', () => {
  it('when a marker is logged as text, base64 at any alignment or bytes, then the scan finds it; other markers are not reported', () => {
    const m = new Markers(42);
    const markers = [m.next(), m.next(), m.next(), m.next(), m.next()];
    expect(new Set(markers).size).toBe(5);
    for (const x of markers) expect(x).toMatch(/^zq[0-9a-f]{8}qz$/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fuzz-logs-'));
    try {
      const [text, b64, bytes, clean, late] = markers as [string, string, string, string, string];
      fs.writeFileSync(path.join(dir, 'a.log'), `{"msg":"x","value":"${text}"}\n${'-'.repeat(5000)}\n`);
      fs.writeFileSync(path.join(dir, 'b.log'), `data: ${Buffer.from(`{"row":"${b64}"}`).toString('base64')}\n`);
      fs.writeFileSync(
        path.join(dir, 'c.log'),
        `<Buffer ${[...Buffer.from(`.${bytes}`)].map((b) => b.toString(16).padStart(2, '0')).join(' ')}>\n`,
      );
      const scanner = new LogScanner(dir);
      expect(
        scanner
          .scan([text, b64, bytes, clean])
          .map((v) => v.where)
          .sort(),
      ).toEqual(['a.log', 'b.log', 'c.log']);
      // A second scan reads only what was added since (plus a small overlap).
      fs.appendFileSync(path.join(dir, 'a.log'), `${late}\n`);
      expect(scanner.scan([text, late]).map((v) => v.detail)).toEqual([`row value ${late} is in the log`]);
      expect(markerForms(text)).toContain(text);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
