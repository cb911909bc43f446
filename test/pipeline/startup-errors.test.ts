// Start-up failures of the built services, run as processes against the run's real servers: each
// stops start-up with one line naming its setting and the reason, and exits non-zero; a worker that
// cannot reach MySQL is not ready.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { serviceEnv } from '../support/global-servers';
import { startMariaDb, type MariaDb } from '../support/mariadb';
import { freePort, repoRoot, waitUntil } from '../support/processes';

const BATCHER = path.join(repoRoot, 'services/batcher-worker/dist/main.js');
const MAIN = path.join(repoRoot, 'services/main-worker/dist/main.js');
const MONITOR = path.join(repoRoot, 'services/health-monitor/dist/main.js');
const MIGRATE = path.join(repoRoot, 'services/batcher-worker/dist/migrate.js');

interface Run {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  /** Resolves with the exit code (or the signal that ended it). */
  exited: Promise<number | NodeJS.Signals | null>;
}

/** What each test started or opened, stopped after it (processes by PID, SIGKILL: they are done). */
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Starts a built service with the run's servers' settings and `env` over them; its output is kept apart per stream. */
function start(script: string, env: NodeJS.ProcessEnv): Run {
  const child = spawn(process.execPath, [script], {
    cwd: repoRoot,
    env: serviceEnv({ LOG_LEVEL: 'info', WORKER_METRICS_PORT: '0', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run: Run = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal))),
  };
  child.stdout.on('data', (chunk: Buffer) => (run.stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (run.stderr += chunk.toString()));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    await run.exited;
  });
  return run;
}

/** Waits for the exit, at most `ms`; a process still running then is a failure (and is killed after the test). */
async function exitWithin(run: Run, ms: number): Promise<number | NodeJS.Signals | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), ms)));
  const result = await Promise.race([run.exited, timeout]).finally(() => clearTimeout(timer));
  if (result === 'still running')
    throw new Error(`still running after ${ms} ms; stdout:\n${run.stdout.slice(-2000)}\nstderr:\n${run.stderr}`);
  return result;
}

/** The one line a failed start-up prints (stderr), parsed; fails unless there is exactly one, at level fatal. */
function theFatalLine(run: Run): string {
  const lines = run.stderr.trim().split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  const line = JSON.parse(lines[0]!) as { level: string; msg: string };
  expect(line.level).toBe('fatal');
  // Nothing else on stdout reports an error: the line above is the only news.
  expect(run.stdout.split('\n').filter((l) => /"level":"(error|fatal)"/.test(l))).toEqual([]);
  return line.msg;
}

/** A port on 127.0.0.1 held by this test for as long as it runs. */
async function takenPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as net.AddressInfo).port;
}

async function readyz(port: number): Promise<{ status: number; body: { state: string; ready: boolean; reasons: string[] } } | undefined> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
  return res && { status: res.status, body: (await res.json()) as { state: string; ready: boolean; reasons: string[] } };
}

describe('start-up errors name the cause', () => {
  for (const [service, script] of [
    ['batcher-worker', BATCHER],
    ['main-worker', MAIN],
  ] as const) {
    it(`when ${service}'s WORKER_HEALTH_PORT is already in use, then it exits 1 with one line naming WORKER_HEALTH_PORT (not a cleanup error)`, async () => {
      const port = await takenPort();
      const run = start(script, { WORKER_HEALTH_PORT: String(port) });
      expect(await exitWithin(run, 60_000)).toBe(1);
      const msg = theFatalLine(run);
      expect(msg).toBe(`WORKER_HEALTH_PORT=${port}: port already in use; choose another port with WORKER_HEALTH_PORT`);
    });
  }

  const badHosts = [
    ['999.1.1.1', 'must be an IP address'],
    ['no-such-host.invalid', 'host name does not resolve'],
    ['192.0.2.1', 'is not an address of this machine'],
  ] as const;
  for (const [host, reason] of badHosts) {
    it(`when LISTEN_HOST is ${host}, then the batcher worker exits 1 with one line naming LISTEN_HOST ("${reason}"), not a port`, async () => {
      const run = start(BATCHER, {
        LISTEN_HOST: host,
        WORKER_HEALTH_PORT: String(await freePort()),
        WORKER_METRICS_PORT: String(await freePort()),
      });
      expect(await exitWithin(run, 60_000)).toBe(1);
      const msg = theFatalLine(run);
      expect(msg).toContain(`LISTEN_HOST: ${reason}`);
      expect(msg).toContain(JSON.stringify(host));
      expect(msg).not.toMatch(/PORT/);
    });
  }

  it('when LISTEN_HOST is 999.1.1.1, then the health monitor too exits 1 with one line naming LISTEN_HOST, not HEALTH_MONITOR_PORT', async () => {
    const run = start(MONITOR, { LISTEN_HOST: '999.1.1.1', HEALTH_MONITOR_PORT: String(await freePort()) });
    expect(await exitWithin(run, 60_000)).toBe(1);
    const msg = theFatalLine(run);
    expect(msg).toContain('LISTEN_HOST: must be an IP address');
    expect(msg).not.toMatch(/PORT/);
  });

  it('when TEMPORAL_ADDRESS points at a closed port, then the worker exits 1 with one line naming TEMPORAL_ADDRESS and the refusal', async () => {
    const closed = await freePort();
    const run = start(BATCHER, { TEMPORAL_ADDRESS: `127.0.0.1:${closed}`, WORKER_HEALTH_PORT: String(await freePort()) });
    expect(await exitWithin(run, 60_000)).toBe(1);
    expect(theFatalLine(run)).toBe(
      `TEMPORAL_ADDRESS=127.0.0.1:${closed}: cannot connect to Temporal: tcp connect error: Connection refused`,
    );
  });

  // The waits in these two are safety nets against a hang, so is the test's own timeout: load slows them, it cannot fail them.
  it(
    'when MYSQL_PORT points at a closed port, then the worker is never ready, and after its bounded wait exits 1 with one line naming MYSQL_HOST/MYSQL_PORT and the error',
    { timeout: 10 * 60_000 },
    async () => {
      const closed = await freePort();
      const healthPort = await freePort();
      const startedAt = Date.now();
      const run = start(BATCHER, {
        MYSQL_PORT: String(closed),
        WORKER_HEALTH_PORT: String(healthPort),
        BATCHER_TASK_QUEUE: `startup-mysql-closed-${Date.now()}`,
      });
      // While it waits for MySQL, it is alive but not ready, and says why.
      const waiting = await waitUntil('the health endpoint while waiting for MySQL', () => readyz(healthPort), {
        timeoutMs: 10_000,
        intervalMs: 100,
      });
      expect(waiting.status).toBe(503);
      expect(waiting.body.ready).toBe(false);
      expect(waiting.body.reasons.join('\n')).toContain(`MySQL at 127.0.0.1:${closed} (MYSQL_HOST/MYSQL_PORT)`);
      expect((await fetch(`http://127.0.0.1:${healthPort}/healthz`)).status).toBe(200);

      // A safety net: how long it waited is what it says in its fatal line, checked below.
      expect(await exitWithin(run, 120_000)).toBe(1);
      const tookMs = Date.now() - startedAt;
      expect(theFatalLine(run)).toMatch(
        new RegExp(
          `^MYSQL_HOST=127\\.0\\.0\\.1 MYSQL_PORT=${closed}: cannot reach MySQL: connect ECONNREFUSED 127\\.0\\.0\\.1:${closed} \\(tried for 1\\d s\\)$`,
        ),
      );
      expect(tookMs).toBeGreaterThan(10_000); // it did wait (MYSQL_STARTUP_WAIT_MS is 15 s), and it gave up (it exited)
      expect(run.stdout).not.toContain('"msg":"worker running"');
    },
  );

  it(
    'when MySQL stops under a running worker, then /readyz turns 503 naming MySQL, and 200 again once MySQL is back',
    { timeout: 10 * 60_000 },
    async () => {
      // A MariaDB of this test's own, so stopping it harms no other test.
      const db: MariaDb = await startMariaDb();
      cleanups.push(() => db.stop());
      // The schema the batcher worker checks at start, made by the migration program as in a deployment.
      const migration = spawnSync(process.execPath, [MIGRATE], {
        cwd: repoRoot,
        env: { PATH: process.env.PATH, ...db.env },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(migration.status, migration.stderr + migration.stdout).toBe(0);
      const healthPort = await freePort();
      const run = start(BATCHER, {
        ...db.env,
        WORKER_HEALTH_PORT: String(healthPort),
        BATCHER_TASK_QUEUE: `startup-mysql-outage-${Date.now()}`,
        WORKER_SHUTDOWN_GRACE_MS: '1000',
      });
      const ready = await waitUntil(
        'worker ready',
        async () => {
          if (run.child.exitCode !== null) throw new Error(`worker exited:\n${run.stderr}`);
          const r = await readyz(healthPort);
          return r?.status === 200 ? r : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 250 },
      );
      expect(ready.body).toEqual({ state: 'RUNNING', ready: true, reasons: [] });

      await db.stopServer();
      // One ping interval (5 s) and its deadline on an idle machine; the wait is a safety net only.
      const down = await waitUntil(
        '/readyz 503',
        async () => {
          const r = await readyz(healthPort);
          return r?.status === 503 ? r : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 200 },
      );
      expect(down.body.state).toBe('RUNNING');
      expect(down.body.reasons).toHaveLength(1);
      expect(down.body.reasons[0]).toMatch(
        new RegExp(`^MySQL at 127\\.0\\.0\\.1:${db.port} \\(MYSQL_HOST/MYSQL_PORT\\) (unreachable: |has not answered a ping)`),
      );
      // Liveness is another matter: a restart would not bring the database back.
      expect((await fetch(`http://127.0.0.1:${healthPort}/healthz`)).status).toBe(200);

      await db.startServer();
      const back = await waitUntil(
        '/readyz 200 again',
        async () => {
          const r = await readyz(healthPort);
          return r?.status === 200 ? r : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 200 },
      );
      expect(back.body).toEqual({ state: 'RUNNING', ready: true, reasons: [] });
      expect(run.child.exitCode).toBeNull();

      process.kill(run.child.pid!, 'SIGTERM');
      expect(await exitWithin(run, 20_000)).toBe(0);
    },
  );
});
