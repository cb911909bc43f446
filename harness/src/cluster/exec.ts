// Running the node's tools (buildah, ctr, ip, iptables, mmdebstrap, helm, kubectl) as child
// processes that end on their own: each call is bounded in time, its output appended to a log
// file, and a failure is an error carrying the command and the end of its output.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface RunOptions {
  /** @default 120000 */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Appended to this file as well (command line first). */
  logFile?: string;
  input?: string | Buffer;
  /** Resolve with the result even on a non-zero exit. */
  allowFailure?: boolean;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    message: string,
    readonly result: RunResult,
  ) {
    super(message);
  }
}

/** Runs a command to its end (SIGKILL to its process group at the timeout). */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const log = options.logFile ? fs.createWriteStream(options.logFile, { flags: 'a' }) : undefined;
  log?.write(`\n$ ${command} ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => {
      out.push(b);
      log?.write(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      err.push(b);
      log?.write(b);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      log?.end();
      reject(new CommandError(`${command}: ${e.message}`, { code: null, stdout: '', stderr: e.message }));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      log?.end();
      const result = { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
      if (timedOut)
        return reject(
          new CommandError(
            `${path.basename(command)} ${args.join(' ')}: timed out after ${timeoutMs} ms\n${tail(result.stderr || result.stdout)}`,
            result,
          ),
        );
      if (code !== 0 && !options.allowFailure)
        return reject(
          new CommandError(`${path.basename(command)} ${args.join(' ')}: exit ${code}\n${tail(result.stderr || result.stdout)}`, result),
        );
      resolve(result);
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

function tail(text: string, lines = 25): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
