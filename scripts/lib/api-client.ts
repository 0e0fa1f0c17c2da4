/**
 * The benchmarks' API client: HTTPS with keep-alive to a server started by the tests' support,
 * failing loudly on anything but a 2xx. Each benchmark extends it with what it alone needs.
 */
import { Agent, request as httpsRequest } from 'node:https';
import type { ServerProcess } from '../../api-server/test/support/server.ts';

export interface Obj {
  metadata: { name: string; resourceVersion: string; generation?: number; [k: string]: unknown };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  items?: Obj[];
  [k: string]: unknown;
}

export class BenchApi {
  readonly server: ServerProcess;
  readonly agent: Agent;
  protected readonly url: URL;

  constructor(server: ServerProcess, sockets: number) {
    this.server = server;
    this.url = new URL(server.url);
    this.agent = new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets, ca: server.ca });
  }

  /** One request; resolves with the parsed body of a 2xx answer, rejects on anything else. */
  call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Obj> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          host: this.url.hostname,
          port: this.url.port,
          method,
          path,
          agent: this.agent,
          headers: {
            authorization: `Bearer ${this.server.token}`,
            accept: 'application/json',
            ...(payload !== undefined ? { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d: Buffer) => chunks.push(d));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const code = res.statusCode ?? 0;
            if (code < 200 || code >= 300) {
              reject(new Error(`${method} ${path} answered ${code}: ${text.slice(0, 600)}`));
              return;
            }
            try {
              resolve(JSON.parse(text) as Obj);
            } catch {
              reject(new Error(`${method} ${path} answered ${code} with a body that is not JSON: ${text.slice(0, 200)}`));
            }
          });
        },
      );
      req.on('error', (err) => reject(new Error(`${method} ${path} failed: ${err.message}`)));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
