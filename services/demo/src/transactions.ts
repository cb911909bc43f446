// @batcher/demo/transactions (Node): starting many of the demo's transactional workflows and
// collecting their outcomes, for the starter CLI, the benchmark and the tests alike.
import pLimit from 'p-limit';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { TRANSACTION_WORKFLOW_TYPE, type TransactionInput, type TransactionResult } from './index';

export interface TransactionOutcome {
  workflowId: string;
  ok: boolean;
  result?: TransactionResult;
  /** ApplicationFailure type (or error name) when the workflow failed. */
  errorType?: string;
  message?: string;
  /** ms from start to completion as the client saw it. */
  elapsedMs: number;
}

/** Runs `fn` over items with at most `limit` in flight (p-limit), results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const run = pLimit(limit);
  return Promise.all(items.map((item, i) => run(() => fn(item, i))));
}

/** The failure type a workflow ended with: the innermost ApplicationFailure's type, if any. */
export function failureType(err: unknown): { type: string; message: string } {
  let cause: unknown = err instanceof WorkflowFailedError ? err.cause : err;
  while (cause instanceof Error) {
    if (cause instanceof ApplicationFailure && cause.type) return { type: cause.type, message: cause.message };
    cause = (cause as Error).cause;
  }
  const e = err as Error;
  return { type: e?.name ?? 'Error', message: e?.message ?? String(err) };
}

export interface StartOptions {
  taskQueue: string;
  workflowIds: string[];
  input: (workflowId: string, index: number) => TransactionInput;
  /** Workflow type to start. @default transactionWorkflow */
  workflowType?: string;
  concurrency?: number;
}

/** Starts every workflow (idempotently: an id already running is reused) and returns when all are started. */
export async function startTransactions(client: Client, options: StartOptions): Promise<void> {
  await mapLimit(options.workflowIds, options.concurrency ?? 50, async (workflowId, i) => {
    await client.workflow.start(options.workflowType ?? TRANSACTION_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: options.taskQueue,
      args: [options.input(workflowId, i)],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
  });
}

/** Waits for every workflow and returns its outcome. */
export async function awaitTransactions(
  client: Client,
  workflowIds: string[],
  startedAtMs: number,
  concurrency = 100,
): Promise<TransactionOutcome[]> {
  return mapLimit(workflowIds, concurrency, async (workflowId) => {
    try {
      const result = (await client.workflow.getHandle(workflowId).result()) as TransactionResult;
      return { workflowId, ok: true, result, elapsedMs: Date.now() - startedAtMs };
    } catch (err) {
      const { type, message } = failureType(err);
      return { workflowId, ok: false, errorType: type, message, elapsedMs: Date.now() - startedAtMs };
    }
  });
}

/** Nearest-rank percentile of a list of numbers (0 for an empty list). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

export interface Summary {
  total: number;
  succeeded: number;
  failed: number;
  failedByType: Record<string, number>;
  latencyMs: { p50: number; p95: number; p99: number };
}

export function summarize(outcomes: TransactionOutcome[]): Summary {
  const failedByType: Record<string, number> = {};
  for (const o of outcomes) if (!o.ok) failedByType[o.errorType ?? 'unknown'] = (failedByType[o.errorType ?? 'unknown'] ?? 0) + 1;
  const latencies = outcomes.flatMap((o) => (o.result ? [o.result.confirmationLatencyMs] : []));
  const succeeded = outcomes.filter((o) => o.ok).length;
  return {
    total: outcomes.length,
    succeeded,
    failed: outcomes.length - succeeded,
    failedByType,
    latencyMs: { p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99) },
  };
}
