/**
 * The example manifests are what people copy first: every HAProxyConfig in manifests/examples/
 * must pass real `haproxy -c` with its files laid out as the agent lays them out, run the way the
 * README says to run HAProxy (in the config directory, `-C`). And the reason for that advice:
 * on 2.6, `default-path config` alone does not make map files relative to the config.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAll } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { renderConfig } from '@haproxyhq/schemas';
import { checkConfig } from '../agent/src/haproxy/check.ts';
import { haproxyBin } from '../agent/test/support/haproxy.ts';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'manifests', 'examples');

describe('example manifests', () => {
  const docs = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => loadAll(readFileSync(join(dir, f), 'utf8')).map((doc) => ({ file: f, doc: doc as any })));
  const instances = docs.filter(({ doc }) => doc?.kind === 'HAProxyInstance').map(({ doc }) => doc);
  // A templated config is checked as each example instance would get it.
  const configs = docs
    .filter(({ doc }) => doc?.kind === 'HAProxyConfig')
    .flatMap(({ file, doc }) =>
      doc.spec.template
        ? instances.map((i) => ({ file: `${file} for ${i.metadata.name}`, doc: { ...doc, spec: { ...doc.spec, ...renderConfig(doc.spec, i) } } }))
        : [{ file, doc }],
    );

  it('include at least one HAProxyConfig', () => {
    expect(configs.length).toBeGreaterThan(0);
  });

  it('give each example instance its own listening address (two agents can run on one host)', () => {
    const binds = configs.map(({ doc }) => /bind (\S+)/.exec(doc.spec.config)?.[1]);
    expect(new Set(binds).size).toBe(binds.length);
  });

  for (const { file, doc } of configs) {
    it(`${file}: ${doc.metadata.name} passes haproxy -c`, async () => {
      const work = mkdtempSync(join(tmpdir(), 'hq-example-'));
      try {
        writeFileSync(join(work, 'haproxy.cfg'), doc.spec.config);
        for (const f of doc.spec.files ?? []) {
          mkdirSync(dirname(join(work, f.path)), { recursive: true });
          writeFileSync(join(work, f.path), f.content);
        }
        const result = await checkConfig({ haproxyBin: await haproxyBin(), configPath: join(work, 'haproxy.cfg'), cwd: work, timeoutMs: 20_000 });
        expect(result.error?.message ?? '', `line ${result.error?.line}`).toBe('');
        expect(result.ok).toBe(true);
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    });
  }

  it('needs -C: with default-path config alone, HAProxy 2.6 looks for map files in its working directory', async () => {
    const withMap = configs.find(({ doc }) => /map\(/.test(doc.spec.config));
    expect(withMap).toBeDefined();
    const work = mkdtempSync(join(tmpdir(), 'hq-example-'));
    try {
      writeFileSync(join(work, 'haproxy.cfg'), withMap!.doc.spec.config);
      for (const f of withMap!.doc.spec.files ?? []) {
        mkdirSync(dirname(join(work, f.path)), { recursive: true });
        writeFileSync(join(work, f.path), f.content);
      }
      const elsewhere = await checkConfig({ haproxyBin: await haproxyBin(), configPath: join(work, 'haproxy.cfg'), cwd: tmpdir(), timeoutMs: 20_000 });
      expect(elsewhere.ok).toBe(false);
      expect(elsewhere.error?.message).toMatch(/failed to open pattern file <maps\/hosts\.map>/);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
