// The database-bound phase's latency proxy (harness/src/latency-proxy.ts) as a process of its own,
// so its timers do not share an event loop with the bench's client: started on a free port in front
// of the bench's MariaDB, ready once it prints its address, stopped by its PID.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface DbProxy {
  host: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

export async function startDbProxy(options: {
  repoRoot: string;
  target: { host: string; port: number };
  delayMs: number;
  logFile: string;
}): Promise<DbProxy> {
  const script = path.join(options.repoRoot, 'harness', 'dist', 'latency-proxy.js');
  if (!fs.existsSync(script)) throw new Error(`${script} is missing: run npm run build`);
  const child = spawn(
    process.execPath,
    [script, '--target', `${options.target.host}:${options.target.port}`, '--delay-ms', String(options.delayMs)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const log = fs.createWriteStream(options.logFile, { flags: 'a' });
  child.stderr?.pipe(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const address = await new Promise<{ host: string; port: number }>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error('the latency proxy did not start in 30 s')), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      log.write(chunk);
      out += chunk.toString('utf8');
      const m = /listening on ([\d.]+):(\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve({ host: m[1] as string, port: Number(m[2]) });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`the latency proxy exited with ${code} at start (see ${options.logFile})`));
    });
  });
  return {
    ...address,
    pid: child.pid as number,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
      log.end();
    },
  };
}
