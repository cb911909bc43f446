// Node-only entry point: config, connections, MySQL, logging and telemetry. Never import from workflow code.
export * from './config';
export * from './logger';
export * from './temporal';
export * from './mysql';
export * from './telemetry';
export * from './health-server';
export * from './service-main';
