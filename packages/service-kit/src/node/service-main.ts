// How every service's main.ts ends: run, and on a fatal error print one clear JSON line and exit 1.

/** Runs a service's main function; a failure (e.g. a ConfigError naming the variable) exits non-zero. */
export function runService(service: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(JSON.stringify({ level: 'fatal', service, msg: String((err as Error)?.message ?? err) }));
    process.exit(1);
  });
}
