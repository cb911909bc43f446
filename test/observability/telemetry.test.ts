// The telemetry setup itself, in this test process: what a service without a trace backend gets,
// the resource it reports, and how trace ids reach its log lines. (Export to a real Jaeger, across
// services, is jaeger.test.ts.)
import { Writable } from 'node:stream';
import { trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, loadConfig, startTelemetry, telemetryResource, type Telemetry } from '@batcher/service-kit';

const telemetryConfig = (env: Record<string, string> = {}) => loadConfig(['telemetry'], env).telemetry;

describe('telemetry', () => {
  let telemetry: Telemetry;
  beforeAll(async () => {
    telemetry = await startTelemetry({ serviceName: 'telemetry-test', config: telemetryConfig() });
  });
  afterAll(async () => {
    await telemetry.shutdown();
  });

  it('when no OTLP endpoint is configured, then tracing is off and costs nothing: no SDK, no plugin, no span', async () => {
    expect(telemetry.exporting).toBe(false);
    expect(telemetry.clientPlugins).toEqual([]);
    expect(telemetry.workerPlugins).toEqual([]);
    expect(Object.keys(require.cache).filter((m) => m.includes('@opentelemetry/sdk-node'))).toEqual([]);
    await trace.getTracer('test').startActiveSpan('outer', async (span) => {
      expect(span.isRecording()).toBe(false); // no tracer provider was registered
      expect(telemetry.traceCarrier()).toEqual({});
      expect(telemetry.logMixin()).toEqual({});
      span.end();
    });
  });

  it('when the pod name and namespace are set, then the resource names the service, its version and the pod', () => {
    const attributes = telemetryResource({
      serviceName: 'batcher-worker',
      config: telemetryConfig({ K8S_POD_NAME: 'batcher-worker-7d9f-abcde', K8S_NAMESPACE: 'write-batcher' }),
    }).attributes;
    expect(attributes).toMatchObject({
      'service.name': 'batcher-worker',
      'k8s.pod.name': 'batcher-worker-7d9f-abcde',
      'k8s.namespace.name': 'write-batcher',
      'telemetry.sdk.language': 'nodejs',
    });
    expect(attributes['service.version']).toMatch(/^\d+\.\d+\.\d+/);
    expect(telemetryResource({ serviceName: 'starter', config: telemetryConfig() }).attributes).not.toHaveProperty('k8s.pod.name');
  });
});

describe('telemetry with tracing on', () => {
  let traced: Telemetry;
  beforeAll(async () => {
    // An endpoint nothing listens on: spans are made and propagated; their export simply fails.
    traced = await startTelemetry({
      serviceName: 'telemetry-test',
      config: telemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' }),
    });
  });
  afterAll(async () => {
    await traced.shutdown().catch(() => undefined);
  });

  it('when an OTLP endpoint is configured, then the plugins are installed and the context propagates', async () => {
    expect(traced.exporting).toBe(true);
    expect(traced.clientPlugins).toHaveLength(1);
    expect(traced.workerPlugins).toHaveLength(1);
    await trace.getTracer('test').startActiveSpan('outer', async (span) => {
      const { traceId, spanId } = span.spanContext();
      expect(traced.traceCarrier()).toEqual({ traceparent: `00-${traceId}-${spanId}-01` });
      span.end();
    });
  });

  it('when a service logs inside a span, then the JSON line has its trace_id and span_id; ids sent with the line win whole', async () => {
    const telemetry = traced;
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
        done();
      },
    });
    const logger = createLogger('svc', 'info', telemetry.logMixin, sink);
    await trace.getTracer('test').startActiveSpan('work', async (span) => {
      logger.info('in a span');
      // As a workflow line arrives through the SDK runtime logger: its own ids, no span of ours.
      logger.info({ trace_id: 'a'.repeat(32) }, 'from a workflow');
      span.end();
      const { traceId, spanId } = span.spanContext();
      expect(lines[0]).toMatchObject({ msg: 'in a span', service: 'svc', trace_id: traceId, span_id: spanId });
      expect(lines[1]).toMatchObject({ msg: 'from a workflow', trace_id: 'a'.repeat(32) });
      expect(lines[1]).not.toHaveProperty('span_id');
    });
  });
});
