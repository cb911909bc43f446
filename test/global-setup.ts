// Starts one MariaDB and one Temporal dev server for the whole vitest run, hands them to tests
// through `provide` (see support/global-servers.ts) and the environment, and stops them at the end.
import type { TestProject } from 'vitest/node';
import type {} from './support/global-servers';
import { startMariaDb, type MariaDb } from './support/mariadb';
import { startTemporalDevServer, type TemporalDevServer } from './support/temporal';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started: Array<MariaDb | TemporalDevServer> = [];
  const teardown = async () => {
    await Promise.allSettled(started.map((s) => s.stop()));
  };
  try {
    // One after the other: on 2 cores, starting both at once slows each more than it saves.
    const mysql = await startMariaDb();
    started.push(mysql);
    const temporal = await startTemporalDevServer();
    started.push(temporal);

    project.provide('mysql', { host: mysql.host, port: mysql.port, user: mysql.user, password: mysql.password, database: mysql.database, env: mysql.env });
    project.provide('temporal', { address: temporal.address, namespace: temporal.namespace, uiPort: temporal.uiPort, env: temporal.env });
    // Test workers are forked after global setup, so they inherit these.
    Object.assign(process.env, mysql.env, temporal.env);
    console.log(`[global-setup] MariaDB ${mysql.host}:${mysql.port} (log ${mysql.logFile}), Temporal ${temporal.address}${temporal.uiPort ? ` UI http://127.0.0.1:${temporal.uiPort}` : ''} (log ${temporal.logFile})`);
  } catch (err) {
    await teardown();
    throw err;
  }
  return teardown;
}
