// A whole pipeline in the test process: an in-process batcher worker and main worker on their
// own task queues, against the run's real Temporal server and a database of the test's own.
import { createHash } from 'node:crypto';
import { Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { afterEach } from 'vitest';
import { batcherWorkflowId } from '@write-batcher/protocol';
import { batcherStatsQuery, createBatcherWorker, type BatcherStats, type ShardRouting, type TargetTable } from '@write-batcher/batcher';
import { batcherSettings, createPool, loadConfig, type MysqlConfig, type Pool } from '@batcher/service-kit';
import { migrateDatabase } from '@batcher/batcher-worker/schema';
import { Catalog, createSubmitActivities, databaseOf } from '@write-batcher/batcher/testing';
import { createMainWorker } from '@batcher/main-worker/worker';
import { awaitTransactions, startTransactions, type TransactionOutcome } from '@batcher/demo/transactions';
import { allRows } from '../support/ledger-view';
import { globalMysql, globalTemporal } from '../support/global-servers';
import { slugOf } from '../support/naming';

// Workers in tests log warnings and errors only: INFO lines of every activity would drown the output.
try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // Already installed in this test process (another helper did it first): keep that one.
}

export interface PipelineOptions {
  /** Names the task queues, workflow ids and database, so tests never see each other's data. */
  title: string;
  /** BATCH_*, BATCHER_*, CONTINUE_AS_NEW_SIGNALS, DEDUP_WINDOW_BYTES, CONFIRMATION_TIMEOUT_MS, SUBMIT_* overrides, as env strings. */
  env?: Record<string, string>;
  /** Tables the batcher may write besides the demo table (created by the test before the pipeline starts). */
  tables?: TargetTable[];
  /** SQL run in the test's database before the batcher worker starts (e.g. CREATE TABLE of `tables`). */
  setupSql?: string[];
  /** MySQL to use instead of the run's MariaDB (e.g. one the test stops and starts). */
  mysql?: { host: string; port: number; user: string; password: string };
  /**
   * Start the batcher worker (false: requests are never submitted, written or settled, since both
   * requester activities run on the batcher's task queue). 'activities-only': a worker on the
   * batcher's task queue with the submit and settle activities only, so requests reach their shard
   * and ids are settled, but no worker runs the shards and nothing is written. @default true
   */
  batcherWorker?: boolean | 'activities-only';
  /** Simulated business step. @default 20 */
  businessStepMs?: number;
  connection?: NativeConnection;
  client?: Client;
}

export interface Pipeline {
  client: Client;
  batcher: ShardRouting & { batching: ReturnType<typeof batcherSettings> };
  mainTaskQueue: string;
  mysql: MysqlConfig;
  pool: Pool;
  /** Starts main workflows with these ids and waits for each outcome. */
  run(workflowIds: string[], confirmationTimeoutMs?: number): Promise<TransactionOutcome[]>;
  /** `${slug}-${i}` ids for n workflows. */
  ids(n: number, tag?: string): string[];
  stats(shard?: number): Promise<BatcherStats>;
  /** Ledger entries of the demo table: request id, batch id, shard, status, and how many rows the table holds for it. */
  rows(): Promise<Array<{ request_id: string; batch_id: string | null; shard: number; status: string; rows_in_table: number }>>;
  stop(): Promise<void>;
}

export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const slug = `${slugOf(options.title)}-${Date.now().toString(36)}`;
  const temporal = globalTemporal();
  const base = options.mysql ?? globalMysql();
  const config = loadConfig(['batcher', 'batching', 'main', 'mysql', 'starter'], {
    SUBMIT_LINGER_MS: '20',
    BATCHER_TASK_QUEUE: `batcher-${slug}`,
    BATCHER_WORKFLOW_ID_PREFIX: `batcher-${slug}`,
    BATCH_FLUSH_INTERVAL_MS: '2000',
    MYSQL_HOST: base.host,
    MYSQL_PORT: String(base.port),
    MYSQL_USER: base.user,
    MYSQL_PASSWORD: base.password,
    MYSQL_DATABASE: `t_${createHash('sha1').update(slug).digest('hex').slice(0, 12)}`,
    ...options.env,
  });
  await migrateDatabase(config.mysql);
  const pool = createPool(config.mysql);
  for (const sql of options.setupSql ?? []) await pool.query(sql);
  const connection = options.connection ?? (await NativeConnection.connect({ address: temporal.address }));
  const namespace = temporal.namespace;
  const client = options.client ?? new Client({ connection, namespace });
  const mainTaskQueue = `main-${slug}`;

  const workers: Worker[] = [];
  if (options.batcherWorker === 'activities-only') {
    const tables = [...config.batching.tables, ...(options.tables ?? [])];
    const catalog = new Catalog(pool, tables, databaseOf(pool) ?? '');
    await catalog.load(true);
    workers.push(
      await Worker.create({
        connection,
        namespace,
        taskQueue: config.batcher.taskQueue,
        activities: createSubmitActivities({
          client,
          pool,
          catalog,
          routing: config.batcher,
          submit: { lingerMs: config.batching.submitLingerMs, maxRequests: config.batching.submitGroupMaxRequests },
        }),
        shutdownGraceTime: 1000,
      }),
    );
  } else if (options.batcherWorker !== false) {
    workers.push(
      await createBatcherWorker({
        connection,
        namespace,
        pool,
        tables: [...config.batching.tables, ...(options.tables ?? [])],
        routing: config.batcher,
        settings: batcherSettings(config.batching),
        submit: { lingerMs: config.batching.submitLingerMs, maxRequests: config.batching.submitGroupMaxRequests },
        shutdownGraceMs: 1000,
        client,
      }),
    );
  }
  workers.push(
    await createMainWorker({
      connection,
      namespace,
      taskQueue: mainTaskQueue,
      businessStepMs: options.businessStepMs ?? 20,
      shutdownGraceMs: 1000,
    }),
  );
  const running = workers.map((w) => w.run());

  const pipeline: Pipeline = {
    client,
    batcher: { ...config.batcher, batching: batcherSettings(config.batching) },
    mainTaskQueue,
    mysql: config.mysql,
    pool,
    ids: (n, tag = 'txn') => Array.from({ length: n }, (_, i) => `${tag}-${slug}-${i}`),
    async run(workflowIds, confirmationTimeoutMs) {
      const startedAt = Date.now();
      await startTransactions(client, {
        taskQueue: mainTaskQueue,
        workflowIds,
        input: (id, i) => ({
          payload: { order: id, amountCents: i },
          confirmationTimeoutMs: confirmationTimeoutMs ?? config.starter.confirmationTimeoutMs,
          submitAttemptTimeoutMs: config.starter.submitAttemptTimeoutMs,
          batcherTaskQueue: config.batcher.taskQueue,
        }),
      });
      return awaitTransactions(client, workflowIds, startedAt);
    },
    stats: (shard = 0) => client.workflow.getHandle(batcherWorkflowId(config.batcher.workflowIdPrefix, shard)).query(batcherStatsQuery),
    async rows() {
      return (await allRows(pool)).map((r) => ({
        request_id: r.requestId,
        batch_id: r.batchId,
        shard: r.shard,
        status: r.status,
        rows_in_table: r.rowsInTable,
      }));
    },
    async stop() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await Promise.allSettled(running);
      for (let shard = 0; shard < config.batcher.shards; shard++) {
        await client.workflow
          .getHandle(batcherWorkflowId(config.batcher.workflowIdPrefix, shard))
          .terminate('test finished')
          .catch(() => undefined);
      }
      await pool.end();
      if (!options.connection) await connection.close();
    },
  };
  return pipeline;
}

/**
 * For a test file whose tests each run one pipeline: returns the start function and stops the
 * test's pipeline (workers, shards, pool) after each test, whatever its outcome.
 */
export function pipelinePerTest(): (options: PipelineOptions) => Promise<Pipeline> {
  let current: Pipeline | undefined;
  afterEach(async () => {
    await current?.stop();
    current = undefined;
  });
  return async (options) => (current = await startPipeline(options));
}

/** The wire form of a demo-table row (what batchedWrite sends for `{ payload }`). */
export function demoRow(payload: Record<string, unknown>): { payload: { '@wb': 'json'; v: never } } {
  return { payload: { '@wb': 'json', v: payload as never } };
}

/** Counts of rows per batch id. */
export function rowsPerBatch(rows: Array<{ batch_id: string | null }>): Map<string | null, number> {
  const m = new Map<string | null, number>();
  for (const r of rows) m.set(r.batch_id, (m.get(r.batch_id) ?? 0) + 1);
  return m;
}
