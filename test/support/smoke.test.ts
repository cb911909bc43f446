// The test harness itself: the run's servers answer, the time-skipping server starts from the
// installed binary, a private MariaDB survives being stopped and started in place, and Jaeger
// stores what OTLP/HTTP sends it.
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import mysql from 'mysql2/promise';
import { describe, expect, inject, it } from 'vitest';
import { startJaeger } from './jaeger';
import { startMariaDb } from './mariadb';
import { makeTempDir } from './processes';
import { startTemporalDevServer, timeSkippingServerPath } from './temporal';
import type {} from './global-servers';

describe('test harness', () => {
  it('when a test asks for the global MariaDB, then SELECT 1 answers 1', async () => {
    const db = inject('mysql');
    const conn = await mysql.createConnection({
      host: db.host,
      port: db.port,
      user: db.user,
      password: db.password,
      database: db.database,
    });
    try {
      const [rows] = await conn.query('SELECT 1 AS one');
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await conn.end();
    }
    expect(process.env.MYSQL_PORT).toBe(String(db.port));
  });

  it('when a test asks for the global Temporal server, then getSystemInfo answers', async () => {
    const temporal = inject('temporal');
    const connection = await Connection.connect({ address: temporal.address });
    try {
      const info = await connection.workflowService.getSystemInfo({});
      expect(info.serverVersion).toMatch(/\d+\.\d+/);
    } finally {
      await connection.close();
    }
    expect(process.env.TEMPORAL_ADDRESS).toBe(temporal.address);
  });

  it('when a time-skipping environment is created from the installed binary, then a day of sleep passes at once and it tears down', async () => {
    const env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: timeSkippingServerPath() } },
    });
    try {
      expect(env.supportsTimeSkipping).toBe(true);
      const before = await env.currentTimeMs();
      // The day is skipped, not waited: the test's own timeout (minutes) is the wall-clock bound.
      await env.sleep('1 day');
      expect((await env.currentTimeMs()) - before).toBeGreaterThanOrEqual(24 * 3600 * 1000);
    } finally {
      await env.teardown();
    }
  });

  it('when a private MariaDB is stopped and started again, then it keeps its port and its data', async () => {
    const db = await startMariaDb({ database: 'restart_check' });
    try {
      const setup = await db.connect();
      await setup.query('CREATE TABLE t (v INT)');
      await setup.query('INSERT INTO t VALUES (42)');
      await setup.end();
      const firstPid = db.pid;

      await db.stopServer();
      expect(db.pid).toBeUndefined();
      await expect(mysql.createConnection({ host: db.host, port: db.port, user: db.user, connectTimeout: 1000 })).rejects.toThrow();

      await db.startServer();
      expect(db.pid).toBeDefined();
      expect(db.pid).not.toBe(firstPid);
      const conn = await db.connect();
      const [rows] = await conn.query('SELECT v FROM t');
      await conn.end();
      expect(rows).toEqual([{ v: 42 }]);
    } finally {
      await db.stop();
    }
  });

  it('when a Temporal dev server on a database file is SIGKILLed and started again, then it keeps its address and a workflow started before it', async () => {
    const temporal = await startTemporalDevServer({ ui: false, dbFile: path.join(makeTempDir('temporal-db'), 'temporal.db') });
    try {
      const open = async () => {
        const connection = await Connection.connect({ address: temporal.address });
        return { connection, client: new Client({ connection, namespace: temporal.namespace }) };
      };
      const first = await open();
      // No worker polls this queue: the workflow stays open, in the database only.
      await first.client.workflow.start('noSuchWorkflow', { workflowId: 'survives-a-kill', taskQueue: 'nobody-polls-this' });
      await first.connection.close();
      const firstPid = temporal.pid;

      await temporal.kill();
      expect(temporal.pid).toBeUndefined();
      await temporal.startServer();
      expect(temporal.pid).toBeDefined();
      expect(temporal.pid).not.toBe(firstPid);

      const second = await open();
      try {
        const description = await second.client.workflow.getHandle('survives-a-kill').describe();
        expect(description.status.name).toBe('RUNNING');
      } finally {
        await second.connection.close();
      }
    } finally {
      await temporal.stop();
    }
  });

  it('when a span is posted to Jaeger over OTLP/HTTP, then the query API returns it', async () => {
    const jaeger = await startJaeger();
    try {
      const now = BigInt(Date.now()) * 1_000_000n;
      const span = {
        traceId: '5b8efff798038103d269b633813fc60c',
        spanId: 'eee19b7ec3c1b174',
        name: 'smoke-op',
        kind: 1,
        startTimeUnixNano: String(now),
        endTimeUnixNano: String(now + 1_000_000n),
      };
      const body = {
        resourceSpans: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'harness-smoke' } }] },
            scopeSpans: [{ scope: { name: 'smoke' }, spans: [span] }],
          },
        ],
      };
      const response = await fetch(`${jaeger.otlpHttpEndpoint}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(200);

      await expect
        .poll(async () => (await jaeger.traces('harness-smoke')).flatMap((t) => t.spans.map((s) => s.operationName)), { timeout: 10_000 })
        .toEqual(['smoke-op']);
    } finally {
      await jaeger.stop();
    }
  });
});
