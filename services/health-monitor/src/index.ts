// Library entry point of the health monitor, for tests and for embedding; main.ts runs the service.
export * from './app';
export * from './metrics';
export * from './monitor';
export * from './batcher-stats';
export * from './bounded-history';
export * from './heal-policy';
export * from './poller';
export * from './restart-policy';
export * from './shard-state';
export { STATUS_PAGE_HTML, STATUS_PAGE_REFRESH_MS } from './status-page';
