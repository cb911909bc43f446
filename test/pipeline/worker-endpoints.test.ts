// The endpoints Kubernetes probes and Prometheus scrape on a worker process.
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '@batcher/service-kit';
import { migrateDatabase } from '@batcher/batcher-worker/schema';
import { freePort, repoRoot, spawnLogged, waitUntil, type ManagedProcess } from '../support/processes';
import { serviceEnv } from '../support/global-servers';

let worker: ManagedProcess | undefined;
afterEach(async () => {
  await worker?.stop();
  worker = undefined;
});

const get = async (url: string) => {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return { status: res.status, text: await res.text() };
};

describe('worker endpoints', () => {
  for (const service of ['batcher-worker', 'main-worker']) {
    it(`when ${service} runs, then /readyz follows its state, /metrics serves SDK metrics, and SIGTERM drains it with exit 0`, async () => {
      const [healthPort, metricsPort] = [await freePort(), await freePort()];
      const env = serviceEnv({
        WORKER_HEALTH_PORT: String(healthPort),
        WORKER_METRICS_PORT: String(metricsPort),
        BATCHER_TASK_QUEUE: `endpoints-${service}`,
        MAIN_TASK_QUEUE: `endpoints-${service}`,
        WORKER_SHUTDOWN_GRACE_MS: '1000',
        MYSQL_DATABASE: 'worker_endpoints',
      });
      // The batcher worker reads its tables' columns at start-up: the schema comes first, as the
      // chart's migration hook does before any worker starts.
      if (service === 'batcher-worker') await migrateDatabase(loadConfig(['mysql'], env).mysql);
      worker = spawnLogged({
        name: service,
        command: process.execPath,
        args: [path.join(repoRoot, `services/${service}/dist/main.js`)],
        env,
      });
      const ready = await waitUntil(
        `${service} ready`,
        async () => {
          if (worker!.hasExited()) throw new Error(`${service} exited:\n${worker!.logTail()}`);
          const r = await get(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined);
          return r?.status === 200 ? r : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
      expect(JSON.parse(ready.text)).toEqual({ state: 'RUNNING', ready: true, reasons: [] });
      expect((await get(`http://127.0.0.1:${healthPort}/healthz`)).status).toBe(200);
      const metrics = await waitUntil(
        'SDK metrics',
        async () => {
          const m = await get(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => undefined);
          return m && /temporal_/.test(m.text) ? m : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      expect(metrics.text).toMatch(/^# (HELP|TYPE) temporal_/m);
      const exit = await worker.stop({ graceMs: 15_000 });
      expect(exit.code).toBe(0);
      expect(worker.logTail(50)).toContain('worker stopped');
    });
  }
});
