// Workflow-safe entry point: message definitions, error types, limits, routing and the requester's
// `batchedWrite()`. No Node built-ins here.
export * from './messages';
export * from './errors';
export * from './limits';
export * from './routing';
export * from './batched-write';
