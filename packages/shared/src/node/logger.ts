// One structured (JSON) logger for every service, built on pino.
import pino, { type Logger } from 'pino';

export type { Logger };

/** A JSON logger tagged with the service name; `mixin` lets telemetry add trace ids to each line. */
export function createLogger(service: string, level = 'info', mixin?: () => Record<string, unknown>): Logger {
  return pino({ level, base: { service }, timestamp: pino.stdTimeFunctions.isoTime, mixin, formatters: { level: (label) => ({ level: label }) } });
}
