// Nothing the SDK decodes can stop a shard (issue 23, point 1), against the real Temporal dev server
// and MariaDB: signals of any name with any payload bytes, encoding or metadata, and start inputs
// that do not decode, are sent to a live shard by hand. Each is at worst counted and dropped by the
// inbound guard (packages/batcher/src/workflows/inbound-guard.ts): a good request sent afterwards is
// written and answered, no batcher workflow task fails, and no line the worker logs (the SDK's
// included) carries a byte of what was sent. FUZZ_RUNS=<n> runs more generated cases (default 40).
import { captured } from './fixtures/capture-logs';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultPayloadConverter } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';
import { BATCHER_WORKFLOW_TYPE, batcherWorkflowId, requestIdFor, submitWritesSignal } from '@write-batcher/protocol';
import { BATCHER_SANDBOX_OPTIONS, workflowsPath, writeBatcherPlugin } from '@write-batcher/batcher';
import { DEMO_TARGETS } from '@batcher/demo/tables';
import { DROPPED_SIGNAL } from '@write-batcher/batcher/testing';
import { globalTemporal } from '../support/global-servers';
import { waitUntil } from '../support/processes';
import { demoRequest } from '../support/requests';
import { pipelinePerTest, type Pipeline } from './pipeline';

const startPipeline = pipelinePerTest();
const RUNS = Number(process.env.FUZZ_RUNS ?? 40);

type Payload = temporal.api.common.v1.IPayload;

/** Every marker a case put into the bytes it sent: none may appear in any log line. */
const markers: string[] = [];
function marker(): string {
  const m = `LEAK${randomBytes(6).toString('hex')}`;
  markers.push(m);
  return m;
}

/** Log lines (any level, any component) captured since `from` that hold one of the markers. */
function leakingLines(from: number): string[] {
  return captured
    .slice(from)
    .map((e) => `${e.message} ${inspect(e.meta, { depth: 20, maxStringLength: Infinity, breakLength: Infinity })}`)
    .filter((line) => markers.some((m) => line.includes(m)))
    .map((line) => line.slice(0, 300));
}

/** The data bytes of a case: each kind carries a fresh marker, except the empty one. */
type DataKind = 'random' | 'empty' | 'truncated-json' | 'wrong-shape-json' | 'request-shaped-json' | 'invalid-utf8';
function dataOf(kind: DataKind, noise: Uint8Array): Buffer {
  const m = kind === 'empty' ? '' : marker();
  switch (kind) {
    case 'random':
      return Buffer.concat([noise, Buffer.from(m), noise]);
    case 'empty':
      return Buffer.alloc(0);
    case 'truncated-json':
      return Buffer.from(JSON.stringify([{ requestId: `write:${m}`, row: { payload: { '@wb': 'json', v: { card: m } } } }]).slice(0, -3));
    case 'wrong-shape-json':
      return Buffer.from(JSON.stringify({ not: 'an array', card: m, n: noise.length }));
    case 'request-shaped-json':
      // A request of the right shape whose reply address is nobody's: decodes, and the shard refuses it.
      return Buffer.from(JSON.stringify([demoRequest(`write:${m}`, `w-${m}`, { card: m })]));
    case 'invalid-utf8':
      return Buffer.concat([Buffer.from(`["${m}`), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"]')]);
  }
}

/** Metadata of a case (undefined: a payload with no metadata at all). */
type MetaKind =
  'none' | 'empty' | 'json/plain' | 'binary/null' | 'binary/plain' | 'json/protobuf' | 'binary/protobuf' | { unknown: string };
function metadataOf(kind: MetaKind): Record<string, Uint8Array> | undefined {
  if (kind === 'none') return undefined;
  if (kind === 'empty') return {};
  const encoding = typeof kind === 'string' ? kind : kind.unknown;
  return { encoding: Buffer.from(encoding) };
}

interface Case {
  name: string;
  payloads: Array<{ meta: MetaKind; data: DataKind; noise: Uint8Array }>;
}

const anyPayload = fc.record({
  meta: fc.oneof(
    fc.constantFrom<MetaKind>('none', 'empty', 'json/plain', 'binary/null', 'binary/plain', 'json/protobuf', 'binary/protobuf'),
    fc.string({ maxLength: 30 }).map((unknown): MetaKind => ({ unknown })),
  ),
  data: fc.constantFrom<DataKind>('random', 'empty', 'truncated-json', 'wrong-shape-json', 'request-shaped-json', 'invalid-utf8'),
  noise: fc.uint8Array({ maxLength: 40 }),
});
/** A payload the default converter decodes (valid JSON of any shape, or a binary encoding): the shard's own checks see it. */
const decodablePayload = fc.oneof(
  fc.record({
    meta: fc.constant<MetaKind>('json/plain'),
    data: fc.constantFrom<DataKind>('wrong-shape-json', 'request-shaped-json'),
    noise: fc.uint8Array({ maxLength: 40 }),
  }),
  fc.record({
    meta: fc.constantFrom<MetaKind>('binary/null', 'binary/plain'),
    data: anyPayload.map((p) => p.data),
    noise: fc.uint8Array({ maxLength: 40 }),
  }),
);

const caseArb: fc.Arbitrary<Case> = fc.record({
  name: fc.oneof(
    { weight: 5, arbitrary: fc.constant(submitWritesSignal.name) },
    { weight: 2, arbitrary: fc.string({ maxLength: 20 }).map((s) => `__temporal_${s}`) },
    { weight: 1, arbitrary: fc.constantFrom('', '__stack_trace', '__enhanced_stack_trace', DROPPED_SIGNAL, 'x'.repeat(2000)) },
    { weight: 3, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }) },
  ),
  // Half the cases decode (so unknown names and the shard's own refusals are exercised too), half are anything.
  payloads: fc.oneof(fc.array(decodablePayload, { maxLength: 2 }), fc.array(anyPayload, { minLength: 1, maxLength: 3 })),
});

/**
 * Which counter of the shard a signal should move, and whether the guard logs it (the SDK's own
 * converter is the oracle for "decodes"). A decodable signal sent under the guard's private name
 * passes the guard and is counted by the shard like one the guard emptied.
 */
function expectedDrop(name: string, payloads: Payload[]): { counter: 'undecodable' | 'unknown' | 'taken'; guardLogs: boolean } {
  if (name === '' || name.startsWith('__temporal_')) return { counter: 'undecodable', guardLogs: true };
  try {
    for (const p of payloads) defaultPayloadConverter.fromPayload(p);
  } catch {
    return { counter: 'undecodable', guardLogs: true };
  }
  if (name === DROPPED_SIGNAL) return { counter: 'undecodable', guardLogs: false };
  return { counter: name === submitWritesSignal.name ? 'taken' : 'unknown', guardLogs: false };
}

const shardId = (pipeline: Pipeline) => batcherWorkflowId(pipeline.batcher.workflowIdPrefix, 0);

/** Workflow tasks that failed or timed out, in every run of the shard so far. */
async function failedTasks(pipeline: Pipeline, runIds: Iterable<string>): Promise<string[]> {
  const trouble: string[] = [];
  for (const runId of runIds) {
    const { events } = await pipeline.client.workflow.getHandle(shardId(pipeline), runId).fetchHistory();
    for (const e of events ?? []) {
      if (e.workflowTaskFailedEventAttributes)
        trouble.push(
          `run ${runId} event ${String(e.eventId)}: ${e.workflowTaskFailedEventAttributes.failure?.message?.slice(0, 200) ?? ''}`,
        );
      if (e.workflowTaskTimedOutEventAttributes) trouble.push(`run ${runId} event ${String(e.eventId)}: task timed out`);
    }
  }
  return trouble;
}

/** A good transaction through the whole pipeline: written once and answered committed. */
async function expectGoodWrite(pipeline: Pipeline, tag: string): Promise<void> {
  const [id] = pipeline.ids(1, tag) as [string];
  const [outcome] = await pipeline.run([id], 60_000);
  expect(outcome?.ok, outcome?.message).toBe(true);
  expect(outcome?.result?.status).toBe('committed');
  const rows = (await pipeline.rows()).filter((r) => r.request_id === requestIdFor(id));
  expect(rows.map((r) => [r.status, r.rows_in_table])).toEqual([['committed', 1]]);
}

/** The batcher workflow module without the guard (what a host bundle held before the guard): the control. */
const unguardedWorkflowsPath = path.join(path.dirname(workflowsPath), 'batcher.js');

/**
 * Replays each run's history with this tree's workflows (the guard included: every run must replay)
 * and with the unguarded module; returns how many runs the unguarded one could not replay.
 */
async function replayRuns(pipeline: Pipeline, runIds: Iterable<string>): Promise<number> {
  let unguardedFailures = 0;
  for (const runId of runIds) {
    const history = await pipeline.client.workflow.getHandle(shardId(pipeline), runId).fetchHistory();
    // Under the shard's own workflow id: a run checks that it runs under its shard's id.
    await Worker.runReplayHistory({ workflowsPath, ...BATCHER_SANDBOX_OPTIONS }, history, shardId(pipeline));
    await Worker.runReplayHistory({ workflowsPath: unguardedWorkflowsPath, ...BATCHER_SANDBOX_OPTIONS }, history, shardId(pipeline)).catch(
      () => unguardedFailures++,
    );
  }
  return unguardedFailures;
}

/** Sends one signal to a workflow with payloads exactly as given (no client-side serialisation). */
async function sendRaw(pipeline: Pipeline, workflowId: string, signalName: string, payloads: Payload[]): Promise<void> {
  await pipeline.client.workflowService.signalWorkflowExecution({
    namespace: pipeline.client.options.namespace,
    workflowExecution: { workflowId },
    signalName,
    input: { payloads },
    identity: 'undecodable-signals-test',
    requestId: randomUUID(),
  });
}

/** Whether a workflow's history holds a failed workflow task. */
async function hasFailedTask(pipeline: Pipeline, workflowId: string): Promise<boolean> {
  const { events } = await pipeline.client.workflow.getHandle(workflowId).fetchHistory();
  return (events ?? []).some((e) => e.workflowTaskFailedEventAttributes);
}

/**
 * A host's own workflows module, outside the repository (a folder with a link to its node_modules):
 * one workflow with a default signal handler, which the SDK's decoding reaches like a shard's.
 */
function hostWorkflowsFile(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'undecodable-host-'));
  mkdirSync(dir, { recursive: true });
  symlinkSync(path.resolve(__dirname, '..', '..', 'node_modules'), path.join(dir, 'node_modules'), 'junction');
  const file = path.join(dir, 'host-workflows.js');
  writeFileSync(
    file,
    [
      "const { condition, setDefaultSignalHandler } = require('@temporalio/workflow');",
      'exports.hostEchoWorkflow = async function hostEchoWorkflow() {',
      '  let signals = 0;',
      '  setDefaultSignalHandler(() => void signals++);',
      '  await condition(() => signals >= 2);',
      '  return signals;',
      '};',
      '',
    ].join('\n'),
  );
  return file;
}

const counters = async (pipeline: Pipeline) => {
  const s = await pipeline.stats();
  return { undecodable: s.undecodableSignalsDropped ?? 0, unknown: s.unknownSignalsDropped ?? 0, requests: s.requestsTotal };
};

describe('signals and start inputs the SDK cannot decode', () => {
  it('when a live shard is sent signals of any name, encoding, metadata and bytes, then each is counted or taken, the shard writes on, and nothing sent is logged', async (ctx) => {
    const pipeline = await startPipeline({ title: ctx.task.name, env: { BATCH_FLUSH_INTERVAL_MS: '200' }, businessStepMs: 0 });
    const from = captured.length;
    await expectGoodWrite(pipeline, 'first');
    const runIds = new Set<string>([(await pipeline.client.workflow.getHandle(shardId(pipeline)).describe()).runId]);
    const tally = { undecodable: 0, unknown: 0, taken: 0, refusedByServer: 0, guardLogged: 0 };
    let n = 0;
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        n++;
        const payloads: Payload[] = c.payloads.map((p) => {
          const metadata = metadataOf(p.meta);
          return { ...(metadata ? { metadata } : {}), data: dataOf(p.data, p.noise) };
        });
        const before = await counters(pipeline);
        const sent = await pipeline.client.workflowService
          .signalWorkflowExecution({
            namespace: pipeline.client.options.namespace,
            workflowExecution: { workflowId: shardId(pipeline) },
            signalName: c.name,
            input: { payloads },
            identity: 'undecodable-signals-test',
            requestId: randomUUID(),
          })
          .then(
            () => true,
            () => false, // the server refused it (an empty name, ...): nothing reached the shard
          );
        const expected = sent ? expectedDrop(c.name, payloads) : undefined;
        if (expected === undefined) tally.refusedByServer++;
        else {
          tally[expected.counter]++;
          if (expected.guardLogs) tally.guardLogged++;
        }
        // A good request after it: written and answered, so the shard is live (and has handled the signal, sent first).
        await expectGoodWrite(pipeline, `after-${n}`);
        const after = await counters(pipeline);
        expect({ undecodable: after.undecodable - before.undecodable, unknown: after.unknown - before.unknown }).toEqual({
          undecodable: expected?.counter === 'undecodable' ? 1 : 0,
          unknown: expected?.counter === 'unknown' ? 1 : 0,
        });
        runIds.add((await pipeline.client.workflow.getHandle(shardId(pipeline)).describe()).runId);
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
    console.log(`undecodable-signals: ${n} cases: ${JSON.stringify(tally)}`);
    expect(tally.undecodable).toBeGreaterThan(0);
    expect(await failedTasks(pipeline, runIds)).toEqual([]);
    // The guard logged each signal it emptied (so the capture works), and no line holds a byte that was sent.
    expect(captured.slice(from).filter((e) => e.message === 'undecodable signal dropped').length).toBe(tally.guardLogged);
    expect(leakingLines(from)).toEqual([]);
    // Each run replays with the guard; without it, a run that was sent a signal the guard emptied does not replay (the control).
    const unguardedFailures = await replayRuns(pipeline, runIds);
    if (tally.guardLogged > 0) expect(unguardedFailures).toBeGreaterThan(0);
  });

  it('when a shard is started with input that does not decode, then that run fails typed at once (no failing task), and the next good submission gets a shard', async (ctx) => {
    const pipeline = await startPipeline({ title: ctx.task.name, env: { BATCH_FLUSH_INTERVAL_MS: '200' }, businessStepMs: 0 });
    const from = captured.length;
    const namespace = pipeline.client.options.namespace;
    const common = {
      namespace,
      workflowId: shardId(pipeline),
      workflowType: { name: BATCHER_WORKFLOW_TYPE },
      taskQueue: { name: pipeline.batcher.taskQueue },
      identity: 'undecodable-signals-test',
    };
    // A plain start whose argument is JSON text cut short.
    const m1 = marker();
    const started = await pipeline.client.workflowService.startWorkflowExecution({
      ...common,
      input: { payloads: [{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(`{"shard":0,"card":"${m1}`) }] },
      requestId: randomUUID(),
    });
    await expect(pipeline.client.workflow.getHandle(shardId(pipeline), started.runId).result()).rejects.toMatchObject({
      cause: { message: expect.stringMatching(/^batcher input rejected/) },
    });
    // A signal-with-start (what a submission does) whose input has an encoding nobody knows, with a signal of garbage.
    const m2 = marker();
    const withStart = await pipeline.client.workflowService.signalWithStartWorkflowExecution({
      ...common,
      input: { payloads: [{ metadata: { encoding: Buffer.from('binary/protobuf') }, data: Buffer.from(m2) }] },
      signalName: submitWritesSignal.name,
      signalInput: { payloads: [{ data: Buffer.from(`[{"card":"${m2}"}]`) }] },
      requestId: randomUUID(),
    });
    await expect(pipeline.client.workflow.getHandle(shardId(pipeline), withStart.runId).result()).rejects.toMatchObject({
      cause: { message: expect.stringMatching(/^batcher input rejected/) },
    });
    for (const runId of [started.runId, withStart.runId]) {
      const d = await pipeline.client.workflow.getHandle(shardId(pipeline), runId).describe();
      expect(d.status.name).toBe('FAILED');
    }
    expect(await failedTasks(pipeline, [started.runId, withStart.runId])).toEqual([]);
    // The next good submission starts a shard of its own and is written.
    await expectGoodWrite(pipeline, 'after-bad-starts');
    expect(captured.slice(from).filter((e) => e.message === 'undecodable start input refused').length).toBe(2);
    expect(leakingLines(from)).toEqual([]);
    // Both failed runs replay with the guard; neither does without it (the control).
    expect(await replayRuns(pipeline, [started.runId, withStart.runId])).toBe(2);
  });

  it("when a host worker carries the batcher with the plugin, then its shards are guarded and the host's own workflows are left as the SDK runs them", async (ctx) => {
    // No batcher worker of the pipeline's: the host's worker (a shared V8 context, the SDK's default) serves the batcher's queue.
    const pipeline = await startPipeline({
      title: ctx.task.name,
      batcherWorker: false,
      env: { BATCH_FLUSH_INTERVAL_MS: '200' },
      businessStepMs: 0,
    });
    const from = captured.length;
    const connection = await NativeConnection.connect({ address: globalTemporal().address });
    const plugin = await writeBatcherPlugin({
      pool: pipeline.pool,
      tables: [...DEMO_TARGETS],
      routing: pipeline.batcher,
      settings: { flushIntervalMs: 200 },
      client: pipeline.client,
    });
    const worker = await Worker.create({
      connection,
      namespace: globalTemporal().namespace,
      taskQueue: pipeline.batcher.taskQueue,
      workflowsPath: hostWorkflowsFile(),
      shutdownGraceTime: 1000,
      plugins: [plugin],
    });
    const running = worker.run();
    const hostId = `host-echo-${randomUUID()}`;
    try {
      await expectGoodWrite(pipeline, 'host-first');
      const before = await counters(pipeline);
      const m = marker();
      await sendRaw(pipeline, shardId(pipeline), '__temporal_host', [
        { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(`"${m}"`) },
      ]);
      await sendRaw(pipeline, shardId(pipeline), submitWritesSignal.name, [
        { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(`[{"${m}"`) },
      ]);
      await expectGoodWrite(pipeline, 'host-after');
      const after = await counters(pipeline);
      expect(after.undecodable - before.undecodable).toBe(2);
      const { runId } = await pipeline.client.workflow.getHandle(shardId(pipeline)).describe();
      expect(await failedTasks(pipeline, [runId])).toEqual([]);
      expect(leakingLines(from)).toEqual([]);
      // The host's workflow in the same worker: the guard is not there, so the SDK fails its task as it always did.
      await pipeline.client.workflow.start('hostEchoWorkflow', { taskQueue: pipeline.batcher.taskQueue, workflowId: hostId });
      await sendRaw(pipeline, hostId, 'hostSignal', [
        { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('{not json') },
      ]);
      await waitUntil('a failed task of the host workflow', () => hasFailedTask(pipeline, hostId), { timeoutMs: 60_000 });
    } finally {
      await pipeline.client.workflow
        .getHandle(hostId)
        .terminate('test finished')
        .catch(() => undefined);
      worker.shutdown();
      await running.catch(() => undefined);
      await connection.close();
    }
  });
});
