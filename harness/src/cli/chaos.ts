// npm run chaos -- [--workload demo|team] [--transactions N] [--rounds R] [--shards S] [--seed X] [--busy] [--keep-logs]
// Kill rounds against a stack of its own, then an audit of every workflow against its row. Exits 1
// on any violation (lost, phantom, doubled, orphan, misreported, still open), 2 if the run itself broke.
import { parseArgs } from 'node:util';
import { formatFlushGaps } from '../chaos/flush-gaps';
import { formatTeamChaosVerdict, formatTimelineEntry, formatVerdict, runChaos, runTeamChaos, TEAM_MYSQL_TIME_ZONE } from '../chaos/run';
import { newSeed } from '../chaos/random';

const USAGE = `usage: npm run chaos -- [options]
  --workload W      demo (default): the demo's transactionWorkflows; team: a team's requester workflows
                    on a team schema (upsert, insert-ignore, parent/child tables; MariaDB in zone ${TEAM_MYSQL_TIME_ZONE}),
                    audited per request against the table and the ledger; the team's requester worker is
                    killed in the main worker's place
  --transactions N  workflows to start, in waves between the kills (default 2000; team: whole groups, so up to 2 more)
  --rounds R        kill rounds; each SIGKILLs batcher worker, main worker, MariaDB and Temporal once,
                    in a random order, and restarts each after a random downtime (default 4)
  --shards S        batcher shards (default 2)
  --seed X          seed of the kill order, downtimes and pauses (default: random, printed)
  --busy            run a CPU burner beside the stack
  --keep-logs       keep .run/chaos/<run>/ (logs, data) after a passing run (a red run keeps it anyway)`;

function positiveInt(name: string, raw: string | undefined, fallback: number, min = 1): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer >= ${min} (got ${raw})`);
  return v;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      workload: { type: 'string', default: 'demo' },
      transactions: { type: 'string' },
      rounds: { type: 'string' },
      shards: { type: 'string' },
      seed: { type: 'string' },
      busy: { type: 'boolean', default: false },
      'keep-logs': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const workload = values.workload;
  if (workload !== 'demo' && workload !== 'team') throw new Error(`--workload must be demo or team (got ${workload})`);
  const seed = positiveInt('seed', values.seed, newSeed(), 0);
  const transactions = positiveInt('transactions', values.transactions, 2000);
  const rounds = positiveInt('rounds', values.rounds, 4, 0);
  const shards = positiveInt('shards', values.shards, 2);
  console.log(
    `[chaos] ${workload} workload, seed ${seed} (replay with --seed ${seed}): ${transactions} transactions, ${rounds} round(s) × 4 components, ${shards} shard(s)${values.busy ? ', CPU burner on' : ''}`,
  );
  const options = { seed, transactions, rounds, shards, busy: values.busy, keepLogs: values['keep-logs'] };
  const run =
    workload === 'team'
      ? await runTeamChaos(options).then((r) => ({ result: r, verdict: formatTeamChaosVerdict(r) }))
      : await runChaos(options).then((r) => ({ result: r, verdict: formatVerdict(r) }));
  const result = run.result;
  console.log('\n==== timeline ====');
  console.log('    time  action   component       pid         downtime');
  for (const e of result.timeline) console.log(formatTimelineEntry(e));
  console.log('');
  console.log('==== longest wait for a batch while requests were pending (health monitor, per shard) ====');
  for (const line of formatFlushGaps(result.flushGaps, result.timeline)) console.log(line);
  console.log('');
  console.log(run.verdict);
  if (result.violations !== 0 || values['keep-logs']) console.log(`logs and data: ${result.dir}`);
  return result.violations === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`[chaos] the run broke: ${err.stack ?? err.message}`);
    process.exit(2);
  },
);
