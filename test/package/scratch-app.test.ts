// Proof from outside the workspace: the three published packages (protocol, requester, batcher) are
// packed as they would be published, installed from their tarballs into an app in a scratch
// directory outside the repository (its own package.json, node_modules and tsc; no workspace link),
// and that app's own processes write typed rows into its own tables in the run's MariaDB through
// the run's Temporal: its requester worker from the app, its batcher worker (and the migration)
// from a second install that has the batcher and the protocol but no requester, as a team that runs
// only batcher workers has. Everything is read back from the tables.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The repository (for its README); the app itself never reaches into it. */
const REPO_ROOT_FOR_README = path.resolve(__dirname, '../..');
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import mysql, { type Pool } from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { globalMysql, globalTemporal } from '../support/global-servers';
import { repoRoot, spawnLogged, waitUntil, type ManagedProcess } from '../support/processes';

const execFileAsync = promisify(execFile);

const FIXTURE = path.join(__dirname, 'scratch-app');
/** The files a team writes to adopt the library (the rest of src/ is schema, config and compile-time checks). */
const ADOPTION_FILES = ['src/rows.ts', 'src/workflows.ts', 'src/worker.ts', 'src/batcher.ts'];

const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
/** Outside the repository; made by the first test, removed after the last. */
const scratch = path.join(os.tmpdir(), `write-batcher-scratch-${runId}`);
const packDir = path.join(scratch, 'packs');
const appDir = path.join(scratch, 'orders-app');
/** The batcher worker's own install: the batcher and the protocol, no requester. */
const batcherDir = path.join(scratch, 'orders-batcher');
/** The files of the app the batcher worker's install takes (its migration, its worker, their config). */
const BATCHER_FILES = ['src/batcher.ts', 'src/migrate.ts', 'src/config.ts'];
const database = `scratch_app_${runId}`;
const ordersQueue = `orders-${runId}`;
const batcherQueue = `orders-batcher-${runId}`;
const batcherPrefix = `orders-batcher-${runId}`;
const SHARDS = 2;

/** The environment of every command run in the scratch app: no npm_* of an enclosing `npm test`, no NODE_PATH/NODE_OPTIONS reaching back into the repository. */
const cleanEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).map(([k, v]) => [
    k,
    /^npm_/i.test(k) || k === 'NODE_PATH' || k === 'NODE_OPTIONS' || k === 'INIT_CWD' ? undefined : v,
  ]),
);

function appEnv(): NodeJS.ProcessEnv {
  const db = globalMysql();
  const temporal = globalTemporal();
  return {
    ...cleanEnv,
    // Dates must land in UTC whatever the app's own time zone.
    TZ: 'Asia/Kolkata',
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: temporal.namespace,
    MYSQL_HOST: db.host,
    MYSQL_PORT: String(db.port),
    MYSQL_USER: db.user,
    MYSQL_PASSWORD: db.password,
    MYSQL_DATABASE: database,
    ORDERS_TASK_QUEUE: ordersQueue,
    BATCHER_TASK_QUEUE: batcherQueue,
    BATCHER_WORKFLOW_ID_PREFIX: batcherPrefix,
    BATCHER_SHARDS: String(SHARDS),
    BATCH_FLUSH_INTERVAL_MS: '300',
  };
}

async function run(command: string, args: string[], cwd: string, timeoutMs = 30_000): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, { cwd, env: cleanEnv, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} (in ${cwd}) failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`.slice(0, 8000));
  }
}

/** Lines of code: not blank, not only a comment. */
function linesOfCode(file: string): number {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !/^\s*(\/\/|\/\*|\*)/.test(l)).length;
}

/** Printed whether the test passes or fails (vitest shows a passing file's console only on failure). */
function report(line: string): void {
  process.stderr.write(`[scratch-app] ${line}\n`);
}

const processes: ManagedProcess[] = [];
let pool: Pool | undefined;
let connection: Connection | undefined;
let client: Client | undefined;
const PACKAGES = ['protocol', 'requester', 'batcher'] as const;
const tarballs: Record<(typeof PACKAGES)[number], string> = { protocol: '', requester: '', batcher: '' };

function startAppProcess(name: string, script: string, cwd = appDir): ManagedProcess {
  const proc = spawnLogged({ name: `scratch-app-${name}`, command: process.execPath, args: [script], cwd, env: appEnv() });
  processes.push(proc);
  return proc;
}

/** Resolves once the process printed its "running on" line. */
async function whenRunning(proc: ManagedProcess): Promise<void> {
  await waitUntil(
    `${proc.name} (log ${proc.logFile})`,
    async () => {
      if (proc.hasExited()) throw new Error(`exited early:\n${proc.logTail(40)}`);
      return fs.readFileSync(proc.logFile, 'utf8').includes('running on');
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
}

async function rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  const [result] = await (pool as Pool).query(sql, params);
  return result as T[];
}

afterAll(async () => {
  await Promise.allSettled(processes.map((p) => p.stop({ graceMs: 5000 })));
  if (client) {
    for (let shard = 0; shard < SHARDS; shard++) {
      await client.workflow
        .getHandle(`${batcherPrefix}-${shard}`)
        .terminate('test finished')
        .catch(() => undefined);
    }
  }
  await connection?.close().catch(() => undefined);
  await pool?.query(`DROP DATABASE IF EXISTS \`${database}\``).catch(() => undefined);
  await pool?.end().catch(() => undefined);
  fs.rmSync(scratch, { recursive: true, force: true });
});

// --- what the app's workflows take and give (the test only knows their names and JSON shapes) ---

interface OrderInput {
  orderId: string;
  customer: string;
  total: string;
  placedAt: string;
  ref: string;
  details: { channel: string; gift: boolean; tags: string[] };
  sigHex: string;
  lines: Array<{ sku: string; qty: number; price: string; gift_wrap?: boolean }>;
  batcherQueue: string;
}
interface OrderResult {
  order: string;
  lines: string[];
  event?: string;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function order(id: string, i: number, lineCount = 3): OrderInput {
  return {
    orderId: id,
    customer: `c-${pad(i, 3)}`,
    // DECIMAL(12,2): ten integer digits, exact.
    total: `${9_000_000_000 + i * 1_234_567}.${pad(i % 100)}`,
    // The last minutes of a year in UTC are the first hours of the next one in Asia/Kolkata.
    placedAt: `2026-12-31T23:${pad(10 + (i % 50))}:59.${pad((i * 7) % 1000, 3)}Z`,
    // Beyond 2^53 (one of them the largest BIGINT).
    ref: i === 2 ? '9223372036854775807' : String(2n ** 53n + BigInt(i)),
    details: { channel: i % 2 ? 'web' : 'shop', gift: i % 3 === 0, tags: ['ünïcode', `n${i}`] },
    sigHex: `00ff${(i % 256).toString(16).padStart(2, '0')}80`,
    lines: Array.from({ length: lineCount }, (_, n) => ({ sku: `S${i}-${n + 1}`, qty: n + 1, price: `${n + 1}.99` })),
    batcherQueue,
  };
}

async function runOrders(inputs: OrderInput[], tag: string): Promise<OrderResult[]> {
  const c = client as Client;
  const handles = await Promise.all(
    inputs.map((input) =>
      c.workflow.start('orderWorkflow', { taskQueue: ordersQueue, workflowId: `${tag}-${input.orderId}-${runId}`, args: [input] }),
    ),
  );
  return Promise.all(handles.map((h) => h.result() as Promise<OrderResult>));
}

async function runWorkflow<T>(type: string, input: unknown, tag: string): Promise<T> {
  return (client as Client).workflow.execute(type, {
    taskQueue: ordersQueue,
    workflowId: `${tag}-${runId}-${randomBytes(4).toString('hex')}`,
    args: [input],
  }) as Promise<T>;
}

describe('the published packages, installed from their tarballs into an app outside the workspace', () => {
  it(
    'when the three packages are packed, then each tarball holds its built JavaScript and declarations and nothing else',
    { timeout: 60_000 },
    async () => {
      fs.mkdirSync(packDir, { recursive: true });
      // The protocol first: both other builds read its declarations.
      for (const name of PACKAGES) {
        await run('npm', ['pack', '--pack-destination', packDir, '--silent'], path.join(repoRoot, 'packages', name));
        const file = fs.readdirSync(packDir).find((f) => f.startsWith(`write-batcher-${name}-`) && f.endsWith('.tgz'));
        expect(file, `tarball of ${name}`).toBeDefined();
        tarballs[name] = path.join(packDir, file as string);
        const entries = (await run('tar', ['tzf', tarballs[name]], packDir)).split('\n').filter(Boolean);
        const manifest = JSON.parse(await run('tar', ['xzf', tarballs[name], '-O', 'package/package.json'], packDir)) as {
          name: string;
          version: string;
          main: string;
          types: string;
          exports: Record<string, string | { types: string; default: string }>;
          dependencies?: Record<string, string>;
        };
        expect(manifest.name).toBe(`@write-batcher/${name}`);
        // Only the manifest, the docs and dist/: no sources, tests, build info or configuration.
        const stray = entries.filter(
          (e) =>
            !/^package\/(package\.json|README\.md|LICENSE|dist\/.+)$/.test(e) || /\.tsbuildinfo$|\.test\.|(^|\/)(src|test|tests)\//.test(e),
        );
        expect(stray, `unexpected files in ${path.basename(tarballs[name])}`).toEqual([]);
        const js = entries.filter((e) => e.endsWith('.js'));
        // Every source module of the package is in it, built.
        const sources = (fs.readdirSync(path.join(repoRoot, 'packages', name, 'src'), { recursive: true }) as string[]).filter((f) =>
          f.endsWith('.ts'),
        );
        expect(sources.length).toBeGreaterThan(0);
        expect(sources.map((f) => `package/dist/${f.replace(/\.ts$/, '.js')}`).filter((f) => !js.includes(f))).toEqual([]);
        // Every module has its declarations.
        expect(js.filter((e) => !entries.includes(e.replace(/\.js$/, '.d.ts')))).toEqual([]);
        // Every entry point the manifest names is in the tarball.
        const targets = [
          manifest.main,
          manifest.types,
          ...Object.values(manifest.exports).flatMap((t) => (typeof t === 'string' ? [t] : [t.types, t.default])),
        ];
        expect(targets.filter((t) => !entries.includes(`package/${t.replace(/^\.\//, '')}`))).toEqual([]);
        report(`${path.basename(tarballs[name])}: ${entries.length} files, ${fs.statSync(tarballs[name]).size} bytes`);
      }
      // The requester and the batcher depend on exactly the protocol packed with them, and not on each other.
      const packed = async (name: string) =>
        JSON.parse(await run('tar', ['xzf', tarballs[name as keyof typeof tarballs], '-O', 'package/package.json'], packDir)) as {
          version: string;
          dependencies?: Record<string, string>;
          peerDependencies?: Record<string, string>;
        };
      const protocolManifest = await packed('protocol');
      for (const [name, other] of [
        ['requester', 'batcher'],
        ['batcher', 'requester'],
      ] as const) {
        const m = await packed(name);
        expect(m.dependencies?.['@write-batcher/protocol'], name).toBe(protocolManifest.version);
        expect({ ...m.dependencies, ...m.peerDependencies }, name).not.toHaveProperty(`@write-batcher/${other}`);
      }
      expect(Object.keys(protocolManifest.dependencies ?? {}).filter((d) => d.startsWith('@write-batcher/'))).toEqual([]);
    },
  );

  it(
    'when the app is installed from the tarballs outside the repository, then it compiles with its own tsc: typed rows of an interface, Date, bigint, decimal text, JSON and bytes',
    { timeout: 85_000 },
    async () => {
      expect(tarballs.batcher).not.toBe('');
      expect(path.relative(repoRoot, scratch).startsWith('..')).toBe(true);
      fs.cpSync(FIXTURE, appDir, {
        recursive: true,
        filter: (src) => !/(^|\/)(node_modules|dist|vendor)(\/|$)/.test(path.relative(FIXTURE, src)),
      });
      fs.mkdirSync(path.join(appDir, 'vendor'));
      for (const name of PACKAGES) fs.copyFileSync(tarballs[name], path.join(appDir, 'vendor', `write-batcher-${name}.tgz`));
      const manifest = fs.readFileSync(path.join(appDir, 'package.json'), 'utf8');
      // Its dependencies are the tarballs and the registry: nothing links back into a workspace.
      expect(manifest).not.toMatch(/\.\.\/|workspace:|link:|"file:(?!vendor\/)/);

      const startedAt = Date.now();
      await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], appDir, 75_000);
      report(`npm install: ${Date.now() - startedAt} ms`);
      expect(fs.readFileSync(path.join(appDir, 'package-lock.json'), 'utf8')).not.toContain(repoRoot);
      // The packages are real directories of the app's node_modules, and both use the app's one protocol.
      for (const name of PACKAGES)
        expect(fs.lstatSync(path.join(appDir, 'node_modules', '@write-batcher', name)).isSymbolicLink()).toBe(false);
      const resolved = JSON.parse(
        await run(
          process.execPath,
          [
            '-p',
            `JSON.stringify(['@write-batcher/protocol', '@write-batcher/requester', '@write-batcher/batcher', '@temporalio/worker', 'mysql2/promise'].map((m) => require.resolve(m)).concat(['@write-batcher/requester', '@write-batcher/batcher'].map((p) => require.resolve('@write-batcher/protocol', { paths: [require.resolve(p)] }))))`,
          ],
          appDir,
        ),
      ) as string[];
      for (const file of resolved) expect(file.startsWith(path.join(appDir, 'node_modules') + path.sep), file).toBe(true);
      expect(resolved[5]).toBe(resolved[0]);
      expect(resolved[6]).toBe(resolved[0]);

      // The README's adoption code, as a user would paste it, compiles against the tarballs too.
      const readme = fs.readFileSync(path.join(REPO_ROOT_FOR_README, 'README.md'), 'utf8');
      for (const [heading, file] of [
        ['### 1. Declare your tables', 'readme-batcher.ts'],
        ['### 2. Write rows from your workflow', 'readme-workflow.ts'],
        ['### Several rows as one unit', 'readme-unit.ts'],
      ] as const) {
        const section = readme.slice(readme.indexOf(heading));
        const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
        expect(code, `README has a TypeScript example under "${heading}"`).toBeDefined();
        fs.writeFileSync(path.join(appDir, 'src', file), code as string);
      }
      const tsc = path.join(appDir, 'node_modules', 'typescript', 'bin', 'tsc');
      // The app's build: strict, the packages' declarations checked too (no skipLibCheck), and the
      // rows the compiler must refuse (src/type-checks.ts) refused.
      await run(process.execPath, [tsc, '-p', 'tsconfig.json'], appDir);
      // The same sources under node16 resolution (the packages' `exports` map). skipLibCheck: the
      // SDK's own declarations import `ms` types that node16 cannot resolve.
      await run(
        process.execPath,
        [tsc, '-p', 'tsconfig.json', '--noEmit', '--module', 'node16', '--moduleResolution', 'node16', '--skipLibCheck'],
        appDir,
      );
      expect(fs.existsSync(path.join(appDir, 'dist', 'worker.js'))).toBe(true);

      const counts = ADOPTION_FILES.map((f) => [f, linesOfCode(path.join(FIXTURE, f))] as const);
      const rest = fs
        .readdirSync(path.join(FIXTURE, 'src'))
        .map((f) => `src/${f}`)
        .filter((f) => !ADOPTION_FILES.includes(f))
        .map((f) => [f, linesOfCode(path.join(FIXTURE, f))] as const);
      report(
        `lines a team writes to adopt the library (not blank, not comments): ${counts.map(([f, n]) => `${f} ${n}`).join(', ')}; total ${counts.reduce((s, [, n]) => s + n, 0)}` +
          ` (besides: ${rest.map(([f, n]) => `${f} ${n}`).join(', ')})`,
      );
    },
  );

  it(
    'when only the batcher is installed from its tarball (with the protocol), then no requester is installed and the batcher worker and migration compile',
    { timeout: 85_000 },
    async () => {
      expect(tarballs.batcher).not.toBe('');
      // The app's manifest without the requester: what a team that runs only batcher workers depends on.
      const app = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'package.json'), 'utf8')) as {
        name: string;
        description: string;
        dependencies: Record<string, string>;
        scripts: Record<string, string>;
      };
      const { '@write-batcher/requester': requester, ...dependencies } = app.dependencies;
      expect(requester).toBeDefined();
      const manifest = {
        ...app,
        name: 'orders-batcher',
        description: "The app's batcher worker and migration, installed without the requester.",
        dependencies,
        scripts: { build: app.scripts.build },
      };
      fs.mkdirSync(path.join(batcherDir, 'vendor'), { recursive: true });
      fs.writeFileSync(path.join(batcherDir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
      fs.copyFileSync(path.join(FIXTURE, 'tsconfig.json'), path.join(batcherDir, 'tsconfig.json'));
      for (const file of BATCHER_FILES) fs.cpSync(path.join(FIXTURE, file), path.join(batcherDir, file));
      for (const name of ['protocol', 'batcher'] as const)
        fs.copyFileSync(tarballs[name], path.join(batcherDir, 'vendor', `write-batcher-${name}.tgz`));

      const startedAt = Date.now();
      await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], batcherDir, 75_000);
      report(`npm install of the batcher alone: ${Date.now() - startedAt} ms`);
      expect(fs.readdirSync(path.join(batcherDir, 'node_modules', '@write-batcher')).sort()).toEqual(['batcher', 'protocol']);
      expect(fs.readFileSync(path.join(batcherDir, 'package-lock.json'), 'utf8')).not.toContain('@write-batcher/requester');
      await run(process.execPath, [path.join(batcherDir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], batcherDir);
      for (const file of BATCHER_FILES)
        expect(fs.existsSync(path.join(batcherDir, file.replace(/^src\/(.*)\.ts$/, 'dist/$1.js'))), file).toBe(true);
    },
  );

  it(
    'when the app migrates and starts its own worker and batcher worker, then N orders with their parallel lines are in its tables exactly once, each value exact',
    { timeout: 45_000 },
    async () => {
      const db = globalMysql();
      pool = mysql.createPool({ host: db.host, port: db.port, user: db.user, password: db.password, connectionLimit: 4 });
      await pool.query(`CREATE DATABASE \`${database}\``);
      await pool.end();
      pool = mysql.createPool({
        host: db.host,
        port: db.port,
        user: db.user,
        password: db.password,
        database,
        connectionLimit: 4,
        supportBigNumbers: true,
        bigNumberStrings: true,
      });

      // The migration and the batcher worker run from the install without the requester.
      const migrate = spawnLogged({
        name: 'scratch-app-migrate',
        command: process.execPath,
        args: ['dist/migrate.js'],
        cwd: batcherDir,
        env: appEnv(),
      });
      processes.push(migrate);
      const migrated = await migrate.exited;
      expect(migrated.code, migrate.logTail()).toBe(0);
      // The app's tables and the batcher's ledger: nothing of the demo's.
      expect(
        (await rows<{ t: string }>('SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', [database]))
          .map((r) => r.t)
          .sort(),
      ).toEqual(['batcher_ledger', 'customers', 'order_events', 'order_lines', 'orders', 'stock']);

      const batcher = startAppProcess('batcher', 'dist/batcher.js', batcherDir);
      const worker = startAppProcess('worker', 'dist/worker.js');
      await Promise.all([whenRunning(batcher), whenRunning(worker)]);
      connection = await Connection.connect({ address: globalTemporal().address });
      client = new Client({ connection, namespace: globalTemporal().namespace });

      const N = 12;
      const good = Array.from({ length: N }, (_, i) => order(`o-${pad(i + 1)}`, i + 1));
      // In the same wave: an order whose customer is too long for VARCHAR(8), and one whose second
      // line has a column the table lacks (gift_wrap).
      const tooLong = { ...order('o-long', 90), customer: 'customer-too-long' };
      const wrapped = order('o-wrap', 91);
      wrapped.lines[1] = { ...(wrapped.lines[1] as OrderInput['lines'][number]), gift_wrap: true };
      const results = await runOrders([...good, tooLong, wrapped], 'order');

      const committed: OrderResult = { order: 'committed', lines: ['committed', 'committed', 'committed'], event: 'committed' };
      expect(results.slice(0, N)).toEqual(good.map(() => committed));
      expect(results[N]).toEqual({ order: 'InvalidWriteRequest', lines: [] });
      expect(results[N + 1]).toEqual({ order: 'committed', lines: ['committed', 'InvalidWriteRequest', 'committed'], event: 'committed' });

      const stored = await rows<Record<string, string>>(
        `SELECT order_id, customer, CAST(total AS CHAR) AS total, DATE_FORMAT(placed_at, '%Y-%m-%d %H:%i:%s.%f') AS placed_at, CAST(ref AS CHAR) AS ref,
              details, HEX(sig) AS sig, note FROM orders ORDER BY order_id`,
      );
      const expected = [...good, wrapped].sort((a, b) => a.orderId.localeCompare(b.orderId));
      // mysql2 parses a MariaDB JSON column it recognises; the text otherwise.
      const json = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);
      expect(stored.map((r) => ({ ...r, details: json(r.details) }))).toEqual(
        expected.map((o) => ({
          order_id: o.orderId,
          customer: o.customer,
          total: o.total,
          placed_at: o.placedAt.replace('T', ' ').replace('Z', '000'),
          ref: o.ref,
          details: o.details,
          sig: o.sigHex.toUpperCase(),
          note: '',
        })),
      );
      // Exact where JavaScript numbers are not.
      expect(stored.find((r) => r.order_id === 'o-01')?.ref).toBe('9007199254740993');
      expect(stored.find((r) => r.order_id === 'o-02')?.ref).toBe('9223372036854775807');

      const lines = await rows<{ order_id: string; line_no: number; sku: string; qty: number; price: string }>(
        'SELECT order_id, line_no, sku, qty, CAST(price AS CHAR) AS price FROM order_lines ORDER BY order_id, line_no',
      );
      expect(lines).toEqual(
        expected.flatMap((o) =>
          o.lines.flatMap((l, n) => (l.gift_wrap ? [] : [{ order_id: o.orderId, line_no: n + 1, sku: l.sku, qty: l.qty, price: l.price }])),
        ),
      );
      const events = await rows<{ order_id: string; n: string; at: string }>(
        `SELECT order_id, COUNT(*) AS n, DATE_FORMAT(MIN(at), '%Y-%m-%d %H:%i:%s.%f') AS at FROM order_events GROUP BY order_id ORDER BY order_id`,
      );
      expect(events).toEqual(expected.map((o) => ({ order_id: o.orderId, n: '1', at: o.placedAt.replace('T', ' ').replace('Z', '000') })));

      // Run again with the same business keys: nothing is written twice. With another total: a conflict.
      const again = await runOrders([good[0] as OrderInput], 'again');
      expect(again).toEqual([{ order: 'duplicate', lines: ['duplicate', 'duplicate', 'duplicate'], event: 'duplicate' }]);
      const changed = await runOrders([{ ...(good[0] as OrderInput), total: '1.00' }], 'changed');
      expect(changed).toEqual([{ order: 'WriteConflict', lines: [] }]);
      expect(await rows('SELECT CAST(total AS CHAR) AS total FROM orders WHERE order_id = ?', ['o-01'])).toEqual([
        { total: good[0]?.total },
      ]);
      const [counts] = await rows<{ orders: string; lines: string; events: string }>(
        'SELECT (SELECT COUNT(*) FROM orders) AS orders, (SELECT COUNT(*) FROM order_lines) AS `lines`, (SELECT COUNT(*) FROM order_events) AS events',
      );
      expect(counts).toEqual({ orders: String(N + 1), lines: String(N * 3 + 2), events: String(N + 1) });
    },
  );

  it(
    'when the app upserts on a table with two unique keys and inserts-ignore, then the declared key decides, the other key is never matched, and a kept row answers duplicate',
    { timeout: 20_000 },
    async () => {
      await rows(`INSERT INTO stock (sku, email, qty) VALUES ('S1', 'a@x', 1), ('S2', 'b@x', 1)`);
      await rows(`INSERT INTO customers VALUES ('k-1', 'first')`);
      const restock = (sku: string, email: string, qty: number, requestId: string) =>
        runWorkflow<string>('restockWorkflow', { sku, email, qty, requestId, batcherQueue }, 'restock');
      const register = (customer_id: string, name: string) =>
        runWorkflow<string>('registerCustomerWorkflow', { customer_id, name, batcherQueue }, 'customer');

      expect(
        await Promise.all([
          restock('S1', 'a@x', 10, 'restock:S1:1'),
          restock('S3', 'b@x', 99, 'restock:S3:1'),
          restock('S4', 'd@x', 4, 'restock:S4:1'),
          register('k-1', 'second'),
          register('k-2', 'new'),
        ]),
      ).toEqual([
        // S1 exists: updated. S3 is new but its email is S2's: ON DUPLICATE KEY UPDATE would have
        // overwritten S2; the batcher refuses it instead. S4: inserted.
        'updated',
        'WriteKeyExists',
        'committed',
        // insert-ignore: k-1 stays as it was, answered ignored (not written).
        'ignored',
        'committed',
      ]);
      // An update of S1 onto S2's email: refused, and neither row changes.
      expect(await restock('S1', 'b@x', 50, 'restock:S1:2')).toBe('WriteKeyExists');
      expect(await rows('SELECT sku, email, qty FROM stock ORDER BY sku')).toEqual([
        { sku: 'S1', email: 'a@x', qty: 10 },
        { sku: 'S2', email: 'b@x', qty: 1 },
        { sku: 'S4', email: 'd@x', qty: 4 },
      ]);
      expect(await rows('SELECT customer_id, name FROM customers ORDER BY customer_id')).toEqual([
        { customer_id: 'k-1', name: 'first' },
        { customer_id: 'k-2', name: 'new' },
      ]);
    },
  );

  it(
    'when the app worker is killed with SIGKILL while 40 orders run and started again, then every order has a definite outcome and no row is doubled',
    { timeout: 50_000 },
    async () => {
      const worker = processes.find((p) => p.name === 'scratch-app-worker' && !p.hasExited());
      expect(worker).toBeDefined();
      const inputs = Array.from({ length: 40 }, (_, i) => order(`k-${pad(i + 1)}`, 100 + i, 2));
      const outcomes = runOrders(inputs, 'kill');
      outcomes.catch(() => undefined);
      // Mid-run: some orders are written, their lines and events not all yet.
      await waitUntil(
        'a first order of the wave',
        async () => Number((await rows<{ n: string }>(`SELECT COUNT(*) AS n FROM orders WHERE order_id LIKE 'k-%'`))[0]?.n) > 0,
        {
          timeoutMs: 20_000,
          intervalMs: 20,
        },
      );
      await (worker as ManagedProcess).kill();
      const [atKill] = await rows<{ orders: string; events: string }>(
        `SELECT (SELECT COUNT(*) FROM orders WHERE order_id LIKE 'k-%') AS orders, (SELECT COUNT(*) FROM order_events WHERE order_id LIKE 'k-%') AS events`,
      );
      report(`SIGKILL of the app worker (pid ${worker?.pid}) with ${atKill?.orders}/40 orders and ${atKill?.events}/40 events written`);
      expect(Number(atKill?.events)).toBeLessThan(40);

      const restarted = startAppProcess('worker', 'dist/worker.js');
      await whenRunning(restarted);
      const startedAt = Date.now();
      const results = await outcomes;
      report(`all 40 orders finished ${Date.now() - startedAt} ms after the restart`);
      expect(results).toEqual(inputs.map(() => ({ order: 'committed', lines: ['committed', 'committed'], event: 'committed' })));

      const [counts] = await rows<{ orders: string; lines: string; events: string; doubled: string; ledger: string }>(
        `SELECT (SELECT COUNT(*) FROM orders WHERE order_id LIKE 'k-%') AS orders,
              (SELECT COUNT(*) FROM order_lines WHERE order_id LIKE 'k-%') AS \`lines\`,
              (SELECT COUNT(*) FROM order_events WHERE order_id LIKE 'k-%') AS events,
              (SELECT COUNT(*) FROM (SELECT order_id FROM order_events WHERE order_id LIKE 'k-%' GROUP BY order_id HAVING COUNT(*) > 1) d) AS doubled,
              (SELECT COUNT(*) FROM batcher_ledger WHERE request_id LIKE 'order:k-%' AND status = 'committed') AS ledger`,
      );
      expect(counts).toEqual({ orders: '40', lines: '80', events: '40', doubled: '0', ledger: '160' });
    },
  );
});
