// Console view of a service's output for the demo: each line prefixed with "[name] ", and pino JSON
// lines shortened to "HH:MM:SS LEVEL message key=value ..." so batch writes can be followed by eye.
// JSON lines below MIN-LEVEL are dropped (the raw log file keeps them); other lines always pass.
//   node scripts/lib/log-prefixer.js NAME [MIN-LEVEL] < output
'use strict';
const readline = require('node:readline');

const prefix = `[${process.argv[2] ?? 'service'}] `;
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
const NUMERIC_LEVELS = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const minLevel = Math.max(0, LEVELS.indexOf((process.argv[3] ?? 'trace').toLowerCase()));
// Fields every SDK log line carries (activity/workflow context, trace ids): noise on a console.
const OMIT = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname', 'err', 'taskToken', 'trace_id', 'span_id', 'trace_flags', 'isLocal', 'namespace', 'workflowRunId', 'activityId', 'sdkComponent', 'taskQueue', 'workflowType']);

// Outlive the process we read from: a Ctrl-C on the terminal must not close its stdout under it.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
process.stdout.on('error', () => process.exit(0));

function value(v) {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  return JSON.stringify(v);
}

function format(line) {
  if (!line.startsWith('{')) return line;
  let entry;
  try {
    entry = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof entry !== 'object' || entry === null || !('msg' in entry || 'level' in entry)) return line;
  const levelName = String(NUMERIC_LEVELS[entry.level] ?? entry.level ?? '');
  if (LEVELS.includes(levelName) && LEVELS.indexOf(levelName) < minLevel) return undefined;
  const level = levelName.toUpperCase();
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : typeof entry.time === 'number' ? new Date(entry.time).toISOString().slice(11, 23) : '';
  const fields = Object.entries(entry)
    .filter(([k, v]) => !OMIT.has(k) && !(k === 'attempt' && v === 1))
    .map(([k, v]) => `${k}=${value(v)}`);
  // Multi-line messages (the SDK logs webpack's bundle report at info) shrink to their first line.
  let msg = String(entry.msg ?? '');
  const msgLines = msg.split('\n');
  if (msgLines.length > 1 && LEVELS.indexOf(levelName) < LEVELS.indexOf('warn')) msg = `${msgLines[0]} … (+${msgLines.length - 1} lines in the log file)`;
  let out = [time, level.padEnd(5), msg, ...fields].filter((s) => s !== '').join(' ');
  if (entry.err && typeof entry.err === 'object') {
    out += ` err=${value(entry.err.message ?? entry.err.type ?? entry.err)}`;
    if (typeof entry.err.stack === 'string') out += `\n${entry.err.stack.split('\n').slice(1, 6).join('\n')}`;
  }
  return out;
}

readline.createInterface({ input: process.stdin, crlfDelay: Infinity }).on('line', (line) => {
  const shown = format(line);
  if (shown === undefined) return;
  process.stdout.write(
    shown
      .split('\n')
      .map((l) => prefix + l)
      .join('\n') + '\n',
  );
});
