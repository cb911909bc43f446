// Child processes for the tests, the demo, the bench and the chaos runs: spawn with output to a log
// file (and, for the demo, to the console), wait for a TCP port, stop by PID with a bounded grace or
// SIGKILL at once, find free ports, and never leave a server behind on exit.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { consoleView, type LogLevelName } from './console-view';

export type { LogLevelName } from './console-view';

/** Root of the repository (this file runs from harness/src or harness/dist). */
export const repoRoot = path.resolve(__dirname, '../..');

/** Where server logs go; kept after the run so a failed CI run can be read. */
export const logDir = process.env.TEST_LOG_DIR ?? path.join(repoRoot, '.run', 'logs');

/** Raised when an external tool is not installed. */
export class ToolMissingError extends Error {
  override readonly name = 'ToolMissingError';
}

/** Raised when a server does not come up in time, or exits while we wait for it. */
export class ServerStartError extends Error {
  override readonly name = 'ServerStartError';
}

const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/**
 * Absolute path of an external tool: `.tools/bin`, then `.tools/venv/bin` (where
 * scripts/install-tools.sh puts them), then PATH, then the sbin directories (Debian installs
 * `mariadbd` in /usr/sbin, which a non-root PATH often lacks).
 */
export function resolveTool(name: string): string {
  const dirs = [
    path.join(repoRoot, '.tools', 'bin'),
    path.join(repoRoot, '.tools', 'venv', 'bin'),
    ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean),
    ...SBIN_DIRS,
  ];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here; keep looking
    }
  }
  throw new ToolMissingError(`${name} not found in .tools/bin, .tools/venv/bin, PATH or /usr/sbin: run scripts/install-tools.sh`);
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StopOptions {
  /**
   * How long to wait after SIGTERM before SIGKILL.
   * @default 10000
   */
  graceMs?: number;
}

/** A child process started by {@link spawnLogged}; it leads its own process group. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the process has exited, however that happened. */
  readonly exited: Promise<ExitInfo>;
  hasExited(): boolean;
  /** SIGTERM to the process group, SIGKILL after the grace; resolves once it has exited. */
  stop(options?: StopOptions): Promise<ExitInfo>;
  /** SIGKILL to the process group at once (a crash, for chaos runs); resolves once it has exited. */
  kill(): Promise<ExitInfo>;
  /** The last lines of its log, for error messages. */
  logTail(lines?: number): string;
}

export interface SpawnOptions {
  /** Short name used in the log file name and in errors. */
  name: string;
  command: string;
  args: readonly string[];
  /** @default `${logDir}/<name>-<time>-<random>.log` */
  logFile?: string;
  /** Merged over process.env. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Also show the output on this process's console, each line prefixed with `[prefix] `, pino JSON
   * lines shortened and those below `minLevel` dropped (the log file keeps everything raw).
   */
  console?: { prefix: string; minLevel?: LogLevelName; stderrFile?: string };
}

const live = new Set<ManagedProcess>();
const tempDirs = new Set<string>();

/** Starts a child with stdout and stderr appended to a log file; it is stopped when this process exits. */
export function spawnLogged(options: SpawnOptions): ManagedProcess {
  installExitHooks();
  const logFile = options.logFile ?? newLogFile(options.name);
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const fd = fs.openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    // detached: the child leads a new process group, so stop() also reaches anything it forks, and
    // a Ctrl-C on the terminal reaches only us (we then stop it in order).
    child = spawn(options.command, [...options.args], {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, ...options.env },
      stdio: options.console ? ['ignore', 'pipe', 'pipe'] : ['ignore', fd, fd],
      detached: true,
    });
  } finally {
    if (!options.console) fs.closeSync(fd);
  }
  if (options.console) {
    const file = fs.createWriteStream('', { fd });
    const view = consoleView(options.console.prefix, options.console.minLevel ?? 'trace');
    // With stderrFile, stderr (SDK warnings and the like) goes there instead of the console.
    const errFile = options.console.stderrFile ? fs.createWriteStream(options.console.stderrFile, { flags: 'a' }) : undefined;
    child.stdout?.on('data', (chunk: Buffer) => {
      file.write(chunk);
      view.write(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      file.write(chunk);
      if (errFile) errFile.write(chunk);
      else view.write(chunk);
    });
    child.once('close', () => {
      view.end();
      file.end();
      errFile?.end();
    });
  }
  const pid = child.pid;
  if (pid === undefined) {
    // The spawn failed (e.g. ENOENT); swallow the error event that follows and say so now.
    child.once('error', () => undefined);
    throw new ServerStartError(`${options.name}: could not start ${options.command} (see ${logFile})`);
  }
  recordPid(pid, options.command);
  let exitInfo: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      live.delete(proc);
      forgetPid(pid);
      resolve(exitInfo);
    });
  });
  // After a successful spawn, errors are failed kill()s, which signalGroup already tolerates.
  child.on('error', () => undefined);
  // Do not keep the test process alive just because a server runs.
  child.unref();

  const proc: ManagedProcess = {
    name: options.name,
    pid,
    logFile,
    exited,
    hasExited: () => exitInfo !== undefined,
    logTail: (lines = 30) => readTail(logFile, lines),
    async stop({ graceMs = 10_000 } = {}) {
      if (exitInfo) return exitInfo;
      // Referenced again, so that awaiting the exit keeps this process alive until it comes.
      child.ref();
      signalGroup(pid, 'SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const result = await Promise.race([
        exited,
        new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), graceMs))),
      ]);
      // A pending grace timer would keep the test process alive for the whole grace.
      clearTimeout(timer);
      if (result) return result;
      signalGroup(pid, 'SIGKILL');
      return exited;
    },
    async kill() {
      if (exitInfo) return exitInfo;
      child.ref();
      signalGroup(pid, 'SIGKILL');
      return exited;
    },
  };
  live.add(proc);
  return proc;
}

/**
 * Stops a process known only by its PID (no {@link ManagedProcess} for it, e.g. a worker a test
 * started some other way): SIGTERM, then SIGKILL after the grace. Resolves true once it is gone.
 * Only for processes the caller started.
 */
export async function stopPid(pid: number, { graceMs = 10_000 }: StopOptions = {}): Promise<boolean> {
  if (!isAlive(pid)) return true;
  trySignal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await delay(100);
  }
  trySignal(pid, 'SIGKILL');
  for (let i = 0; i < 50; i++) {
    if (!isAlive(pid)) return true;
    await delay(100);
  }
  return !isAlive(pid);
}

/** Stops every process started by {@link spawnLogged} that is still running. */
export async function stopAll(options?: StopOptions): Promise<void> {
  await Promise.all([...live].map((p) => p.stop(options)));
}

export interface WaitForPortOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 60000 */
  timeoutMs?: number;
  /** Fail at once, with its log tail, if this process exits while we wait. */
  process?: ManagedProcess;
}

/** Resolves once a TCP connection to the port succeeds; rejects after the timeout. */
export async function waitForPort(
  port: number,
  { host = '127.0.0.1', timeoutMs = 60_000, process: proc }: WaitForPortOptions = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc?.hasExited()) {
      const info = await proc.exited;
      throw new ServerStartError(
        `${proc.name} exited (code ${info.code}, signal ${info.signal}) before ${host}:${port} accepted connections; log ${proc.logFile}:\n${proc.logTail()}`,
      );
    }
    if (await canConnect(host, port)) return;
    if (Date.now() >= deadline) {
      const where = proc ? `; log ${proc.logFile}:\n${proc.logTail()}` : '';
      throw new ServerStartError(`${proc?.name ?? 'server'} did not accept connections on ${host}:${port} within ${timeoutMs} ms${where}`);
    }
    await delay(100);
  }
}

/** Polls `check` until it resolves truthy; rethrows its last error after the timeout. */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T>,
  { timeoutMs = 60_000, intervalMs = 200 } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      throw new ServerStartError(`${what} not ready within ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ''}`);
    }
    await delay(intervalMs);
  }
}

const handedOut = new Set<number>();

/**
 * A TCP port on the host that nothing listens on right now. The OS picks it; ports already handed
 * out by this process are skipped, so two servers started together do not get the same one.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.unref();
      server.once('error', reject);
      server.listen(0, host, () => {
        const address = server.address();
        server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('could not find a free port');
}

/** Throws a clear error if something already listens on the port. */
export async function assertPortFree(port: number, what: string, host = '127.0.0.1'): Promise<void> {
  if (await canConnect(host, port)) {
    throw new ServerStartError(`${what}: port ${host}:${port} is already in use; stop whatever listens there or choose another port`);
  }
}

/** Raised when a port named by a variable (or its default) is taken; the message names the variable. */
export class PortInUseError extends ServerStartError {
  constructor(
    readonly variable: string,
    readonly port: number,
  ) {
    super(
      `${variable}=${port}: port 127.0.0.1:${port} is already in use; stop whatever listens there or set ${variable} to another port (0 picks a free one)`,
    );
  }
}

/**
 * The port a variable names: a free one when it is unset or 0 and `fallback` is 0, else the value
 * (or `fallback`), checked to be free. A malformed value is an error naming the variable.
 */
export async function portFromEnv(variable: string, fallback: number, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const raw = env[variable];
  const port = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ServerStartError(`${variable} must be a port number 0-65535 (got ${JSON.stringify(raw)})`);
  if (port === 0) return freePort();
  if (await canConnect('127.0.0.1', port)) throw new PortInUseError(variable, port);
  handedOut.add(port);
  return port;
}

/** A fresh directory under the OS temp dir, removed by {@link removeTempDir} or at process exit. */
export function makeTempDir(prefix: string): string {
  installExitHooks();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  tempDirs.delete(dir);
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function newLogFile(name: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return path.join(logDir, `${name}-${stamp}-${Math.random().toString(36).slice(2, 6)}.log`);
}

function readTail(file: string, lines: number): string {
  try {
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .slice(-lines - 1)
      .join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * With TEST_PID_DIR set (scripts/test.sh sets it), each running child leaves a file named after its
 * PID holding its command, so the test script can stop what a killed test process left behind.
 */
const pidFiles = new Map<number, string>();

function recordPid(pid: number, command: string): void {
  const dir = process.env.TEST_PID_DIR;
  if (!dir) return;
  try {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, String(pid));
    fs.writeFileSync(file, `${command}\n`);
    pidFiles.set(pid, file);
  } catch {
    // only a safety net; the run goes on without it
  }
}

function forgetPid(pid: number): void {
  const file = pidFiles.get(pid);
  if (file === undefined) return;
  pidFiles.delete(pid);
  fs.rmSync(file, { force: true });
}

/**
 * When a process started, in clock ticks since boot (/proc/<pid>/stat, field 22): with its PID it
 * names one process, even once the PID has been recycled. undefined: no such process (or a zombie).
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (the state); the start time is field 22.
    return fields[0] === 'Z' ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

/** A zombie (dead, waiting for a parent that is not us to reap it) does not count as alive. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

function trySignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Signals the process group the child leads; falls back to the PID alone. */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    trySignal(pid, signal);
  }
}

let hooksInstalled = false;
let signalOwner: ((signal: NodeJS.Signals) => Promise<void>) | undefined;

/**
 * For programs that stop their servers in order (the demo): the first SIGINT/SIGTERM/SIGHUP calls
 * `handler` (which should stop everything and exit) instead of SIGKILLing every child; a second
 * signal still kills everything at once.
 */
export function onStopSignal(handler: (signal: NodeJS.Signals) => Promise<void>): void {
  installExitHooks();
  signalOwner = handler;
}

/**
 * Last line of defence when a test run ends without calling stop(): on exit, SIGKILL every group
 * still running (only synchronous work is possible there) and remove temp dirs; on SIGINT/SIGTERM/
 * SIGHUP do the same, then let the signal take its default course if nobody else handles it.
 * Prepended, because vitest's own handlers call process.exit(), and listeners after that never run.
 */
function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  const killEverything = () => {
    for (const p of live) {
      signalGroup(p.pid, 'SIGKILL');
      forgetPid(p.pid);
    }
    live.clear();
    for (const dir of tempDirs) {
      try {
        fs.rmSync(dir, { recursive: true, force: true });
      } catch {
        // a server killed this instant may still hold files; nothing more to do at exit
      }
    }
    tempDirs.clear();
  };
  process.prependListener('exit', killEverything);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      const owner = signalOwner;
      if (owner) {
        // The first signal: let the owner stop things in order; a second one kills at once.
        signalOwner = undefined;
        void owner(signal);
        return;
      }
      killEverything();
      process.removeListener(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.prependListener(signal, onSignal);
  }
}
