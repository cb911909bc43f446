// Dates land the same whatever the pool's sessions say: a team's pool whose sessions run at +02:00,
// used first for `migrate(pool)` as the README shows, then by the batcher's bulk write. And a date
// whose precision its column cannot keep is refused, typed, never rounded. Real MariaDB.
import { createHash } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import fc from 'fast-check';
import mysql, { type Pool } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatcherErrorTypes, encodeRow, type WireRow } from '@write-batcher/protocol';
import { migrate, type BulkWriteInput, type BulkWriteResult, type TargetTable } from '@write-batcher/batcher';
import { Catalog, createBulkWriter, describeTable, rowProblemFor, type TableInfo } from '@write-batcher/batcher/testing';
import { globalMysql } from '../support/global-servers';

const MOMENTS = `CREATE TABLE IF NOT EXISTS moments (
  id VARCHAR(64) NOT NULL PRIMARY KEY,
  dt3 DATETIME(3) NULL,
  ts3 TIMESTAMP(3) NULL DEFAULT NULL,
  dt0 DATETIME NULL,
  ts0 TIMESTAMP NULL DEFAULT NULL,
  d DATE NULL
)`;
const TABLES: TargetTable[] = [{ table: 'moments', mode: 'insert' }];
const USER_ZONE = '+02:00';

/** How the team's pool puts its sessions at +02:00: on each new connection, or each time one is taken. */
type ZoneHook = 'connection' | 'acquire';

let database = '';

beforeAll(async () => {
  const m = globalMysql();
  database = `t_tz_${createHash('sha1').update(`time-zones-${Date.now()}`).digest('hex').slice(0, 12)}`;
  const admin = await mysql.createConnection({ host: m.host, port: m.port, user: m.user, password: m.password });
  await admin.query(`CREATE DATABASE IF NOT EXISTS \`${database}\``);
  await admin.end();
});

afterAll(async () => {
  const m = globalMysql();
  const admin = await mysql.createConnection({ host: m.host, port: m.port, user: m.user, password: m.password });
  await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
  await admin.end();
});

/**
 * A pool as a team might make it: its sessions at +02:00 through a hook of its own (the `connection`
 * one with resetOnRelease off, so the zone stays for the connection's life; or `acquire`, set on
 * each taking), and mysql2's own `timezone` at +02:00 too.
 */
function teamPool(hook: ZoneHook): Pool {
  const m = globalMysql();
  const pool = mysql.createPool({
    host: m.host,
    port: m.port,
    user: m.user,
    password: m.password,
    database,
    connectionLimit: 2,
    timezone: USER_ZONE,
    resetOnRelease: hook === 'acquire',
  });
  // Either event hands the core (callback) connection; typed as an emitter because mysql2 types each event on its own.
  (pool as unknown as NodeJS.EventEmitter).on(hook, (conn: { query: (sql: string, cb: (err: Error | null) => void) => void }) =>
    conn.query(`SET time_zone = '${USER_ZONE}'`, () => undefined),
  );
  return pool;
}

/**
 * The bulk-write activity in the SDK's activity environment, on the team's pool. Its rows carry no
 * reply addresses, so the replier is never asked; the stand-in fails if it is.
 */
async function bulkWriterOn(pool: Pool): Promise<{ write: (input: BulkWriteInput) => Promise<BulkWriteResult>; info: TableInfo }> {
  const catalog = new Catalog(pool, TABLES, database);
  await catalog.load(true);
  const { bulkWrite } = createBulkWriter(pool, catalog, {
    deliver: async (replies) => {
      if (replies.length > 0) throw new Error('no replies expected in this test');
      return { delivered: 0, undeliverable: 0 };
    },
  });
  const env = new MockActivityEnvironment();
  return {
    write: (input) => env.run<[BulkWriteInput], BulkWriteResult, typeof bulkWrite>(bulkWrite, input),
    info: catalog.get('moments') as TableInfo,
  };
}

/** A row in its wire form, as batchedWrite sends it. */
function wire(row: Record<string, unknown>): WireRow {
  const encoded = encodeRow(row);
  if ('problem' in encoded) throw new Error(encoded.problem);
  return encoded.row;
}

let seq = 0;
const batchOf = (rows: Array<{ id: string; row: WireRow }>): BulkWriteInput => ({
  batchId: `tz-batch-${Date.now()}-${seq++}`,
  shard: 0,
  rows: rows.map((r) => ({ requestId: `tz:${r.id}`, requesterWorkflowId: 'wf-tz', table: 'moments', row: r.row, replies: [] })),
});

interface Stored {
  dt3_text: string | null;
  ts3_epoch_ms: string | null;
  dt0_text: string | null;
  ts0_epoch_ms: string | null;
  d_text: string | null;
}

/** The stored values as zone-free text: DATETIME as written, TIMESTAMP as its UTC epoch (UNIX_TIMESTAMP). */
async function stored(pool: Pool, id: string): Promise<Stored | undefined> {
  const [rows] = await pool.query(
    `SELECT DATE_FORMAT(dt3, '%Y-%m-%dT%H:%i:%s.%fZ') AS dt3_text, CAST(ROUND(UNIX_TIMESTAMP(ts3) * 1000) AS CHAR) AS ts3_epoch_ms,
            DATE_FORMAT(dt0, '%Y-%m-%dT%H:%i:%sZ') AS dt0_text, CAST(ROUND(UNIX_TIMESTAMP(ts0) * 1000) AS CHAR) AS ts0_epoch_ms,
            DATE_FORMAT(d, '%Y-%m-%d') AS d_text
       FROM moments WHERE id = ?`,
    [id],
  );
  return (rows as Stored[])[0];
}

const isoMicros = (d: Date) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

describe('dates and time zones', () => {
  for (const hook of ['connection', 'acquire'] as const) {
    it(`when a team's pool runs its sessions at +02:00 (set on ${hook}) and migrate(pool) ran first on it, then a Date lands as the same instant in DATETIME and TIMESTAMP columns`, async () => {
      const pool = teamPool(hook);
      try {
        // The setting is real: the team's own statements on this pool run at +02:00.
        const [zone] = await pool.query('SELECT @@session.time_zone AS tz');
        expect((zone as Array<{ tz: string }>)[0]?.tz).toBe(USER_ZONE);
        // The README's order: migrate on the pool, then the batcher on the same pool.
        await migrate(pool);
        await pool.query(MOMENTS);
        const { write } = await bulkWriterOn(pool);
        const noon = new Date('2026-12-05T12:00:00.000Z');
        const withMs = new Date('2026-12-05T12:00:00.123Z');
        const id = `noon-${hook}`;
        const result = await write(
          batchOf([{ id, row: wire({ id, dt3: withMs, ts3: withMs, dt0: noon, ts0: noon, d: new Date('2026-12-05T00:00:00.000Z') }) }]),
        );
        expect(result.outcomes.map((o) => o.status)).toEqual(['committed']);
        expect(await stored(pool, id)).toEqual({
          dt3_text: isoMicros(withMs),
          ts3_epoch_ms: String(withMs.getTime()),
          dt0_text: '2026-12-05T12:00:00Z',
          ts0_epoch_ms: String(noon.getTime()),
          d_text: '2026-12-05',
        });
        // The bulk write opens its transaction by turning autocommit off (db/sessions.ts); each of
        // the pool's connections the team gets back commits its own statements again, whether the
        // pool resets sessions on release (acquire) or not (connection).
        const conns = await Promise.all([pool.getConnection(), pool.getConnection()]);
        try {
          for (const c of conns) {
            const [ac] = await c.query('SELECT @@session.autocommit AS ac');
            expect(Number((ac as Array<{ ac: number | string }>)[0]?.ac)).toBe(1);
          }
        } finally {
          for (const c of conns) c.release();
        }
      } finally {
        await pool.end();
      }
    });
  }

  it('when a batch commits on a pool that does not reset sessions (mysql2’s default), then the server saw 4 statements for it, its rows are visible to another session, and the connection is back in autocommit', async () => {
    const pool = teamPool('connection');
    const m = globalMysql();
    const admin = await mysql.createConnection({ host: m.host, port: m.port, user: m.user, password: m.password, database });
    const questions = async () => {
      const [r] = await admin.query("SHOW GLOBAL STATUS LIKE 'Questions'");
      return Number((r as Array<{ Value: string }>)[0]?.Value);
    };
    try {
      await migrate(pool);
      await pool.query(MOMENTS);
      const { write } = await bulkWriterOn(pool);
      // The first batch also asks the server's version once; the second is a batch as it runs.
      await write(batchOf([{ id: 'count-warm', row: wire({ id: 'count-warm', dt3: new Date('2026-12-05T12:00:00.000Z') }) }]));
      const ids = ['count-1', 'count-2', 'count-3'];
      const before = await questions();
      const result = await write(batchOf(ids.map((id) => ({ id, row: wire({ id, dt0: new Date('2026-12-05T12:00:00.000Z') }) }))));
      const after = await questions();
      expect(result.outcomes.map((o) => o.status)).toEqual(['committed', 'committed', 'committed']);
      // The session's zone with autocommit off, the ledger claim, the INSERT, and autocommit back
      // on, which commits (the SHOW STATUS between the two readings is the 1 taken off).
      expect(after - before - 1).toBe(4);
      const [seen] = await admin.query('SELECT id FROM moments WHERE id IN (?) ORDER BY id', [ids]);
      expect((seen as Array<{ id: string }>).map((r) => r.id)).toEqual(ids);
      const [ac] = await pool.query('SELECT @@session.autocommit AS ac');
      expect(Number((ac as Array<{ ac: number | string }>)[0]?.ac)).toBe(1);
    } finally {
      await admin.end();
      await pool.end();
    }
  });

  it('when a Date with milliseconds goes into a DATETIME(0) or TIMESTAMP(0) column, or a time of day into a DATE, then the row is refused InvalidWriteRequest naming the column and its precision, and nothing is written', async () => {
    const pool = teamPool('acquire');
    try {
      await pool.query(MOMENTS);
      await migrate(pool);
      const { write } = await bulkWriterOn(pool);
      const ms = new Date('2026-12-05T12:00:00.001Z');
      const cases = [
        { id: 'dt0-ms', row: wire({ id: 'dt0-ms', dt0: ms }), why: /column dt0 \(datetime\) keeps 0 fractional-second digits/ },
        { id: 'ts0-ms', row: wire({ id: 'ts0-ms', ts0: ms }), why: /column ts0 \(timestamp\) keeps 0 fractional-second digits/ },
        {
          id: 'ts0-text',
          row: wire({ id: 'ts0-text', ts0: '2026-12-05 12:00:00.5' }),
          why: /column ts0 \(timestamp\) keeps 0 fractional-second digits/,
        },
        { id: 'd-time', row: wire({ id: 'd-time', d: ms }), why: /column d \(date\) keeps no time of day/ },
        { id: 'dt3-ok', row: wire({ id: 'dt3-ok', dt3: ms, dt0: new Date('2026-12-05T12:00:00.000Z') }), why: undefined },
      ];
      const result = await write(batchOf(cases));
      result.outcomes.forEach((o, i) => {
        const c = cases[i]!;
        if (!c.why) return expect(o.status).toBe('committed');
        expect(o.status).toBe('rejected');
        expect(o.errorType).toBe(BatcherErrorTypes.InvalidRequest);
        expect(o.reason).toMatch(c.why);
      });
      const [rows] = await pool.query('SELECT id FROM moments WHERE id IN (?) ORDER BY id', [cases.map((c) => c.id)]);
      expect((rows as Array<{ id: string }>).map((r) => r.id)).toEqual(['dt3-ok']);
    } finally {
      await pool.end();
    }
  });

  // The class: every Date a TIMESTAMP can hold (1970-01-01T00:00:01Z to 2038-01-19T03:14:07.999Z,
  // MariaDB's classic range; DATETIME holds more), whatever its milliseconds.
  const timestampDates = fc.date({
    min: new Date('1970-01-01T00:00:01.000Z'),
    max: new Date('2038-01-19T03:14:07.999Z'),
    noInvalidDate: true,
  });

  it('for any Date a TIMESTAMP holds, written through a pool at +02:00, then DATETIME(3) and TIMESTAMP(3) give back exactly that instant', async () => {
    const pool = teamPool('connection');
    try {
      await pool.query(MOMENTS);
      await migrate(pool);
      const { write } = await bulkWriterOn(pool);
      let n = 0;
      await fc.assert(
        fc.asyncProperty(timestampDates, async (date) => {
          const id = `prop-${n++}`;
          const result = await write(batchOf([{ id, row: wire({ id, dt3: date, ts3: date }) }]));
          expect(result.outcomes[0]?.status).toBe('committed');
          const s = await stored(pool, id);
          expect(s?.dt3_text).toBe(isoMicros(date));
          expect(s?.ts3_epoch_ms).toBe(String(date.getTime()));
        }),
        {
          numRuns: 40,
          examples: [
            [new Date('2026-12-05T12:00:00.000Z')],
            [new Date('1970-01-01T00:00:01.000Z')],
            [new Date('2038-01-19T03:14:07.999Z')],
          ],
        },
      );
    } finally {
      await pool.end();
    }
  });

  it('for any Date, then a (0) column refuses it exactly when it has milliseconds, a (3) column never does, and a DATE exactly when it is not midnight UTC', async () => {
    const pool = teamPool('acquire');
    let info: TableInfo;
    try {
      await pool.query(MOMENTS);
      info = await describeTable(pool, TABLES[0]!, database);
    } finally {
      await pool.end();
    }
    fc.assert(
      fc.property(
        fc.date({ min: new Date('1000-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }),
        (date) => {
          const ms = date.getUTCMilliseconds();
          for (const column of ['dt0', 'ts0'] as const) {
            const problem = rowProblemFor(info, wire({ id: 'x', [column]: date }));
            if (ms === 0) expect(problem).toBeUndefined();
            else expect(problem).toMatch(new RegExp(`column ${column} \\(\\w+\\) keeps 0 fractional-second digits`));
          }
          expect(rowProblemFor(info, wire({ id: 'x', dt3: date, ts3: date }))).toBeUndefined();
          const midnight = date.getTime() % 86_400_000 === 0;
          const dateProblem = rowProblemFor(info, wire({ id: 'x', d: date }));
          if (midnight) expect(dateProblem).toBeUndefined();
          else expect(dateProblem).toMatch(/column d \(date\) keeps no time of day/);
        },
      ),
      {
        numRuns: 500,
        examples: [[new Date('2026-12-05T12:00:00.000Z')], [new Date('2026-12-05T12:00:00.001Z')], [new Date('2026-12-05T00:00:00.000Z')]],
      },
    );
  });
});
