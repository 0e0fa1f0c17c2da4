/**
 * `npm start` and the tests' and benchmarks' startServer run the server the same way: what the
 * benchmarks measure is what `npm start` runs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { SERVER_ENV, SERVER_NODE_FLAGS } from './support/server.ts';

it('package.json start runs main.ts with startServer\'s V8 flags and environment', () => {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const env = Object.entries(SERVER_ENV).map(([k, v]) => `${k}=${v}`);
  expect(pkg.scripts.start).toBe([...env, 'node', ...SERVER_NODE_FLAGS, 'api-server/src/main.ts'].join(' '));
});
