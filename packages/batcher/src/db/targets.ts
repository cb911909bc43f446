// The tables a batcher may write (its allow-list), what it learns of their columns from
// information_schema, how a row is checked against them before it is queued, and how a value on
// the wire becomes what its column wants.
import type { Pool, PoolConnection } from 'mysql2/promise';
import {
  COLUMN_NAME_PATTERN,
  MAX_PAYLOAD_DEPTH,
  TABLE_NAME_PATTERN,
  fromBase64,
  tagOf,
  wireRowProblem,
  wireValueProblem,
  type WireRow,
  type WireValue,
} from '@write-batcher/protocol';

/**
 * How rows are written to a table:
 * - `insert`: a row whose key (or any other unique key of the table) exists already is refused, typed (WriteKeyExists);
 * - `insert-ignore`: a row whose declared key exists is left as it is, and answered `duplicate`;
 * - `upsert`: a row whose declared key exists has its other given columns updated. The statement
 *   matches on the declared key only, never on another unique key of the table.
 */
export type WriteMode = 'insert' | 'insert-ignore' | 'upsert';

/** Values the batcher itself can put in a column of each row. */
export type BatcherFilledValue = 'requestId' | 'requesterWorkflowId' | 'batchId' | 'shard';

/** A table a team lets the batcher write. */
export interface TargetTable {
  /** Table name, optionally `database.table` (default: the pool's database). */
  table: string;
  /** @default 'insert' */
  mode?: WriteMode;
  /**
   * The columns that identify a row: they must be exactly the columns of the table's primary key
   * or of one of its unique keys. @default the table's primary key
   */
  key?: string[];
  /** Columns the batcher fills in itself (a row may not give them), e.g. `{ request_id: 'requestId' }`. */
  fill?: Record<string, BatcherFilledValue>;
}

export interface ColumnInfo {
  name: string;
  /** information_schema DATA_TYPE, lower case (MariaDB JSON columns report `json` here, see loadCatalog). */
  type: string;
  columnType: string;
  nullable: boolean;
  /** The column may be left out: it has a default, is nullable, or is AUTO_INCREMENT. */
  optional: boolean;
  generated: boolean;
  unsigned: boolean;
  maxLength: number | null;
  precision: number | null;
  scale: number | null;
  /** Fractional-second digits a DATETIME, TIMESTAMP or TIME column keeps (information_schema DATETIME_PRECISION). */
  fsp: number | null;
  /** AUTO_INCREMENT: the database picks the value when a row leaves it out. */
  autoIncrement: boolean;
  enumValues?: string[];
}

export interface TableInfo {
  target: Required<Pick<TargetTable, 'table' | 'mode'>> & { key: string[]; fill: Record<string, BatcherFilledValue> };
  /** `db`.`table`, quoted. */
  quoted: string;
  columns: Map<string, ColumnInfo>;
  /** Tables this one's foreign keys reference (`db.table`, lower case), itself excluded: their rows go first in a batch. */
  parents: string[];
}

/** A table's name as `parents` holds it: `db.table`, lower case. */
export function qualifiedName(table: string, defaultDb: string): string {
  const [schema, name] = splitName(table, defaultDb);
  return `${schema}.${name}`.toLowerCase();
}

/**
 * The order a batch's tables are written in: every table after the declared tables its foreign keys
 * reference (parents before children), otherwise in the order given. A cycle (two tables that
 * reference each other) keeps the order given for its members; a self-reference is not reordered
 * (rows of one table go in one statement, in arrival order).
 */
export function parentsFirst<T>(tables: readonly T[], nameOf: (t: T) => string, parentsOf: (t: T) => readonly string[]): T[] {
  const byName = new Map(tables.map((t) => [nameOf(t), t]));
  const out: T[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (t: T) => {
    const name = nameOf(t);
    if (state.has(name)) return;
    state.set(name, 'visiting');
    for (const p of parentsOf(t)) {
      const parent = byName.get(p);
      if (parent !== undefined && p !== name && state.get(p) !== 'visiting') visit(parent);
    }
    state.set(name, 'done');
    out.push(t);
  };
  tables.forEach(visit);
  return out;
}

/**
 * Deepest JSON a JSON column takes, as JSON_DEPTH counts it: 32, MariaDB's limit (MySQL's is 100;
 * the lower one wins). The wire's depth limit is this plus the row and the value's tag.
 */
export const MAX_JSON_DEPTH = MAX_PAYLOAD_DEPTH - 2;

/** An identifier quoted for MySQL; only names that passed the identifier patterns get here. */
export function quoteIdent(name: string): string {
  if (!COLUMN_NAME_PATTERN.test(name)) throw new Error(`not an identifier: ${JSON.stringify(name)}`);
  return `\`${name}\``;
}

/** Checks a list of declared tables (from config or code); throws with every problem named. */
export function checkTargets(targets: readonly TargetTable[]): void {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const t of targets) {
    if (typeof t.table !== 'string' || !TABLE_NAME_PATTERN.test(t.table))
      problems.push(`table ${JSON.stringify(t.table)} is not a table name (letters, digits, _ or $; optionally database.table)`);
    else if (seen.has(t.table)) problems.push(`table ${t.table} is declared twice`);
    else seen.add(t.table);
    if (t.mode !== undefined && !['insert', 'insert-ignore', 'upsert'].includes(t.mode))
      problems.push(`table ${t.table}: mode ${JSON.stringify(t.mode)} is not insert, insert-ignore or upsert`);
    for (const k of t.key ?? [])
      if (!COLUMN_NAME_PATTERN.test(k)) problems.push(`table ${t.table}: key column ${JSON.stringify(k)} is not an identifier`);
    if (t.key !== undefined && t.key.length === 0) problems.push(`table ${t.table}: key must name at least one column`);
    for (const [c, v] of Object.entries(t.fill ?? {})) {
      if (!COLUMN_NAME_PATTERN.test(c)) problems.push(`table ${t.table}: fill column ${JSON.stringify(c)} is not an identifier`);
      if (!['requestId', 'requesterWorkflowId', 'batchId', 'shard'].includes(v))
        problems.push(`table ${t.table}: fill ${c} = ${JSON.stringify(v)} is not requestId, requesterWorkflowId, batchId or shard`);
    }
  }
  if (problems.length) throw new Error(problems.join('; '));
}

interface ColumnRow {
  name: string;
  data_type: string;
  column_type: string;
  is_nullable: string;
  column_default: string | null;
  extra: string;
  max_length: number | string | null;
  num_precision: number | string | null;
  num_scale: number | string | null;
  fsp: number | string | null;
}

function splitName(table: string, defaultDb: string): [string, string] {
  const dot = table.indexOf('.');
  return dot < 0 ? [defaultDb, table] : [table.slice(0, dot), table.slice(dot + 1)];
}

function parseEnum(columnType: string): string[] | undefined {
  const m = /^(?:enum|set)\((.*)\)$/i.exec(columnType);
  if (!m) return undefined;
  return [...(m[1] as string).matchAll(/'((?:[^']|'')*)'/g)].map((x) => (x[1] as string).replace(/''/g, "'"));
}

type Queryable = Pick<Pool | PoolConnection, 'query'>;

/**
 * Reads what the batcher needs to know of one declared table: its columns, which are JSON, and
 * that the declared key is one of its unique keys. Throws with a message naming the table.
 */
export async function describeTable(db: Queryable, target: TargetTable, defaultDb: string): Promise<TableInfo> {
  const [schema, name] = splitName(target.table, defaultDb);
  const [cols] = await db.query(
    `SELECT COLUMN_NAME AS name, DATA_TYPE AS data_type, COLUMN_TYPE AS column_type, IS_NULLABLE AS is_nullable, COLUMN_DEFAULT AS column_default,
            EXTRA AS extra, CHARACTER_MAXIMUM_LENGTH AS max_length, NUMERIC_PRECISION AS num_precision, NUMERIC_SCALE AS num_scale,
            DATETIME_PRECISION AS fsp
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
    [schema, name],
  );
  const rows = cols as ColumnRow[];
  if (rows.length === 0) throw new Error(`table ${target.table} does not exist in database ${schema} (or this user cannot see it)`);
  // MariaDB's JSON is LONGTEXT with a json_valid() CHECK constraint; MySQL reports `json` itself.
  let jsonColumns = new Set<string>();
  try {
    const [checks] = await db.query(
      `SELECT CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?`,
      [schema, name],
    );
    jsonColumns = new Set(
      (checks as Array<{ clause: string }>).flatMap((c) =>
        [...String(c.clause).matchAll(/json_valid\(`([^`]+)`\)/gi)].map((m) => m[1] as string),
      ),
    );
  } catch {
    // MySQL 5.7 has no CHECK_CONSTRAINTS (and no MariaDB-style JSON): nothing to add.
  }
  const columns = new Map<string, ColumnInfo>();
  const num = (v: number | string | null) => (v === null ? null : Number(v));
  for (const r of rows) {
    const extra = String(r.extra).toLowerCase();
    const generated = /virtual|stored|persistent/.test(extra) && !extra.includes('default_generated');
    const nullable = r.is_nullable === 'YES';
    const type = jsonColumns.has(r.name) ? 'json' : String(r.data_type).toLowerCase();
    columns.set(r.name, {
      name: r.name,
      type,
      columnType: String(r.column_type).toLowerCase(),
      nullable,
      optional: nullable || r.column_default !== null || extra.includes('auto_increment') || generated,
      generated,
      unsigned: /unsigned/i.test(r.column_type),
      maxLength: num(r.max_length),
      precision: num(r.num_precision),
      scale: num(r.num_scale),
      fsp: num(r.fsp),
      autoIncrement: extra.includes('auto_increment'),
      enumValues: parseEnum(String(r.column_type)),
    });
  }
  const [idx] = await db.query(
    `SELECT INDEX_NAME AS index_name, COLUMN_NAME AS column_name FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX`,
    [schema, name],
  );
  const uniqueKeys = new Map<string, string[]>();
  for (const r of idx as Array<{ index_name: string; column_name: string }>)
    uniqueKeys.set(r.index_name, [...(uniqueKeys.get(r.index_name) ?? []), r.column_name]);
  const key = target.key ?? uniqueKeys.get('PRIMARY');
  if (!key) throw new Error(`table ${target.table} has no primary key: declare its key (a unique key's columns)`);
  const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((c) => b.includes(c));
  if (![...uniqueKeys.values()].some((cols) => sameSet(cols, key))) {
    throw new Error(`table ${target.table}: key (${key.join(', ')}) is not the primary key or a unique key of the table`);
  }
  for (const c of [...key, ...Object.keys(target.fill ?? {})])
    if (!columns.has(c)) throw new Error(`table ${target.table} has no column ${c}`);
  // insert-ignore and upsert need every key column in every row (rowProblemFor); a key the database
  // numbers itself is never in a row, so every row would be refused: say so at start instead.
  const mode = target.mode ?? 'insert';
  const numbered = key.filter((c) => columns.get(c)?.autoIncrement && !(c in (target.fill ?? {})));
  if (mode !== 'insert' && numbered.length > 0) {
    throw new Error(
      `table ${target.table} (mode ${mode}): its key (${key.join(', ')}) holds the AUTO_INCREMENT column ${numbered.join(', ')}, which rows never give, so every row would be refused; declare \`key\` as a unique key whose columns the rows give (e.g. key: ['event_id'])`,
    );
  }
  // The tables this one's foreign keys point at: a batch writes their rows first.
  let parents: string[] = [];
  try {
    const [refs] = await db.query(
      `SELECT DISTINCT REFERENCED_TABLE_SCHEMA AS s, REFERENCED_TABLE_NAME AS t FROM information_schema.KEY_COLUMN_USAGE
        WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND REFERENCED_TABLE_NAME IS NOT NULL`,
      [schema, name],
    );
    parents = (refs as Array<{ s: string; t: string }>)
      .map((r) => `${r.s}.${r.t}`.toLowerCase())
      .filter((p) => p !== `${schema}.${name}`.toLowerCase());
  } catch {
    // Not readable for this user: no order is imposed (a child row may then meet its parent's absence).
  }
  return {
    target: { table: target.table, mode, key, fill: target.fill ?? {} },
    quoted: `${quoteIdent(schema)}.${quoteIdent(name)}`,
    columns,
    parents,
  };
}

const INT_RANGES: Record<string, [bigint, bigint]> = {
  tinyint: [-128n, 127n],
  smallint: [-32768n, 32767n],
  mediumint: [-8388608n, 8388607n],
  int: [-2147483648n, 2147483647n],
  integer: [-2147483648n, 2147483647n],
  bigint: [-9223372036854775808n, 9223372036854775807n],
};
const TEXT_TYPES = new Set(['char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext']);
const BINARY_TYPES = new Set(['binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob']);
const DATE_TYPES = new Set(['date', 'datetime', 'timestamp']);
const DATE_TEXT = /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z?)?$/;
const DECIMAL_TEXT = /^[-+]?\d+(\.\d+)?$/;

/**
 * Depth of a JSON value as the database's JSON_DEPTH counts it: a scalar or an empty container is 1,
 * a container is one more than its deepest child. Iterative: no input can overflow the stack.
 */
export function jsonDepth(value: unknown): number {
  let max = 1;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length) {
    const [v, d] = stack.pop() as [unknown, number];
    max = Math.max(max, d);
    if (typeof v !== 'object' || v === null) continue;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

/** Why one wire value does not fit its column, or undefined when it does. */
function valueProblem(col: ColumnInfo, value: WireValue): string | undefined {
  const where = `column ${col.name} (${col.columnType})`;
  if (value === null) return col.nullable ? undefined : `${where} is NOT NULL`;
  const tag = tagOf(value);
  const t = col.type;
  if (t in INT_RANGES || t === 'bit' || t === 'year') {
    let n: bigint;
    if (typeof value === 'boolean') n = value ? 1n : 0n;
    else if (typeof value === 'number') {
      if (!Number.isInteger(value)) return `${where} takes integers; got ${value}`;
      if (!Number.isSafeInteger(value)) return `${where}: ${value} is beyond 2^53 as a number; pass a bigint or a string`;
      n = BigInt(value);
    } else if (typeof value === 'string' && /^-?\d+$/.test(value)) n = BigInt(value);
    else if (tag === 'bigint') n = BigInt((value as { v: string }).v);
    else return `${where} takes an integer; got ${describe(value)}`;
    const range = INT_RANGES[t];
    if (range) {
      const [lo, hi] = col.unsigned ? [0n, range[1] * 2n + 1n] : range;
      if (n < lo || n > hi) return `${where}: ${n} is out of range ${lo}..${hi}`;
    }
    return undefined;
  }
  if (t === 'decimal' || t === 'numeric') {
    let text: string;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) return `${where}: ${value} is not a number`;
      text = String(value);
      if (/e/i.test(text)) return `${where}: ${text} is out of range; pass the decimal as a string`;
    } else if (typeof value === 'string' && DECIMAL_TEXT.test(value)) text = value;
    else if (tag === 'bigint') text = (value as { v: string }).v;
    else return `${where} takes a decimal as a string (exact), a number or a bigint; got ${describe(value)}`;
    const [int = '', frac = ''] = text.replace(/^[-+]/, '').split('.');
    const scale = col.scale ?? 0;
    const intDigits = int.replace(/^0+(?=\d)/, '').replace(/^0$/, '').length;
    if (intDigits > (col.precision ?? 65) - scale)
      return `${where}: ${text} has ${intDigits} integer digits; the column holds ${(col.precision ?? 65) - scale}`;
    if (frac.replace(/0+$/, '').length > scale) return `${where}: ${text} has more than ${scale} decimal places (refused, never rounded)`;
    if (col.unsigned && text.startsWith('-') && /[1-9]/.test(text)) return `${where} is unsigned; got ${text}`;
    return undefined;
  }
  if (t === 'float' || t === 'double' || t === 'real')
    return typeof value === 'number' ? undefined : `${where} takes a number; got ${describe(value)}`;
  if (TEXT_TYPES.has(t) || t === 'enum' || t === 'set') {
    if (typeof value !== 'string') return `${where} takes a string; got ${describe(value)}`;
    const chars = [...value].length;
    if (col.maxLength !== null && chars > col.maxLength)
      return `${where}: the string is ${chars} characters; the column holds ${col.maxLength}`;
    if (t === 'enum' && col.enumValues && !col.enumValues.some((e) => e.toLowerCase() === value.toLowerCase()))
      return `${where}: ${JSON.stringify(value.slice(0, 40))} is not one of ${col.enumValues.join(', ')}`;
    return undefined;
  }
  if (BINARY_TYPES.has(t)) {
    if (tag !== 'bytes') return `${where} takes bytes (a Uint8Array or Buffer); got ${describe(value)}`;
    const len = fromBase64((value as { v: string }).v)?.length ?? 0;
    if (col.maxLength !== null && len > col.maxLength) return `${where}: ${len} bytes; the column holds ${col.maxLength}`;
    return undefined;
  }
  if (DATE_TYPES.has(t)) {
    if (tag === 'date' || (typeof value === 'string' && DATE_TEXT.test(value))) return datePrecisionProblem(col, where, value);
    return `${where} takes a Date or a 'YYYY-MM-DD[ HH:MM:SS[.ffffff]]' string; got ${describe(value)}`;
  }
  if (t === 'time')
    return typeof value === 'string' && /^-?\d{1,3}:\d{2}(:\d{2}(\.\d{1,6})?)?$/.test(value)
      ? undefined
      : `${where} takes a 'HH:MM:SS' string; got ${describe(value)}`;
  if (t === 'json') {
    if (tag !== 'json') return `${where} takes a plain object or array; got ${describe(value)}`;
    const depth = jsonDepth((value as { v: unknown }).v);
    if (depth > MAX_JSON_DEPTH)
      return `${where}: the JSON value is ${depth} levels deep (as JSON_DEPTH counts); the database takes at most ${MAX_JSON_DEPTH}`;
    return undefined;
  }
  return `${where}: this column type is not supported by the batcher`;
}

/**
 * A date whose time or fractional seconds the column cannot keep: refused, never rounded or cut
 * (MariaDB rounds or truncates such a value without a word). A DATE keeps no time of day; a
 * DATETIME(n) or TIMESTAMP(n) keeps n fractional digits (a Date carries milliseconds, 3).
 */
function datePrecisionProblem(col: ColumnInfo, where: string, value: WireValue): string | undefined {
  // Only a tagged Date or a date string gets here (valueProblem checked it).
  const text = tagOf(value) === 'date' ? utcText((value as { v: string }).v, 'datetime') : typeof value === 'string' ? value : '';
  const m = /^\d{4}-\d{2}-\d{2}(?:[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?)?Z?$/.exec(text);
  if (!m) return undefined;
  const [, hh = '00', mm = '00', ss = '00', fraction = ''] = m;
  if (col.type === 'date') {
    if (hh !== '00' || mm !== '00' || ss !== '00' || /[1-9]/.test(fraction))
      return `${where} keeps no time of day; got ${text} (refused, never cut: pass midnight UTC or a 'YYYY-MM-DD' string)`;
    return undefined;
  }
  const fsp = col.fsp ?? 0;
  const digits = fraction.replace(/0+$/, '').length;
  if (digits > fsp)
    return `${where} keeps ${fsp} fractional-second digits; got ${text} (refused, never rounded: drop the extra digits, or widen the column to ${col.type.toUpperCase()}(${Math.min(6, Math.max(3, digits))}))`;
  return undefined;
}

function describe(value: WireValue): string {
  const tag = tagOf(value);
  if (tag === 'json') return 'a JSON object or array';
  if (tag) return `a ${tag === 'bytes' ? 'byte array' : tag === 'date' ? 'Date' : 'bigint'}`;
  if (typeof value === 'string') return `the string ${JSON.stringify(value.slice(0, 40))}`;
  return `${typeof value} ${JSON.stringify(value)}`;
}

/**
 * Why a row cannot be written to this table, and whether the reason is the table's shape (a column
 * unknown, generated or required, NOT NULL): a reason a table altered since it was read can change.
 */
export function rowCheck(info: TableInfo, row: WireRow): { problem: string; schema: boolean } | undefined {
  const table = info.target.table;
  // The wire form first: every value below is one the conversion to SQL takes.
  const wire = wireRowProblem(row);
  if (wire !== undefined) return { problem: wire, schema: false };
  for (const [column, value] of Object.entries(row)) {
    const col = info.columns.get(column);
    if (!col) return { problem: `table ${table} has no column ${column}`, schema: true };
    if (column in info.target.fill)
      return {
        problem: `column ${column} of table ${table} is filled by the batcher (${info.target.fill[column]}); leave it out`,
        schema: false,
      };
    if (col.generated) return { problem: `column ${column} of table ${table} is generated; leave it out`, schema: true };
    const problem = valueProblem(col, value);
    if (problem) return { problem: `table ${table}: ${problem}`, schema: value === null };
  }
  for (const col of info.columns.values()) {
    if (!col.optional && !(col.name in row) && !(col.name in info.target.fill))
      return { problem: `table ${table}: required column ${col.name} is missing`, schema: true };
  }
  if (info.target.mode !== 'insert') {
    const missing = info.target.key.filter((k) => !(k in row) && !(k in info.target.fill));
    if (missing.length)
      return {
        problem: `table ${table} (mode ${info.target.mode}): every key column must be given; missing ${missing.join(', ')}`,
        schema: false,
      };
  }
  return undefined;
}

/** Why a row cannot be written to this table, or undefined. Checked before the row is queued and again in the batch. */
export function rowProblemFor(info: TableInfo, row: WireRow): string | undefined {
  return rowCheck(info, row)?.problem;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** A Date as MySQL reads it, in UTC (the batcher's sessions run with time_zone '+00:00'). */
function utcText(iso: string, type: string): string {
  const d = new Date(iso);
  const date = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  if (type === 'date') return date;
  return `${date} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
}

/** A value the conversion to SQL cannot take (only a row that skipped wireRowProblem has one). Names the column only. */
export class RowValueError extends Error {
  constructor(readonly column: string) {
    super(`column ${column}: the value cannot be converted for the database`);
    this.name = 'RowValueError';
  }
}

/** The value mysql2 sends for a wire value in this column. Throws RowValueError for a value that is no WireValue. */
export function sqlValue(col: ColumnInfo | undefined, value: WireValue): string | number | boolean | null | Buffer {
  const column = col?.name ?? '?';
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new RowValueError(column);
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean' && value !== null)
      throw new RowValueError(column);
    if (typeof value === 'string' && col && DATE_TYPES.has(col.type) && value.endsWith('Z')) {
      if (Number.isNaN(new Date(value).getTime())) throw new RowValueError(column);
      return utcText(value, col.type);
    }
    return value;
  }
  if (wireValueProblem(column, value) !== undefined) throw new RowValueError(column);
  switch (value['@wb']) {
    case 'date':
      return utcText(value.v, col?.type ?? 'datetime');
    case 'bigint':
      return value.v;
    case 'bytes':
      return Buffer.from(fromBase64(value.v) as Uint8Array);
    case 'json':
      return JSON.stringify(value.v);
  }
  throw new RowValueError(column);
}

/** Every declared table, described; the batcher worker's view of what it may write. */
export class Catalog {
  private readonly tables = new Map<string, TableInfo>();
  private readonly errors = new Map<string, string>();
  /** When the read behind each table's current view started: an older read never replaces a newer one. */
  private readonly readStartedAt = new Map<string, number>();

  constructor(
    private readonly pool: Pool,
    readonly targets: readonly TargetTable[],
    private readonly defaultDb: string,
  ) {
    checkTargets(targets);
  }

  /** Reads every table; throws (naming each table) when one cannot be described and `strict`. */
  async load(strict: boolean): Promise<void> {
    const problems: string[] = [];
    for (const t of this.targets) {
      const problem = await this.readOne(t);
      if (problem !== undefined) problems.push(problem);
    }
    if (strict && problems.length) throw new Error(problems.join('; '));
  }

  /** Reads one table into the view (unless a read started later got there first); the error's message when it cannot be read. */
  private async readOne(t: TargetTable): Promise<string | undefined> {
    const startedAt = Date.now();
    try {
      const info = await describeTable(this.pool, t, this.defaultDb);
      if ((this.readStartedAt.get(t.table) ?? -Infinity) <= startedAt) {
        this.tables.set(t.table, info);
        this.readStartedAt.set(t.table, startedAt);
        this.errors.delete(t.table);
      }
      return undefined;
    } catch (err) {
      // A table dropped or renamed while requests flow: keep what was known; the writes wait.
      this.errors.set(t.table, (err as Error).message);
      return (err as Error).message;
    }
  }

  get(table: string): TableInfo | undefined {
    return this.tables.get(table);
  }

  /** Each table's re-read under way, with when it started. */
  private readonly rereads = new Map<string, { startedAt: number; done: Promise<void> }>();

  /**
   * Reads one declared table again, unless a re-read that started at or after `since` (ms) is
   * under way: then waits for that one. Never throws: a table that cannot be read keeps what was
   * known of it (its writes wait) and its error is kept for the refusal messages.
   */
  async reread(table: string, since = Date.now()): Promise<void> {
    const target = this.targets.find((t) => t.table === table);
    if (!target) return;
    const running = this.rereads.get(table);
    if (running && running.startedAt >= since) return running.done;
    const startedAt = Date.now();
    const done = this.readOne(target).then(() => undefined);
    const entry = { startedAt, done };
    this.rereads.set(table, entry);
    try {
      await done;
    } finally {
      if (this.rereads.get(table) === entry) this.rereads.delete(table);
    }
  }

  /**
   * Like {@link problem}, but a refusal for the table's shape (an unknown column, a required one
   * missing, …) is decided only after the table is read again once: a column added, dropped or
   * made NOT NULL since the last read is seen before any row is refused for it.
   */
  async freshProblem(table: string, row: WireRow): Promise<string | undefined> {
    const since = Date.now();
    const info = this.tables.get(table);
    if (!info) return this.problem(table, row);
    const first = this.check(info, row);
    if (first === undefined || !first.schema) return first?.problem;
    await this.reread(table, since);
    return this.problem(table, row);
  }

  /** {@link rowCheck} against the table as last read; undefined for a table not read (or not declared). */
  rowCheck(table: string, row: WireRow): { problem: string; schema: boolean } | undefined {
    const info = this.tables.get(table);
    return info ? this.check(info, row) : undefined;
  }

  private check(info: TableInfo, row: WireRow): { problem: string; schema: boolean } | undefined {
    try {
      return rowCheck(info, row);
    } catch {
      // Nothing above throws for a row wireRowProblem passed; a row is refused rather than a batch stalled.
      return { problem: `table ${info.target.table}: the row cannot be checked`, schema: false };
    }
  }

  /** Why a request for this table and row cannot be queued, or undefined. */
  problem(table: string, row: WireRow): string | undefined {
    const info = this.tables.get(table);
    if (!info) {
      if (this.targets.some((t) => t.table === table))
        return `table ${table} is declared but could not be read: ${this.errors.get(table) ?? 'not loaded yet'}`;
      return `table ${table} is not one of this batcher's tables (${this.targets.map((t) => t.table).join(', ')}); add it to the batcher's \`tables\` option`;
    }
    return this.check(info, row)?.problem;
  }

  /** The declared tables among `tables`, parents before children (see parentsFirst). */
  writeOrder(tables: readonly string[]): string[] {
    return parentsFirst(
      tables,
      (t) => qualifiedName(t, this.defaultDb),
      (t) => this.get(t)?.parents ?? [],
    );
  }

  names(): string[] {
    return this.targets.map((t) => t.table);
  }
}
