// Schema migration (the chart's pre-install/pre-upgrade Job): creates the database and table if missing.
import { createLogger, loadConfig, migrate, WRITES_TABLE } from '@batcher/shared/node';

async function main(): Promise<void> {
  const config = loadConfig(['log', 'mysql']);
  const logger = createLogger('schema-migration', config.log.level);
  await migrate(config.mysql);
  logger.info({ database: config.mysql.database, table: WRITES_TABLE }, 'schema is up to date');
}

main().catch((err) => {
  console.error(JSON.stringify({ level: 'fatal', service: 'schema-migration', msg: String(err?.message ?? err) }));
  process.exit(1);
});
