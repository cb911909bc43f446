// The one telemetry setup of every service: OpenTelemetry's Node SDK exporting traces over OTLP/HTTP,
// and the Temporal plugin that traces clients, workers, activities and (through a sink) workflows.
// Loads no @temporalio/worker code, so the starter and the health monitor can use it as well.
import fs from 'node:fs';
import path from 'node:path';
import { context, isSpanContextValid, propagation, trace } from '@opentelemetry/api';
import { Resource, detectResourcesSync, envDetectorSync, hostDetectorSync, processDetectorSync } from '@opentelemetry/resources';
import { NoopSpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
  SEMRESATTRS_K8S_NAMESPACE_NAME,
  SEMRESATTRS_K8S_POD_NAME,
} from '@opentelemetry/semantic-conventions';
import type { Client, ClientPlugin } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { OpenTelemetryPlugin } from '@temporalio/interceptors-opentelemetry';
// The header the plugin's client interceptor writes the start span's context into.
import { TRACE_HEADER } from '@temporalio/interceptors-opentelemetry/lib/instrumentation';
import type { WorkerPlugin } from '@temporalio/worker';
import type { Config } from './config';

export type TelemetryConfig = Config<'telemetry'>['telemetry'];

/**
 * Most links one span keeps. The bulk-write span links every request of its batch and
 * BATCH_MAX_SIZE allows 10 000 (OpenTelemetry's default keeps 128).
 */
export const MAX_LINKS_PER_SPAN = 10_000;

export interface Telemetry {
  /** Plugins for every Client. */
  clientPlugins: ClientPlugin[];
  /** Plugins for every Worker: client, activity and workflow interceptors plus the workflow span sink. */
  workerPlugins: WorkerPlugin[];
  /** W3C trace context of the active span, to carry inside a signal payload. */
  traceCarrier: () => Record<string, string>;
  /** Adds trace_id/span_id of the active span to each log line. */
  logMixin: () => Record<string, unknown>;
  /** True when spans leave the process (an OTLP endpoint is configured). */
  exporting: boolean;
  /** The resource every span of this process carries (service.name, service.version, k8s.*). */
  resource: Resource;
  /** Flushes and stops exporters. */
  shutdown(): Promise<void>;
}

export interface TelemetryOptions {
  /** service.name of every span: batcher-worker, main-worker, starter, health-monitor. */
  serviceName: string;
  config: TelemetryConfig;
  /** service.version. @default the version in the package.json of the running program */
  serviceVersion?: string;
}

/**
 * Starts OpenTelemetry for this process (once per process: the SDK registers the global tracer
 * provider, context manager and W3C propagator), when an OTLP endpoint is configured. Without one,
 * tracing is off and costs nothing: no SDK is loaded, no plugin or interceptor is installed, no
 * span is made (a trace passing through this service ends here). Call before connecting anything.
 */
export async function startTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  const { config } = options;
  const resource = telemetryResource(options);
  if (!config.otlpEndpoint) {
    return {
      clientPlugins: [],
      workerPlugins: [],
      traceCarrier: () => ({}),
      logMixin: () => ({}),
      exporting: false,
      resource,
      shutdown: async () => undefined,
    };
  }
  // Loaded only when tracing is on: the SDK alone takes about a second to load.
  const [{ NodeSDK }, { OTLPTraceExporter }, { BatchSpanProcessor }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/sdk-trace-base'),
  ]);
  const spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter({ url: `${config.otlpEndpoint.replace(/\/+$/, '')}/v1/traces` }));
  const sdk = new NodeSDK({
    resource,
    autoDetectResources: false,
    spanProcessors: [spanProcessor],
    spanLimits: { linkCountLimit: MAX_LINKS_PER_SPAN },
    // Logs stay JSON on stdout and metrics are Prometheus: no OTLP log or metric exporter.
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  // Workflow spans are made inside the workflow sandbox and handed out through a sink; they go to
  // the same processor (and resource) as this process's own spans.
  const plugin = new OpenTelemetryPlugin({ resource, spanProcessor });
  return {
    clientPlugins: [plugin],
    workerPlugins: [plugin],
    traceCarrier: activeTraceCarrier,
    logMixin: activeTraceIds,
    exporting: true,
    resource,
    shutdown: () => sdk.shutdown(),
  };
}

/** Plugins that bundleWorkflowCode needs so bundled workflows trace like source-bundled ones. */
export function telemetryBundlerPlugins(): OpenTelemetryPlugin[] {
  // Only configureBundler is used (it adds the workflow interceptor module), so no real processor.
  return [new OpenTelemetryPlugin({ resource: Resource.empty(), spanProcessor: new NoopSpanProcessor() })];
}

/** The resource of a service: detected env/host/process attributes, then ours on top. */
export function telemetryResource(options: TelemetryOptions): Resource {
  const { config } = options;
  const ours: Record<string, string> = {
    [ATTR_SERVICE_NAME]: options.serviceName,
    [ATTR_SERVICE_VERSION]: options.serviceVersion ?? runningPackageVersion(),
  };
  if (config.podName) ours[SEMRESATTRS_K8S_POD_NAME] = config.podName;
  if (config.podNamespace) ours[SEMRESATTRS_K8S_NAMESPACE_NAME] = config.podNamespace;
  return Resource.default()
    .merge(detectResourcesSync({ detectors: [envDetectorSync, hostDetectorSync, processDetectorSync] }))
    .merge(new Resource(ours));
}

/** W3C trace context (`traceparent`, `tracestate`) of the active span; empty when there is none. */
export function activeTraceCarrier(): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

/** `{ trace_id, span_id }` of the active span (the names the SDK's workflow and activity loggers use). */
export function activeTraceIds(): Record<string, unknown> {
  const spanContext = trace.getSpan(context.active())?.spanContext();
  return spanContext && isSpanContextValid(spanContext) ? { trace_id: spanContext.traceId, span_id: spanContext.spanId } : {};
}

/**
 * The trace id of a workflow: its start event carries the client's start span in the plugin's
 * header, and the workflow's spans hang under it. Undefined when it was started without tracing.
 */
export async function workflowTraceId(client: Client, workflowId: string, runId?: string): Promise<string | undefined> {
  const history = await client.workflowService.getWorkflowExecutionHistory({
    namespace: client.options.namespace,
    execution: { workflowId, runId },
    maximumPageSize: 1,
  });
  const payload = history.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.header?.fields?.[TRACE_HEADER];
  if (!payload) return undefined;
  const carrier = defaultPayloadConverter.fromPayload<Record<string, string>>(payload);
  const spanContext = trace.getSpanContext(propagation.extract(context.active(), carrier));
  return spanContext && isSpanContextValid(spanContext) ? spanContext.traceId : undefined;
}

/** Where a trace opens in the Jaeger UI (a local demo, or `kubectl port-forward` to 16686). */
export function jaegerTraceUrl(traceId: string, uiUrl = 'http://localhost:16686'): string {
  return `${uiUrl.replace(/\/+$/, '')}/trace/${traceId}`;
}

/**
 * Version of the running service: the nearest @batcher/* package.json above the program
 * (services/<name>/dist/main.js), else this shared package's.
 */
function runningPackageVersion(): string {
  const starts = [process.argv[1], __filename].filter((p): p is string => Boolean(p));
  for (const start of starts) {
    for (let dir = path.dirname(path.resolve(start)); ; dir = path.dirname(dir)) {
      try {
        const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
        if (typeof pkg.name === 'string' && pkg.name.startsWith('@batcher/') && typeof pkg.version === 'string') return pkg.version;
      } catch {
        // no package.json here; keep climbing
      }
      if (path.dirname(dir) === dir) break;
    }
  }
  return 'unknown';
}
