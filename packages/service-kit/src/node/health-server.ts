// A small HTTP endpoint for Kubernetes probes of a worker, driven by the worker's own state.
import express from 'express';
import net from 'node:net';
import type { Server } from 'node:http';
import { ConfigError } from './config';

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
    super(
      `${variable}=${port}: ${(cause as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'port already in use' : cause.message}; choose another port with ${variable}`,
      { cause },
    );
  }
}

/** Longest wait for LISTEN_HOST to resolve at start-up. */
const LISTEN_HOST_CHECK_MS = 10_000;

/**
 * Checks that `host` is an address this machine can listen on (it resolves, and to a local
 * address), by binding a throw-away port on it. Otherwise throws a ConfigError naming `variable`,
 * so the error is not reported later against the first port bound on it.
 */
export async function assertListenHost(host: string, variable = 'LISTEN_HOST'): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = net.createServer();
    const fail = (message: string) => {
      clearTimeout(timer);
      server.close();
      reject(new ConfigError([{ variable, message: `${message} (got ${JSON.stringify(host)})` }]));
    };
    const timer = setTimeout(() => fail(`did not resolve within ${LISTEN_HOST_CHECK_MS / 1000} s`), LISTEN_HOST_CHECK_MS);
    server.once('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? '';
      if (code === 'ENOTFOUND' || code.startsWith('EAI_')) fail(`host name does not resolve (${code})`);
      else if (code === 'EADDRNOTAVAIL') fail('is not an address of this machine (EADDRNOTAVAIL)');
      else fail(`cannot listen on it: ${err.message}`);
    });
    server.listen(0, host, () => {
      clearTimeout(timer);
      server.close(() => resolve());
    });
  });
}

/**
 * /healthz answers 200 only while the worker is starting or RUNNING (liveness: a worker that failed,
 * stopped, or sits in a drain that does not end must be replaced); /readyz answers 200 only while
 * it is RUNNING and `notReady` (e.g. the MySQL check) has no reason against it (readiness), with
 * `{ state, ready, reasons }`. `variable` names the setting of the port, for the error if it is taken.
 */
export async function startWorkerHealthServer(
  port: number,
  state: () => WorkerState,
  host = '127.0.0.1',
  variable = 'WORKER_HEALTH_PORT',
  notReady: () => string[] = () => [],
): Promise<Server> {
  const app = express();
  app.get('/healthz', (_req, res) => {
    const s = state();
    res.status(s === 'RUNNING' || s === 'INITIALIZED' ? 200 : 503).json({ state: s });
  });
  app.get('/readyz', (_req, res) => {
    const s = state();
    const reasons = [...(s === 'RUNNING' ? [] : [`worker is ${s}`]), ...notReady()];
    res.status(reasons.length ? 503 : 200).json({ state: s, ready: reasons.length === 0, reasons });
  });
  return await new Promise((resolve, reject) => {
    const server = app.listen(port, host, () => resolve(server));
    server.on('error', (err) => reject(new PortInUseError(variable, port, err)));
  });
}
