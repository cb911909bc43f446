// Schema migration (the chart's pre-install/pre-upgrade Job): creates the database and table if missing.
import { createLogger, loadServiceConfig, migrate, runService, WRITES_TABLE } from '@batcher/shared/node';

runService('schema-migration', async () => {
  const config = loadServiceConfig('schema-migration');
  const logger = createLogger('schema-migration', config.log.level);
  await migrate(config.mysql);
  logger.info({ database: config.mysql.database, table: WRITES_TABLE }, 'schema is up to date');
});
