/**
 * Serves the built console (console/dist) at /. The files are read once at start into memory
 * (a few MiB at most): no filesystem access per request, no path from a URL ever reaches the
 * filesystem. Client-side routes (/instances/..., /configs/...) get index.html. The console's
 * files are public; everything it shows comes from the API with the user's bearer token.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Paths the console's router owns (console/src/App.tsx): a reload there must load the app. */
export const CONSOLE_ROUTE_PREFIXES = ['/signin', '/instances', '/configs', '/access', '/audit'];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** The whole console must stay small; a bigger directory is a wrong --console-dir, not a console. */
const MAX_TOTAL_BYTES = 64 * 1024 * 1024;

// Scripts only from our own origin; CodeMirror and Solid inject styles, so inline styles are
// allowed, inline scripts never. The API is same-origin.
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

export interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
  /** Vite's hashed assets never change under the same name. */
  immutable: boolean;
}

/** Load every file under `dir` (relative URL path → file); throws with what is wrong. */
export function loadConsole(dir: string): Map<string, StaticFile> {
  if (!existsSync(join(dir, 'index.html'))) {
    throw new Error(`${join(dir, 'index.html')} does not exist: build the console first (npm run build:console)`);
  }
  const files = new Map<string, StaticFile>();
  let total = 0;
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) {
        walk(p);
        continue;
      }
      if (!st.isFile() || name.endsWith('.map')) continue;
      total += st.size;
      if (total > MAX_TOTAL_BYTES) throw new Error(`${dir} holds more than ${MAX_TOTAL_BYTES} bytes: is it really the console's build output?`);
      const body = readFileSync(p);
      const url = '/' + relative(dir, p).split(sep).join('/');
      files.set(url, {
        body,
        type: TYPES[extname(name)] ?? 'application/octet-stream',
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
        immutable: url.startsWith('/assets/'),
      });
    }
  };
  walk(dir);
  return files;
}

/** Whether a request path is the console's (so the API's bearer-token check does not apply). */
export function isConsolePath(path: string, files: Map<string, StaticFile>): boolean {
  return path === '/' || files.has(path) || path.startsWith('/assets/') || CONSOLE_ROUTE_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`));
}

export interface ConsoleRoutesOptions {
  files: Map<string, StaticFile>;
}

export async function consoleRoutes(app: FastifyInstance, opts: ConsoleRoutesOptions): Promise<void> {
  const index = opts.files.get('/index.html')!;
  const send = (req: FastifyRequest, reply: FastifyReply, f: StaticFile) => {
    reply.headers(SECURITY_HEADERS);
    reply.header('etag', f.etag);
    reply.header('cache-control', f.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    if (req.headers['if-none-match'] === f.etag) return reply.code(304).send();
    return reply.type(f.type).send(f.body);
  };
  const appShell = async (req: FastifyRequest, reply: FastifyReply) => send(req, reply, index);
  app.get('/', appShell);
  for (const p of CONSOLE_ROUTE_PREFIXES) {
    app.get(p, appShell);
    app.get(`${p}/*`, appShell);
  }
  for (const [url, f] of opts.files) {
    if (url === '/index.html') continue;
    app.get(url, async (req, reply) => send(req, reply, f));
  }
}
