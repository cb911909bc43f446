// How a row travels from a workflow to the batcher. Temporal payloads are JSON, which has no dates,
// big integers or bytes: those values are tagged on the way (`{ "@wb": kind, "v": ... }`) and
// turned back into what the column wants by the batcher. A JSON column's value is tagged too, so a
// tag can never be mistaken for a user's object. Workflow-safe and pure.

/** A JSON value (what a JSON column holds). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * What a column of a row may be given:
 * - `string` for CHAR/VARCHAR/TEXT/ENUM/SET, DECIMAL (exact, e.g. `"12.30"`), DATE/DATETIME/TIMESTAMP/TIME
 *   (`"2026-12-05 10:00:00.000"`, read as UTC), and integer columns (`"9007199254740993"`);
 * - `number` for integer, DECIMAL, FLOAT/DOUBLE, YEAR and BIT columns;
 * - `bigint` for integer and DECIMAL columns (exact beyond 2^53);
 * - `boolean` for TINYINT(1)/BOOLEAN and BIT(1);
 * - `Date` for DATE/DATETIME/TIMESTAMP (written in UTC);
 * - `Uint8Array` for BINARY/VARBINARY/BLOB (workflow code has no Buffer; outside it a Buffer is one);
 * - a plain object or array for a JSON column;
 * - `null` for a nullable column; `undefined` leaves the column out (its default applies).
 */
export type ColumnValue = string | number | bigint | boolean | null | Date | Uint8Array | JsonValue[] | { [key: string]: JsonValue };

/**
 * What a JSON column takes, as a type: JSON-shaped values, with interfaces (no index signature
 * needed) and readonly arrays; `unknown` values are let through to the run-time check. Dates, bytes,
 * big integers and functions are not JSON.
 */
export type JsonCompatible<T> = unknown extends T
  ? T
  : T extends string | number | boolean | null
    ? T
    : T extends readonly (infer E)[]
      ? readonly JsonCompatible<E>[]
      : T extends Date | Uint8Array | bigint | ((...args: never[]) => unknown)
        ? never
        : T extends object
          ? { [K in keyof T]: JsonCompatible<T[K]> }
          : never;

/** What one column of a row may be given (see {@link ColumnValue}); an object or array goes to a JSON column. */
export type ColumnValueOf<V> = unknown extends V
  ? V
  : V extends string | number | bigint | boolean | null | undefined | Date | Uint8Array
    ? V
    : V extends object
      ? JsonCompatible<V>
      : never;

/**
 * A row a workflow may write: an object (an interface qualifies) whose every field is a
 * {@link ColumnValueOf column value}. A string, an array, `null` or a function is not a row: a call
 * with one does not compile.
 */
export type RowOf<Row> = Row extends readonly unknown[] | ((...args: never[]) => unknown)
  ? never
  : Row extends object
    ? { [K in keyof Row]: ColumnValueOf<Row[K]> }
    : never;

/** A tagged value on the wire. */
export type TaggedValue =
  { '@wb': 'date'; v: string } | { '@wb': 'bigint'; v: string } | { '@wb': 'bytes'; v: string } | { '@wb': 'json'; v: JsonValue };
export type WireValue = string | number | boolean | null | TaggedValue;
/** A row as it travels: column name → wire value. */
export type WireRow = Record<string, WireValue>;

/** Column names a row may use: what MySQL calls an unquoted identifier (letters, digits, _ and $), 1-64 characters. */
export const COLUMN_NAME_PATTERN = /^[A-Za-z0-9_$]{1,64}$/;
/** Table names: an identifier, optionally `database.table`. */
export const TABLE_NAME_PATTERN = /^[A-Za-z0-9_$]{1,64}(\.[A-Za-z0-9_$]{1,64})?$/;

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Base64 of bytes without Buffer or btoa (neither is in the workflow sandbox). */
export function toBase64(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i] as number;
    const b = bytes[i + 1];
    const c = bytes[i + 2];
    out += BASE64[a >> 2];
    out += BASE64[((a & 3) << 4) | ((b ?? 0) >> 4)];
    out += b === undefined ? '=' : BASE64[((b & 15) << 2) | ((c ?? 0) >> 6)];
    out += c === undefined ? '=' : BASE64[c & 63];
  }
  return out;
}

function isPlainJson(value: object): boolean {
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** The wire form of one value, or a reason it cannot travel. */
function encodeValue(column: string, value: unknown): { value: WireValue } | { problem: string } | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return { value };
  if (typeof value === 'number')
    return Number.isFinite(value) ? { value } : { problem: `column ${column}: ${String(value)} is not a finite number` };
  if (typeof value === 'bigint') return { value: { '@wb': 'bigint', v: value.toString() } };
  if (value instanceof Date) {
    const ms = value.getTime();
    return Number.isNaN(ms) ? { problem: `column ${column}: the Date is invalid` } : { value: { '@wb': 'date', v: value.toISOString() } };
  }
  if (value instanceof Uint8Array) return { value: { '@wb': 'bytes', v: toBase64(value) } };
  if (typeof value === 'object' && isPlainJson(value)) return { value: { '@wb': 'json', v: value as JsonValue } };
  const kind = typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value;
  return {
    problem: `column ${column}: a ${kind} cannot be written (use a string, number, bigint, boolean, null, Date, Uint8Array, or a plain object or array for a JSON column)`,
  };
}

/** The wire form of a row, or why it cannot be written. Never throws. */
export function encodeRow(row: unknown): { row: WireRow } | { problem: string } {
  if (typeof row !== 'object' || row === null || Array.isArray(row) || !isPlainJson(row))
    return { problem: 'row must be a plain object of column → value' };
  const out: WireRow = {};
  for (const [column, value] of Object.entries(row)) {
    if (!COLUMN_NAME_PATTERN.test(column))
      return {
        problem: `column name ${JSON.stringify(column.slice(0, 80))} is not an identifier (letters, digits, _ or $; 1-64 characters)`,
      };
    const encoded = encodeValue(column, value);
    if (encoded === undefined) continue;
    if ('problem' in encoded) return encoded;
    out[column] = encoded.value;
  }
  if (Object.keys(out).length === 0) return { problem: 'row has no columns' };
  return { row: out };
}

/** Whether a wire value is tagged, and with what. */
export function tagOf(value: WireValue): TaggedValue['@wb'] | undefined {
  return typeof value === 'object' && value !== null ? value['@wb'] : undefined;
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/**
 * A table and row as one text, object keys sorted: what "the same row" means for a repeated request
 * id. The ledger hashes it (SHA-256), the shard fingerprints it in workflow code.
 */
export function canonicalRowText(table: string, row: WireRow): string {
  return JSON.stringify([table, canonical(row)]);
}

/** A further row of a unit: written in the same transaction as the request's first row, or not at all. */
export interface UnitRow {
  table: string;
  row: WireRow;
}

/**
 * The canonical text of a request's rows: a single row's is {@link canonicalRowText} (so a one-row
 * request is "the same row" as ever); a unit's lists every row, in order.
 */
export function canonicalUnitText(table: string, row: WireRow, moreRows?: readonly UnitRow[]): string {
  if (!moreRows || moreRows.length === 0) return canonicalRowText(table, row);
  return JSON.stringify(['unit', [table, canonical(row)], ...moreRows.map((r) => [r.table, canonical(r.row)])]);
}

const BASE64_INDEX: Record<string, number> = Object.fromEntries([...BASE64].map((c, i) => [c, i]));

/** Bytes of a canonical base64 text (padded, no whitespace, unused bits zero), or undefined when it is not one. */
export function fromBase64(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - padding);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const [a, b, c, d] = [0, 1, 2, 3].map((k) => BASE64_INDEX[text[i + k] as string] ?? 0) as [number, number, number, number];
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    if (o < out.length) out[o++] = (n >> 16) & 255;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  // Canonical only: the text must be what toBase64 makes of these bytes (no stray bits, no misplaced '=').
  return toBase64(out) === text ? out : undefined;
}

/**
 * A plain object or array of any realm: a workflow's decoded payloads may come from another V8
 * context than this module's, so `Object.prototype` itself cannot be compared. An object whose
 * prototype has no prototype (any realm's Object.prototype) or none at all.
 */
function isPlainAnyRealm(value: object): boolean {
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value) as object | null;
  return proto === null || Object.getPrototypeOf(proto) === null;
}

/** What Date.prototype.toISOString makes: the only text a date tag carries. */
const ISO_DATE = /^([+-]\d{6}|\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z$/;
/** Integer text as BigInt.prototype.toString makes it (no sign on zero, no leading zeros, no spaces). */
const BIGINT_TEXT = /^(0|-?[1-9]\d*)$/;
/** Longest bigint text taken: far beyond any column (DECIMAL holds 65 digits), short enough to be cheap. */
const MAX_BIGINT_DIGITS = 80;

/**
 * Why one value cannot travel as a {@link WireValue}, naming the column and what is wrong (never the
 * value itself), or undefined. Strict: a tag is an object of exactly `@wb` and `v`, of a known kind,
 * with `v` as its encoder makes it (a date as toISOString, an integer's canonical text, canonical
 * base64, any JSON value for `json`). Never throws, whatever it is given.
 */
export function wireValueProblem(column: string, value: unknown): string | undefined {
  try {
    return valueShapeProblem(column, value);
  } catch {
    // Only a value built in code (a getter that throws, a proxy) gets here, never decoded JSON.
    return `column ${column}: the value cannot be read`;
  }
}

function valueShapeProblem(column: string, value: unknown): string | undefined {
  const where = `column ${column}`;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `${where}: the number is not finite`;
  if (typeof value !== 'object') return `${where}: a ${typeof value} is not a wire value`;
  if (Array.isArray(value)) return `${where}: an array must travel as a json tag ({ "@wb": "json", "v": [...] })`;
  const keys = Object.keys(value);
  if (!keys.includes('@wb')) return `${where}: an object must travel as a json tag ({ "@wb": "json", "v": {...} })`;
  if (keys.length !== 2 || !keys.includes('v')) return `${where}: a tagged value has exactly the keys "@wb" and "v"`;
  const { '@wb': kind, v } = value as { '@wb': unknown; v: unknown };
  switch (kind) {
    case 'date': {
      if (typeof v !== 'string') return `${where}: a date tag holds an ISO 8601 text`;
      const m = ISO_DATE.exec(v);
      if (!m) return `${where}: a date tag holds a UTC time as toISOString writes it (YYYY-MM-DDTHH:MM:SS.sssZ)`;
      const d = new Date(v);
      // An impossible day or time (2026-02-30, 24:00) parses to another instant or to none.
      if (Number.isNaN(d.getTime()) || d.toISOString() !== v) return `${where}: the date tag names no real instant`;
      return undefined;
    }
    case 'bigint':
      if (typeof v !== 'string' || !BIGINT_TEXT.test(v)) return `${where}: a bigint tag holds an integer's decimal text`;
      if (v.replace('-', '').length > MAX_BIGINT_DIGITS) return `${where}: the bigint tag has more than ${MAX_BIGINT_DIGITS} digits`;
      return undefined;
    case 'bytes':
      if (typeof v !== 'string') return `${where}: a bytes tag holds base64 text`;
      return fromBase64(v) === undefined ? `${where}: the bytes tag is not canonical base64 (padded, A-Z a-z 0-9 + /)` : undefined;
    case 'json':
      return v === undefined ? `${where}: a json tag holds a JSON value` : jsonProblem(where, v);
    default:
      return `${where}: unknown tag kind (known: date, bigint, bytes, json)`;
  }
}

/** Whether a json tag's value is JSON (finite numbers, plain objects and arrays). Iterative: no input overflows the stack. */
function jsonProblem(where: string, v: unknown): string | undefined {
  const stack: unknown[] = [v];
  const seen = new Set<object>();
  while (stack.length) {
    const x = stack.pop();
    if (x === null || typeof x === 'string' || typeof x === 'boolean') continue;
    if (typeof x === 'number') {
      if (!Number.isFinite(x)) return `${where}: the JSON value holds a number that is not finite`;
      continue;
    }
    if (typeof x !== 'object' || !isPlainAnyRealm(x)) return `${where}: the JSON value holds a ${typeof x} that JSON has not`;
    if (seen.has(x)) return `${where}: the JSON value holds one object twice (or itself)`;
    seen.add(x);
    const children: unknown[] = Array.isArray(x) ? x : Object.values(x as Record<string, unknown>);
    for (const child of children) stack.push(child);
  }
  return undefined;
}

/**
 * Why a row as it arrived (from any sender, decoded JSON or not) is not a {@link WireRow}: not a
 * plain object, no columns, a column name that is not an identifier, or a value that
 * {@link wireValueProblem} refuses. Undefined for a row the batcher can convert. Never throws; names
 * columns, never quotes values. The shard, the submit activity and the bulk write all ask it.
 */
export function wireRowProblem(row: unknown): string | undefined {
  try {
    return rowShapeProblem(row);
  } catch {
    return 'row cannot be read';
  }
}

function rowShapeProblem(row: unknown): string | undefined {
  if (typeof row !== 'object' || row === null || Array.isArray(row) || !isPlainAnyRealm(row))
    return 'row must be a plain object of column → value';
  const entries = Object.entries(row);
  if (entries.length === 0) return 'row has no columns';
  for (const [column, value] of entries) {
    if (!COLUMN_NAME_PATTERN.test(column))
      return `column name ${JSON.stringify(column.slice(0, 80))} is not an identifier (letters, digits, _ or $; 1-64 characters)`;
    const problem = wireValueProblem(column, value);
    if (problem !== undefined) return problem;
  }
  return undefined;
}
