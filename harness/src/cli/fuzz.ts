// npm run fuzz -- [--minutes N | --cases N] [--seed X] [--classes messages,forgery,...] [--shards S] [--keep-logs]
// The generative adversarial suite against a stack of its own (harness/src/fuzz/). Exits 1 on any
// invariant violation, 2 if the run itself broke.
import { parseArgs } from 'node:util';
import { newSeed } from '../chaos/random';
import { FUZZ_CLASSES, type FuzzClass } from '../fuzz/generate';
import { formatReport, runFuzz } from '../fuzz/run';

const USAGE = `usage: npm run fuzz -- [options]
  --minutes N       start cases for N minutes (default: 20 cases when neither bound is given)
  --cases N         run N cases
  --seed X          seed of the generated actions (default: random, printed); a seed replays its cases
  --classes A,B     only these classes: ${FUZZ_CLASSES.join(', ')} (default: all, taken in turn)
  --shards S        batcher shards (default 2)
  --keep-logs       keep .run/fuzz/<run>/ (logs, data) after a passing run (a red run keeps it anyway)`;

function positiveInt(name: string, raw: string | undefined, min = 1): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer >= ${min} (got ${raw})`);
  return v;
}

function classesOf(raw: string | undefined): FuzzClass[] | undefined {
  if (raw === undefined) return undefined;
  const list = raw
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  for (const c of list)
    if (!(FUZZ_CLASSES as readonly string[]).includes(c))
      throw new Error(`--classes: unknown class ${c} (one of ${FUZZ_CLASSES.join(', ')})`);
  return list as FuzzClass[];
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string' },
      cases: { type: 'string' },
      seed: { type: 'string' },
      classes: { type: 'string' },
      shards: { type: 'string' },
      'keep-logs': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const seed = positiveInt('seed', values.seed, 0) ?? newSeed();
  const minutes = positiveInt('minutes', values.minutes);
  const cases = positiveInt('cases', values.cases);
  const classes = classesOf(values.classes) ?? [...FUZZ_CLASSES];
  const shards = positiveInt('shards', values.shards) ?? 2;
  console.log(
    `[fuzz] seed ${seed} (replay with --seed ${seed}): ${minutes !== undefined ? `${minutes} minute(s)` : ''}${minutes !== undefined && cases !== undefined ? ' or ' : ''}${cases !== undefined ? `${cases} case(s)` : ''}${minutes === undefined && cases === undefined ? '20 cases' : ''}, classes ${classes.join(',')}, ${shards} shard(s)`,
  );
  const result = await runFuzz({ seed, minutes, cases, classes, shards, keepLogs: values['keep-logs'] });
  console.log('');
  console.log(formatReport(result));
  if (result.violations !== 0 || values['keep-logs']) console.log(`logs and data: ${result.dir}`);
  return result.violations === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`[fuzz] the run broke: ${err.stack ?? err.message}`);
    process.exit(2);
  },
);
