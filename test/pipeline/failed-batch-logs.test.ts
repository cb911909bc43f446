// A failed batch is logged without its rows: no SQL, no values. The database is taken away under a
// batch (its table renamed), every attempt fails and is logged, then the table comes back and the
// row is written; no line logged meanwhile holds a byte of the row. Real Temporal server and MariaDB.
import { captured } from './fixtures/capture-logs';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../support/processes';
import { pipelinePerTest } from './pipeline';

const startPipeline = pipelinePerTest();

describe('logs of a failed batch', () => {
  it('when every attempt of a batch fails, then the failures are logged and no log line holds a byte of its rows', async (ctx) => {
    const pipeline = await startPipeline({ title: ctx.task.name, env: { BATCH_FLUSH_INTERVAL_MS: '200' }, businessStepMs: 0 });
    const [workflowId] = pipeline.ids(1) as [string];
    const marker = 'PAYLOAD-MARKER-7f3a9c';
    // The demo table disappears: each bulk write fails (ER_NO_SUCH_TABLE) and is retried.
    await pipeline.pool.query('RENAME TABLE batched_writes TO batched_writes_away');
    const from = captured.length;
    const running = pipeline.client.workflow.execute('transactionWorkflow', {
      taskQueue: pipeline.mainTaskQueue,
      workflowId,
      args: [{ payload: { note: marker, card: `${marker}-4111` }, batcherTaskQueue: pipeline.batcher.taskQueue }],
    });
    const failures = () =>
      captured.slice(from).filter((e) => /failed/i.test(e.message) && inspect(e.meta, { depth: 10 }).includes('bulk write'));
    await waitUntil('three failed attempts of the bulk write', async () => failures().length >= 3, { timeoutMs: 60_000 });
    await pipeline.pool.query('RENAME TABLE batched_writes_away TO batched_writes');
    const result = (await running) as { status: string };
    expect(result.status).toBe('committed');
    // The failures were logged, naming the database's error…
    expect(inspect(failures()[0]?.meta, { depth: 10 })).toMatch(/ER_NO_SUCH_TABLE|errno 1146/);
    // …and no line at all, of any level, carries the row.
    const leaking = captured
      .slice(from)
      .filter((e) => `${e.message} ${inspect(e.meta, { depth: 20, maxStringLength: Infinity })}`.includes(marker));
    expect(leaking.map((e) => e.message)).toEqual([]);
  });
});
