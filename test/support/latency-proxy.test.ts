// The bench's latency proxy (harness/src/latency-proxy.ts) over real sockets on 127.0.0.1: bytes
// arrive whole and in order, each way pays the delay, ends travel through it, and close() or a
// refused target leaves no connection open. No server beyond the test's own echo server.
import net from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { startLatencyProxy, type LatencyProxy } from '../../harness/src/latency-proxy';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** An echo server: every byte back; answers a client's end with its own. */
async function echoServer(): Promise<{ port: number; ended: () => number }> {
  let ended = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('data', (d) => s.write(d));
    s.on('end', () => {
      ended++;
      s.end();
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, ended: () => ended };
}

async function proxyTo(port: number, delayMs: number): Promise<LatencyProxy> {
  const proxy = await startLatencyProxy({ target: { host: '127.0.0.1', port }, delayMs });
  closers.push(() => proxy.close());
  return proxy;
}

async function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => resolve(s));
    s.once('error', reject);
  });
}

/** The socket's end or close, whichever comes first. */
function endOrClose(s: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    s.once('end', () => resolve());
    s.once('close', () => resolve());
  });
}

/** Reads until `bytes` bytes have come. */
function readBytes(s: net.Socket, bytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    const onData = (d: Buffer) => {
      parts.push(d);
      n += d.length;
      if (n >= bytes) {
        s.off('data', onData);
        resolve(Buffer.concat(parts));
      }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.once('end', () => (n < bytes ? reject(new Error(`ended after ${n} of ${bytes} bytes`)) : undefined));
  });
}

describe('latency proxy', () => {
  it('when chunks of any size go through, then the echo brings every byte back in order', async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port, 3);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 1, maxLength: 70_000 }), { minLength: 1, maxLength: 12 }), async (chunks) => {
        const s = await connect(proxy.port);
        const sent = Buffer.concat(chunks.map((c) => Buffer.from(c)));
        const back = readBytes(s, sent.length);
        for (const c of chunks) s.write(c);
        expect((await back).equals(sent)).toBe(true);
        s.destroy();
      }),
      { numRuns: 25 },
    );
  });

  it('when more than the bound is in flight, then the sender is paused and resumed, and every byte arrives', async () => {
    const echo = await echoServer();
    const proxy = await startLatencyProxy({ target: { host: '127.0.0.1', port: echo.port }, delayMs: 5, maxBufferedBytes: 16 * 1024 });
    closers.push(() => proxy.close());
    const s = await connect(proxy.port);
    const sent = Buffer.from(Array.from({ length: 3 * 1024 * 1024 }, (_, i) => (i * 7919) % 251));
    const back = readBytes(s, sent.length);
    s.write(sent);
    expect((await back).equals(sent)).toBe(true);
    s.destroy();
  });

  it('when a message goes there and back, then it waits the delay each way', async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port, 120);
    const s = await connect(proxy.port);
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      const back = readBytes(s, 5);
      s.write('hello');
      expect((await back).toString()).toBe('hello');
      // Timers may fire a millisecond early against Date.now(): a margin of 2 ms, never an upper bound.
      expect(Date.now() - t0).toBeGreaterThanOrEqual(2 * 120 - 2);
    }
    s.destroy();
  });

  it('when the client ends, then the end reaches the server after its data, and the server’s end comes back', async () => {
    const echo = await echoServer();
    const proxy = await proxyTo(echo.port, 20);
    const s = await connect(proxy.port);
    const received: Buffer[] = [];
    s.on('data', (d: Buffer) => received.push(d));
    const ended = new Promise<void>((resolve) => s.once('end', resolve));
    s.end('last words');
    await ended;
    expect(Buffer.concat(received).toString()).toBe('last words');
    expect(echo.ended()).toBe(1);
    await new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())));
    // Both sides closed: the proxy holds nothing for this connection.
    for (let i = 0; i < 50 && proxy.connections().open > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(proxy.connections()).toEqual({ accepted: 1, open: 0 });
  });

  it('when the target refuses, then the client is closed', async () => {
    const free = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as net.AddressInfo;
        srv.close(() => resolve(port));
      });
    });
    const proxy = await proxyTo(free, 10);
    const s = await connect(proxy.port);
    s.on('error', () => undefined);
    // This client keeps its half open after the proxy's end (allowHalfOpen): the end is what it sees.
    await endOrClose(s);
    expect(proxy.connections()).toEqual({ accepted: 1, open: 0 });
  });

  it('when the proxy closes, then its open connections are dropped', async () => {
    const echo = await echoServer();
    const proxy = await startLatencyProxy({ target: { host: '127.0.0.1', port: echo.port }, delayMs: 10 });
    const sockets = await Promise.all([connect(proxy.port), connect(proxy.port), connect(proxy.port)]);
    for (let i = 0; i < 50 && proxy.connections().open < 3; i++) await new Promise((r) => setTimeout(r, 20));
    expect(proxy.connections().open).toBe(3);
    const closed = sockets.map(endOrClose);
    for (const s of sockets) s.on('error', () => undefined);
    await proxy.close();
    await Promise.all(closed);
    expect(proxy.connections().open).toBe(0);
  });
});
