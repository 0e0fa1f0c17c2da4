/**
 * bench:fleet's memory floor: what N watch connections cost a bare Node HTTPS server, measured in
 * the same run as the API server it is set beside.
 *
 * The floor server is `node:https` and nothing else, run as `npm start` runs the API server (the
 * same Node, V8 flags and environment, SERVER_NODE_FLAGS and SERVER_ENV) with the same kind of
 * certificate (ensureTls: the server's own CA and an RSA serving certificate). Every GET is held
 * open as a watch is: 200, chunked `application/json`, headers sent, no body yet. The clients are
 * a separate process, one TLS connection per watch as a simulated agent's (keep-alive off, so no
 * connection is shared), at most 64 connecting at once.
 *
 * Measured: the floor server's RSS after it listens, with the N watches open, and after one given
 * watch event (an instance as the API server sends it) was written to each. The event matters:
 * on this machine one 3.5 KB write grew a bare server by about 19 KiB per TLS connection (1.2 KB:
 * 5 KiB, 0.7 KB: 3 KiB), and a second write added little. Node's TLS layer keeps that memory for
 * the connection, so a fleet that has seen a rollout costs more than one that has not. What the
 * API server needs above this floor is its own.
 *
 * What that memory is (traced with an LD_PRELOAD malloc tracer, Node 24): the first write whose
 * TLS record overflows the connection's first 1 KiB output buffer makes Node's NodeBIO allocate a
 * second one of 16,384 bytes (kThroughputBufferLength), which it keeps while the connection lives.
 * glibc carves it from its heap between freed temporaries, so it is resident whole. Measured on
 * this floor at 10,000 (after the event): 845 MiB as started; 801 with MALLOC_MMAP_THRESHOLD_=16384;
 * 700 with 8192 (but the API server then spent 10-19 % more CPU per rollout on mmap/munmap, so it
 * is not the server's setting); 802 with a 2 KiB TLS fragment (setMaxSendFragment); 750 under
 * jemalloc (LD_PRELOAD, default decay).
 *
 * What a watch connection holds before any event (traced the same way, backtraces by size, Node
 * 24.21 with its OpenSSL 3.5, about 59 KiB of RSS each at 10,000): the HTTP request parser Node's
 * http server keeps on the socket while the response lasts (node::http_parser::Parser, 10,096
 * bytes); OpenSSL's SSL object (5,576) and its read and write record layers (4,424 each); the
 * client's ML-KEM-768 public key from the X25519MLKEM768 key share, kept as the peer's temporary
 * key for the connection's life (6,144; with the server's ecdhCurve limited to X25519:P-256:P-384
 * this floor measured 769 instead of 844 MiB after the event, but that gives up the hybrid
 * post-quantum key exchange, so the server does not); the session (928) and cipher contexts
 * (3 × 960); the V8 objects of the TLS socket, request and response (about 7.8 KiB of live JS
 * heap); and the 64 KiB NodeBIO input buffer Node allocates for the first read (libuv suggests
 * 64 KiB), of which only the pages written are resident. Measured with
 * /proc/PID/smaps: it all lives in the brk heap, not in separate mmaps.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:https';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultSans, ensureTls } from '../../api-server/src/tls.ts';
import { SERVER_ENV, SERVER_NODE_FLAGS } from '../../api-server/test/support/server.ts';
import { memory } from './bench.ts';
import { IpcChild, serve } from './ipc.ts';

const SELF = fileURLToPath(import.meta.url);
const CONNECTING = 64;

export interface ConnectionFloor {
  n: number;
  /** The floor server's RSS, MiB: listening, with the N watches open, after one event on each. */
  startMiB: number;
  openMiB: number;
  afterEventMiB: number;
  eventBytes: number;
}

/** The floor server (child): holds every GET open as a watch; `event` writes one line to each. */
function floorServer(): void {
  let server: Server | undefined;
  const watches = new Set<ServerResponse>();
  serve(async (msg) => {
    switch (msg.cmd) {
      case 'listen': {
        const tls = msg.tls as { cert: string; key: string };
        server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
          res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
          res.flushHeaders();
          watches.add(res);
          res.on('close', () => watches.delete(res));
        });
        server.keepAliveTimeout = 0;
        await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
        return (server.address() as { port: number }).port;
      }
      case 'event': {
        const line = `${msg.event as string}\n`;
        await Promise.all([...watches].map((res) => new Promise<void>((resolve) => res.write(line, () => resolve()))));
        return watches.size;
      }
      default:
        throw new Error(`unknown command ${msg.cmd}`);
    }
  });
}

/** The clients (child): `open` makes N watches, each on its own TLS connection. */
function floorClients(): void {
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  let received = 0;
  serve(async (msg) => {
    switch (msg.cmd) {
      case 'open': {
        const { port, ca, n } = msg as unknown as { port: number; ca: string; n: number };
        let next = 0;
        const one = () =>
          new Promise<void>((resolve, reject) => {
            const req = request({ host: '127.0.0.1', port, path: `/watch/${next++}`, method: 'GET', ca, agent }, (res) => {
              if (res.statusCode !== 200) reject(new Error(`the floor server answered ${res.statusCode}`));
              res.on('data', (d: Buffer) => (received += d.length));
              resolve();
            });
            req.on('error', reject);
            req.end();
          });
        await Promise.all(
          Array.from({ length: Math.min(CONNECTING, n) }, async () => {
            while (next < n) await one();
          }),
        );
        return n;
      }
      case 'received':
        return received;
      default:
        throw new Error(`unknown command ${msg.cmd}`);
    }
  });
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Measure the floor for `n` watches and one `event` (a watch event's JSON, as the API server writes it). */
export async function connectionFloor(n: number, event: string): Promise<ConnectionFloor> {
  const dir = mkdtempSync(join(tmpdir(), 'hq-floor-'));
  const server = new IpcChild("the connection floor's server", SELF, ['--floor-server'], { execArgv: SERVER_NODE_FLAGS, env: { ...SERVER_ENV, ...process.env } });
  const clients = new IpcChild("the connection floor's clients", SELF, ['--floor-clients']);
  try {
    const tls = ensureTls(join(dir, 'pki'), { sans: defaultSans('127.0.0.1') });
    const port = await server.call<number>({ cmd: 'listen', tls: { cert: tls.cert, key: tls.key } });
    const pid = server.process.pid!;
    await settle(1000);
    const startMiB = memory(pid).rss;
    await clients.call({ cmd: 'open', port, ca: tls.ca, n });
    await settle(2000);
    const openMiB = memory(pid).rss;
    const written = await server.call<number>({ cmd: 'event', event });
    if (written !== n) throw new Error(`the floor server held ${written} watches, not ${n}`);
    // Every client has read its event before the server's memory is read.
    const want = n * (Buffer.byteLength(event) + 1);
    for (const deadline = Date.now() + 60_000; (await clients.call<number>({ cmd: 'received' })) < want; ) {
      if (Date.now() > deadline) throw new Error('the floor clients did not receive the event within 60 s');
      await settle(200);
    }
    await settle(1000);
    return { n, startMiB, openMiB, afterEventMiB: memory(pid).rss, eventBytes: Buffer.byteLength(event) };
  } finally {
    await clients.kill();
    await server.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === SELF) {
  if (process.argv.includes('--floor-server')) floorServer();
  else if (process.argv.includes('--floor-clients')) floorClients();
}
