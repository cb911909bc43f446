// Temporal connections from the SDK's standard TEMPORAL_* variables (address, namespace, TLS, API key),
// read by @temporalio/envconfig so they mean exactly what they mean to the Temporal CLI.
import { Client, Connection, type ClientPlugin } from '@temporalio/client';
import { loadClientConnectConfig, type ClientConnectConfig } from '@temporalio/envconfig';
import { ConfigError } from './config';

/** Connection settings from the environment; a bad TLS path or profile becomes a ConfigError. */
export function temporalConnectConfig(env: NodeJS.ProcessEnv = process.env): ClientConnectConfig & { namespace: string } {
  let loaded: ClientConnectConfig;
  try {
    loaded = loadClientConnectConfig({ overrideEnvVars: definedOnly(env), disableFile: env.TEMPORAL_CONFIG_FILE === undefined });
  } catch (err) {
    throw new ConfigError([{ variable: 'TEMPORAL_* (address, TLS, API key)', message: (err as Error).message }]);
  }
  const address = loaded.connectionOptions.address ?? 'localhost:7233';
  const port = /^[^\s:]+:(\d{1,5})$/.exec(address)?.[1];
  if (port === undefined || Number(port) < 1 || Number(port) > 65535) {
    throw new ConfigError([
      { variable: 'TEMPORAL_ADDRESS', message: `must be host:port with a port from 1 to 65535 (got ${JSON.stringify(address)})` },
    ]);
  }
  return { ...loaded, connectionOptions: { ...loaded.connectionOptions, address }, namespace: loaded.namespace ?? 'default' };
}

function definedOnly(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
}

/** Connects a Client; the caller closes `client.connection`. */
export async function connectClient(options: { env?: NodeJS.ProcessEnv; plugins?: ClientPlugin[] } = {}): Promise<Client> {
  const cfg = temporalConnectConfig(options.env);
  const connection = await Connection.connect(cfg.connectionOptions);
  return new Client({ connection, namespace: cfg.namespace, plugins: options.plugins });
}
