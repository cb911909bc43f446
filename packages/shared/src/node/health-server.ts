// A small HTTP endpoint for Kubernetes probes of a worker, driven by the worker's own state.
import express from 'express';
import type { Server } from 'node:http';

/** Worker states as reported by `Worker.getState()`. */
export type WorkerState = 'INITIALIZED' | 'RUNNING' | 'STOPPING' | 'DRAINING' | 'DRAINED' | 'STOPPED' | 'FAILED';

/**
 * /healthz answers 200 unless the worker has failed or stopped (liveness);
 * /readyz answers 200 only while it is RUNNING (readiness).
 */
export async function startWorkerHealthServer(port: number, state: () => WorkerState, host = '127.0.0.1'): Promise<Server> {
  const app = express();
  app.get('/healthz', (_req, res) => {
    const s = state();
    res.status(s === 'FAILED' || s === 'STOPPED' ? 503 : 200).json({ state: s });
  });
  app.get('/readyz', (_req, res) => {
    const s = state();
    res.status(s === 'RUNNING' ? 200 : 503).json({ state: s });
  });
  return await new Promise((resolve, reject) => {
    const server = app.listen(port, host, () => resolve(server));
    server.on('error', reject);
  });
}
