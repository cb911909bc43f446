// Workflow-safe entry point of the service stack: the public requester API and its protocol
// (@write-batcher/requester), and the demo's own workflow types. No Node built-ins here.
export * from '@write-batcher/requester';
export * from '@write-batcher/requester/protocol';
export * from './demo';
