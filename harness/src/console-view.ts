// Console view of a service's output for the demo: each line prefixed with "[name] ", and pino JSON
// lines shortened to "HH:MM:SS LEVEL message key=value ..." so batch writes can be followed by eye.
// JSON lines below the minimum level are dropped (the raw log file keeps them); other lines always pass.

export type LogLevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

const LEVELS: readonly LogLevelName[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
const NUMERIC_LEVELS: Record<number, LogLevelName> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
// Fields every SDK log line carries (activity/workflow context, trace ids): noise on a console.
const OMIT = new Set([
  'level',
  'time',
  'msg',
  'service',
  'pid',
  'hostname',
  'err',
  'taskToken',
  'trace_id',
  'span_id',
  'trace_flags',
  'isLocal',
  'namespace',
  'workflowRunId',
  'activityId',
  'sdkComponent',
  'taskQueue',
  'workflowType',
]);

function show(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  return JSON.stringify(v);
}

/** One output line as the console shows it; undefined when it is below the minimum level. */
export function formatLogLine(line: string, minLevel: LogLevelName = 'trace'): string | undefined {
  if (!line.startsWith('{')) return line;
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof entry !== 'object' || entry === null || !('msg' in entry || 'level' in entry)) return line;
  const levelName = (NUMERIC_LEVELS[entry.level as number] ?? (typeof entry.level === 'string' ? entry.level : '')) as LogLevelName;
  const rank = LEVELS.indexOf(levelName);
  if (rank >= 0 && rank < LEVELS.indexOf(minLevel)) return undefined;
  const time =
    typeof entry.time === 'string'
      ? entry.time.slice(11, 23)
      : typeof entry.time === 'number'
        ? new Date(entry.time).toISOString().slice(11, 23)
        : '';
  const fields = Object.entries(entry)
    .filter(([k, v]) => !OMIT.has(k) && !(k === 'attempt' && v === 1))
    .map(([k, v]) => `${k}=${show(v)}`);
  // Multi-line messages (the SDK logs webpack's bundle report at info) shrink to their first line.
  let msg = typeof entry.msg === 'string' ? entry.msg : show(entry.msg ?? '');
  const msgLines = msg.split('\n');
  if (msgLines.length > 1 && rank < LEVELS.indexOf('warn')) msg = `${msgLines[0]} … (+${msgLines.length - 1} lines in the log file)`;
  let out = [time, levelName.toUpperCase().padEnd(5), msg, ...fields].filter((s) => s.trim() !== '').join(' ');
  const err = entry.err as { message?: unknown; type?: unknown; stack?: unknown } | undefined;
  if (err && typeof err === 'object') {
    out += ` err=${show(err.message ?? err.type ?? err)}`;
    if (typeof err.stack === 'string') out += `\n${err.stack.split('\n').slice(1, 6).join('\n')}`;
  }
  return out;
}

/** A sink for raw output chunks that prints complete lines, formatted and prefixed (unless the prefix is empty), to stdout. */
export function consoleView(prefix: string, minLevel: LogLevelName): { write(chunk: Buffer): void; end(): void } {
  let pending = '';
  const emit = (line: string) => {
    const shown = formatLogLine(line, minLevel);
    if (shown === undefined) return;
    process.stdout.write(
      shown
        .split('\n')
        .map((l) => (prefix ? `[${prefix}] ${l}` : l))
        .join('\n') + '\n',
    );
  };
  return {
    write(chunk) {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) emit(line);
    },
    end() {
      if (pending) emit(pending);
      pending = '';
    },
  };
}
