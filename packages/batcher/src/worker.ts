// A batcher worker: the batcher workflow, its bulk write, and the requester-facing activities, on
// one task queue. Either build one (`createBatcherWorker`) or add the batcher to a Worker of your
// own with the plugin (`writeBatcherPlugin`); both load the declared tables' columns at start.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import { Worker, type NativeConnection, type WorkerOptions, type WorkerPlugin } from '@temporalio/worker';
import { batcherWorkflowId, type TraceCarrier } from '@write-batcher/protocol';
import { settingsFingerprint } from './workflows/settings-fingerprint';
import { settingsChangedSignal, shardTaskQueue, type BatcherSettings } from './workflows/types';
import type { Pool } from 'mysql2/promise';
import { createActivities } from './activities';
import { databaseOf } from './activities/bulk-write';
import type { SubmitSettings } from './activities/submit';
import { purgeLedger } from './db/ledger';
import { Catalog, type TargetTable } from './db/targets';
import type { ShardRouting } from './shards';

export const workflowsPath = require.resolve('./workflows');
/** The batcher workflow alone, without the sandbox set-up of `workflowsPath` (plain stacks): what a host worker gets. */
const batcherWorkflowModule = require.resolve('./workflows/batcher');

/**
 * A V8 context per workflow run (a shard makes a few runs an hour): lets the batcher keep plain
 * stack traces instead of the SDK's per-promise ones (workflows/plain-stacks.ts). Set by
 * `createBatcherWorker` only: the plugin never changes a host worker's sandbox.
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
export const DEFAULT_SUBMIT: SubmitSettings = { lingerMs: 20_000, maxRequests: 500 };
/** Ledger entries are kept this long. Must exceed the longest write timeout (7 days at most). */
export const DEFAULT_LEDGER_RETENTION_HOURS = 30 * 24;
/**
 * How often the worker re-reads the declared tables' columns by itself (a table altered, dropped
 * or renamed), in ms. Never what decides a refusal: a row refused for the table's shape (an
 * unknown column, a required one missing) is refused only after its table is read again, and a
 * bulk write that meets a changed table re-reads it at once.
 */
export const DEFAULT_CATALOG_REFRESH_MS = 300_000;
/**
 * A batcher worker announces its settings to the running shards when it starts, and once more this
 * long after (ms): in a rolling update the worker it replaces still runs at its start and may serve
 * the settings read of a shard that reloads then; by the second announcement it is gone (the
 * chart's pods drain within 35 s), and a shard left on its settings reloads again.
 */
export const DEFAULT_SETTINGS_ANNOUNCE_AGAIN_MS = 60_000;
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
  /**
   * How often the declared tables' columns are re-read in the background (ms, at least 1000). A
   * schema change is seen before it matters anyway (a refusal for the table's shape re-reads the
   * table first): this bounds how stale the view is otherwise. @default 300000 (5 minutes)
   */
  catalogRefreshMs?: number;
  /**
   * When the worker announces its settings to the running shards a second time, in ms after its
   * start (the first is at its start; see the README, "Settings reach running shards"); 0: only at
   * its start. @default 60000
   */
  settingsAnnounceAgainMs?: number;
  /** Called with what the background jobs (catalog refresh, ledger retention, settings announcements) have to say. */
  onEvent?: (event: string, details: Record<string, unknown>) => void;
}

/**
 * The workflows path of a host worker that has its own workflows and the batcher's: the SDK (1.24)
 * takes one `workflowsPath` and has no plugin hook into the bundler, so this writes a small entry
 * module that re-exports both (content-addressed, in the OS temp folder, so a read-only application
 * folder is no obstacle) and hands that to the bundler. The bundler resolves its own imports
 * (`@temporalio/workflow`) from the entry's folder: a `node_modules` link there points at the folder
 * the host's workflows take `@temporalio/workflow` from, so the bundle holds one copy of it. The
 * host's exports come first; `batcherWorkflow` is the batcher's (a host workflow of that name would
 * be hidden by it).
 */
export function mergedWorkflowsPath(hostWorkflowsPath: string): string {
  const host = path.resolve(hostWorkflowsPath);
  const sdkPackage = require.resolve('@temporalio/workflow/package.json', { paths: [path.dirname(host)] });
  const nodeModules = path.dirname(path.dirname(path.dirname(sdkPackage)));
  const source = [
    "// Generated by @write-batcher/batcher (writeBatcherPlugin): the host worker's workflows and the batcher's.",
    `Object.assign(exports, require(${JSON.stringify(host)}));`,
    `exports.batcherWorkflow = require(${JSON.stringify(batcherWorkflowModule)}).batcherWorkflow;`,
    '',
  ].join('\n');
  const dir = path.join(
    os.tmpdir(),
    'write-batcher-workflows',
    createHash('sha256').update(source).update(nodeModules).digest('hex').slice(0, 16),
  );
  mkdirSync(dir, { recursive: true });
  const link = path.join(dir, 'node_modules');
  if (!existsSync(link)) {
    try {
      symlinkSync(nodeModules, link, 'junction'); // 'junction': no privilege needed on Windows; ignored elsewhere
    } catch (err) {
      // Another worker of this machine made it first.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const file = path.join(dir, 'workflows.js');
  writeFileSync(file, source);
  return file;
}

/** The host's worker options with the batcher's workflow added, and nothing else of them changed. */
function withBatcherWorkflow(worker: WorkerOptions): Pick<WorkerOptions, 'workflowsPath'> {
  // A prebuilt bundle cannot be added to: it must have been built from an entry that also exports
  // the batcher's workflow (see the README); an activities-only worker gets the batcher's alone.
  if (worker.workflowBundle) return {};
  if (worker.workflowsPath && path.resolve(worker.workflowsPath) === workflowsPath) return {};
  if (worker.workflowsPath) return { workflowsPath: mergedWorkflowsPath(worker.workflowsPath) };
  return { workflowsPath: batcherWorkflowModule };
}

/** The batcher's workflow interceptor module (workflows/inbound-guard.ts): no signal or start input can fail a shard's task. */
export const inboundGuardModule = require.resolve('./workflows/inbound-guard');

/**
 * The host's workflow interceptor modules with the inbound guard added (it acts on batcher runs only).
 * A prebuilt bundle takes interceptor modules at bundle time (bundleWorkflowCode's
 * `workflowInterceptorModules`); one built from `workflowsPath` has the guard already.
 */
function withInboundGuard(worker: WorkerOptions): Pick<WorkerOptions, 'interceptors'> {
  if (worker.workflowBundle) return {};
  const modules = worker.interceptors?.workflowModules ?? [];
  return {
    interceptors: { ...worker.interceptors, workflowModules: [...modules.filter((m) => m !== inboundGuardModule), inboundGuardModule] },
  };
}

/**
 * The batcher as a Worker plugin: adds the batcher workflow and every activity to the worker it
 * configures (which must poll the batcher's task queue, `routing.taskQueue`), beside the host's own
 * workflows and activities; changes no other option of the worker. Loads the declared tables
 * first, so a table that does not exist stops start-up with its name. Every session it takes from
 * `pool` runs in UTC (db/sessions.ts).
 */
export async function writeBatcherPlugin(options: BatcherOptions): Promise<WorkerPlugin> {
  const pool = options.pool;
  if (options.ledgerRetentionHours !== undefined && options.ledgerRetentionHours !== 0 && options.ledgerRetentionHours < 7 * 24 + 1) {
    throw new Error(
      `ledgerRetentionHours must be 0 (keep for ever) or more than 168 (7 days, the longest write timeout); got ${options.ledgerRetentionHours}`,
    );
  }
  const catalogRefreshMs = options.catalogRefreshMs ?? DEFAULT_CATALOG_REFRESH_MS;
  if (!Number.isInteger(catalogRefreshMs) || catalogRefreshMs < 1000)
    throw new Error(`catalogRefreshMs must be an integer of at least 1000 (ms); got ${catalogRefreshMs}`);
  const announceAgainMs = options.settingsAnnounceAgainMs ?? DEFAULT_SETTINGS_ANNOUNCE_AGAIN_MS;
  if (!Number.isInteger(announceAgainMs) || announceAgainMs < 0)
    throw new Error(`settingsAnnounceAgainMs must be a non-negative integer (ms; 0: only at start); got ${announceAgainMs}`);
  const catalog = new Catalog(pool, options.tables, databaseOf(pool) ?? '');
  await catalog.load(true);
  const routing = { ...DEFAULT_ROUTING, ...options.routing };
  const settings = { ...DEFAULT_BATCHER_SETTINGS, ...options.settings };
  const submit = { ...DEFAULT_SUBMIT, ...options.submit };
  const retentionHours = options.ledgerRetentionHours ?? DEFAULT_LEDGER_RETENTION_HOURS;
  const emit = options.onEvent ?? (() => undefined);
  /** What the shard worker is made of, known once the host worker is configured. */
  let shardSide: { connection: NativeConnection; namespace: string; activities: ReturnType<typeof createActivities> } | undefined;
  /** The client the activities use, which also announces the settings to the shards. */
  let announcer: Client | undefined;
  return {
    name: 'write-batcher',
    configureWorker(worker: WorkerOptions): WorkerOptions {
      if (worker.taskQueue !== routing.taskQueue) {
        throw new Error(
          `write-batcher: this worker polls ${worker.taskQueue}, but the batcher's task queue is ${routing.taskQueue}; set routing.taskQueue or the worker's taskQueue so they agree`,
        );
      }
      const client =
        options.client ?? new Client({ connection: worker.connection as unknown as NativeConnection, namespace: worker.namespace });
      const activities = createActivities({ pool, client, catalog, routing, settings, submit, traceCarrier: options.traceCarrier });
      announcer = client;
      shardSide = { connection: worker.connection as NativeConnection, namespace: worker.namespace ?? 'default', activities };
      const clash = Object.keys(activities).filter((name) => name in (worker.activities ?? {}));
      if (clash.length)
        throw new Error(`write-batcher: this worker already has activities named ${clash.join(', ')}; the batcher needs those names`);
      return {
        ...worker,
        ...withBatcherWorkflow(worker),
        ...withInboundGuard(worker),
        activities: { ...(worker.activities ?? {}), ...activities },
      };
    },
    async runWorker(w: Worker, next: (w: Worker) => Promise<void>): Promise<void> {
      const refresh = setInterval(() => {
        catalog.load(false).catch((err: unknown) => emit('catalog refresh failed', { error: String(err) }));
      }, catalogRefreshMs);
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
      const shardWorker = await createShardWorker(w, routing, settings, shardSide);
      /** Tells the running shards the fingerprint of the settings this worker serves (see announceSettings). */
      const announce = (round: 'start' | 'again') => {
        const client = announcer;
        if (!client || !shardSide || (round === 'again' && w.getState() !== 'RUNNING')) return;
        void shardSide.activities
          .batcherSettings()
          .then((served) => announceSettings(client, routing, settingsFingerprint(served)))
          .then(
            (counts) => emit('settings announced to the shards', { round, ...counts }),
            (err: unknown) => emit('settings announcement failed', { round, error: String(err) }),
          );
      };
      const again = announceAgainMs > 0 ? setTimeout(() => announce('again'), announceAgainMs) : undefined;
      again?.unref();
      try {
        // Both run until either stops; then the other is shut down and drained too.
        const host = next(w).finally(() => shardWorker.getState() === 'RUNNING' && shardWorker.shutdown());
        const own = shardWorker.run().finally(() => w.getState() === 'RUNNING' && w.shutdown());
        // Both workers are started: shards on other settings continue as new and read these.
        announce('start');
        await Promise.all([host, own]);
      } finally {
        clearTimeout(again);
        clearInterval(refresh);
        clearInterval(retention);
      }
    },
  };
}

/**
 * Tells every running shard of `routing` the fingerprint of the settings this worker serves (the
 * settingsChanged signal): a shard whose run has other settings continues as new and reads them.
 * A plain signal, never signal-with-start: a shard that is not running stays so (its next start
 * reads the settings anyway). One signal per shard per announcement (two per worker start).
 */
export async function announceSettings(
  client: Client,
  routing: ShardRouting,
  fingerprint: string,
): Promise<{ fingerprint: string; shards: number; signalled: number; notRunning: number; failed: number; error?: string }> {
  const sent = await Promise.allSettled(
    Array.from({ length: routing.shards }, (_, shard) =>
      client.workflow.getHandle(batcherWorkflowId(routing.workflowIdPrefix, shard)).signal(settingsChangedSignal, fingerprint),
    ),
  );
  const errors = sent.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  const failed = errors.filter((e) => !(e instanceof WorkflowNotFoundError));
  return {
    fingerprint,
    shards: routing.shards,
    signalled: sent.length - errors.length,
    notRunning: errors.length - failed.length,
    failed: failed.length,
    ...(failed.length ? { error: String(failed[0]) } : {}),
  };
}

/**
 * The shard worker: the shards' own activities (bulk write, answers, settings) on
 * `shardTaskQueue(routing.taskQueue)`, in the host worker's process, with the host's activity
 * interceptors (tracing) and slots of its own: enough for every shard's writes in flight, its
 * delivery and its settings read, so requesters' submissions can never take them.
 */
async function createShardWorker(
  host: Worker,
  routing: ShardRouting,
  settings: BatcherSettings,
  side: { connection: NativeConnection; namespace: string; activities: ReturnType<typeof createActivities> } | undefined,
): Promise<Worker> {
  if (!side) throw new Error('write-batcher: the plugin ran a worker it did not configure');
  const { activities } = side;
  return Worker.create({
    connection: side.connection,
    namespace: side.namespace,
    taskQueue: shardTaskQueue(routing.taskQueue),
    identity: `${host.options.identity}/shard`,
    activities: {
      bulkWrite: activities.bulkWrite,
      deliverAnswers: (answers: Parameters<typeof activities.deliverAnswers>[0]) => activities.deliverAnswers(answers),
      batcherSettings: () => activities.batcherSettings(),
    },
    interceptors: { activity: host.options.interceptors.activity },
    maxConcurrentActivityTaskExecutions: Math.max(8, routing.shards * (settings.maxWritesInFlight + 2)),
    shutdownGraceTime: host.options.shutdownGraceTime,
  });
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
    // The batcher's own worker: its full workflows module (with plain stacks) and its sandbox.
    ...(options.workflowBundlePath ? { workflowBundle: { codePath: options.workflowBundlePath } } : { workflowsPath }),
    ...BATCHER_SANDBOX_OPTIONS,
    shutdownGraceTime: options.shutdownGraceMs ?? 25_000,
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivities ?? 100,
    plugins: [plugin, ...(options.plugins ?? [])],
  });
}
