// The inbound guard's rewrite on its own (workflows/inbound-guard.ts): which jobs of an activation
// it empties, what it leaves untouched, and that nothing it logs quotes a payload's data. No server.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { coresdk } from '@temporalio/proto';
import { defaultPayloadConverter } from '@temporalio/common';
import { submitWritesSignal } from '@write-batcher/protocol';
import { DROPPED_SIGNAL, UNDECODABLE_RESULT, decodeCheck, guardJobs, type GuardJob } from '@write-batcher/batcher/testing';

type GuardPayload = NonNullable<NonNullable<GuardJob['signalWorkflow']>['input']>[number];

const check = decodeCheck(defaultPayloadConverter);
const bytes = (text: string) => new TextEncoder().encode(text);
const payload = (
  encoding: string | undefined,
  data: string | Uint8Array | undefined,
): { metadata: Record<string, Uint8Array>; data?: Uint8Array } => ({
  metadata: encoding === undefined ? {} : { encoding: bytes(encoding) },
  data: typeof data === 'string' ? bytes(data) : data,
});
const signal = (signalName: string, ...input: ReturnType<typeof payload>[]): GuardJob => ({
  signalWorkflow: { signalName, input, headers: { h: payload('json/plain', '1') } },
});
const good = payload('json/plain', '[{"requestId":"write:a"}]');

describe('inbound guard', () => {
  it('when every signal and the start decode, then the jobs are returned as they are, the same objects', () => {
    const jobs: GuardJob[] = [
      { initializeWorkflow: { arguments: [payload('json/plain', '{"shard":0}')] } },
      signal(submitWritesSignal.name, good),
      signal('someOtherName', payload('binary/null', 'ignored bytes')),
      signal('noInput'),
      {},
    ];
    const out = guardJobs(jobs, check);
    expect(out.rewrites).toEqual([]);
    expect(out.jobs).toHaveLength(jobs.length);
    out.jobs.forEach((job, i) => expect(job).toBe(jobs[i]));
  });

  it.each([
    [
      'JSON text that is not JSON',
      signal(submitWritesSignal.name, payload('json/plain', '{not json')),
      /payload 0 \(encoding "json\/plain"\)/,
    ],
    ['empty data', signal(submitWritesSignal.name, payload('json/plain', '')), /payload 0/],
    ['no data at all', signal(submitWritesSignal.name, payload('json/plain', undefined)), /payload 0/],
    ['an unknown encoding', signal(submitWritesSignal.name, payload('json/protobuf', 'x')), /encoding "json\/protobuf"/],
    ['no metadata', signal(submitWritesSignal.name, { metadata: null, data: bytes('[]') } as never), /no encoding/],
    ['a bad second payload', signal(submitWritesSignal.name, good, payload('nope', '1')), /payload 1 \(encoding "nope"\)/],
    ['the reserved prefix', signal('__temporal_workflow_metadata', good), /reserved prefix __temporal_/],
    ['no name', signal('', good), /no signal name/],
  ])('when a signal has %s, then it becomes an empty signal of the private name and the reason says why', (_what, job, reason) => {
    const before = JSON.stringify(job);
    const { jobs, rewrites } = guardJobs([job], check);
    expect(rewrites).toHaveLength(1);
    expect(rewrites[0]?.kind).toBe('signal');
    expect(rewrites[0]?.reason).toMatch(reason);
    expect(jobs[0]?.signalWorkflow).toMatchObject({ signalName: DROPPED_SIGNAL, input: [], headers: {} });
    expect(JSON.stringify(job)).toBe(before); // the input is not changed
  });

  it('when the start arguments do not decode, then the start runs with none, and its signals are judged one by one', () => {
    const jobs: GuardJob[] = [
      { initializeWorkflow: { arguments: [payload('json/plain', '{"shard":')] } },
      signal(submitWritesSignal.name, good),
      signal(submitWritesSignal.name, payload('json/plain', '][')),
    ];
    const out = guardJobs(jobs, check);
    expect(out.rewrites.map((r) => r.kind)).toEqual(['start', 'signal']);
    expect(out.jobs[0]?.initializeWorkflow?.arguments).toEqual([]);
    expect(out.jobs[1]).toBe(jobs[1]);
    expect(out.jobs[2]?.signalWorkflow?.signalName).toBe(DROPPED_SIGNAL);
  });

  it('when a header of a good signal or start does not decode, then only that header is removed, and the rest is delivered', () => {
    const bad = payload('json/plain', '{"trace":');
    const jobs: GuardJob[] = [
      { initializeWorkflow: { arguments: [payload('json/plain', '{"shard":0}')], headers: { ok: good, _tracer: bad } } },
      { signalWorkflow: { signalName: submitWritesSignal.name, input: [good], headers: { _tracer: bad, ok: good } } },
    ];
    const { jobs: out, rewrites } = guardJobs(jobs, check);
    expect(rewrites.map((r) => [r.kind, r.name])).toEqual([
      ['header', undefined],
      ['header', submitWritesSignal.name],
    ]);
    expect(rewrites[0]?.reason).toMatch(/^header "_tracer": payload 0 \(encoding "json\/plain"\) does not decode/);
    expect(out[0]?.initializeWorkflow).toMatchObject({ arguments: jobs[0]?.initializeWorkflow?.arguments, headers: { ok: good } });
    expect(out[1]?.signalWorkflow).toMatchObject({ signalName: submitWritesSignal.name, input: [good], headers: { ok: good } });
    expect(Object.keys(out[1]?.signalWorkflow?.headers ?? {})).toEqual(['ok']);
  });

  it('when an activity is completed with a result that does not decode, then the shard sees it fail typed, and a decodable result passes as it is', () => {
    const bad = coresdk.workflow_activation.WorkflowActivationJob.create({
      resolveActivity: { seq: 3, result: { completed: { result: payload('json/plain', '{"outcomes": [') } } },
    });
    const fine = coresdk.workflow_activation.WorkflowActivationJob.create({
      resolveActivity: { seq: 4, result: { completed: { result: payload('json/plain', '{"outcomes": []}') } } },
    });
    const { jobs, rewrites } = guardJobs([bad, fine], check);
    const [b, f] = jobs as [typeof bad, typeof fine];
    expect(f).toBe(fine);
    expect(b.variant).toBe('resolveActivity');
    expect(b.resolveActivity?.seq).toBe(3);
    expect(b.resolveActivity?.result?.completed).toBeUndefined();
    expect(b.resolveActivity?.result?.failed?.failure?.applicationFailureInfo?.type).toBe(UNDECODABLE_RESULT);
    expect(rewrites).toEqual([{ kind: 'result', reason: expect.not.stringContaining('outcomes') as string }]);
  });

  it("when the jobs are the SDK's protobuf messages, then a rewritten job keeps its class, so the SDK's `variant` still names it", () => {
    const job = coresdk.workflow_activation.WorkflowActivationJob.create({
      signalWorkflow: { signalName: '__temporal_x', input: [good], identity: 'me' },
    });
    const start = coresdk.workflow_activation.WorkflowActivationJob.create({
      initializeWorkflow: { workflowId: 'w', arguments: [payload('json/plain', 'nope')], randomnessSeed: 7 as never },
    });
    const { jobs } = guardJobs([start, job], check);
    const [s, j] = jobs as [typeof start, typeof job];
    expect(Object.getPrototypeOf(j)).toBe(Object.getPrototypeOf(job));
    expect(j.variant).toBe('signalWorkflow');
    expect(j.signalWorkflow?.signalName).toBe(DROPPED_SIGNAL);
    expect(j.signalWorkflow?.identity).toBe('me');
    expect(job.signalWorkflow?.signalName).toBe('__temporal_x');
    expect(s.variant).toBe('initializeWorkflow');
    expect(s.initializeWorkflow?.workflowId).toBe('w');
    expect(s.initializeWorkflow?.arguments).toEqual([]);
  });

  it('whatever the names, encodings and bytes: every job afterwards decodes, a job is changed only when it had to be, and no reason quotes data', () => {
    const encodings = fc.oneof(
      fc.constantFrom(undefined, 'json/plain', 'binary/null', 'binary/plain', 'json/protobuf', 'binary/protobuf', '', 'JSON/PLAIN'),
      fc.string({ maxLength: 60 }),
    );
    const data = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.json().map((j) => bytes(j)),
      fc.json().map((j) => bytes(j.slice(0, Math.max(0, j.length - 1)))),
      fc.constant(undefined),
    );
    const payloads = fc.array(
      fc.record({ encoding: encodings, data }).map((p) => payload(p.encoding, p.data)),
      { maxLength: 3 },
    );
    const names = fc.oneof(
      fc.constantFrom(submitWritesSignal.name, '', '__temporal_', '__temporal_workflow_metadata', '__stack_trace', DROPPED_SIGNAL),
      fc.string({ unit: 'binary', maxLength: 300 }),
    );
    const headers = fc.option(
      fc.dictionary(
        fc.string({ maxLength: 12 }),
        fc.record({ encoding: encodings, data }).map((p) => payload(p.encoding, p.data)),
        { maxKeys: 3 },
      ),
      { nil: undefined },
    );
    const job = fc.oneof(
      fc
        .record({ name: names, input: payloads, headers })
        .map(({ name, input, headers }): GuardJob => ({ signalWorkflow: { signalName: name, input, headers } })),
      fc.record({ args: payloads, headers }).map(({ args, headers }): GuardJob => ({ initializeWorkflow: { arguments: args, headers } })),
    );
    const decodes = (p: GuardPayload) => check([p]) === undefined;
    fc.assert(
      fc.property(fc.array(job, { maxLength: 6 }), (jobs) => {
        const { jobs: out, rewrites } = guardJobs(jobs, check);
        expect(out).toHaveLength(jobs.length);
        const dropped = rewrites.filter((w) => w.kind !== 'header');
        let r = 0;
        let headerRewrites = 0;
        jobs.forEach((before, i) => {
          const after = out[i] as GuardJob;
          const sig = before.signalWorkflow;
          const beforeHeaders = Object.entries((sig ?? before.initializeWorkflow)?.headers ?? {});
          const badHeaders = beforeHeaders.filter(([, p]) => !decodes(p));
          const had =
            sig != null
              ? sig.signalName === '' || (sig.signalName ?? '').startsWith('__temporal_') || check(sig.input ?? []) !== undefined
              : check(before.initializeWorkflow?.arguments ?? []) !== undefined;
          // A signal that is dropped takes its headers with it; otherwise exactly the headers that decode stay, as they were.
          if (!(had && sig != null)) headerRewrites += badHeaders.length;
          if (!had && badHeaders.length === 0) return expect(after).toBe(before);
          const afterHeaders = (after.signalWorkflow ?? after.initializeWorkflow)?.headers ?? {};
          if (had && sig != null) expect(afterHeaders).toEqual({});
          else expect(afterHeaders).toEqual(Object.fromEntries(beforeHeaders.filter(([, p]) => decodes(p))));
          if (!had) return;
          const rewrite = dropped[r++];
          expect(rewrite?.kind).toBe(sig != null ? 'signal' : 'start');
          if (sig != null) expect(after.signalWorkflow).toMatchObject({ signalName: DROPPED_SIGNAL, input: [] });
          else expect(after.initializeWorkflow?.arguments).toEqual([]);
          for (const p of [...(sig?.input ?? []), ...(before.initializeWorkflow?.arguments ?? [])]) {
            const text = p.data ? new TextDecoder().decode(p.data) : '';
            const encoding = p.metadata?.encoding ? new TextDecoder().decode(p.metadata.encoding) : '';
            if (text.length >= 8 && !encoding.includes(text)) expect(rewrite?.reason).not.toContain(text);
          }
        });
        expect(r).toBe(dropped.length);
        expect(rewrites.length - dropped.length).toBe(headerRewrites);
        for (const after of out) {
          expect(check(after.signalWorkflow?.input ?? [])).toBeUndefined();
          expect(check(after.initializeWorkflow?.arguments ?? [])).toBeUndefined();
          expect(check(Object.values((after.signalWorkflow ?? after.initializeWorkflow)?.headers ?? {}))).toBeUndefined();
        }
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 300) },
    );
  });
});
