// The one telemetry setup (placeholder until the observability work lands): returns what workers
// and clients plug in, and a shutdown that flushes exporters.
import type { ClientPlugin } from '@temporalio/client';
import type { Config } from './config';

export interface Telemetry {
  /** Plugins for every Client. */
  clientPlugins: ClientPlugin[];
  /** Plugins for every Worker (typed loosely so this Node entry point does not load @temporalio/worker). */
  workerPlugins: any[];
  /** W3C trace context of the active span, to carry inside a signal payload. */
  traceCarrier: () => Record<string, string>;
  /** Adds trace_id/span_id of the active span to each log line. */
  logMixin: () => Record<string, unknown>;
  /** Flushes and stops exporters. */
  shutdown(): Promise<void>;
}

export async function startTelemetry(_options: { serviceName: string; config: Config<'telemetry'>['telemetry'] }): Promise<Telemetry> {
  return { clientPlugins: [], workerPlugins: [], traceCarrier: () => ({}), logMixin: () => ({}), shutdown: async () => undefined };
}

/** Plugins that bundleWorkflowCode needs so bundled workflows trace like source-bundled ones. */
export function telemetryBundlerPlugins(): any[] {
  return [];
}
