// The database made read-only for 30 s while requests flow: the batches wait (retried at most 2 s
// apart), nothing is refused or lost. The batcher connects as an ordinary user (root would be allowed to write anyway).
// Real Temporal server and MariaDB.
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestIdFor } from '@write-batcher/protocol';
import { globalMysql } from '../support/global-servers';
import { pipelinePerTest } from './pipeline';

const startPipeline = pipelinePerTest();
const USER = 'batcher_rw';
const PASSWORD = 'rw-password';
let root: mysql.Connection;

beforeAll(async () => {
  const m = globalMysql();
  root = await mysql.createConnection({ host: m.host, port: m.port, user: m.user, password: m.password });
  // Rights on the tests' databases only: no global privilege, so read_only applies to it.
  await root.query(`CREATE USER IF NOT EXISTS '${USER}'@'%' IDENTIFIED BY '${PASSWORD}'`);
  await root.query(`GRANT ALL PRIVILEGES ON \`t\\_%\`.* TO '${USER}'@'%'`);
});

afterAll(async () => {
  await root?.query('SET GLOBAL read_only = OFF').catch(() => undefined);
  await root?.end();
});

describe('a read-only database', () => {
  it(
    'when the database is read-only for 30 s while 20 transactions write, then every one is committed once after it returns, none refused',
    { timeout: 180_000 },
    async (ctx) => {
      const pipeline = await startPipeline({
        title: ctx.task.name,
        env: { BATCH_FLUSH_INTERVAL_MS: '500', MYSQL_USER: USER, MYSQL_PASSWORD: PASSWORD },
        businessStepMs: 0,
      });
      await root.query('SET GLOBAL read_only = ON');
      const ids = pipeline.ids(20);
      const running = pipeline.run(ids);
      await new Promise((r) => setTimeout(r, 30_000));
      expect((await pipeline.rows()).filter((r) => r.rows_in_table > 0)).toEqual([]); // nothing could be written
      const back = Date.now();
      await root.query('SET GLOBAL read_only = OFF');
      const outcomes = await running;
      const finished = Date.now();
      expect(outcomes.filter((o) => !o.ok).map((o) => `${o.workflowId}: ${o.errorType}`)).toEqual([]);
      const rows = await pipeline.rows();
      expect(rows.map((r) => [r.request_id, r.status, r.rows_in_table]).sort()).toEqual(
        ids.map((id) => [requestIdFor(id), 'committed', 1]).sort(),
      );
      // A figure, not a bound (timing goals live in bench/): retries are at most 2 s apart.
      console.log(`[read-only] all 20 answered ${finished - back} ms after the database came back`);
    },
  );
});
