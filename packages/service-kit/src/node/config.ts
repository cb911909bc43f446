// The one configuration loader: every setting of every service is declared here once, with its
// environment variable, default and documentation, and validated at start-up (fail fast).
import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * Defaults that name things of the layers above this kit, which it cannot import (it sits below the
 * product and the demo): the protocol's batcher task queue and workflow id prefix, and the demo's
 * main task queue and tables. test/pipeline/config.test.ts checks each against the constant it
 * stands for (@write-batcher/protocol, @batcher/demo).
 */
export const MIRRORED_DEFAULTS = {
  /** @write-batcher/protocol DEFAULT_BATCHER_TASK_QUEUE */
  batcherTaskQueue: 'batcher-queue',
  /** @write-batcher/protocol DEFAULT_BATCHER_WORKFLOW_ID_PREFIX */
  batcherWorkflowIdPrefix: 'write-batcher',
  /** @batcher/demo DEFAULT_MAIN_TASK_QUEUE */
  mainTaskQueue: 'main-workflow-queue',
  /** @batcher/demo/tables DEMO_TARGETS: the demo's JSON table and its typed orders table */
  batcherTables: [
    {
      table: 'batched_writes',
      mode: 'insert',
      key: ['request_id'],
      fill: { request_id: 'requestId', requester_workflow_id: 'requesterWorkflowId', batch_id: 'batchId', shard: 'shard' },
    },
    { table: 'demo_orders', mode: 'insert', fill: { written_by_batch: 'batchId' } },
  ],
} as const;

/** Raised when a setting is missing or malformed; the message names every offending variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: Array<{ variable: string; message: string }>) {
    super(`Invalid configuration: ${problems.map((p) => `${p.variable}: ${p.message}`).join('; ')}`);
  }
}

interface Setting<T> {
  /** Environment variable that sets it. */
  env: string;
  /** What it does (shown in README and `--help`). */
  doc: string;
  /** Default as the string a user would write; undefined means optional with no value. */
  default?: string;
  schema: z.ZodType<T>;
}

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^-?\d+$/, 'must be an integer')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be >= ${min}`).max(max, `must be <= ${max}`));
const bool = z
  .string()
  .toLowerCase()
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' }))
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const text = z.string().trim().min(1, 'must not be empty');
const optionalText = z.string().trim().optional();
const port = int(0, 65535);
const identifier = z.string().regex(/^[A-Za-z0-9_$]{1,64}$/, 'must be an identifier (letters, digits, _ or $)');
const targetTables = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON list of tables' });
      return z.NEVER;
    }
  })
  .pipe(
    z
      .array(
        z.strictObject({
          table: z.string().regex(/^[A-Za-z0-9_$]{1,64}(\.[A-Za-z0-9_$]{1,64})?$/, 'table must be a table name, optionally database.table'),
          mode: z.enum(['insert', 'insert-ignore', 'upsert'], { message: 'mode must be insert, insert-ignore or upsert' }).optional(),
          key: z.array(identifier).min(1).optional(),
          fill: z
            .record(
              identifier,
              z.enum(['requestId', 'requesterWorkflowId', 'batchId', 'shard'], {
                message: 'fill values are requestId, requesterWorkflowId, batchId or shard',
              }),
            )
            .optional(),
        }),
      )
      .min(1, 'must name at least one table')
      .refine((list) => new Set(list.map((t) => t.table)).size === list.length, 'a table is declared twice'),
  );
/**
 * An address to listen on: an IP address, or a host name (whether it resolves to an address of this
 * machine is checked at start-up, see assertListenHost). Dotted digits that are not an IPv4 address
 * (999.1.1.1) are refused here rather than sent to DNS.
 */
const listenHost = text.refine(
  (v) =>
    isIP(v) !== 0 ||
    (!/^[\d.]+$/.test(v) &&
      /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/.test(v)),
  {
    message: 'must be an IP address (such as 127.0.0.1, 0.0.0.0 or ::) or a host name',
  },
);

function setting<T>(env: string, doc: string, schema: z.ZodType<T>, defaultValue?: string): Setting<T> {
  return { env, doc, schema, default: defaultValue };
}

/** Every section a service can ask for. */
export const sections = {
  log: {
    level: setting(
      'LOG_LEVEL',
      'Log level: trace, debug, info, warn, error, fatal.',
      z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'], { message: 'must be one of trace, debug, info, warn, error, fatal' }),
      'info',
    ),
  },
  telemetry: {
    otlpEndpoint: setting(
      'OTEL_EXPORTER_OTLP_ENDPOINT',
      'OTLP/HTTP endpoint for traces, e.g. http://jaeger:4318. Unset: no exporter.',
      z.url({ message: 'must be a URL such as http://localhost:4318' }).optional(),
    ),
    podName: setting('K8S_POD_NAME', 'Kubernetes pod name, added to trace resources (set by the chart).', optionalText),
    podNamespace: setting('K8S_NAMESPACE', 'Kubernetes namespace, added to trace resources (set by the chart).', optionalText),
  },
  batcher: {
    taskQueue: setting(
      'BATCHER_TASK_QUEUE',
      'Task queue of the batcher workflows and their bulk-write activity.',
      text,
      MIRRORED_DEFAULTS.batcherTaskQueue,
    ),
    shards: setting('BATCHER_SHARDS', 'Number of batcher workflows; requests are routed by a hash of their id.', int(1, 1024), '1'),
    workflowIdPrefix: setting(
      'BATCHER_WORKFLOW_ID_PREFIX',
      'Batcher workflow ids are `<prefix>-<shard>`.',
      z.string().regex(/^[A-Za-z0-9._:-]{1,100}$/, 'must be 1-100 letters, digits or . _ : -'),
      MIRRORED_DEFAULTS.batcherWorkflowIdPrefix,
    ),
  },
  batching: {
    flushPolicy: setting(
      'BATCH_FLUSH_POLICY',
      'When a shard writes: `size-or-interval` (a full batch, or the oldest request waited the flush interval) or `eager` (whatever is pending as soon as no write is in flight: latency follows the database).',
      z.enum(['size-or-interval', 'eager'], { message: 'must be size-or-interval or eager' }),
      'size-or-interval',
    ),
    maxBatchSize: setting('BATCH_MAX_SIZE', 'Most rows in one bulk write; a full batch is written at once.', int(1, 1000), '100'),
    flushIntervalMs: setting(
      'BATCH_FLUSH_INTERVAL_MS',
      'size-or-interval: write pending requests once the oldest has waited this long (ms).',
      int(10, 3_600_000),
      '20000',
    ),
    maxWritesInFlight: setting(
      'BATCH_MAX_WRITES_IN_FLIGHT',
      'Bulk writes one shard runs at once (full batches go in parallel up to this).',
      int(1, 32),
      '4',
    ),
    continueAsNewSignals: setting(
      'CONTINUE_AS_NEW_SIGNALS',
      'Continue-as-new after this many submit signals in one run (earlier if Temporal suggests it or the history passes 4 MB).',
      int(1, 9000),
      '500',
    ),
    dedupWindowBytes: setting(
      'DEDUP_WINDOW_BYTES',
      'Bytes of recently finished request ids a shard remembers to answer repeats without a write (carried across continue-as-new).',
      int(0, 262_144),
      '65536',
    ),
    maxPendingRequests: setting(
      'BATCHER_MAX_PENDING_REQUESTS',
      'A shard refuses new requests (BatcherOverloaded) while this many are pending.',
      int(1, 100_000),
      '2000',
    ),
    maxPendingBytes: setting(
      'BATCHER_MAX_PENDING_BYTES',
      "A shard refuses new requests (BatcherOverloaded) while its pending requests hold more than this many bytes; bounds continue-as-new payloads under Temporal's 2 MB.",
      int(100_000, 1_200_000),
      '1000000',
    ),
    tables: setting(
      'BATCHER_TABLES',
      'JSON list of the tables this batcher may write (its allow-list): `[{"table":"orders","mode":"insert|insert-ignore|upsert","key":["order_id"],"fill":{"col":"requestId|requesterWorkflowId|batchId|shard"}}]`; mode defaults to insert, key to the primary key. Their columns are read from information_schema at start.',
      targetTables,
      JSON.stringify(MIRRORED_DEFAULTS.batcherTables),
    ),
    ledgerRetentionHours: setting(
      'LEDGER_RETENTION_HOURS',
      'Ledger entries older than this (hours) are deleted in bounded chunks; a request repeated after that is written again. 0 keeps them for ever; otherwise more than 168 (the longest write timeout, 7 days).',
      int(0, 876_000).refine((h) => h === 0 || h > 168, 'must be 0 or more than 168'),
      '720',
    ),
    submitLingerMs: setting(
      'SUBMIT_LINGER_MS',
      'The longest (ms) the batcher worker gathers submissions bound for the same shard before it sends them as one signal (each signal is a Temporal action). The wait itself follows the policy: up to the flush interval under size-or-interval (the shard counts the interval from submission), 250 ms under eager, and a group goes at once when it holds a full batch.',
      int(0, 600_000),
      '20000',
    ),
    submitGroupMaxRequests: setting(
      'SUBMIT_GROUP_MAX_REQUESTS',
      'Most requests in one submit signal (a full group is sent at once).',
      int(1, 2000),
      '500',
    ),
    maxRequestsPerTask: setting(
      'BATCHER_MAX_REQUESTS_PER_TASK',
      'Requests one batcher workflow task takes in (accepted or refused), which keeps every task short; beyond it they wait for the next tasks (refused BatcherOverloaded only past the pending limit).',
      int(1, 10_000),
      '1000',
    ),
  },
  main: {
    taskQueue: setting('MAIN_TASK_QUEUE', 'Task queue of the main (transactional) workflows.', text, MIRRORED_DEFAULTS.mainTaskQueue),
    businessStepMs: setting('BUSINESS_STEP_MS', 'Simulated duration of each business activity (ms).', int(0, 600_000), '200'),
  },
  mysql: {
    host: setting('MYSQL_HOST', 'MySQL/MariaDB host.', text, '127.0.0.1'),
    port: setting('MYSQL_PORT', 'MySQL/MariaDB port.', int(1, 65535), '3306'),
    user: setting('MYSQL_USER', 'MySQL user.', text, 'root'),
    password: setting('MYSQL_PASSWORD', 'MySQL password (empty allowed).', z.string(), ''),
    database: setting(
      'MYSQL_DATABASE',
      'Database holding the ledger (`batcher_ledger`) and the demo table; declared tables without a database name are looked up here.',
      z.string().regex(/^[A-Za-z0-9_]{1,64}$/, 'must be 1-64 letters, digits or _'),
      'batcher',
    ),
    poolSize: setting('MYSQL_POOL_SIZE', 'Connections in the mysql2 pool.', int(1, 1000), '10'),
    tlsMode: setting(
      'MYSQL_TLS_MODE',
      'TLS to MySQL: `disabled`; `required` (encrypted, server not verified); `verify-ca` (certificate signed by the CA); `verify-full` (and issued to MYSQL_HOST).',
      z.enum(['disabled', 'required', 'verify-ca', 'verify-full'], {
        message: 'must be one of disabled, required, verify-ca, verify-full',
      }),
      'disabled',
    ),
    tlsCaPath: setting(
      'MYSQL_TLS_CA_PATH',
      'PEM file of the CA that signed the MySQL server certificate. Unset: the system roots.',
      optionalText,
    ),
    tlsCertPath: setting(
      'MYSQL_TLS_CERT_PATH',
      'PEM client certificate for MySQL (with MYSQL_TLS_KEY_PATH). Unset: no client certificate.',
      optionalText,
    ),
    tlsKeyPath: setting('MYSQL_TLS_KEY_PATH', 'PEM private key of MYSQL_TLS_CERT_PATH.', optionalText),
  },
  worker: {
    healthPort: setting('WORKER_HEALTH_PORT', 'Port of the worker health endpoint (/healthz, /readyz); 0 disables it.', port, '8081'),
    metricsPort: setting('WORKER_METRICS_PORT', 'Port of the Temporal SDK Prometheus metrics (/metrics); 0 disables it.', port, '9464'),
    shutdownGraceMs: setting(
      'WORKER_SHUTDOWN_GRACE_MS',
      'On SIGTERM, let running tasks finish this long (keep below terminationGracePeriodSeconds).',
      int(0),
      '25000',
    ),
    workflowBundlePath: setting(
      'WORKFLOW_BUNDLE_PATH',
      'Prebundled workflow code (built in the image); unset: bundle at start-up.',
      optionalText,
    ),
    maxConcurrentActivities: setting('WORKER_MAX_CONCURRENT_ACTIVITIES', 'Activities one worker runs at once.', int(1, 10_000), '100'),
  },
  monitor: {
    port: setting('HEALTH_MONITOR_PORT', 'HTTP port of the health monitor (/, /healthz, /readyz, /metrics, /api/status).', port, '8080'),
    pollIntervalMs: setting(
      'HEALTH_POLL_INTERVAL_MS',
      'How often the monitor checks every shard (ms): it describes it and reads the statistics in its memo.',
      int(100, 3_600_000),
      '5000',
    ),
    autoRestart: setting('HEALTH_AUTO_RESTART', 'Start a shard again when it is found not running.', bool, 'true'),
    stallFlushIntervals: setting(
      'HEALTH_STALL_FLUSH_INTERVALS',
      'A running shard holding requests is stalled after this many of its flush intervals without a flush…',
      int(1, 1000),
      '3',
    ),
    stallMinMs: setting(
      'HEALTH_STALL_MIN_MS',
      '…and at least this long (ms), so a slow healthy flush is not called a stall.',
      int(0, 3_600_000),
      '10000',
    ),
    stallTaskAttempts: setting(
      'HEALTH_STALL_TASK_ATTEMPTS',
      'A shard whose pending workflow task is on this attempt or later is stalled (a task-failure loop).',
      int(1, 1000),
      '3',
    ),
    stallTaskAgeMs: setting(
      'HEALTH_STALL_TASK_AGE_MS',
      'A shard whose pending workflow task was scheduled longer ago than this (ms) is stalled.',
      int(1000, 3_600_000),
      '30000',
    ),
  },
  /** Every service with HTTP endpoints: the two workers and the health monitor. */
  listen: {
    host: setting(
      'LISTEN_HOST',
      'Address the health, metrics and status endpoints listen on: 127.0.0.1 keeps them on this machine; the image sets 0.0.0.0 so probes and Prometheus reach them in a pod.',
      listenHost,
      '127.0.0.1',
    ),
  },
  starter: {
    workflows: setting('STARTER_WORKFLOWS', 'Main workflows the starter launches.', int(0, 1_000_000), '200'),
    wait: setting('STARTER_WAIT', 'Wait for every workflow and print a summary.', bool, 'true'),
    workflowIdPrefix: setting('STARTER_WORKFLOW_ID_PREFIX', 'Main workflow ids are `<prefix>-<run>-<n>`.', text, 'txn'),
    // The main workflows' write timeouts travel in each workflow's input, which the starter writes.
    confirmationTimeoutMs: setting(
      'CONFIRMATION_TIMEOUT_MS',
      "A write not confirmed within this time (ms) is settled against the table and fails typed (WriteConfirmationTimeout) unless its row is there (put in each main workflow's input).",
      int(1000, 7 * 24 * 3_600_000),
      '120000',
    ),
    submitAttemptTimeoutMs: setting(
      'SUBMIT_ATTEMPT_TIMEOUT_MS',
      "A submission not answered within this time (ms) is sent again (a worker died holding it, or a shard lost it); capped at the confirmation timeout (put in each main workflow's input).",
      int(1000, 7 * 24 * 3_600_000),
      '60000',
    ),
  },
} as const;

type Sections = typeof sections;
export type SectionName = keyof Sections;
type SectionValue<S> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };
export type Config<N extends SectionName> = { [K in N]: SectionValue<Sections[K]> };

/** Every section's settings, for documentation and for the chart↔config test. */
export function describeSettings(): Array<{ section: SectionName; key: string; env: string; doc: string; default?: string }> {
  return (Object.keys(sections) as SectionName[]).flatMap((section) =>
    Object.entries(sections[section]).map(([key, s]) => ({
      section,
      key,
      env: (s as Setting<unknown>).env,
      doc: (s as Setting<unknown>).doc,
      default: (s as Setting<unknown>).default,
    })),
  );
}

/**
 * Reads the named sections from the environment, applying defaults, and throws one
 * {@link ConfigError} that names every invalid variable.
 */
export function loadConfig<N extends SectionName>(names: readonly N[], env: NodeJS.ProcessEnv = process.env): Config<N> {
  const problems: ConfigError['problems'] = [];
  const result: Record<string, Record<string, unknown>> = {};
  for (const name of names) {
    const out: Record<string, unknown> = {};
    for (const [key, s] of Object.entries(sections[name]) as Array<[string, Setting<unknown>]>) {
      const raw = env[s.env];
      const value = raw === undefined || raw === '' ? s.default : raw;
      if (value === undefined) {
        out[key] = undefined;
        continue;
      }
      const parsed = s.schema.safeParse(value);
      if (parsed.success) out[key] = parsed.data;
      else problems.push({ variable: s.env, message: `${parsed.error.issues[0]?.message ?? 'invalid'} (got ${JSON.stringify(value)})` });
    }
    result[name] = out;
  }
  if (problems.length) throw new ConfigError(problems);
  return result as Config<N>;
}

/**
 * The batcher workflow's settings from the `batching` section (read by the batcher worker only):
 * the section without what the worker itself uses. The batcher package's BatcherSettings type
 * checks it where it is passed on.
 */
export function batcherSettings(batching: Config<'batching'>['batching']) {
  const {
    tables: _tables,
    ledgerRetentionHours: _retention,
    submitLingerMs: _linger,
    submitGroupMaxRequests: _group,
    ...settings
  } = batching;
  return settings;
}

/**
 * Which sections each program reads, and whether it connects to Temporal: the one list the mains,
 * the README and the chart↔config test go by.
 */
export const SERVICE_CONFIG = {
  'batcher-worker': { sections: ['log', 'telemetry', 'batcher', 'batching', 'mysql', 'worker', 'listen'], temporal: true },
  // No database: batchedWrite's activities run on the batcher workers. No write timeouts either:
  // they come in each workflow's input (the starter's section).
  'main-worker': { sections: ['log', 'telemetry', 'main', 'worker', 'listen'], temporal: true },
  starter: { sections: ['log', 'telemetry', 'batcher', 'main', 'mysql', 'starter'], temporal: true },
  'health-monitor': { sections: ['log', 'telemetry', 'batcher', 'monitor', 'listen'], temporal: true },
  'schema-migration': { sections: ['log', 'mysql'], temporal: false },
} as const satisfies Record<string, { sections: readonly SectionName[]; temporal: boolean }>;

export type ServiceName = keyof typeof SERVICE_CONFIG;
export type ServiceSections<S extends ServiceName> = (typeof SERVICE_CONFIG)[S]['sections'][number];

/** Loads exactly the sections the named program reads. */
export function loadServiceConfig<S extends ServiceName>(service: S, env: NodeJS.ProcessEnv = process.env): Config<ServiceSections<S>> {
  return loadConfig(SERVICE_CONFIG[service].sections as readonly ServiceSections<S>[], env);
}
