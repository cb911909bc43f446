// The one telemetry setup (placeholder until the observability work lands): returns what workers
// and clients plug in, and a shutdown that flushes exporters.
import type { Config } from './config';

export interface Telemetry {
  /** Flushes and stops exporters. */
  shutdown(): Promise<void>;
}

export async function startTelemetry(_options: { serviceName: string; config: Config<'telemetry'>['telemetry'] }): Promise<Telemetry> {
  return { shutdown: async () => undefined };
}
