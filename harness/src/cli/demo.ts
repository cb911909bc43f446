// THE demo (`npm run demo`, after scripts/demo.sh has installed and built what it needs): starts
// Temporal, MariaDB (data in .run/demo), optionally Jaeger, the batcher worker, the main worker and
// the health monitor, prints where to look, then runs the starter in the foreground and stops
// everything it started (or, with --keep, waits for Ctrl-C). `scale-main` adds main workers beside
// a running demo.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  freePort,
  onStopSignal,
  portFromEnv,
  repoRoot,
  resolveTool,
  serviceMain,
  spawnLogged,
  startService,
  startStack,
  ToolMissingError,
  type LogLevelName,
  type ServiceProcess,
  type Stack,
} from '../index';

const DEMO_DIR = path.join(repoRoot, '.run', 'demo');
const STATE_FILE = path.join(DEMO_DIR, 'state.json');

const USAGE = `usage: npm run demo -- [--workflows N] [--shards S] [--keep] [--jaeger] [--reset]
       npm run demo -- scale-main [--count N]

  --workflows N  main workflows the starter runs (env WORKFLOWS, default 300)
  --shards S     batcher shards (env BATCHER_SHARDS, default 1)
  --keep         leave everything running after the starter (Ctrl-C stops it)
  --jaeger       start Jaeger too (installed on first use: scripts/install-tools.sh jaeger) and export traces
  --reset        delete the demo's data first (.run/demo: MariaDB data, logs, state)
  scale-main     beside a running demo (--keep): start N more main workers (default 1) on free ports,
                 with the demo's Temporal, MySQL, shard count and OTLP settings; Ctrl-C stops them

Environment (defaults in brackets); a port already in use stops the demo naming its variable,
and 0 picks a free port:
  TEMPORAL_ADDRESS                          use this Temporal server instead of starting one
  TEMPORAL_PORT [7233], TEMPORAL_UI_PORT [8233]
  MYSQL_HOST (+ MYSQL_PORT/USER/PASSWORD)   use this MySQL instead of starting MariaDB
  MYSQL_PORT [3307], MYSQL_DATABASE [batcher]
  BATCHER_WORKER_HEALTH_PORT [8081], BATCHER_WORKER_METRICS_PORT [9464]
  MAIN_WORKER_HEALTH_PORT [8082], MAIN_WORKER_METRICS_PORT [9465]   (scale-main: [0], free ports)
  HEALTH_MONITOR_PORT [8080]
  JAEGER_OTLP_HTTP_PORT [4318], JAEGER_OTLP_GRPC_PORT [4317], JAEGER_QUERY_HTTP_PORT [16686], JAEGER_QUERY_GRPC_PORT [16685]
  BATCHER_WORKER_CONSOLE_LEVEL [info], MAIN_WORKER_CONSOLE_LEVEL [warn], HEALTH_MONITOR_CONSOLE_LEVEL [warn]
      lowest log level shown on the console; full logs are in .run/demo/logs/
  LOG_LEVEL [info], and any other service setting (see README), e.g. BATCH_MAX_SIZE`;

/** What a running demo leaves for `scale-main` and `npm run trace`. */
interface DemoState {
  pid: number;
  serviceEnv: Record<string, string>;
  jaegerQueryUrl?: string;
}

const say = (line: string) => console.log(`[demo] ${line}`);

function level(variable: string, fallback: LogLevelName): LogLevelName {
  const v = (process.env[variable] ?? fallback).toLowerCase();
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal'].includes(v))
    throw new Error(`${variable} must be one of trace, debug, info, warn, error, fatal (got ${v})`);
  return v as LogLevelName;
}

function wholeNumber(name: string, raw: string, min: number): number {
  const v = Number(raw);
  if (!/^\d+$/.test(raw) || v < min) throw new Error(`--${name} must be a whole number >= ${min} (got '${raw}')`);
  return v;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readState(): DemoState | undefined {
  try {
    const state = JSON.parse(fs.readFileSync(STATE_FILE, 'utf8')) as DemoState;
    return isAlive(state.pid) ? state : undefined;
  } catch {
    return undefined;
  }
}

/** Jaeger from .tools/bin or PATH, else the cached proxy build (scripts/install-tools.sh jaeger). */
function ensureJaeger(): void {
  try {
    resolveTool('jaeger');
    return;
  } catch (err) {
    if (!(err instanceof ToolMissingError)) throw err;
  }
  say('Jaeger is not installed yet: scripts/install-tools.sh jaeger (builds it once from the Go module proxy; a few minutes)');
  const r = spawnSync('bash', [path.join(repoRoot, 'scripts', 'install-tools.sh'), 'jaeger'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('scripts/install-tools.sh jaeger failed');
}

async function demo(values: { workflows?: string; shards?: string; keep?: boolean; jaeger?: boolean; reset?: boolean }): Promise<number> {
  const workflows = wholeNumber('workflows', values.workflows ?? process.env.WORKFLOWS ?? '300', 0);
  const shards = wholeNumber('shards', values.shards ?? process.env.BATCHER_SHARDS ?? '1', 1);
  const running = readState();
  if (running)
    throw new Error(
      `a demo is already running (pid ${running.pid}); stop it first (Ctrl-C in its terminal), or add main workers to it with: npm run demo -- scale-main`,
    );
  if (values.reset) {
    say(`--reset: deleting ${path.relative(repoRoot, DEMO_DIR)}/ (MariaDB data, logs)`);
    fs.rmSync(DEMO_DIR, { recursive: true, force: true });
  }
  const external = {
    temporal: process.env.TEMPORAL_ADDRESS
      ? { TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE: process.env.TEMPORAL_NAMESPACE ?? 'default' }
      : undefined,
    mysql: process.env.MYSQL_HOST
      ? Object.fromEntries(
          ['MYSQL_HOST', 'MYSQL_PORT', 'MYSQL_USER', 'MYSQL_PASSWORD'].flatMap((k) =>
            process.env[k] !== undefined ? [[k, process.env[k]]] : [],
          ),
        )
      : undefined,
  };
  // Every port is checked before anything starts, so a clash is reported at once, by its variable.
  const ports = {
    temporal: external.temporal ? 0 : await portFromEnv('TEMPORAL_PORT', 7233),
    temporalUi: external.temporal ? 0 : await portFromEnv('TEMPORAL_UI_PORT', 8233),
    mysql: external.mysql ? 0 : await portFromEnv('MYSQL_PORT', 3307),
    batcherHealth: await portFromEnv('BATCHER_WORKER_HEALTH_PORT', 8081),
    batcherMetrics: await portFromEnv('BATCHER_WORKER_METRICS_PORT', 9464),
    mainHealth: await portFromEnv('MAIN_WORKER_HEALTH_PORT', 8082),
    mainMetrics: await portFromEnv('MAIN_WORKER_METRICS_PORT', 9465),
    monitor: await portFromEnv('HEALTH_MONITOR_PORT', 8080),
    ...(values.jaeger
      ? {
          jaegerOtlpHttp: await portFromEnv('JAEGER_OTLP_HTTP_PORT', 4318),
          jaegerOtlpGrpc: await portFromEnv('JAEGER_OTLP_GRPC_PORT', 4317),
          jaegerQueryHttp: await portFromEnv('JAEGER_QUERY_HTTP_PORT', 16686),
          jaegerQueryGrpc: await portFromEnv('JAEGER_QUERY_GRPC_PORT', 16685),
        }
      : {}),
  };
  if (values.jaeger) ensureJaeger();
  const consoleLevels = {
    batcherWorker: level('BATCHER_WORKER_CONSOLE_LEVEL', 'info'),
    mainWorker: level('MAIN_WORKER_CONSOLE_LEVEL', 'warn'),
    monitor: level('HEALTH_MONITOR_CONSOLE_LEVEL', 'warn'),
  };

  let stack: Stack | undefined;
  let starter: ReturnType<typeof spawnLogged> | undefined;
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      say('stopping everything the demo started');
      await starter?.stop({ graceMs: 5000 });
      await stack?.stop();
      fs.rmSync(STATE_FILE, { force: true });
    })());
  onStopSignal(async (signal) => {
    await stopAll();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });

  try {
    stack = await startStack({
      dir: DEMO_DIR,
      ports,
      external,
      jaeger: values.jaeger,
      env: { BATCHER_SHARDS: String(shards), ...(process.env.MYSQL_DATABASE ? { MYSQL_DATABASE: process.env.MYSQL_DATABASE } : {}) },
      console: consoleLevels,
      log: say,
    });
    const state: DemoState = { pid: process.pid, serviceEnv: stack.serviceEnv, jaegerQueryUrl: stack.jaeger?.queryUrl };
    fs.writeFileSync(STATE_FILE, JSON.stringify(state, null, 2));

    // Where to look, before any workflow starts.
    console.log('');
    console.log('==== the demo is up: where to look ====');
    if (stack.temporal?.uiUrl) console.log(`Temporal UI      ${stack.temporal.uiUrl}/namespaces/default/workflows`);
    if (stack.monitor) console.log(`status page      ${stack.monitor.baseUrl}/   (also /api/status, /metrics, /readyz)`);
    if (stack.jaeger) {
      const api = `${stack.jaeger.queryUrl}/api/traces?service=main-worker&limit=20`;
      if (await stack.jaeger.hasUi()) {
        console.log(`Jaeger UI        ${stack.jaeger.queryUrl}/search?service=main-worker`);
      } else {
        console.log(
          'Jaeger           this Jaeger was built from the Go module proxy and has NO web UI (README, "Traces in the demo", says how to use a release build with the UI).',
        );
      }
      console.log(`Jaeger API       ${api}`);
      console.log('one trace        npm run trace -- <traceId>   (prints it as a tree; the starter prints trace ids below)');
    } else {
      console.log('traces           off (npm run demo -- --jaeger exports them to a local Jaeger)');
    }
    console.log('more main workers: npm run demo -- scale-main --count 2   (in another terminal, while this demo runs with --keep)');
    console.log(`logs             ${path.relative(repoRoot, stack.logDir)}/`);
    console.log('');

    say(`starting ${workflows} workflows over ${shards} batcher shard(s)`);
    if (consoleLevels.mainWorker === 'warn')
      say('the main worker shows warnings only on this console (MAIN_WORKER_CONSOLE_LEVEL=info shows every step)');
    starter = spawnLogged({
      name: 'starter',
      command: process.execPath,
      args: [serviceMain('starter'), '--workflows', String(workflows), '--shards', String(shards)],
      env: stack.serviceEnv,
      logFile: path.join(stack.logDir, 'starter.log'),
      console: { prefix: 'starter' },
    });
    const { code } = await starter.exited;
    if (values.keep) {
      console.log('');
      console.log('Everything keeps running (URLs above); press Ctrl-C to stop it.');
      await new Promise(() => undefined);
    }
    return code ?? 1;
  } finally {
    await stopAll();
  }
}

async function scaleMain(values: { count?: string }): Promise<number> {
  const count = wholeNumber('count', values.count ?? '1', 1);
  const state = readState();
  if (!state) throw new Error('no demo is running: start one with `npm run demo -- --keep` and run scale-main in another terminal');
  // Free ports, unless named: then worker i takes the named port + i, and a clash names the variable.
  const portFor = async (variable: string, i: number) => {
    const named = process.env[variable];
    if (!named || named === '0') return freePort();
    return portFromEnv(variable, 0, { [variable]: String(Number(named) + i) });
  };
  const workers: ServiceProcess[] = [];
  onStopSignal(async () => {
    say(`stopping ${workers.length} main worker(s)`);
    for (const w of workers) await w.stop();
    process.exit(130);
  });
  const consoleLevel = level('MAIN_WORKER_CONSOLE_LEVEL', 'warn');
  for (let i = 0; i < count; i++) {
    const healthPort = await portFor('MAIN_WORKER_HEALTH_PORT', i);
    const metricsPort = await portFor('MAIN_WORKER_METRICS_PORT', i);
    const label = `main-worker-extra-${process.pid}-${i + 1}`;
    say(`starting ${label} (health http://127.0.0.1:${healthPort}/readyz, metrics :${metricsPort})`);
    workers.push(
      await startService({
        service: 'main-worker',
        label,
        env: state.serviceEnv,
        healthPort,
        metricsPort,
        logFile: path.join(DEMO_DIR, 'logs', `${label}.log`),
        console: { prefix: `main+${i + 1}`, minLevel: consoleLevel },
      }),
    );
  }
  say(
    `${count} more main worker(s) share the main task queue with the demo's (pids ${workers.map((w) => w.pid).join(', ')}); Ctrl-C stops them.`,
  );
  say(
    `to give them work: env ${Object.entries(state.serviceEnv)
      .filter(([k]) => /^(TEMPORAL_|MYSQL_|BATCHER_SHARDS|OTEL_)/.test(k))
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')} node services/starter/dist/main.js --workflows 500`,
  );
  await new Promise(() => undefined);
  return 0;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      workflows: { type: 'string' },
      shards: { type: 'string' },
      keep: { type: 'boolean' },
      jaeger: { type: 'boolean' },
      reset: { type: 'boolean' },
      count: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (rest.length) throw new Error(`unexpected arguments: ${rest.join(' ')}\n${USAGE}`);
  if (command === 'scale-main') return scaleMain(values);
  if (command !== undefined) throw new Error(`unknown command: ${command}\n${USAGE}`);
  return demo(values);
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`[demo] error: ${err.message}`);
    process.exit(1);
  },
);
