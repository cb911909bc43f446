// Schema migration (the chart's pre-install/pre-upgrade Job): creates the database, the batcher's
// ledger and the demo's tables if missing (src/schema.ts).
import { createLogger, loadServiceConfig, runService } from '@batcher/service-kit';
import { LEDGER_TABLE } from '@write-batcher/batcher';
import { DEMO_ORDERS_TABLE, DEMO_TABLE } from '@batcher/demo';
import { migrateDatabase } from './schema';

runService('schema-migration', async () => {
  const config = loadServiceConfig('schema-migration');
  const logger = createLogger('schema-migration', config.log.level);
  await migrateDatabase(config.mysql);
  logger.info({ database: config.mysql.database, ledger: LEDGER_TABLE, tables: [DEMO_TABLE, DEMO_ORDERS_TABLE] }, 'schema is up to date');
});
