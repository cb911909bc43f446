// The wire-value check (wireRowProblem) and the one classification of database errors, as pure
// functions. Property-based: every value the encoder makes passes, every corrupted tag is refused
// by name and never throws; the conversion to SQL never throws for a row the check passed.
import vm from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeRow, fromBase64, toBase64, wireRowProblem, wireValueProblem } from '@write-batcher/protocol';
import { classifiedErrnos, classifyDbError, sqlValue, type TableInfo } from '@write-batcher/batcher/testing';

const columnName = fc.stringMatching(/^[a-z_][a-z0-9_]{0,20}$/);
const date = fc.date({ min: new Date(Date.UTC(1000, 0, 1)), max: new Date(Date.UTC(9999, 11, 31)), noInvalidDate: true });
const plainValue = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.bigInt(),
  date,
  fc.uint8Array({ maxLength: 40 }),
  fc.jsonValue({ maxDepth: 4 }).filter((v) => typeof v === 'object' && v !== null),
);

/** Tags that the encoder never makes: each must be refused. */
const badTag = fc.oneof(
  fc.record({
    '@wb': fc.constant('bigint'),
    v: fc.oneof(fc.constant('12a'), fc.constant(' 1'), fc.constant('01'), fc.constant('-0'), fc.constant(''), fc.constant('1e3')),
  }),
  fc.record({ '@wb': fc.constant('bigint'), v: fc.oneof(fc.integer(), fc.constant(null), fc.boolean()) }),
  fc.record({
    '@wb': fc.constant('bytes'),
    v: fc.oneof(
      fc.integer(),
      fc.constant(null),
      fc.constant('abc'),
      fc.constant('a==='),
      fc.constant('AB=='),
      fc.constant('!!!!'),
      fc.constant('QQ'),
    ),
  }),
  fc.record({
    '@wb': fc.constant('date'),
    v: fc.oneof(
      fc.constant('2026-02-30T00:00:00.000Z'),
      fc.constant('2026-01-01'),
      fc.constant('yesterday'),
      fc.constant('2026-01-01T24:00:00.000Z'),
      fc.integer(),
    ),
  }),
  fc.record({ '@wb': fc.string().filter((k) => !['date', 'bigint', 'bytes', 'json'].includes(k)), v: fc.string() }),
  fc.record({ '@wb': fc.constant('json') }),
  fc.record({ '@wb': fc.constantFrom('date', 'bigint', 'bytes', 'json'), v: fc.constant('0'), extra: fc.string() }),
  fc.record({ a: fc.integer() }), // an object that is no tag
  fc.array(fc.integer(), { maxLength: 3 }), // an array that is no tag
);

describe('wireRowProblem', () => {
  it('when a row comes from encodeRow, then it passes, and its bytes and bigints come back exact', () => {
    fc.assert(
      fc.property(fc.dictionary(columnName, plainValue, { minKeys: 1, maxKeys: 6 }), (row) => {
        const encoded = encodeRow(row);
        expect('row' in encoded).toBe(true);
        if (!('row' in encoded)) return;
        expect(wireRowProblem(encoded.row)).toBeUndefined();
        for (const [c, v] of Object.entries(row)) {
          const w = encoded.row[c] as { v: string };
          if (v instanceof Uint8Array) expect([...(fromBase64(w.v) ?? [])]).toEqual([...v]);
          if (typeof v === 'bigint') expect(BigInt(w.v)).toBe(v);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('when one value of a good row is a corrupted tag, then the row is refused naming that column, and the value is not quoted', () => {
    fc.assert(
      fc.property(fc.dictionary(columnName, fc.integer(), { minKeys: 0, maxKeys: 4 }), columnName, badTag, (good, column, bad) => {
        const row = { ...good, [column]: bad };
        const problem = wireRowProblem(row);
        expect(problem).toBeDefined();
        expect(problem).toContain(`column ${column}`);
        const v = (bad as { v?: unknown }).v;
        if (typeof v === 'string' && v.length > 3) expect(problem).not.toContain(v);
      }),
      { numRuns: 500 },
    );
  });

  it('when anything at all is given, then it never throws', () => {
    fc.assert(
      fc.property(fc.anything({ withObjectString: true, withNullPrototype: true, withBigInt: true, withDate: true }), (x) => {
        expect(() => wireRowProblem(x)).not.toThrow();
        expect(() => wireValueProblem('c', x)).not.toThrow();
      }),
      { numRuns: 500 },
    );
  });

  it('when bytes are encoded, then only the canonical base64 decodes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 50 }), (bytes) => {
        const text = toBase64(bytes);
        expect([...(fromBase64(text) ?? [])]).toEqual([...bytes]);
        if (text.length > 0) expect(fromBase64(text.slice(1))).toBeUndefined();
      }),
    );
    expect(fromBase64('QR==')).toBeUndefined(); // stray bits
    expect(fromBase64('Q===')).toBeUndefined();
    expect(fromBase64('QQ==')).toEqual(new Uint8Array([65]));
  });

  it('when a row was decoded in another V8 context (a workflow sandbox), then it passes like one of this context', () => {
    const foreign = vm.runInNewContext('JSON.parse(text)', {
      text: '{"payload":{"@wb":"json","v":{"a":[1,{"b":null}]}},"n":1}',
    }) as unknown;
    expect(Object.getPrototypeOf(foreign)).not.toBe(Object.prototype);
    expect(wireRowProblem(foreign)).toBeUndefined();
    expect(wireRowProblem(vm.runInNewContext('({ d: new Date(0) })'))).toMatch(/column d/);
  });

  it('when a row is not a plain object or names a bad column, then it is refused', () => {
    for (const row of [null, 'x', 3, [], {}, { 'a b': 1 }, { ['x'.repeat(65)]: 1 }]) expect(wireRowProblem(row)).toBeDefined();
  });
});

describe('sqlValue', () => {
  const col = (type: string) =>
    ({
      name: 'c',
      type,
      columnType: type,
      nullable: true,
      optional: true,
      generated: false,
      unsigned: false,
      maxLength: null,
      precision: null,
      scale: null,
      fsp: 3,
      autoIncrement: false,
    }) as TableInfo['columns'] extends Map<string, infer C> ? C : never;

  it('when a value passed the wire check, then converting it never throws; when it did not, then it throws', () => {
    fc.assert(
      fc.property(
        fc.oneof(plainValue, badTag),
        fc.constantFrom('bigint', 'varbinary', 'datetime', 'json', 'decimal', 'varchar'),
        (v, type) => {
          const encoded =
            v instanceof Uint8Array ||
            v instanceof Date ||
            typeof v === 'bigint' ||
            (typeof v === 'object' && v !== null && !('@wb' in v) && !Array.isArray(v) && Object.keys(v).length !== 1)
              ? encodeRow({ c: v })
              : { row: { c: v } };
          if (!('row' in encoded)) return;
          const wire = encoded.row.c;
          if (wireValueProblem('c', wire) === undefined) expect(() => sqlValue(col(type), wire as never)).not.toThrow();
          else expect(() => sqlValue(col(type), wire as never)).toThrow(/column c/);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('classifyDbError', () => {
  // errno, the class on MariaDB, the class on MySQL, and whether the table is re-read first.
  const table: Array<[number | undefined, 'data' | 'transient' | 'configuration', 'data' | 'transient' | 'configuration', boolean]> = [
    [1048, 'data', 'data', true], // NULL into NOT NULL
    [1062, 'data', 'data', false], // duplicate key
    [1264, 'data', 'data', false], // out of range
    [1265, 'data', 'data', false],
    [1292, 'data', 'data', false], // incorrect datetime value
    [1364, 'data', 'data', true], // ER_NO_DEFAULT_FOR_FIELD: a NOT NULL column without default added
    [1366, 'data', 'data', false], // incorrect integer value
    [1406, 'data', 'data', false], // too long
    [1411, 'data', 'data', false],
    [1416, 'data', 'data', false],
    [1452, 'data', 'data', false], // foreign key
    [1644, 'data', 'data', false], // a trigger's SIGNAL
    [1690, 'data', 'data', false],
    [4025, 'data', 'transient', false], // CHECK on MariaDB; another meaning on MySQL
    [3819, 'transient', 'data', false], // CHECK on MySQL
    [1054, 'configuration', 'configuration', true], // unknown column
    [1146, 'configuration', 'configuration', true], // no such table
    [1142, 'configuration', 'configuration', false], // privileges
    [1044, 'configuration', 'configuration', false],
    [1045, 'configuration', 'configuration', false],
    [1205, 'transient', 'transient', false], // lock wait
    [1213, 'transient', 'transient', false], // deadlock
    [1290, 'transient', 'transient', false], // read-only
    [1836, 'transient', 'transient', false],
    [2013, 'transient', 'transient', false],
    [99999, 'transient', 'transient', false], // unknown: retried
    [undefined, 'transient', 'transient', false], // a client error (ECONNRESET)
  ];
  it.each(table)('errno %s: %s on MariaDB, %s on MySQL, re-read %s', (errno, mariadb, mysql, reread) => {
    const err = Object.assign(new Error('x'), errno === undefined ? { code: 'ECONNRESET' } : { errno });
    expect(classifyDbError(err, 'mariadb')).toEqual({ class: mariadb, rereadTable: reread });
    expect(classifyDbError(err, 'mysql')).toEqual({ class: mysql, rereadTable: reread });
  });

  it('when the lists are read, then no errno is in two classes', () => {
    for (const server of ['mariadb', 'mysql'] as const) {
      const lists = classifiedErrnos(server);
      const all = [...lists.data, ...lists.configuration, ...lists.transient];
      expect(new Set(all).size).toBe(all.length);
    }
  });
});

describe('catalogRefreshMs', () => {
  it('when the background re-read interval is below 1 s or not a whole number, then the batcher refuses to start, naming the option', async () => {
    const { writeBatcherPlugin } = await import('@write-batcher/batcher');
    for (const catalogRefreshMs of [0, 999, 1500.5, -1])
      await expect(writeBatcherPlugin({ pool: {} as never, tables: [], catalogRefreshMs })).rejects.toThrow(/catalogRefreshMs/);
  });
});
