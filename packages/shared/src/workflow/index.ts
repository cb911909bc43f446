// Workflow-safe entry point: message definitions, error types and routing. No Node built-ins here.
export * from './messages';
export * from './errors';
export * from './routing';
