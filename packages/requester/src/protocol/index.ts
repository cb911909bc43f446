// The protocol between requesters and batchers (signals, queries, message shapes, limits, routing,
// the wire form of rows). Used by the batcher package and by tools; a workflow that writes rows
// needs only the package's main entry (`batchedWrite`).
export * from './messages';
export * from './limits';
export * from './routing';
export * from './values';
export * from '../errors';
export { writeFailure } from '../batched-write';
