// The batcher's sandbox setting (packages/batcher/src/workflows/plain-stacks.ts) on the real
// time-skipping server, with the worker options the batcher worker uses: errors made in workflow
// code keep their stack traces, and the SDK's per-promise stack recording is skipped.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCHER_SANDBOX_OPTIONS } from '@write-batcher/batcher';
import { timeSkippingServerPath } from '../support/temporal';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: timeSkippingServerPath() } },
  });
});
afterAll(async () => {
  await env?.teardown();
});

async function withWorker(sandbox: { reuseV8Context: boolean }, body: (taskQueue: string) => Promise<void>): Promise<void> {
  const taskQueue = `plain-stacks-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: path.join(__dirname, 'fixtures', 'stack-workflows.ts'),
    ...sandbox,
  });
  await worker.runUntil(() => body(taskQueue));
}

/** What the `__stack_trace` query shows of a workflow waiting on a timer and a condition. */
async function stackTraceOfAWaitingWorkflow(taskQueue: string): Promise<string> {
  const handle = await env.client.workflow.start('waitsForEver', { taskQueue, workflowId: `waits-${randomUUID()}` });
  try {
    return await handle.query<string>('__stack_trace');
  } finally {
    await handle.terminate('test finished');
  }
}

describe('plain stack traces in the batcher sandbox', () => {
  it('when workflow code makes an error, then its stack names the workflow function', async () => {
    await withWorker(BATCHER_SANDBOX_OPTIONS, async (taskQueue) => {
      const stack = await env.client.workflow.execute('stackOfAnError', { taskQueue, workflowId: `stack-${randomUUID()}` });
      expect(stack).toMatch(/^Error: probe\n {4}at /);
      expect(stack).toContain('stackOfAnError');
    });
  });

  it('when the batcher sandbox runs, then the SDK records no per-promise stacks (and does with its default sandbox)', async () => {
    await withWorker(BATCHER_SANDBOX_OPTIONS, async (taskQueue) => {
      expect((await stackTraceOfAWaitingWorkflow(taskQueue)).trim()).toBe('');
      // …because the hook's requests are recognized and answered empty (not formatted, then dropped).
      expect(await env.client.workflow.execute('hookStacksSkipped', { taskQueue, workflowId: `skipped-${randomUUID()}` })).toBeGreaterThan(
        0,
      );
    });
    // The control: the SDK's shared context (frozen built-ins, the setting does nothing) records them.
    await withWorker({ reuseV8Context: true }, async (taskQueue) => {
      expect(await stackTraceOfAWaitingWorkflow(taskQueue)).toContain('stack-workflows.ts');
    });
  });
});
