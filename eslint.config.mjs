// ESLint for the whole repository (`npm run lint`; test/lint/eslint.test.ts runs it in `npm test`).
// Type-aware typescript-eslint rules for every TypeScript source, plus the guard rail that keeps
// Node-only modules out of workflow bundles (STYLE.md habits 3 and 13). No formatting rules.
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

const repoRoot = path.dirname(fileURLToPath(import.meta.url));

/** TypeScript sources covered by type-aware linting (harness/ may not exist; a glob that matches nothing is fine). */
const tsSources = [
  'packages/*/src/**/*.ts',
  'services/*/src/**/*.ts',
  'bench/src/**/*.ts',
  'harness/src/**/*.ts',
  'test/**/*.ts',
];

/** Code that runs inside the Temporal workflow sandbox (deterministic, no Node APIs, no I/O). */
const workflowFiles = [
  'services/*/src/workflows/**/*.ts',
  'packages/batcher/src/workflows/**/*.ts',
  // The requester package is workflow code as a whole (it is imported into workflow bundles).
  'packages/requester/src/**/*.ts',
  'packages/shared/src/workflow/**/*.ts',
  'bench/src/baseline/workflows.ts',
  'test/pipeline/fixtures/row-workflows.ts',
];

const nodeOnly = 'is Node-only and must not enter a workflow bundle; do the work in an activity';
// Every Node built-in by its bare name (`fs`, `fs/promises`, ...); `node:*` is a pattern below.
const nodeBuiltins = builtinModules.filter((name) => !name.startsWith('_'));

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
  {
    files: workflowFiles,
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({ name, message: `Node built-in '${name}' ${nodeOnly}.`, allowTypeImports: true })),
            ...['@temporalio/client', '@temporalio/worker', '@temporalio/activity', '@temporalio/testing', '@temporalio/interceptors-opentelemetry', 'mysql2', 'mysql2/promise', 'express', 'pino'].map(
              (name) => ({ name, message: `'${name}' ${nodeOnly}.`, allowTypeImports: true }),
            ),
            ...['@write-batcher/batcher', '@write-batcher/batcher/testing'].map((name) => ({
              name,
              message: `'${name}' ${nodeOnly}; workflows import '@write-batcher/requester'.`,
              allowTypeImports: true,
            })),
            ...['@batcher/shared', '@batcher/shared/node', '@batcher/shared/worker'].map((name) => ({
              name,
              message: `'${name}' ${nodeOnly}; workflows import '@batcher/shared/workflow'.`,
              allowTypeImports: true,
            })),
          ],
          patterns: [
            { group: ['node:*'], message: `Node built-ins must not enter a workflow bundle; do the work in an activity.`, allowTypeImports: true },
            { group: ['@opentelemetry/sdk-*', '@opentelemetry/exporter-*'], message: `The OpenTelemetry SDK ${nodeOnly}; workflows use '@opentelemetry/api' only.`, allowTypeImports: true },
            { group: ['@temporalio/*/lib/worker*'], message: `Worker-side Temporal code ${nodeOnly}.`, allowTypeImports: true },
            // Relative imports of activity modules or of shared Node-only folders: `import type` only.
            { regex: '^\\.{1,2}/(.*/)?(activities|node|worker)(/.*)?$', message: `Activities and Node-only modules may only be imported with 'import type' in workflow code.`, allowTypeImports: true },
          ],
        },
      ],
      // Workflow code never reads the environment or loads modules at run time (habit 1).
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'Workflow code never reads process (env, clock, argv); pass values in the input or read them in an activity.' },
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
