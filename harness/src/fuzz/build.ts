// Turns the generated specs (generate.ts) into what goes on the wire: rows, requests and raw
// Temporal payloads. Every row value the suite invents carries a marker (`zq<8 hex>qz`), unique in
// the run, so the log check can tell a leaked value from anything else.
import { awaitActivityIdFor } from '@write-batcher/protocol';
import { SeededRandom } from '../chaos/random';
import type { PayloadSpec, RequestSpec, RowKind, TableChoice } from './generate';

export const MARKER_PATTERN = /zq[0-9a-f]{8}qz/g;

/** Hands out the markers of one case, from a generator seeded by the case. */
export class Markers {
  readonly issued: string[] = [];
  private readonly random: SeededRandom;
  constructor(seed: number) {
    this.random = new SeededRandom(seed);
  }
  next(): string {
    const m = `zq${this.random.int(0, 0x7fffffff).toString(16).padStart(8, '0')}qz`;
    this.issued.push(m);
    return m;
  }
  int(min: number, max: number): number {
    return this.random.int(min, max);
  }
}

type Row = Record<string, unknown>;

function validRow(table: TableChoice, mk: () => string): Row {
  if (table === 'demo_orders')
    return {
      order_id: mk(),
      amount_cents: { '@wb': 'bigint', v: '9007199254740993' },
      currency: 'EUR',
      placed_at: { '@wb': 'date', v: '2026-01-02T03:04:05.006Z' },
      items: { '@wb': 'json', v: [{ sku: mk(), qty: 1 }] },
    };
  return { payload: { '@wb': 'json', v: { m: mk(), note: 'fuzz ünïcødé €' } } };
}

/** A row of the given kind for the given table: valid, or wrong in one way. */
export function rowOf(table: TableChoice, kind: RowKind, mk: () => string): unknown {
  const row = validRow(table, mk);
  const orders = table === 'demo_orders';
  const main = orders ? 'amount_cents' : 'payload';
  switch (kind) {
    case 'valid':
      return row;
    case 'bigint-not-number':
      return { ...row, [main]: { '@wb': 'bigint', v: `${mk()}` } };
    case 'bytes-not-base64':
      return { ...row, [orders ? 'currency' : main]: { '@wb': 'bytes', v: `!${mk()}*` } };
    case 'bytes-number':
      return { ...row, [orders ? 'currency' : main]: { '@wb': 'bytes', v: 12345 } };
    case 'unknown-tag':
      return { ...row, [main]: { '@wb': 'wat', v: mk() } };
    case 'date-garbage':
      return { ...row, [orders ? 'placed_at' : main]: { '@wb': 'date', v: mk() } };
    case 'unknown-column':
      return { ...row, fuzz_no_such_column: mk() };
    case 'oversize':
      return { ...row, [orders ? 'items' : main]: { '@wb': 'json', v: { m: `${mk()}${'x'.repeat(20_000)}` } } };
    case 'untagged-json':
      return { ...row, [orders ? 'items' : main]: { m: mk() } };
    case 'string-into-bigint':
      return { ...row, [main]: mk() };
    case 'empty-row':
      return {};
    case 'not-an-object':
      return [mk()];
  }
}

export interface RequestContext {
  /** Unique within the run: request ids and ghost workflow ids are built from it. */
  base: string;
  mk: () => string;
  /** The shards' workflow id prefix (for a reply that names a batcher). */
  batcherPrefix: string;
}

/** A hand-built WriteRequest (anything the spec asks for, however wrong). */
export function requestOf(spec: RequestSpec, n: number, ctx: RequestContext): Record<string, unknown> {
  const fresh = `fzx-${ctx.base}-${n}`;
  const requestId: unknown =
    spec.id === 'fresh'
      ? fresh
      : spec.id === 'empty'
        ? ''
        : spec.id === 'unicode'
          ? `fzx-ü€𝄞-${ctx.base}-${n}`
          : spec.id === 'too-long'
            ? `fzx-${'y'.repeat(300)}`
            : 42;
  const ghost = spec.reply === 'names-a-batcher' ? `${ctx.batcherPrefix}-0` : `fuzz-ghost-${ctx.base}-${n}`;
  const reply =
    spec.reply === 'missing'
      ? undefined
      : {
          workflowId: ghost,
          runId: spec.reply === 'bad-run-id' ? 'r'.repeat(100) : '0e6a1c52-2bd6-4bd5-9d46-6a1f3c0b1f00',
          activityId: spec.reply === 'wrong-activity' ? 'batched-write:someone-else' : awaitActivityIdFor(String(requestId)),
        };
  return {
    requestId,
    requesterWorkflowId: ghost,
    table: spec.table,
    row: rowOf(spec.table, spec.row, ctx.mk),
    submittedAtMs: Date.now(),
    reply,
    ...(spec.extraFields ? { extra: ctx.mk(), trace: { traceparent: ctx.mk() } } : {}),
  };
}

export interface RawPayload {
  metadata: Record<string, Uint8Array>;
  data: Uint8Array;
}

/** The raw payload of a generated signal. */
export function payloadOf(
  spec: PayloadSpec,
  requests: () => unknown[],
  mk: () => string,
  int: (min: number, max: number) => number,
): RawPayload {
  const d = spec.data;
  let text: string | undefined;
  let bytes: Uint8Array | undefined;
  switch (d.kind) {
    case 'requests': {
      const list = requests();
      text = JSON.stringify(d.wrap === 'array' ? list : (list[0] ?? {}));
      break;
    }
    case 'json-scalar':
      text =
        d.value === 'null'
          ? 'null'
          : d.value === 'number'
            ? '42'
            : d.value === 'string'
              ? JSON.stringify(mk())
              : JSON.stringify({ m: mk() });
      break;
    case 'not-json':
      text = `{"requestId": "fzx", "row": {"payload": "${mk()}"`;
      break;
    case 'empty':
      text = '';
      break;
    case 'bytes':
      bytes = Buffer.concat([Buffer.from(Array.from({ length: d.length }, () => int(0, 255))), Buffer.from(mk())]);
      break;
  }
  const metadata: Record<string, Uint8Array> = {};
  if (spec.encoding !== null) metadata.encoding = Buffer.from(spec.encoding);
  if (spec.extraMetadata) {
    metadata['x-fuzz'] = Buffer.from([0xff, 0xfe, 0x00]);
    metadata.messageType = Buffer.from('temporal.api.common.v1.Nothing');
  }
  return { metadata, data: bytes ?? Buffer.from(text ?? '') };
}

/** The forms in which a marker could appear in a log: as text, base64 at each alignment, hex, byte lists. */
export function markerForms(marker: string): string[] {
  const raw = Buffer.from(marker);
  const forms = [marker, raw.toString('hex'), [...raw].map((b) => b.toString(16).padStart(2, '0')).join(' '), [...raw].join(',')];
  for (let k = 0; k < 3; k++) {
    const b64 = Buffer.concat([Buffer.alloc(k), raw]).toString('base64');
    const from = Math.ceil((8 * k) / 6);
    const to = Math.floor((8 * (k + raw.length)) / 6);
    forms.push(b64.slice(from, to));
  }
  return forms;
}
