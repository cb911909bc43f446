// THE benchmark command (`npm run bench -- [bench options]`, after scripts/bench.sh has installed
// and built what it needs): its own Temporal dev server (headless) and a fresh MariaDB on free
// ports (or BENCH_TEMPORAL_PORT / BENCH_MYSQL_PORT), then bench/dist/main.js with them, then stop.
// The console shows the benchmark's own lines; stderr (SDK warnings and the like) goes to a file.
import fs from 'node:fs';
import path from 'node:path';
import {
  onStopSignal,
  portFromEnv,
  repoRoot,
  spawnLogged,
  startMariaDb,
  startTemporalDevServer,
  type MariaDb,
  type TemporalDevServer,
} from '../index';

const RUN_DIR = path.join(repoRoot, '.run', 'bench');

async function main(): Promise<number> {
  const say = (line: string) => console.log(`[bench] ${line}`);
  fs.rmSync(path.join(RUN_DIR, 'mariadb'), { recursive: true, force: true });
  fs.mkdirSync(RUN_DIR, { recursive: true });
  const temporalPort = await portFromEnv('BENCH_TEMPORAL_PORT', 0);
  const mysqlPort = await portFromEnv('BENCH_MYSQL_PORT', 0);
  let temporal: TemporalDevServer | undefined;
  let mysql: MariaDb | undefined;
  let bench: ReturnType<typeof spawnLogged> | undefined;
  const stopAll = async () => {
    await bench?.stop({ graceMs: 5000 });
    await mysql?.stop();
    await temporal?.stop();
  };
  onStopSignal(async () => {
    await stopAll();
    process.exit(130);
  });
  try {
    // BENCH_TEMPORAL_STOCK=1: Temporal's own limits instead of the ones the project runs (harness/src/temporal.ts).
    const stockSettings = process.env.BENCH_TEMPORAL_STOCK === '1';
    say(`starting Temporal dev server on 127.0.0.1:${temporalPort}${stockSettings ? " with Temporal's stock settings" : ''}`);
    temporal = await startTemporalDevServer({ port: temporalPort, ui: false, logFile: path.join(RUN_DIR, 'temporal.log'), stockSettings });
    say(`starting MariaDB on 127.0.0.1:${mysqlPort}`);
    mysql = await startMariaDb({
      port: mysqlPort,
      dir: path.join(RUN_DIR, 'mariadb'),
      database: 'bench',
      logFile: path.join(RUN_DIR, 'mariadb.log'),
    });
    const stderrLog = path.join(RUN_DIR, 'bench-stderr.log');
    fs.rmSync(stderrLog, { force: true });
    say(`SDK warnings and other stderr output go to ${path.relative(repoRoot, stderrLog)}`);
    bench = spawnLogged({
      name: 'bench',
      command: process.execPath,
      args: [path.join(repoRoot, 'bench', 'dist', 'main.js'), ...process.argv.slice(2)],
      env: { ...temporal.env, ...mysql.env, TEMPORAL_METRICS_URL: temporal.metricsUrl },
      logFile: path.join(RUN_DIR, 'bench.log'),
      // The benchmark prefixes its own lines.
      console: { prefix: '', stderrFile: stderrLog },
    });
    const { code } = await bench.exited;
    if (code !== 0) {
      say(`the benchmark exited with ${code}; the end of ${path.relative(repoRoot, stderrLog)}:`);
      console.log(fs.readFileSync(stderrLog, 'utf8').split('\n').slice(-30).join('\n'));
    }
    return code ?? 1;
  } finally {
    await stopAll();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`[bench] error: ${err.message}`);
    process.exit(1);
  },
);
