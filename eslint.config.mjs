// ESLint for the whole repository (`npm run lint`; test/lint/eslint.test.ts runs it in `npm test`).
// Type-aware typescript-eslint rules for every TypeScript source, plus two guard rails: Node-only
// modules stay out of workflow bundles (STYLE.md habits 3 and 13), and the product's border holds
// (habit 16: the published packages never import the service kit, the demo or the services, and the
// kit imports nothing above it). No formatting rules.
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

const repoRoot = path.dirname(fileURLToPath(import.meta.url));

/** TypeScript sources covered by type-aware linting (harness/ may not exist; a glob that matches nothing is fine). */
const tsSources = ['packages/*/src/**/*.ts', 'services/*/src/**/*.ts', 'bench/src/**/*.ts', 'harness/src/**/*.ts', 'test/**/*.ts'];

/** The published packages: the product whose border the fence below keeps. */
const productFiles = ['packages/protocol/src/**/*.ts', 'packages/requester/src/**/*.ts', 'packages/batcher/src/**/*.ts'];

/** The product's code that runs inside the Temporal workflow sandbox (deterministic, no Node APIs, no I/O). */
const productWorkflowFiles = [
  'packages/batcher/src/workflows/**/*.ts',
  // The requester and protocol packages are workflow code as a whole (imported into workflow bundles).
  'packages/requester/src/**/*.ts',
  'packages/protocol/src/**/*.ts',
];

/** The rest of the workflow code: the demo's workflows and their shared definitions, bench and test fixtures. */
const otherWorkflowFiles = [
  'services/*/src/workflows/**/*.ts',
  'services/demo/src/index.ts',
  'bench/src/baseline/workflows.ts',
  'test/pipeline/fixtures/row-workflows.ts',
];

const workflowFiles = [...productWorkflowFiles, ...otherWorkflowFiles];

/** The services' Node kit: below the product and the demo. */
const serviceKitFiles = ['packages/service-kit/src/**/*.ts'];

const nodeOnly = 'is Node-only and must not enter a workflow bundle; do the work in an activity';
// Every Node built-in by its bare name (`fs`, `fs/promises`, ...); `node:*` is a pattern below.
const nodeBuiltins = builtinModules.filter((name) => !name.startsWith('_'));

/**
 * Options of `@typescript-eslint/no-restricted-imports` made of several fences. A file under two
 * fences (a product workflow file) needs both in one entry: a later config entry for the same rule
 * replaces an earlier one, it does not add to it.
 */
const fences = (...parts) => ['error', { paths: parts.flatMap((p) => p.paths ?? []), patterns: parts.flatMap((p) => p.patterns ?? []) }];

/** The product's border: no import of the service kit, the demo or a service, not even of a type. */
const productBorder = {
  patterns: [
    {
      group: ['@batcher/*'],
      message:
        'The published packages (@write-batcher/*) never import the service kit, the demo or the services (@batcher/*): dependencies point services → product → protocol.',
    },
  ],
};

/** The service kit sits below the product and the demo: it imports neither, not even a type. */
const serviceKitBorder = {
  patterns: [
    {
      group: ['@write-batcher/*', '@batcher/*'],
      message:
        'The service kit imports nothing above it: no @write-batcher/* package, no @batcher/demo, no service. Take what it needs as a parameter or a structural type.',
    },
  ],
};

/** Node-only modules out of workflow bundles (type-only imports pass). */
const workflowSandbox = {
  paths: [
    ...nodeBuiltins.map((name) => ({ name, message: `Node built-in '${name}' ${nodeOnly}.`, allowTypeImports: true })),
    ...[
      '@temporalio/client',
      '@temporalio/worker',
      '@temporalio/activity',
      '@temporalio/testing',
      '@temporalio/interceptors-opentelemetry',
      'mysql2',
      'mysql2/promise',
      'express',
      'pino',
    ].map((name) => ({ name, message: `'${name}' ${nodeOnly}.`, allowTypeImports: true })),
    ...['@write-batcher/batcher', '@write-batcher/batcher/testing'].map((name) => ({
      name,
      message: `'${name}' ${nodeOnly}; workflows import '@write-batcher/requester'.`,
      allowTypeImports: true,
    })),
    ...['@batcher/service-kit', '@batcher/service-kit/worker', '@batcher/demo/tables', '@batcher/demo/transactions'].map((name) => ({
      name,
      message: `'${name}' ${nodeOnly}; workflows import '@batcher/demo' (the demo's workflow types) and '@write-batcher/requester'.`,
      allowTypeImports: true,
    })),
  ],
  patterns: [
    { group: ['node:*'], message: `Node built-ins must not enter a workflow bundle; do the work in an activity.`, allowTypeImports: true },
    {
      group: ['@opentelemetry/sdk-*', '@opentelemetry/exporter-*'],
      message: `The OpenTelemetry SDK ${nodeOnly}; workflows use '@opentelemetry/api' only.`,
      allowTypeImports: true,
    },
    { group: ['@temporalio/*/lib/worker*'], message: `Worker-side Temporal code ${nodeOnly}.`, allowTypeImports: true },
    // Relative imports of activity modules or of shared Node-only folders: `import type` only.
    {
      regex: '^\\.{1,2}/(.*/)?(activities|node|worker)(/.*)?$',
      message: `Activities and Node-only modules may only be imported with 'import type' in workflow code.`,
      allowTypeImports: true,
    },
  ],
};

export default defineConfig(
  {
    ignores: ['**/dist/**', '**/node_modules/**', '.tools/**', '.run/**', 'charts/**', 'k8s/**', 'coverage/**'],
  },
  {
    // Plain JavaScript (this file, scripts/*.mjs, scripts/lib/*.js) is not part of this lint.
    ignores: ['**/*.js', '**/*.mjs', '**/*.cjs'],
  },
  {
    files: tsSources,
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: repoRoot,
      },
    },
    linterOptions: {
      reportUnusedDisableDirectives: 'error',
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'inline-type-imports' }],
      // Express 4 route handlers are `async (req, res, next) => ...` whose promise Express ignores;
      // they catch and call next(err) themselves. Promise-returning conditions and spreads stay errors.
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      // Activities and their test fakes are `async` to implement Promise-returning interfaces; removing
      // `async` would turn a thrown error into a synchronous throw. Missing awaits are caught by the
      // promise rules above instead.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Style the code already follows; nothing that a formatter would own.
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      // A `let` read by a handler registered before its first assignment (the batcher's `book`) stays `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      'no-var': 'error',
    },
  },
  // Each file gets the fences that apply to it, in one entry (see `fences`); the most specific last.
  { files: productFiles, rules: { 'no-restricted-imports': 'off', '@typescript-eslint/no-restricted-imports': fences(productBorder) } },
  {
    files: serviceKitFiles,
    rules: { 'no-restricted-imports': 'off', '@typescript-eslint/no-restricted-imports': fences(serviceKitBorder) },
  },
  {
    files: otherWorkflowFiles,
    rules: { 'no-restricted-imports': 'off', '@typescript-eslint/no-restricted-imports': fences(workflowSandbox) },
  },
  {
    files: productWorkflowFiles,
    rules: { 'no-restricted-imports': 'off', '@typescript-eslint/no-restricted-imports': fences(workflowSandbox, productBorder) },
  },
  {
    files: workflowFiles,
    rules: {
      // Workflow code never reads the environment or loads modules at run time (habit 1).
      'no-restricted-globals': [
        'error',
        {
          name: 'process',
          message: 'Workflow code never reads process (env, clock, argv); pass values in the input or read them in an activity.',
        },
        { name: 'require', message: 'Workflow code imports statically; the bundler resolves imports.' },
        { name: '__dirname', message: 'Workflow code has no file system.' },
        { name: '__filename', message: 'Workflow code has no file system.' },
      ],
    },
  },
  {
    // Tests poke at JSON reports, mocks and untyped fixtures: the `no-unsafe-*` family and
    // explicit `any` are noise there. The promise rules stay on: a forgotten await in a test
    // is a test that passes without checking anything.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
