// Starts one MariaDB and one Temporal dev server for the vitest run, hands them to tests through
// `provide` (see support/global-servers.ts) and the environment, and stops them at the end.
// The integration and e2e projects both list this file (the unit project does not, so it starts
// nothing): when one run holds both, they share the same two servers, started by the first project
// and stopped when the last one is done.
import type { TestProject } from 'vitest/node';
import type {} from './support/global-servers';
import { startMariaDb, type MariaDb } from './support/mariadb';
import { startTemporalDevServer, type TemporalDevServer } from './support/temporal';

interface RunServers {
  mysql: MariaDb;
  temporal: TemporalDevServer;
}

// vitest loads a project's global setup files in its own module graph, so a module-level variable
// would be one per project: the run's servers are kept on the main process's globalThis instead.
const shared = globalThis as typeof globalThis & { __testRunServers?: { servers: Promise<RunServers>; users: number } };

async function startServers(): Promise<RunServers> {
  const started: Array<MariaDb | TemporalDevServer> = [];
  try {
    // One after the other: on 2 cores, starting both at once slows each more than it saves.
    const mysql = await startMariaDb();
    started.push(mysql);
    const temporal = await startTemporalDevServer();
    started.push(temporal);
    console.log(
      `[global-setup] MariaDB ${mysql.host}:${mysql.port} (log ${mysql.logFile}), Temporal ${temporal.address}${temporal.uiPort ? ` UI http://127.0.0.1:${temporal.uiPort}` : ''} (log ${temporal.logFile})`,
    );
    return { mysql, temporal };
  } catch (err) {
    await Promise.allSettled(started.map((s) => s.stop()));
    throw err;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!shared.__testRunServers) {
    const servers = startServers();
    shared.__testRunServers = { servers, users: 0 };
    // A failed start is not kept: the next project (or watch-mode rerun) tries again.
    servers.catch(() => {
      if (shared.__testRunServers?.servers === servers) shared.__testRunServers = undefined;
    });
  }
  const entry = shared.__testRunServers;
  const { mysql, temporal } = await entry.servers;
  entry.users++;

  project.provide('mysql', {
    host: mysql.host,
    port: mysql.port,
    user: mysql.user,
    password: mysql.password,
    database: mysql.database,
    env: mysql.env,
  });
  project.provide('temporal', { address: temporal.address, namespace: temporal.namespace, uiPort: temporal.uiPort, env: temporal.env });
  // Test workers are forked after global setup, so they inherit these.
  Object.assign(process.env, mysql.env, temporal.env);

  return async () => {
    entry.users--;
    if (entry.users > 0) return;
    if (shared.__testRunServers === entry) shared.__testRunServers = undefined;
    await Promise.allSettled([mysql.stop(), temporal.stop()]);
  };
}
