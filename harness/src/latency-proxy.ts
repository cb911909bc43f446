// A TCP proxy that adds latency: every chunk, in each direction, is passed on `delayMs` after it
// arrived (chunks keep their order and overlap, so it delays without throttling bandwidth). The
// benchmark's database-bound phase puts it in front of MariaDB, so every statement pays a round
// trip of 2 × delayMs, as against a database in another zone or a busy shared one. Past
// `maxBufferedBytes` held in one direction, its sending side is paused until that drains.
// Run as a process of its own by the bench:
//   node harness/dist/latency-proxy.js --target 127.0.0.1:3306 --delay-ms 100 [--port 0]
// It prints `latency proxy listening on 127.0.0.1:<port>` once it accepts, and stops on SIGTERM.
import net from 'node:net';

export interface LatencyProxyOptions {
  target: { host: string; port: number };
  delayMs: number;
  /** Port to listen on (0: a free one). */
  port?: number;
  host?: string;
  /** Bytes one direction of one connection holds before pausing its source (default 4 MiB). */
  maxBufferedBytes?: number;
}

export interface LatencyProxy {
  host: string;
  port: number;
  /** Connections accepted so far, and open now. */
  connections(): { accepted: number; open: number };
  /** Stops listening, drops every connection and its pending chunks. */
  close(): Promise<void>;
}

/** One direction of one connection: chunks wait `delayMs`, in order, then go to `to`. */
function delayedPipe(from: net.Socket, to: net.Socket, delayMs: number, maxBufferedBytes: number): { clear(): void } {
  const queue: Array<{ at: number; chunk: Buffer | null }> = [];
  let buffered = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const now = Date.now();
    while (queue.length && (queue[0] as { at: number }).at <= now) {
      const { chunk } = queue.shift() as { at: number; chunk: Buffer | null };
      if (chunk === null) {
        if (!to.destroyed) to.end();
        continue;
      }
      buffered -= chunk.length;
      if (!to.destroyed && !to.writableEnded) to.write(chunk);
    }
    resumeIfRoom();
    schedule();
  };
  // What waits here and what the destination has not sent yet, together, stay under the bound.
  const full = () => buffered + to.writableLength > maxBufferedBytes;
  const resumeIfRoom = () => {
    if (!full() && from.isPaused() && !from.destroyed) from.resume();
  };
  to.on('drain', resumeIfRoom);
  const schedule = () => {
    if (timer || !queue.length) return;
    timer = setTimeout(flush, Math.max(0, (queue[0] as { at: number }).at - Date.now()));
  };
  from.on('data', (chunk: Buffer) => {
    queue.push({ at: Date.now() + delayMs, chunk });
    buffered += chunk.length;
    if (full()) from.pause();
    schedule();
  });
  from.on('end', () => {
    queue.push({ at: Date.now() + delayMs, chunk: null });
    schedule();
  });
  return {
    clear() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      queue.length = 0;
      buffered = 0;
    },
  };
}

export async function startLatencyProxy(options: LatencyProxyOptions): Promise<LatencyProxy> {
  const { target, delayMs } = options;
  if (!Number.isFinite(delayMs) || delayMs < 0) throw new Error(`delayMs must be a number >= 0 (got ${delayMs})`);
  const maxBufferedBytes = options.maxBufferedBytes ?? 4 * 1024 * 1024;
  const open = new Set<() => void>();
  let accepted = 0;
  // Half-open: an end from one side reaches the other only after the delay, like its data.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    accepted++;
    client.setNoDelay(true);
    const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
    upstream.setNoDelay(true);
    const up = delayedPipe(client, upstream, delayMs, maxBufferedBytes);
    const down = delayedPipe(upstream, client, delayMs, maxBufferedBytes);
    const drop = () => {
      open.delete(drop);
      up.clear();
      down.clear();
      client.destroy();
      upstream.destroy();
    };
    open.add(drop);
    // A reset or refusal on either side ends both at once; a clean end travels through the delay.
    client.on('error', drop).on('close', () => {
      if (upstream.writableEnded || upstream.destroyed) drop();
    });
    upstream.on('error', drop).on('close', () => {
      if (client.writableEnded || client.destroyed) drop();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    host,
    port: (server.address() as net.AddressInfo).port,
    connections: () => ({ accepted, open: open.size }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const drop of [...open]) drop();
        server.close(() => resolve());
      }),
  };
}

if (require.main === module) {
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const [targetHost, targetPort] = (arg('target') ?? '').split(':');
  if (!Number.isInteger(Number(targetPort)) || Number(targetPort) < 1) {
    console.error(`latency proxy: --target must be host:port (got ${arg('target')})`);
    process.exit(2);
  }
  startLatencyProxy({
    target: { host: targetHost || '127.0.0.1', port: Number(targetPort) },
    delayMs: Number(arg('delay-ms') ?? '0'),
    port: Number(arg('port') ?? '0'),
  }).then(
    (proxy) => {
      console.log(`latency proxy listening on ${proxy.host}:${proxy.port}`);
      const stop = () => {
        const { accepted } = proxy.connections();
        void proxy.close().then(() => {
          console.log(`latency proxy stopped after ${accepted} connections`);
          process.exit(0);
        });
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    },
    (err: unknown) => {
      console.error(`latency proxy: ${String((err as Error)?.message ?? err)}`);
      process.exit(1);
    },
  );
}
