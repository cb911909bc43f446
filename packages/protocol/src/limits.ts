// Limits every request is checked against before it is queued, counted in the unit the far side
// enforces (UTF-8 bytes for Temporal payloads and MySQL columns). Workflow-safe and pure: the
// batcher, the requester's workflow and the submit activity all run these same checks.
import { TABLE_NAME_PATTERN } from './values';

/**
 * Id alphabet: printable ASCII without space (0x21-0x7E). One character is one byte, ids compare
 * the same in JavaScript and in the VARBINARY columns, and no collation can fold two ids together.
 */
const ID_PATTERN = /^[\x21-\x7e]+$/;

/** Longest request id, in bytes (the VARBINARY(255) unique key). */
export const MAX_REQUEST_ID_BYTES = 255;
/**
 * Longest requester workflow id, in bytes. Temporal allows 1000; this keeps `write:<id>` under the
 * request id limit and every reply address small.
 */
export const MAX_REQUESTER_WORKFLOW_ID_BYTES = 200;
/** Largest JSON payload of one request, in UTF-8 bytes. */
export const MAX_PAYLOAD_BYTES = 16 * 1024;
/**
 * Deepest nesting accepted in a row as it travels: a JSON column's value may nest 32 levels (what
 * MariaDB takes; the batcher checks that against the column), plus the row and the value's tag.
 */
export const MAX_PAYLOAD_DEPTH = 34;
/** Most rows in one unit (one request whose rows are written together or not at all). */
export const MAX_UNIT_ROWS = 50;
/** Largest unit, in UTF-8 bytes of its rows as JSON (each row is also held to {@link MAX_PAYLOAD_BYTES}). */
export const MAX_UNIT_BYTES = 64 * 1024;
/** Most values (of any kind) accepted in one payload. */
export const MAX_PAYLOAD_NODES = 4096;
/** Longest activity id in a reply address. */
export const MAX_ACTIVITY_ID_BYTES = 300;
/**
 * Temporal refuses a payload (signal, activity input, continue-as-new input) above 2 MiB. Every
 * payload this project builds stays under this budget, which leaves a margin for the envelope.
 */
export const TEMPORAL_PAYLOAD_BUDGET_BYTES = 1_500_000;

/** UTF-8 length of a string, or undefined when it holds a lone surrogate (not valid Unicode). */
export function utf8ByteLength(text: string): number | undefined {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return undefined;
      bytes += 4;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return undefined;
    else bytes += 3;
  }
  return bytes;
}

/** Why an id is not acceptable, or undefined when it is. */
export function idProblem(what: string, id: unknown, maxBytes: number): string | undefined {
  if (typeof id !== 'string') return `${what} must be a string`;
  if (id.length === 0) return `${what} must not be empty`;
  if (id.length > maxBytes) return `${what} is ${id.length} characters; the limit is ${maxBytes} bytes`;
  if (!ID_PATTERN.test(id)) return `${what} may hold only printable ASCII without spaces (0x21-0x7E)`;
  return undefined;
}

/**
 * The payload's size as JSON in UTF-8 bytes, or a reason it is not acceptable. Walks the value
 * without recursion first (depth and node count), so no input can overflow the stack, and never
 * throws.
 */
export function measurePayload(payload: unknown): { bytes: number } | { problem: string } {
  try {
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return { problem: 'payload must be a JSON object' };
    const stack: Array<[unknown, number]> = [[payload, 1]];
    let nodes = 0;
    while (stack.length > 0) {
      const [value, depth] = stack.pop() as [unknown, number];
      if (++nodes > MAX_PAYLOAD_NODES) return { problem: `payload has more than ${MAX_PAYLOAD_NODES} values` };
      if (typeof value === 'string') {
        if (utf8ByteLength(value) === undefined) return { problem: 'payload holds a string that is not valid Unicode (lone surrogate)' };
        if (value.length > MAX_PAYLOAD_BYTES) return { problem: `payload is over ${MAX_PAYLOAD_BYTES} bytes` };
      } else if (typeof value === 'number') {
        if (!Number.isFinite(value)) return { problem: 'payload holds a number that JSON cannot represent' };
      } else if (typeof value === 'object' && value !== null) {
        // Said in the unit the README and the batcher's JSON check use: the JSON value's own depth.
        if (depth > MAX_PAYLOAD_DEPTH)
          return {
            problem: `payload is nested deeper than ${MAX_PAYLOAD_DEPTH} levels: a JSON value may nest at most ${MAX_PAYLOAD_DEPTH - 2} levels as JSON_DEPTH counts (the row and the value's tag are the other 2)`,
          };
        const entries = Array.isArray(value) ? value : Object.entries(value);
        if (entries.length > MAX_PAYLOAD_NODES) return { problem: `payload has more than ${MAX_PAYLOAD_NODES} values` };
        for (const entry of entries) {
          if (Array.isArray(value)) stack.push([entry, depth + 1]);
          else {
            const [key, child] = entry as [string, unknown];
            if (utf8ByteLength(key) === undefined) return { problem: 'payload holds a key that is not valid Unicode (lone surrogate)' };
            stack.push([child, depth + 1]);
          }
        }
      } else if (typeof value !== 'boolean' && value !== null) {
        return { problem: `payload holds a ${typeof value}, which JSON cannot represent` };
      }
    }
    const bytes = utf8ByteLength(JSON.stringify(payload));
    if (bytes === undefined) return { problem: 'payload is not valid Unicode' };
    if (bytes > MAX_PAYLOAD_BYTES) return { problem: `payload is ${bytes} bytes as JSON; the limit is ${MAX_PAYLOAD_BYTES}` };
    return { bytes };
  } catch (err) {
    return { problem: `payload cannot be measured: ${String(err)}` };
  }
}

/** Size in UTF-8 bytes of a value as JSON; never throws (an unmeasurable value counts as infinite). */
export function jsonBytes(value: unknown): number {
  try {
    return utf8ByteLength(JSON.stringify(value) ?? '') ?? Number.POSITIVE_INFINITY;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/**
 * Why a unit's further rows (`moreRows`) are not acceptable, or undefined (also when absent): not an
 * array, more than {@link MAX_UNIT_ROWS} rows in all, a table that is not a table name, a row that
 * {@link measurePayload} refuses, or all rows together over {@link MAX_UNIT_BYTES}. Names the row by
 * its place in the unit (row 1 is the request's own `row`). Never throws; never quotes values.
 */
export function moreRowsProblem(moreRows: unknown, firstRowBytes = 0): string | undefined {
  if (moreRows === undefined) return undefined;
  if (!Array.isArray(moreRows)) return 'moreRows must be an array of { table, row }';
  if (moreRows.length + 1 > MAX_UNIT_ROWS) return `a unit holds ${moreRows.length + 1} rows; the limit is ${MAX_UNIT_ROWS}`;
  let bytes = firstRowBytes;
  for (let i = 0; i < moreRows.length; i++) {
    const where = `row ${i + 2} of the unit`;
    const r: unknown = moreRows[i];
    if (typeof r !== 'object' || r === null || Array.isArray(r)) return `${where} must be { table, row }`;
    const { table, row } = r as { table?: unknown; row?: unknown };
    if (typeof table !== 'string' || !TABLE_NAME_PATTERN.test(table))
      return `${where}: table ${JSON.stringify(String(table).slice(0, 80))} is not a table name (letters, digits, _ or $; optionally database.table)`;
    const measured = measurePayload(row);
    if ('problem' in measured) return `${where} (table ${table}): ${measured.problem.replace(/^payload/, 'row')}`;
    bytes += measured.bytes;
    if (bytes > MAX_UNIT_BYTES) return `the unit's rows are over ${MAX_UNIT_BYTES} bytes as JSON`;
  }
  return undefined;
}
