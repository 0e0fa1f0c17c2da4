/**
 * Builds the agent as one file (agent/dist/hq-agent.mjs) to put on a host without the repo:
 * `node hq-agent.mjs run`. Needs Node.js 24 on the host, checked before anything loads.
 */
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');

const banner = [
  "import { createRequire as __hqRequire } from 'node:module';",
  'const require = __hqRequire(import.meta.url);',
  // Fail with a sentence, not a stack trace from deep inside a dependency.
  "if (Number(process.versions.node.split('.')[0]) < 24) { process.stderr.write('hq-agent needs Node.js 24 or newer (this is ' + process.version + ')\\n'); process.exit(1); }",
].join('\n');

/** Bundle the agent to `outfile`; returns its size in bytes. */
export async function bundleAgent(outfile = join(repo, 'agent/dist/hq-agent.mjs')): Promise<number> {
  const result = await build({
    entryPoints: [join(repo, 'agent/src/main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minifySyntax: true,
    legalComments: 'none',
    banner: { js: banner },
    metafile: true,
    logLevel: 'warning',
  });
  return Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const bytes = await bundleAgent(process.argv[2]);
  process.stdout.write(`wrote agent/dist/hq-agent.mjs (${(bytes / 1024 / 1024).toFixed(1)} MiB)\n`);
}
