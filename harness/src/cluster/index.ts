// The one-node cluster with real pods (test/cluster/ uses it; `node harness/dist/cluster/cli.js`
// starts and stops one by hand).
export * from './cluster';
export * from './images';
export * from './host-state';
export * from './registry';
export * from './docker-daemon';
export { filterContext, parseDockerignore, isExcluded } from './docker-context';
export { run, CommandError, type RunOptions, type RunResult } from './exec';
