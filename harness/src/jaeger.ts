// Jaeger v2 all-in-one (in-memory storage) for tests of tracing: OTLP in, query API out, on free
// ports of 127.0.0.1 through the same config file the demo uses (harness/jaeger-config.yaml).
import path from 'node:path';
import { freePort, repoRoot, resolveTool, spawnLogged, waitForPort, waitUntil, type LogLevelName } from './processes';

export interface JaegerOptions {
  /** @default 60000 */
  startTimeoutMs?: number;
  /** Fixed ports (the demo's); each unset one is a free port. */
  ports?: { otlpHttp?: number; otlpGrpc?: number; queryHttp?: number; queryGrpc?: number };
  /** @default a new file in the log dir */
  logFile?: string;
  console?: { prefix: string; minLevel?: LogLevelName };
}

export interface Jaeger {
  /** For OTEL_EXPORTER_OTLP_ENDPOINT, e.g. http://127.0.0.1:41234 */
  otlpHttpEndpoint: string;
  /** host:port of OTLP over gRPC. */
  otlpGrpcAddress: string;
  /** Base URL of the query API and UI; traces at `${queryUrl}/api/traces?service=…`. */
  queryUrl: string;
  readonly pid: number;
  readonly logFile: string;
  /** Traces of a service, as the query API returns them (`data` of /api/traces). */
  traces(service: string, options?: { limit?: number; lookback?: string }): Promise<JaegerTrace[]>;
  /** Service names that have reported spans. */
  services(): Promise<string[]>;
  /**
   * Whether this binary serves the web UI. A Jaeger built from the Go module proxy has no UI assets
   * (they are built with npm in Jaeger's own release process) and serves a placeholder page at `/`;
   * an official release binary serves the UI.
   */
  hasUi(): Promise<boolean>;
  stop(options?: { graceMs?: number }): Promise<void>;
}

/** The parts of a query-API trace that tests look at. */
export interface JaegerTrace {
  traceID: string;
  spans: Array<{
    spanID: string;
    traceID: string;
    operationName: string;
    processID: string;
    startTime: number;
    duration: number;
    references: Array<{ refType: string; traceID: string; spanID: string }>;
    tags: Array<{ key: string; value: unknown }>;
  }>;
  processes: Record<string, { serviceName: string; tags: Array<{ key: string; value: unknown }> }>;
}

export const jaegerConfigFile = path.join(repoRoot, 'harness', 'jaeger-config.yaml');

/** Starts Jaeger and resolves once both OTLP/HTTP and the query API accept connections. */
export async function startJaeger(options: JaegerOptions = {}): Promise<Jaeger> {
  const jaeger = resolveTool('jaeger');
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const p = options.ports ?? {};
  const [otlpHttp, otlpGrpc, queryHttp, queryGrpc] = [
    p.otlpHttp ?? (await freePort()),
    p.otlpGrpc ?? (await freePort()),
    p.queryHttp ?? (await freePort()),
    p.queryGrpc ?? (await freePort()),
  ];
  const server = spawnLogged({
    name: 'jaeger',
    logFile: options.logFile,
    console: options.console,
    command: jaeger,
    args: ['--config', jaegerConfigFile],
    env: {
      JAEGER_OTLP_HTTP_PORT: String(otlpHttp),
      JAEGER_OTLP_GRPC_PORT: String(otlpGrpc),
      JAEGER_QUERY_HTTP_PORT: String(queryHttp),
      JAEGER_QUERY_GRPC_PORT: String(queryGrpc),
    },
  });
  const queryUrl = `http://127.0.0.1:${queryHttp}`;
  try {
    await waitForPort(otlpHttp, { timeoutMs, process: server });
    await waitForPort(queryHttp, { timeoutMs, process: server });
    await waitUntil(`Jaeger query API at ${queryUrl}`, async () => (await fetch(`${queryUrl}/api/services`)).ok, { timeoutMs });
  } catch (err) {
    await server.stop({ graceMs: 5000 });
    throw err;
  }

  const getJson = async <T>(url: string): Promise<T> => {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
    return ((await response.json()) as { data: T }).data;
  };

  return {
    otlpHttpEndpoint: `http://127.0.0.1:${otlpHttp}`,
    otlpGrpcAddress: `127.0.0.1:${otlpGrpc}`,
    queryUrl,
    pid: server.pid,
    logFile: server.logFile,
    traces: async (service, { limit = 1000, lookback = '1h' } = {}) =>
      (await getJson<JaegerTrace[] | null>(
        `${queryUrl}/api/traces?service=${encodeURIComponent(service)}&limit=${limit}&lookback=${lookback}`,
      )) ?? [],
    services: async () => (await getJson<string[] | null>(`${queryUrl}/api/services`)) ?? [],
    async hasUi() {
      const response = await fetch(`${queryUrl}/`).catch(() => undefined);
      if (!response?.ok) return false;
      return !/placeholder/i.test(await response.text());
    },
    async stop({ graceMs = 10_000 } = {}) {
      await server.stop({ graceMs });
    },
  };
}
