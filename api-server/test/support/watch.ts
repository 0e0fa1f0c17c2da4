/** Opens a watch over a real socket and collects its newline-delimited JSON events. */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface WatchEventLine {
  type: string;
  object: any;
}

export interface OpenWatch {
  events: WatchEventLine[];
  status: number;
  /** Resolves when at least `n` events have arrived (rejects after the timeout). */
  waitFor(n: number, timeoutMs?: number): Promise<WatchEventLine[]>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

export function openWatch(base: string, path: string, token: string, ca?: string): Promise<OpenWatch> {
  return new Promise((resolve, reject) => {
    const requester = base.startsWith('https:') ? httpsRequest : httpRequest;
    const req = requester(base + path, { headers: { authorization: `Bearer ${token}` }, ...(ca ? { ca } : {}) }, (res: IncomingMessage) => {
      const events: WatchEventLine[] = [];
      const waiters: (() => void)[] = [];
      let buf = '';
      let endResolve!: () => void;
      const ended = new Promise<void>((r) => (endResolve = r));
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.trim()) events.push(JSON.parse(line) as WatchEventLine);
        }
        for (const w of waiters.splice(0)) w();
      });
      res.on('end', endResolve);
      res.on('close', endResolve);
      resolve({
        events,
        status: res.statusCode ?? 0,
        ended,
        close: () => req.destroy(),
        waitFor(n, timeoutMs = 10_000) {
          return new Promise((ok, fail) => {
            const timer = setTimeout(() => fail(new Error(`timed out waiting for ${n} events; got ${JSON.stringify(events.map((e) => e.type))}`)), timeoutMs);
            const check = () => {
              if (events.length >= n) {
                clearTimeout(timer);
                ok(events);
              } else waiters.push(check);
            };
            check();
          });
        },
      });
    });
    req.on('error', reject);
    req.end();
  });
}
