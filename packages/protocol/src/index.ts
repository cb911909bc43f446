// @write-batcher/protocol: the wire format between requesters and batchers (signals, message shapes,
// limits, routing, the wire form of rows, error types). Workflow-safe. Both product packages build on
// it; a workflow that writes rows needs only @write-batcher/requester.
export * from './messages';
export * from './limits';
export * from './routing';
export * from './values';
export * from './errors';
