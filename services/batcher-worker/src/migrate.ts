// Schema migration (the chart's pre-install/pre-upgrade Job): creates the database, the ledger and
// the demo table if missing, and migrates a first-release table (every id keeps its promise).
import { createLogger, LEDGER_TABLE, loadServiceConfig, migrate, runService, WRITES_TABLE } from '@batcher/shared/node';

runService('schema-migration', async () => {
  const config = loadServiceConfig('schema-migration');
  const logger = createLogger('schema-migration', config.log.level);
  const result = await migrate(config.mysql);
  logger.info({ database: config.mysql.database, ledger: LEDGER_TABLE, table: WRITES_TABLE, ...result }, 'schema is up to date');
});
