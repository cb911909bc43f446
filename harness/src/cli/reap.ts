// node harness/dist/cli/reap.js DIR: stops what a killed test run left behind. The harness
// records each child it starts as DIR/<pid> holding its command (TEST_PID_DIR); a PID is signalled
// only if it still runs that very command (PIDs get reused). SIGTERM, SIGKILL after 10 s.
import fs from 'node:fs';
import path from 'node:path';
import { stopPid } from '../processes';

async function main(dir: string): Promise<void> {
  if (!fs.existsSync(dir)) return;
  for (const name of fs.readdirSync(dir)) {
    const file = path.join(dir, name);
    const pid = Number(name);
    const command = fs.readFileSync(file, 'utf8').split('\n')[0];
    let running: string | undefined;
    try {
      running = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
    } catch {
      running = undefined;
    }
    if (Number.isInteger(pid) && running !== undefined && running === command) {
      console.error(`[reap] stopping ${path.basename(command ?? '?')} (pid ${pid}), left running by the tests`);
      await stopPid(pid, { graceMs: 10_000 });
    }
    fs.rmSync(file, { force: true });
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

main(process.argv[2] ?? '').catch((err: Error) => {
  console.error(`[reap] ${err.message}`);
  process.exit(1);
});
