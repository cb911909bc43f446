// Worker-process plumbing shared by batcher-worker and main-worker: SDK runtime (logs, Prometheus
// metrics), where workflow code comes from, and running until SIGTERM with a health endpoint.
import { writeFile } from 'node:fs/promises';
import { bundleWorkflowCode, DefaultLogger, Runtime, type LogLevel, type Worker, type WorkerOptions } from '@temporalio/worker';
import { telemetryBundlerPlugins } from '../node/telemetry';
import type { Logger } from '../node/logger';
import { startWorkerHealthServer } from '../node/health-server';

/**
 * Installs the SDK runtime once per process: core logs go to our JSON logger and, when
 * metricsPort > 0, SDK metrics are served for Prometheus at http://0.0.0.0:<port>/metrics.
 */
export function installWorkerRuntime(options: { logger: Logger; metricsPort: number; level?: LogLevel }): void {
  const { logger } = options;
  Runtime.install({
    logger: new DefaultLogger(options.level ?? 'INFO', ({ level, message, meta }) => {
      const method = level === 'TRACE' ? 'trace' : level === 'DEBUG' ? 'debug' : level === 'WARN' ? 'warn' : level === 'ERROR' ? 'error' : 'info';
      logger[method](meta ?? {}, message);
    }),
    telemetryOptions: options.metricsPort > 0 ? { metrics: { prometheus: { bindAddress: `0.0.0.0:${options.metricsPort}` } } } : undefined,
  });
}

/** A prebundled workflow file when one is configured (images), else the source path (bundled at start-up). */
export function workflowSource(workflowsPath: string, bundlePath?: string): Pick<WorkerOptions, 'workflowsPath' | 'workflowBundle'> {
  return bundlePath ? { workflowBundle: { codePath: bundlePath } } : { workflowsPath };
}

/**
 * Runs the worker until the SDK's shutdown signals (SIGINT/SIGTERM) drain it, serving /healthz and
 * /readyz on healthPort (0: none). Resolves when the worker has stopped.
 */
export async function runWorkerUntilShutdown(worker: Worker, options: { healthPort: number; logger: Logger }): Promise<void> {
  const server = options.healthPort > 0 ? await startWorkerHealthServer(options.healthPort, () => worker.getState()) : undefined;
  options.logger.info({ taskQueue: worker.options.taskQueue, healthPort: options.healthPort }, 'worker running');
  try {
    await worker.run();
  } finally {
    server?.close();
    options.logger.info('worker stopped');
  }
}

/** Bundles workflow code with the same telemetry plugins the workers use, and writes it to outFile. */
export async function writeWorkflowBundle(workflowsPath: string, outFile: string): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath, plugins: telemetryBundlerPlugins() });
  await writeFile(outFile, code);
  console.log(`wrote ${outFile} (${code.length} bytes)`);
}
