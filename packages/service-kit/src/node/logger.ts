// One structured (JSON) logger for every service, built on pino.
import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * A JSON logger tagged with the service name; `mixin` lets telemetry add the active span's
 * trace_id/span_id to each line. Workflow and activity lines reach it through the SDK runtime
 * logger with trace_id/span_id of their own (the tracing interceptors put them there); those win,
 * whole, over whatever span happens to be active where the line is written.
 * `destination` is stdout unless a test wants the lines.
 */
export function createLogger(
  service: string,
  level = 'info',
  mixin?: () => Record<string, unknown>,
  destination?: pino.DestinationStream,
): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin,
    mixinMergeStrategy: (line: object, fromMixin: object) => ('trace_id' in line ? line : Object.assign(fromMixin, line)),
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}
