// Start-up configuration: a bad value stops every service with a message naming the variable.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, describeSettings, loadConfig } from '@batcher/service-kit';
import { DEFAULT_BATCHER_TASK_QUEUE, DEFAULT_BATCHER_WORKFLOW_ID_PREFIX } from '@write-batcher/protocol';
import { DEFAULT_MAIN_TASK_QUEUE } from '@batcher/demo';
import { DEMO_TARGETS } from '@batcher/demo/tables';
import { repoRoot } from '../support/processes';

describe('configuration', () => {
  it('when nothing is set, then the defaults of the reference design apply', () => {
    const c = loadConfig(['batcher', 'batching', 'main', 'starter'], {});
    expect(c.batcher).toMatchObject({ taskQueue: 'batcher-queue', shards: 1 });
    expect(c.batching).toMatchObject({
      flushPolicy: 'size-or-interval',
      maxBatchSize: 100,
      flushIntervalMs: 20_000,
      dedupWindowBytes: 65_536,
    });
    expect(c.main).toMatchObject({ taskQueue: 'main-workflow-queue' });
    expect(c.starter).toMatchObject({ confirmationTimeoutMs: 120_000, submitAttemptTimeoutMs: 60_000 });
  });

  it('when nothing is set, then the defaults the kit states as text are the constants of the protocol and the demo it cannot import', () => {
    // The kit sits below the product and the demo (see MIRRORED_DEFAULTS): this is what keeps its copies true.
    const c = loadConfig(['batcher', 'batching', 'main'], {});
    expect(c.batcher.taskQueue).toBe(DEFAULT_BATCHER_TASK_QUEUE);
    expect(c.batcher.workflowIdPrefix).toBe(DEFAULT_BATCHER_WORKFLOW_ID_PREFIX);
    expect(c.main.taskQueue).toBe(DEFAULT_MAIN_TASK_QUEUE);
    expect(c.batching.tables).toEqual(DEMO_TARGETS);
  });

  it('when several values are bad, then one ConfigError names each variable', () => {
    const attempt = () =>
      loadConfig(['batcher', 'batching', 'mysql', 'worker', 'monitor'], {
        BATCH_MAX_SIZE: 'lots',
        BATCHER_SHARDS: '0',
        MYSQL_PORT: '99999',
        WORKER_HEALTH_PORT: '80a',
        HEALTH_POLL_INTERVAL_MS: String(2 ** 32),
      });
    expect(attempt).toThrow(ConfigError);
    try {
      attempt();
    } catch (err) {
      expect((err as ConfigError).problems.map((p) => p.variable).sort()).toEqual([
        'BATCHER_SHARDS',
        'BATCH_MAX_SIZE',
        'HEALTH_POLL_INTERVAL_MS',
        'MYSQL_PORT',
        'WORKER_HEALTH_PORT',
      ]);
      expect((err as Error).message).toContain('BATCH_MAX_SIZE: must be an integer (got "lots")');
    }
  });

  it('when a setting exists, then README documents it with its default', () => {
    const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    for (const s of describeSettings()) {
      const shown = s.default === undefined ? '(unset)' : s.default === '' ? '(empty)' : `\`${s.default}\``;
      expect(readme, s.env).toContain(`| \`${s.env}\` | ${shown} |`);
    }
  });

  const services = [
    ['batcher-worker', 'services/batcher-worker/dist/main.js', { BATCH_MAX_SIZE: 'abc' }, 'BATCH_MAX_SIZE'],
    ['main-worker', 'services/main-worker/dist/main.js', { BUSINESS_STEP_MS: '-5' }, 'BUSINESS_STEP_MS'],
    ['starter', 'services/starter/dist/main.js', { STARTER_WAIT: 'maybe' }, 'STARTER_WAIT'],
    ['schema migration', 'services/batcher-worker/dist/migrate.js', { MYSQL_DATABASE: 'no-dashes-allowed' }, 'MYSQL_DATABASE'],
    [
      'batcher-worker (Temporal address)',
      'services/batcher-worker/dist/main.js',
      { TEMPORAL_ADDRESS: 'not an address' },
      'TEMPORAL_ADDRESS',
    ],
    [
      'main-worker (Temporal port out of range)',
      'services/main-worker/dist/main.js',
      { TEMPORAL_ADDRESS: 'localhost:99999' },
      'TEMPORAL_ADDRESS',
    ],
  ] as const;
  for (const [name, script, env, variable] of services) {
    it(`when ${name} starts with a bad ${variable}, then it exits non-zero with one line naming ${variable}`, () => {
      const r = spawnSync(process.execPath, [path.join(repoRoot, script)], {
        env: { PATH: process.env.PATH, ...env },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(variable);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    });
  }

  it("when a worker's metrics port is already taken, then it exits non-zero with one line naming WORKER_METRICS_PORT", async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '0.0.0.0', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const r = spawnSync(process.execPath, [path.join(repoRoot, 'services/batcher-worker/dist/main.js')], {
        env: { PATH: process.env.PATH, WORKER_METRICS_PORT: String(port) },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`WORKER_METRICS_PORT=${port}: port already in use`);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      taken.close();
    }
  });
});
