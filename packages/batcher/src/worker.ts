// A batcher worker: the batcher workflow, its bulk write, and the requester-facing activities, on
// one task queue. Either build one (`createBatcherWorker`) or add the batcher to a Worker of your
// own with the plugin (`writeBatcherPlugin`); both load the declared tables' columns at start.
import { Client } from '@temporalio/client';
import { Worker, type NativeConnection, type WorkerOptions, type WorkerPlugin } from '@temporalio/worker';
import type { TraceCarrier } from '@write-batcher/protocol';
import type { BatcherSettings } from './workflows/types';
import type { Pool } from 'mysql2/promise';
import { createActivities } from './activities';
import { databaseOf } from './activities/bulk-write';
import type { SubmitSettings } from './activities/submit';
import { purgeLedger } from './db/ledger';
import { Catalog, type TargetTable } from './db/targets';
import type { ShardRouting } from './shards';

export const workflowsPath = require.resolve('./workflows');

/**
 * A V8 context per workflow run (a shard makes a few runs an hour): lets the batcher keep plain
 * stack traces instead of the SDK's per-promise ones (workflows/plain-stacks.ts).
 */
export const BATCHER_SANDBOX_OPTIONS = { reuseV8Context: false } as const;

/** The batching defaults (each overridable in {@link BatcherOptions.settings}). */
export const DEFAULT_BATCHER_SETTINGS: BatcherSettings = {
  flushPolicy: 'size-or-interval',
  maxBatchSize: 100,
  flushIntervalMs: 20_000,
  maxWritesInFlight: 4,
  continueAsNewSignals: 500,
  dedupWindowBytes: 65_536,
  maxPendingRequests: 2000,
  maxPendingBytes: 1_000_000,
  maxRequestsPerTask: 1000,
};

export const DEFAULT_ROUTING: ShardRouting = { taskQueue: 'batcher-queue', shards: 1, workflowIdPrefix: 'write-batcher' };
export const DEFAULT_SUBMIT: SubmitSettings = { lingerMs: 250, maxRequests: 500 };
/** Ledger entries are kept this long. Must exceed the longest write timeout (7 days at most). */
export const DEFAULT_LEDGER_RETENTION_HOURS = 30 * 24;
/**
 * How often the worker re-reads the declared tables' columns (a table altered, dropped or renamed);
 * a bulk write that finds a table or column missing asks for a re-read at once.
 */
const CATALOG_REFRESH_MS = 300_000;
const RETENTION_EVERY_MS = 3_600_000;

export interface BatcherOptions {
  /** A mysql2/promise pool of the batcher's own (its sessions are set to UTC). */
  pool: Pool;
  /** The tables this batcher may write: its allow-list. */
  tables: TargetTable[];
  /** Where the shards are. Every batcher worker of a deployment must agree. @default DEFAULT_ROUTING */
  routing?: Partial<ShardRouting>;
  /** Batching policy. @default DEFAULT_BATCHER_SETTINGS */
  settings?: Partial<BatcherSettings>;
  /** Grouping of submissions into signals. @default DEFAULT_SUBMIT */
  submit?: Partial<SubmitSettings>;
  /** Delete ledger entries older than this (hours); 0 keeps them for ever. @default 720 (30 days) */
  ledgerRetentionHours?: number;
  /** Client that answers requesters and signals shards. @default a client on the worker's connection */
  client?: Client;
  /** The active trace context, so a batch links the requests' traces (telemetry sets it). */
  traceCarrier?: () => TraceCarrier;
  /** Called with what the background jobs (catalog refresh, ledger retention) have to say. */
  onEvent?: (event: string, details: Record<string, unknown>) => void;
}

function setSessionsToUtc(pool: Pool): void {
  // Dates are sent as UTC text; TIMESTAMP columns read it in the session's zone.
  pool.on('connection', (conn: { query: (sql: string) => unknown }) => {
    conn.query("SET time_zone = '+00:00'");
  });
}

/**
 * The batcher as a Worker plugin: adds the batcher workflow and every activity to the worker it
 * configures (which must poll the batcher's task queue, `routing.taskQueue`). Loads the declared
 * tables first, so a table that does not exist stops start-up with its name.
 */
export async function writeBatcherPlugin(options: BatcherOptions): Promise<WorkerPlugin> {
  const pool = options.pool;
  setSessionsToUtc(pool);
  if (options.ledgerRetentionHours !== undefined && options.ledgerRetentionHours !== 0 && options.ledgerRetentionHours < 7 * 24 + 1) {
    throw new Error(`ledgerRetentionHours must be 0 (keep for ever) or more than 168 (7 days, the longest write timeout); got ${options.ledgerRetentionHours}`);
  }
  const catalog = new Catalog(pool, options.tables, databaseOf(pool) ?? '');
  await catalog.load(true);
  const routing = { ...DEFAULT_ROUTING, ...options.routing };
  const settings = { ...DEFAULT_BATCHER_SETTINGS, ...options.settings };
  const submit = { ...DEFAULT_SUBMIT, ...options.submit };
  const retentionHours = options.ledgerRetentionHours ?? DEFAULT_LEDGER_RETENTION_HOURS;
  const emit = options.onEvent ?? (() => undefined);
  return {
    name: 'write-batcher',
    configureWorker(worker: WorkerOptions): WorkerOptions {
      if (worker.taskQueue !== routing.taskQueue) {
        throw new Error(`write-batcher: this worker polls ${worker.taskQueue}, but the batcher's task queue is ${routing.taskQueue}; set routing.taskQueue or the worker's taskQueue so they agree`);
      }
      const client = options.client ?? new Client({ connection: worker.connection as unknown as NativeConnection, namespace: worker.namespace });
      const activities = createActivities({ pool, client, catalog, routing, settings, submit, traceCarrier: options.traceCarrier });
      return {
        ...worker,
        ...(worker.workflowBundle ? {} : { workflowsPath }),
        activities: { ...(worker.activities ?? {}), ...activities },
        ...BATCHER_SANDBOX_OPTIONS,
      };
    },
    async runWorker(w: Worker, next: (w: Worker) => Promise<void>): Promise<void> {
      const refresh = setInterval(() => {
        catalog.load(false).catch((err: unknown) => emit('catalog refresh failed', { error: String(err) }));
      }, CATALOG_REFRESH_MS);
      const purge = () => {
        if (retentionHours <= 0) return;
        purgeLedger(pool, retentionHours * 3600).then(
          (deleted) => deleted > 0 && emit('ledger entries purged', { deleted, retentionHours }),
          (err: unknown) => emit('ledger purge failed', { error: String(err) }),
        );
      };
      const retention = setInterval(purge, RETENTION_EVERY_MS);
      refresh.unref();
      retention.unref();
      try {
        await next(w);
      } finally {
        clearInterval(refresh);
        clearInterval(retention);
      }
    },
  };
}

export interface BatcherWorkerOptions extends BatcherOptions {
  connection: NativeConnection;
  /** @default 'default' */
  namespace?: string;
  /** Prebundled workflow code (its bundle must come from `workflowsPath`); unset: bundled at start-up. */
  workflowBundlePath?: string;
  /** @default 25000 */
  shutdownGraceMs?: number;
  /** @default 100 */
  maxConcurrentActivities?: number;
  /** More plugins (tracing...), applied after the batcher's. */
  plugins?: WorkerPlugin[];
}

/** A Worker that runs the batcher on `routing.taskQueue`. */
export async function createBatcherWorker(options: BatcherWorkerOptions): Promise<Worker> {
  const routing = { ...DEFAULT_ROUTING, ...options.routing };
  const plugin = await writeBatcherPlugin({ ...options, routing });
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: routing.taskQueue,
    ...(options.workflowBundlePath ? { workflowBundle: { codePath: options.workflowBundlePath } } : {}),
    shutdownGraceTime: options.shutdownGraceMs ?? 25_000,
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivities ?? 100,
    plugins: [plugin, ...(options.plugins ?? [])],
  });
}
