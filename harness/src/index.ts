// The harness (harness/, not an npm workspace: like bench/, it is never shipped in the image): starts
// and stops, by PID, every server and service of a local run, for the tests (test/support re-exports it), the demo, the bench and the chaos runs.
export * from './processes';
export * from './temporal';
export * from './mariadb';
export * from './jaeger';
export * from './services';
export * from './stack';
export { formatLogLine, consoleView } from './console-view';
export * from './pki';
