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
 * - `Uint8Array` (a Buffer too) for BINARY/VARBINARY/BLOB;
 * - a plain object or array for a JSON column;
 * - `null` for a nullable column; `undefined` leaves the column out (its default applies).
 */
export type ColumnValue = string | number | bigint | boolean | null | Date | Uint8Array | JsonValue[] | { [key: string]: JsonValue };

/** A row a workflow may write: every field a {@link ColumnValue}. An interface without an index signature qualifies. */
export type RowOf<Row> = { [K in keyof Row]: ColumnValue | undefined };

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
