// What the generative adversarial suite does to a live stack, as plain data: one action per case,
// drawn with fast-check from the run's seed and the case's number, so `--seed` replays the same
// actions in the same order. Row values are templates here; the runner fills each with a unique
// marker (markers.ts) that the log check then looks for.
import fc from 'fast-check';

export const FUZZ_CLASSES = ['messages', 'forgery', 'completions', 'operator', 'database'] as const;
export type FuzzClass = (typeof FUZZ_CLASSES)[number];

/** The kinds of row a generated request carries (`valid` and the ways a row can be wrong). */
export const ROW_KINDS = [
  'valid',
  'bigint-not-number',
  'bytes-not-base64',
  'bytes-number',
  'unknown-tag',
  'date-garbage',
  'unknown-column',
  'oversize',
  'untagged-json',
  'string-into-bigint',
  'empty-row',
  'not-an-object',
] as const;
export type RowKind = (typeof ROW_KINDS)[number];

export type TableChoice = 'batched_writes' | 'demo_orders' | 'fuzz_no_such_table' | 'bad name;' | 'mysql.user';

export interface RequestSpec {
  id: 'fresh' | 'empty' | 'unicode' | 'too-long' | 'number';
  table: TableChoice;
  row: RowKind;
  reply: 'bound' | 'missing' | 'wrong-activity' | 'names-a-batcher' | 'bad-run-id';
  extraFields: boolean;
}

export type DataSpec =
  | { kind: 'requests'; requests: RequestSpec[]; wrap: 'array' | 'single' }
  | { kind: 'json-scalar'; value: 'null' | 'number' | 'string' | 'object' }
  | { kind: 'not-json' }
  | { kind: 'empty' }
  | { kind: 'bytes'; length: number };

export interface PayloadSpec {
  /** null: no metadata at all. */
  encoding: string | null;
  extraMetadata: boolean;
  data: DataSpec;
}

export type CompletionValue = 'null' | 'number' | 'string' | 'empty-object' | 'committed-other-id' | 'committed-forged' | 'status-garbage';

export type Action =
  | { class: 'messages'; shard: number; name: string; payload: PayloadSpec; count: number }
  | {
      class: 'forgery';
      kind: 'same-id-other-row' | 'same-id-invalid-row' | 'same-id-same-row' | 'same-id-ghost-reply' | 'victim-reply-other-id';
      invalidRow: RowKind;
      when: 'at-once' | 'while-waiting';
      delayMs: number;
    }
  | {
      class: 'completions';
      target: 'requester';
      how: 'complete' | 'fail';
      value: CompletionValue;
      errorType: string;
      nonRetryable: boolean;
      delayMs: number;
    }
  | {
      class: 'completions';
      target: 'shard';
      shard: number;
      how: 'complete' | 'complete-undecodable' | 'fail';
      value: CompletionValue;
      errorType: string;
      nonRetryable: boolean;
      lockMs: number;
    }
  | {
      class: 'operator';
      kind: 'query-during-replacement';
      query: 'batcherStats' | '__stack_trace' | '__temporal_workflow_metadata';
      shard: number;
      leadMs: number;
      downMs: number;
    }
  | { class: 'operator'; kind: 'reset'; shard: number; point: number }
  | { class: 'operator'; kind: 'terminate' | 'cancel'; target: 'shard' | 'requester'; shard: number }
  | { class: 'operator'; kind: 'kill-worker'; worker: 'batcher-worker' | 'main-worker'; downMs: number }
  | { class: 'database'; kind: 'lock'; table: 'batched_writes' | 'demo_orders' | 'batcher_ledger'; holdMs: number }
  | { class: 'database'; kind: 'read-only'; holdMs: number }
  | { class: 'database'; kind: 'kill-mariadb'; downMs: number };

const rowKind = fc.constantFrom(...ROW_KINDS);

const signalName = fc.oneof(
  { weight: 6, arbitrary: fc.constant('submitWrites') },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }).map((s) => `__temporal_${s}`) },
  { weight: 1, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom('submitwrites', 'SubmitWrites', 'submitWrites ', 'batcherStats', '__stack_trace') },
);

const encoding = fc.oneof(
  { weight: 6, arbitrary: fc.constant('json/plain') },
  {
    weight: 4,
    arbitrary: fc.constantFrom<string | null>('binary/plain', 'binary/null', 'json/protobuf', 'binary/protobuf', 'x/unknown', null),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 10 }) },
);

const requestSpec: fc.Arbitrary<RequestSpec> = fc.record({
  id: fc.oneof(
    { weight: 8, arbitrary: fc.constant('fresh' as const) },
    fc.constantFrom('empty' as const, 'unicode' as const, 'too-long' as const, 'number' as const),
  ),
  table: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom<TableChoice>('batched_writes', 'demo_orders') },
    { weight: 1, arbitrary: fc.constantFrom<TableChoice>('fuzz_no_such_table', 'bad name;', 'mysql.user') },
  ),
  row: fc.oneof({ weight: 3, arbitrary: fc.constant('valid' as const) }, { weight: 7, arbitrary: rowKind }),
  reply: fc.oneof(
    { weight: 8, arbitrary: fc.constant('bound' as const) },
    fc.constantFrom('missing' as const, 'wrong-activity' as const, 'names-a-batcher' as const, 'bad-run-id' as const),
  ),
  extraFields: fc.boolean(),
});

const dataSpec: fc.Arbitrary<DataSpec> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('requests' as const),
      requests: fc.array(requestSpec, { minLength: 0, maxLength: 4 }),
      wrap: fc.oneof({ weight: 5, arbitrary: fc.constant('array' as const) }, fc.constant('single' as const)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('json-scalar' as const),
      value: fc.constantFrom('null' as const, 'number' as const, 'string' as const, 'object' as const),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'not-json' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'empty' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bytes' as const), length: fc.integer({ min: 1, max: 64 }) }) },
);

const shard = (shards: number) => fc.integer({ min: 0, max: shards - 1 });

const completionValue = fc.constantFrom<CompletionValue>(
  'null',
  'number',
  'string',
  'empty-object',
  'committed-other-id',
  'committed-forged',
  'status-garbage',
);
const errorType = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'WriteConflict',
      'WriteAbandoned',
      'WriteDataRejected',
      'InvalidWriteRequest',
      'BatcherOverloaded',
      'WriteKeyExists',
      'DatabaseUnavailable',
      'WriteConfirmationTimeout',
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom('', 'Error', 'TypeError') },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);

function arbitraryOf(cls: FuzzClass, shards: number): fc.Arbitrary<Action> {
  switch (cls) {
    case 'messages':
      return fc.record({
        class: fc.constant('messages' as const),
        shard: shard(shards),
        name: signalName,
        payload: fc.record({ encoding, extraMetadata: fc.boolean(), data: dataSpec }),
        count: fc.integer({ min: 1, max: 3 }),
      });
    case 'forgery':
      return fc.record({
        class: fc.constant('forgery' as const),
        kind: fc.constantFrom(
          'same-id-other-row' as const,
          'same-id-invalid-row' as const,
          'same-id-same-row' as const,
          'same-id-ghost-reply' as const,
          'victim-reply-other-id' as const,
        ),
        invalidRow: rowKind.filter((k) => k !== 'valid'),
        when: fc.constantFrom('at-once' as const, 'while-waiting' as const),
        delayMs: fc.integer({ min: 0, max: 800 }),
      });
    case 'completions':
      return fc.oneof(
        fc.record({
          class: fc.constant('completions' as const),
          target: fc.constant('requester' as const),
          how: fc.constantFrom('complete' as const, 'fail' as const),
          value: completionValue,
          errorType,
          nonRetryable: fc.boolean(),
          delayMs: fc.integer({ min: 0, max: 800 }),
        }),
        fc.record({
          class: fc.constant('completions' as const),
          target: fc.constant('shard' as const),
          shard: shard(shards),
          how: fc.constantFrom('complete' as const, 'complete-undecodable' as const, 'fail' as const),
          value: completionValue,
          errorType,
          nonRetryable: fc.boolean(),
          lockMs: fc.integer({ min: 2000, max: 5000 }),
        }),
      );
    case 'operator':
      return fc.oneof(
        fc.record({
          class: fc.constant('operator' as const),
          kind: fc.constant('query-during-replacement' as const),
          query: fc.constantFrom('batcherStats' as const, '__stack_trace' as const, '__temporal_workflow_metadata' as const),
          shard: shard(shards),
          leadMs: fc.integer({ min: 0, max: 500 }),
          downMs: fc.integer({ min: 500, max: 3000 }),
        }),
        fc.record({
          class: fc.constant('operator' as const),
          kind: fc.constant('reset' as const),
          shard: shard(shards),
          point: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        }),
        fc.record({
          class: fc.constant('operator' as const),
          kind: fc.constantFrom('terminate' as const, 'cancel' as const),
          target: fc.constantFrom('shard' as const, 'requester' as const),
          shard: shard(shards),
        }),
        fc.record({
          class: fc.constant('operator' as const),
          kind: fc.constant('kill-worker' as const),
          worker: fc.constantFrom('batcher-worker' as const, 'main-worker' as const),
          downMs: fc.integer({ min: 500, max: 4000 }),
        }),
      );
    case 'database':
      return fc.oneof(
        fc.record({
          class: fc.constant('database' as const),
          kind: fc.constant('lock' as const),
          table: fc.constantFrom('batched_writes' as const, 'demo_orders' as const, 'batcher_ledger' as const),
          holdMs: fc.integer({ min: 1000, max: 12_000 }),
        }),
        fc.record({
          class: fc.constant('database' as const),
          kind: fc.constant('read-only' as const),
          holdMs: fc.integer({ min: 1000, max: 12_000 }),
        }),
        fc.record({
          class: fc.constant('database' as const),
          kind: fc.constant('kill-mariadb' as const),
          downMs: fc.integer({ min: 500, max: 5000 }),
        }),
      );
  }
}

/** A 31-bit seed for case `n` of a run (splitmix-style mixing, so neighbouring cases differ). */
export function caseSeed(seed: number, n: number): number {
  let x = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(n + 1, 0xc2b2ae35)) | 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  return x >>> 1;
}

/**
 * The class of case `n`: rounds over the chosen classes, each round in an order drawn from the
 * seed, so every class gets a case in every `classes.length` cases.
 */
export function classOfCase(seed: number, n: number, classes: readonly FuzzClass[]): FuzzClass {
  const round = Math.floor(n / classes.length);
  const order = fc.sample(fc.shuffledSubarray([...classes], { minLength: classes.length, maxLength: classes.length }), {
    seed: caseSeed(seed, -1 - round),
    numRuns: 1,
  })[0] as FuzzClass[];
  return order[n % classes.length] as FuzzClass;
}

/** The action of case `n` (the same for the same seed, case number and class list). */
export function actionOfCase(seed: number, n: number, classes: readonly FuzzClass[], shards: number): Action {
  const cls = classOfCase(seed, n, classes);
  return fc.sample(arbitraryOf(cls, shards), { seed: caseSeed(seed, n), numRuns: 1 })[0] as Action;
}

/** A short label of an action's kind, for the outcome table. */
export function kindOf(a: Action): string {
  switch (a.class) {
    case 'messages': {
      const name =
        a.name === 'submitWrites'
          ? 'submitWrites'
          : a.name.startsWith('__temporal_')
            ? 'reserved name'
            : a.name === ''
              ? 'empty name'
              : 'other name';
      const data = a.payload.data.kind === 'requests' ? 'rows' : a.payload.data.kind;
      return `${name}, ${a.payload.encoding === 'json/plain' ? 'json/plain' : 'other encoding'}, ${data}`;
    }
    case 'forgery':
      return a.kind;
    case 'completions':
      return `${a.target} ${a.how}`;
    case 'operator':
      return a.kind === 'terminate' || a.kind === 'cancel' ? `${a.kind} ${a.target}` : a.kind;
    case 'database':
      return a.kind;
  }
}
