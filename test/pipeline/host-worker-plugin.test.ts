// writeBatcherPlugin on a team's own worker: the batcher's workflow and activities are added to the
// host's, and nothing else of the host's worker changes. Real Temporal dev server and MariaDB.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BATCHER_SANDBOX_OPTIONS,
  LEDGER_TABLE,
  inboundGuardModule,
  workflowsPath as batcherWorkflowsPath,
  writeBatcherPlugin,
  type TargetTable,
} from '@write-batcher/batcher';
import { globalTemporal } from '../support/global-servers';
import type { HostActivities } from './fixtures/host-workflows';
import { startPipeline, type Pipeline } from './pipeline';

const HOST_NOTES = `CREATE TABLE host_notes (note_id VARCHAR(64) NOT NULL PRIMARY KEY, body VARCHAR(200) NOT NULL)`;
const TABLES: TargetTable[] = [{ table: 'host_notes', mode: 'insert' }];
const HOST_WORKFLOWS = path.join(__dirname, 'fixtures', 'host-workflows.ts');

let pipeline: Pipeline | undefined;
let worker: Worker | undefined;
let running: Promise<void> | undefined;
let connection: NativeConnection | undefined;

afterEach(async () => {
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await running?.catch(() => undefined);
  await connection?.close();
  await pipeline?.stop();
  pipeline = worker = running = connection = undefined;
});

const hostActivities: HostActivities = {
  hostGreeting: async (noteId) => `hello from the host, ${noteId}`,
};

describe('writeBatcherPlugin on a host worker', () => {
  it("when a host worker with its own workflows and activities adds the plugin, then the host's workflow runs its own activity and its batchedWrite commits", async (ctx) => {
    // No batcher worker of the pipeline's: the host's worker is the only one on the batcher's queue.
    pipeline = await startPipeline({
      title: ctx.task.name,
      batcherWorker: false,
      env: { BATCH_FLUSH_INTERVAL_MS: '200' },
      setupSql: [HOST_NOTES],
    });
    const p = pipeline;
    connection = await NativeConnection.connect({ address: globalTemporal().address });
    const plugin = await writeBatcherPlugin({
      pool: p.pool,
      tables: TABLES,
      routing: p.batcher,
      settings: { flushIntervalMs: 200 },
      client: p.client,
    });
    worker = await Worker.create({
      connection,
      namespace: globalTemporal().namespace,
      taskQueue: p.batcher.taskQueue,
      workflowsPath: HOST_WORKFLOWS,
      activities: hostActivities,
      shutdownGraceTime: 1000,
      plugins: [plugin],
    });
    running = worker.run();
    const noteIds = ['n-1', 'n-2', 'n-3'];
    const results = await Promise.all(
      noteIds.map((noteId) =>
        p.client.workflow.execute('hostNoteWorkflow', {
          taskQueue: p.batcher.taskQueue,
          workflowId: `host-${randomUUID()}`,
          args: [{ noteId, batcherTaskQueue: p.batcher.taskQueue }],
          workflowExecutionTimeout: '2 minutes',
        }),
      ),
    );
    expect(results.map((r) => [r.greeting, r.status])).toEqual(noteIds.map((n) => [`hello from the host, ${n}`, 'committed']));
    const [rows] = await p.pool.query('SELECT note_id, body FROM host_notes ORDER BY note_id');
    expect(rows).toEqual(noteIds.map((n) => ({ note_id: n, body: `hello from the host, ${n}` })));
    const [ledger] = await p.pool.query(
      `SELECT COUNT(*) AS n FROM ${LEDGER_TABLE} WHERE request_id LIKE 'note:%' AND status = 'committed'`,
    );
    expect(Number((ledger as Array<{ n: number }>)[0]?.n)).toBe(3);
  });

  it("when the plugin configures a host's options, then it adds the batcher's workflow and activities and changes no other option", async (ctx) => {
    pipeline = await startPipeline({ title: ctx.task.name, batcherWorker: false, setupSql: [HOST_NOTES] });
    const p = pipeline;
    const plugin = await writeBatcherPlugin({ pool: p.pool, tables: TABLES, routing: p.batcher, client: p.client });
    const host = {
      taskQueue: p.batcher.taskQueue,
      workflowsPath: HOST_WORKFLOWS,
      activities: hostActivities,
      reuseV8Context: true,
      maxConcurrentActivityTaskExecutions: 7,
      shutdownGraceTime: 1234,
    } as WorkerOptions;
    const configured = await plugin.configureWorker!({ ...host });
    const { workflowsPath, activities, interceptors, ...rest } = configured;
    const { workflowsPath: _hostPath, activities: _hostActivities, ...hostRest } = host;
    expect(rest).toEqual(hostRest);
    // The one interceptor it adds is the batcher's inbound guard, a workflow module that acts on batcher runs only.
    expect(interceptors).toEqual({ workflowModules: [inboundGuardModule] });
    expect(rest.reuseV8Context).toBe(true);
    expect(Object.keys(activities ?? {})).toEqual(expect.arrayContaining(['hostGreeting', 'bulkWrite']));
    // The very function the host registered, not a wrapper of it.
    expect((activities as Record<string, unknown>).hostGreeting).toBe(hostActivities.hostGreeting);
    // The host's workflows stay its own module, re-exported beside the batcher's workflow.
    expect(workflowsPath).not.toBe(HOST_WORKFLOWS);
    const entry = await import('node:fs').then((fs) => fs.readFileSync(workflowsPath!, 'utf8'));
    expect(entry).toContain(JSON.stringify(HOST_WORKFLOWS));
    expect(entry).toContain('batcherWorkflow');
    // The batcher's own worker keeps its module and sandbox: nothing to merge.
    const own = await plugin.configureWorker!({
      taskQueue: p.batcher.taskQueue,
      workflowsPath: batcherWorkflowsPath,
      ...BATCHER_SANDBOX_OPTIONS,
    });
    expect(own.workflowsPath).toBe(batcherWorkflowsPath);
    expect(own.reuseV8Context).toBe(false);
  });
});
