/**
 * Reading `-f FILE|DIR|-`: every document of every file is parsed and checked before anything is
 * sent, so one bad document means nothing is applied. Errors name the file and line (YAML syntax)
 * or the file and document (what the document says), as precisely as the input allows.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CORE_SCHEMA, YAMLException, loadAll } from 'js-yaml';
import { API_VERSION } from '@haproxyhq/schemas';
import { CliError, MultiError } from './errors.ts';
import { resourceForKind, type Kind, type Resource } from './resources.ts';

export interface Manifest {
  /** `x.yaml (document 2)`, for messages. */
  source: string;
  /** The path as the user gave it (or as found in a directory), `STDIN` for `-`. */
  file: string;
  resource: Resource;
  name: string;
  /** metadata.namespace of the document, if it sets one. */
  namespace: string | undefined;
  /** The document, as parsed. */
  object: Record<string, unknown>;
}

export interface ReadOptions {
  /** The command, for messages: apply, delete, diff. */
  verb: string;
  /** Kinds this command accepts (apply: the ones people write; delete/diff: the same). */
  kinds: readonly Kind[];
  /** Reads standard input for `-f -`. */
  stdin: () => string;
}

const EXTENSIONS = /\.(ya?ml|json)$/i;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The files a `-f` argument stands for: the file, or a directory's manifests in name order. */
function expand(path: string): string[] {
  if (path === '-') return ['-'];
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new CliError(`the path "${path}" does not exist`);
  }
  if (!st.isDirectory()) return [path];
  return readdirSync(path)
    .filter((f) => EXTENSIONS.test(f))
    .sort()
    .map((f) => join(path, f))
    .filter((f) => statSync(f).isFile());
}

function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return `a ${typeof v}`;
}

/** Check one document; returns the manifests it holds (a `List` holds several) or throws a CliError. */
function checkDocument(doc: unknown, source: string, file: string, opts: ReadOptions): Manifest[] {
  if (!isRecord(doc)) throw new CliError(`${source}: expected a mapping with apiVersion, kind and metadata, got ${describeType(doc)}`);
  const { apiVersion, kind } = doc;
  if (apiVersion === 'v1' && kind === 'List') {
    if (!Array.isArray(doc.items)) throw new CliError(`${source}: a List needs items`);
    return doc.items.flatMap((item, i) => checkDocument(item, `${source.replace(/\)$/, '')}, item ${i + 1})`, file, opts));
  }
  if (apiVersion === undefined || apiVersion === '') throw new CliError(`${source}: apiVersion not set`);
  if (kind === undefined || kind === '') throw new CliError(`${source}: kind not set`);
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') throw new CliError(`${source}: apiVersion and kind must be strings`);
  const known = opts.kinds.join(', ');
  if (apiVersion !== API_VERSION) {
    throw new CliError(`${source}: unknown apiVersion "${apiVersion}" for kind "${kind}"; hqctl manages ${API_VERSION}: ${known}`);
  }
  const resource = resourceForKind(kind);
  if (!resource || !opts.kinds.includes(resource.kind)) {
    const why = resource?.kind === 'ConfigRevision' ? ' (the server records ConfigRevisions itself)' : '';
    throw new CliError(`${source}: unknown kind "${kind}" for ${API_VERSION}${why}; known: ${known}`);
  }
  const metadata = doc.metadata;
  if (!isRecord(metadata)) throw new CliError(`${source}: metadata.name is required`);
  const { name, namespace } = metadata;
  if (typeof name !== 'string' || name === '') {
    throw new CliError(`${source}: metadata.name is required${metadata.generateName !== undefined ? ' (generateName cannot be used with apply)' : ''}`);
  }
  if (namespace !== undefined && typeof namespace !== 'string') throw new CliError(`${source}: metadata.namespace must be a string`);
  return [{ source, file, resource, name, namespace: namespace || undefined, object: doc }];
}

/** Parse one file's text into manifests; errors are collected, not thrown one by one. */
export function parseManifests(text: string, file: string, opts: ReadOptions, errors: Error[]): Manifest[] {
  let docs: unknown[];
  try {
    docs = loadAll(text, { schema: CORE_SCHEMA, filename: file });
  } catch (err) {
    if (err instanceof YAMLException) {
      const where = err.mark ? `:${err.mark.line + 1}:${err.mark.column + 1}` : '';
      errors.push(new CliError(`${file}${where}: ${err.reason}`));
      return [];
    }
    throw err;
  }
  const out: Manifest[] = [];
  docs.forEach((doc, i) => {
    // Empty documents (a trailing `---`, a file of comments) are skipped, as kubectl does.
    if (doc === null || doc === undefined) return;
    try {
      out.push(...checkDocument(doc, `${file} (document ${i + 1})`, file, opts));
    } catch (err) {
      if (err instanceof CliError) errors.push(err);
      else throw err;
    }
  });
  return out;
}

/**
 * Read every `-f` path, parse every document, check every object. Throws a MultiError listing
 * every problem when there is any; otherwise returns the manifests in order.
 */
export function readManifests(paths: string[], opts: ReadOptions & { namespace?: string; explicitNamespace: boolean }): Manifest[] {
  if (paths.length === 0) throw new CliError(`must specify -f FILE (a file, a directory, or - for standard input)`);
  const errors: Error[] = [];
  const manifests: Manifest[] = [];
  let stdinRead = false;
  for (const p of paths) {
    let files: string[];
    try {
      files = expand(p);
    } catch (err) {
      errors.push(err instanceof Error ? err : new Error(String(err)));
      continue;
    }
    for (const f of files) {
      let text: string;
      if (f === '-') {
        if (stdinRead) {
          errors.push(new CliError('-f - (standard input) can be given only once'));
          continue;
        }
        stdinRead = true;
        text = opts.stdin();
      } else {
        try {
          text = readFileSync(f, 'utf8');
        } catch (err) {
          errors.push(new CliError(`cannot read ${f}: ${err instanceof Error ? err.message : String(err)}`));
          continue;
        }
      }
      manifests.push(...parseManifests(text, f === '-' ? 'STDIN' : f, opts, errors));
    }
  }
  const seen = new Map<string, Manifest>();
  for (const m of manifests) {
    const ns = m.namespace ?? opts.namespace;
    if (opts.explicitNamespace && m.namespace !== undefined && m.namespace !== opts.namespace) {
      errors.push(
        new CliError(
          `${m.source}: the namespace from the provided object "${m.namespace}" does not match the namespace "${opts.namespace}". You must pass '--namespace=${m.namespace}' to perform this operation.`,
        ),
      );
    }
    const key = `${m.resource.kind}/${ns}/${m.name}`;
    const first = seen.get(key);
    if (first) errors.push(new CliError(`${m.source}: ${m.resource.singular} "${m.name}" is also defined in ${first.source}`));
    else seen.set(key, m);
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new MultiError(errors);
  if (manifests.length === 0) throw new CliError(`no objects passed to ${opts.verb}: ${paths.join(', ')} holds no manifests`);
  return manifests;
}
