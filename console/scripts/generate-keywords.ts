/**
 * Writes console/src/editor/keywords/haproxy-<major.minor>.json from HAProxy's configuration
 * manual, for the config editor's completion and lint.
 *
 *   node console/scripts/generate-keywords.ts [--manual PATH] [--check]
 *
 * The manual defaults to Debian's /usr/share/doc/haproxy/configuration.txt(.gz). With --check,
 * writes nothing and exits 1 when the committed file for the manual's version differs from what
 * the manual produces; a manual whose version has no committed file is not an error (the host
 * simply runs another HAProxy than the one the data was generated from).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { manualVersion, parseManual, serializeKeywords } from './haproxy-manual.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const KEYWORDS_DIR = join(root, 'console/src/editor/keywords');
export const DEFAULT_MANUALS = ['/usr/share/doc/haproxy/configuration.txt', '/usr/share/doc/haproxy/configuration.txt.gz'];

/** The installed manual's path, or undefined when HAProxy's documentation is not installed. */
export function findManual(candidates: string[] = DEFAULT_MANUALS): string | undefined {
  return candidates.find((p) => existsSync(p));
}

/** Reads a manual, gzipped or not (Debian compresses it). */
export function readManual(path: string): string {
  const bytes = readFileSync(path);
  // gzip magic number: decompress whatever the file is called.
  const raw = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
  return raw.toString('utf8');
}

/** Where the data generated from a manual of this version lives. */
export function keywordsFile(version: string): string {
  return join(KEYWORDS_DIR, `haproxy-${version}.json`);
}

/** The generated file's path and content for a manual's text. */
export function generate(text: string): { file: string; content: string } {
  const data = parseManual(text);
  return { file: keywordsFile(data.version), content: serializeKeywords(data) };
}

function main(argv: string[]): number {
  const at = argv.indexOf('--manual');
  const explicit = at === -1 ? undefined : argv[at + 1];
  if (at !== -1 && explicit === undefined) {
    console.error('usage: node console/scripts/generate-keywords.ts [--manual PATH] [--check]');
    return 2;
  }
  const check = argv.includes('--check');
  const manual = explicit ?? findManual();
  if (!manual) {
    const msg = `no HAProxy manual at ${DEFAULT_MANUALS.join(' or ')}: install Debian's haproxy package or pass --manual PATH`;
    // In --check mode a host without the manual has nothing to compare against: not a failure.
    if (check) {
      console.log(`skipped: ${msg}`);
      return 0;
    }
    console.error(msg);
    return 1;
  }
  if (!existsSync(manual)) {
    console.error(`no such manual: ${manual}`);
    return 1;
  }
  const text = readManual(manual);
  const version = manualVersion(text)?.version;
  if (!version) {
    console.error(`${manual} is not HAProxy's configuration manual (no "version X.Y" line)`);
    return 1;
  }
  const { file, content } = generate(text);
  const current = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  if (check) {
    if (current === undefined) {
      console.log(`skipped: no committed ${relative(root, file)} for the installed manual (HAProxy ${version})`);
      return 0;
    }
    if (current !== content) {
      console.error(`${relative(root, file)} is stale: run \`node console/scripts/generate-keywords.ts\` and commit the result.`);
      return 1;
    }
    console.log(`${relative(root, file)} is up to date with ${manual}`);
    return 0;
  }
  if (current === content) {
    console.log(`${relative(root, file)} is up to date`);
  } else {
    writeFileSync(file, content);
    console.log(`wrote ${relative(root, file)} from ${manual}`);
  }
  return 0;
}

if (import.meta.main) process.exitCode = main(process.argv.slice(2));
