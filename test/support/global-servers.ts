// The servers test/global-setup.ts starts once per vitest run, and how a test reaches them:
// `inject('mysql')` / `inject('temporal')` (typed here), or the MYSQL_* and TEMPORAL_* variables
// that global setup also puts into every test process's environment.
import { inject } from 'vitest';
import type { MysqlConnectionInfo } from './mariadb';
import type { TemporalConnectionInfo } from './temporal';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The run's MariaDB; its database exists, tables are the tests' business (run the migration). */
    mysql: MysqlConnectionInfo;
    /** The run's Temporal dev server. */
    temporal: TemporalConnectionInfo;
  }
}

export function globalMysql(): MysqlConnectionInfo {
  return inject('mysql');
}

export function globalTemporal(): TemporalConnectionInfo {
  return inject('temporal');
}

/** Environment for a service started by a test: this process's, the run's servers, then `extra`. */
export function serviceEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...globalMysql().env, ...globalTemporal().env, ...extra };
}
