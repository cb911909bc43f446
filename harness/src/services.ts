// The services as separate processes, exactly as they run in production: `node
// services/<name>/dist/main.js` configured by environment variables. A service can be stopped
// (SIGTERM, its drain), SIGKILLed (a crash) and started again on the same ports with the same env.
import fs from 'node:fs';
import path from 'node:path';
import { delay, repoRoot, ServerStartError, spawnLogged, type ExitInfo, type LogLevelName, type ManagedProcess } from './processes';

export type ServiceName = 'batcher-worker' | 'main-worker' | 'health-monitor';

export interface ServiceOptions {
  service: ServiceName;
  /** Name in logs and errors, e.g. `main-worker-2`. @default the service name */
  label?: string;
  /** Merged over process.env: TEMPORAL_*, MYSQL_*, BATCHER_*, OTEL_* ... */
  env: NodeJS.ProcessEnv;
  /**
   * Port of the endpoint that says it is ready (workers: WORKER_HEALTH_PORT, /readyz; the health
   * monitor: HEALTH_MONITOR_PORT, /healthz). Set in the env by this module.
   */
  healthPort: number;
  /** Workers only: WORKER_METRICS_PORT (0 disables). @default 0 */
  metricsPort?: number;
  /** Appended to across restarts. @default a new file in the log dir per start */
  logFile?: string;
  console?: { prefix: string; minLevel?: LogLevelName };
  /** @default 120000 (a worker that bundles its workflow code at start-up takes a while on 2 cores) */
  readyTimeoutMs?: number;
}

export interface ServiceProcess {
  readonly label: string;
  /** PID of the running process; undefined while it is down. */
  readonly pid: number | undefined;
  readonly logFile: string;
  /** http://127.0.0.1:<healthPort> */
  readonly baseUrl: string;
  /** Starts it (again), on the same ports; resolves once it is ready. */
  start(): Promise<void>;
  /** SIGKILL (a crash): no drain, no goodbye. */
  kill(): Promise<ExitInfo | undefined>;
  /** SIGTERM (the workers drain), SIGKILL after the grace. */
  stop(options?: { graceMs?: number }): Promise<void>;
}

/** The entry point of a service in the built tree. */
export function serviceMain(service: ServiceName | 'starter', file = 'main.js'): string {
  return path.join(repoRoot, 'services', service, 'dist', file);
}

/** Starts a service and resolves once it answers ready. */
export async function startService(options: ServiceOptions): Promise<ServiceProcess> {
  const label = options.label ?? options.service;
  const main = serviceMain(options.service);
  if (!fs.existsSync(main)) throw new ServerStartError(`${main} is missing: run npm run build`);
  const isMonitor = options.service === 'health-monitor';
  const env: NodeJS.ProcessEnv = isMonitor
    ? { ...options.env, HEALTH_MONITOR_PORT: String(options.healthPort) }
    : { ...options.env, WORKER_HEALTH_PORT: String(options.healthPort), WORKER_METRICS_PORT: String(options.metricsPort ?? 0) };
  const baseUrl = `http://127.0.0.1:${options.healthPort}`;
  const readyUrl = `${baseUrl}${isMonitor ? '/healthz' : '/readyz'}`;
  const timeoutMs = options.readyTimeoutMs ?? 120_000;
  let proc: ManagedProcess | undefined;
  let logFile = options.logFile ?? '';

  const start = async () => {
    if (proc && !proc.hasExited()) return;
    const started = spawnLogged({
      name: label,
      command: process.execPath,
      args: [main],
      env,
      logFile: logFile || undefined,
      console: options.console,
    });
    proc = started;
    logFile = started.logFile;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (started.hasExited()) {
        const info = await started.exited;
        throw new ServerStartError(
          `${label} exited (code ${info.code}, signal ${info.signal}) during start-up; log ${started.logFile}:\n${started.logTail()}`,
        );
      }
      const response = await fetch(readyUrl, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
      if (response?.ok) return;
      if (Date.now() > deadline) {
        await started.stop({ graceMs: 5000 });
        throw new ServerStartError(
          `${label} not ready at ${readyUrl} within ${timeoutMs} ms; log ${started.logFile}:\n${started.logTail()}`,
        );
      }
      await delay(250);
    }
  };

  await start();
  return {
    label,
    get pid() {
      return proc && !proc.hasExited() ? proc.pid : undefined;
    },
    get logFile() {
      return logFile;
    },
    baseUrl,
    start,
    async kill() {
      return proc?.kill();
    },
    async stop({ graceMs = 10_000 } = {}) {
      await proc?.stop({ graceMs });
    },
  };
}

/** Runs a service program to its end (the schema migration, a workflow bundle); throws on failure. */
export async function runToEnd(
  label: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  { timeoutMs = 180_000, logFile }: { timeoutMs?: number; logFile?: string } = {},
): Promise<string> {
  const proc = spawnLogged({ name: label, command: process.execPath, args, env, logFile });
  let timer: NodeJS.Timeout | undefined;
  const info = await Promise.race([
    proc.exited,
    new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (!info) {
    await proc.kill();
    throw new ServerStartError(`${label} did not finish within ${timeoutMs} ms; log ${proc.logFile}:\n${proc.logTail()}`);
  }
  if (info.code !== 0)
    throw new ServerStartError(`${label} failed (code ${info.code}, signal ${info.signal}); log ${proc.logFile}:\n${proc.logTail()}`);
  return fs.readFileSync(proc.logFile, 'utf8');
}

/** Creates the database and table (`node services/batcher-worker/dist/migrate.js`). */
export async function migrateSchema(env: NodeJS.ProcessEnv, logFile?: string): Promise<void> {
  await runToEnd('migrate', [serviceMain('batcher-worker', 'migrate.js')], env, { timeoutMs: 60_000, logFile });
}

/**
 * Bundles both workers' workflow code once (`dist/bundle.js`), so that a worker started or restarted
 * with WORKFLOW_BUNDLE_PATH is ready in seconds instead of running webpack again.
 */
export async function bundleWorkflows(dir: string, env: NodeJS.ProcessEnv = {}): Promise<Record<'batcher-worker' | 'main-worker', string>> {
  fs.mkdirSync(dir, { recursive: true });
  const out = { 'batcher-worker': path.join(dir, 'batcher-workflows.js'), 'main-worker': path.join(dir, 'main-workflows.js') };
  // One after the other: two webpack runs at once on 2 cores are no faster.
  for (const [service, file] of Object.entries(out) as Array<[keyof typeof out, string]>) {
    await runToEnd(`bundle-${service}`, [serviceMain(service, 'bundle.js'), file], env);
  }
  return out;
}
