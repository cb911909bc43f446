// A small HTTP endpoint for Kubernetes probes of a worker, driven by the worker's own state.
import express from 'express';
import type { Server } from 'node:http';

/** Worker states as reported by `Worker.getState()`. */
export type WorkerState = 'INITIALIZED' | 'RUNNING' | 'STOPPING' | 'DRAINING' | 'DRAINED' | 'STOPPED' | 'FAILED';

/** Raised when a listener cannot bind; names the setting that chose the port. */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  constructor(
    readonly variable: string,
    readonly port: number,
    cause: Error,
  ) {
    super(`${variable}=${port}: ${(cause as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'port already in use' : cause.message}; choose another port with ${variable}`, { cause });
  }
}

/**
 * /healthz answers 200 only while the worker is starting or RUNNING (liveness: a worker that failed,
 * stopped, or sits in a drain that does not end must be replaced); /readyz answers 200 only while
 * it is RUNNING (readiness). `variable` names the setting of the port, for the error if it is taken.
 */
export async function startWorkerHealthServer(port: number, state: () => WorkerState, host = '127.0.0.1', variable = 'WORKER_HEALTH_PORT'): Promise<Server> {
  const app = express();
  app.get('/healthz', (_req, res) => {
    const s = state();
    res.status(s === 'RUNNING' || s === 'INITIALIZED' ? 200 : 503).json({ state: s });
  });
  app.get('/readyz', (_req, res) => {
    const s = state();
    res.status(s === 'RUNNING' ? 200 : 503).json({ state: s });
  });
  return await new Promise((resolve, reject) => {
    const server = app.listen(port, host, () => resolve(server));
    server.on('error', (err) => reject(new PortInUseError(variable, port, err)));
  });
}
