/**
 * Config templates: one HAProxyConfig text serves many instances. Deliberately small, so an
 * operator can read a template and know what every host gets:
 *
 *   {{ name }}  {{ namespace }}  {{ labels.KEY }}  {{ values.KEY }}  {{ labels.KEY | default "x" }}
 *
 * `values` come from the instance's `spec.values`. Nothing else: no loops, no conditionals, no
 * expressions. `{{` appears nowhere in HAProxy's own syntax, so templates only apply when the
 * config sets `spec.template: true`; untemplated configs are byte-for-byte what the agent writes.
 * Environment-neutral (no Node APIs): the server, the agent, hqctl and the console share it.
 */

export interface TemplateInstance {
  metadata: { name?: string; namespace?: string; labels?: Record<string, string> };
  spec?: { values?: Record<string, string> };
}

/** One `{{ ... }}` placeholder, parsed. */
export interface Placeholder {
  root: 'name' | 'namespace' | 'labels' | 'values';
  key?: string;
  fallback?: string;
  /** 1-based line and column of the opening `{{`. */
  line: number;
  column: number;
  /** Offsets of the whole placeholder in the text. */
  start: number;
  end: number;
}

/** A template that cannot be parsed or rendered; `file` is 'haproxy.cfg' or a file's path. */
export class TemplateError extends Error {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  constructor(file: string, line: number, column: number, message: string) {
    super(`${file}:${line}:${column}: ${message}`);
    this.name = 'TemplateError';
    this.file = file;
    this.line = line;
    this.column = column;
  }
}

// Label keys (with an optional DNS prefix) and value keys: what Kubernetes allows in label keys.
const KEY = '[A-Za-z0-9]([A-Za-z0-9._/-]{0,251}[A-Za-z0-9])?';
const EXPR = new RegExp(`^\\s*(name|namespace|(labels|values)\\.(${KEY}))\\s*(\\|\\s*default\\s+"((?:[^"\\\\]|\\\\.)*)"\\s*)?$`);

function position(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let last = -1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    last = i;
  }
  return { line, column: offset - last };
}

/** Every placeholder of `text`, or a TemplateError naming the first malformed one. */
export function parseTemplate(text: string, file = 'haproxy.cfg'): Placeholder[] {
  const out: Placeholder[] = [];
  let from = 0;
  for (;;) {
    const start = text.indexOf('{{', from);
    if (start === -1) break;
    const { line, column } = position(text, start);
    const close = text.indexOf('}}', start + 2);
    const newline = text.indexOf('\n', start);
    if (close === -1 || (newline !== -1 && newline < close)) {
      throw new TemplateError(file, line, column, 'unclosed "{{": a placeholder ends with "}}" on the same line');
    }
    const body = text.slice(start + 2, close);
    const m = EXPR.exec(body);
    if (!m) {
      throw new TemplateError(
        file,
        line,
        column,
        `cannot parse "{{${body}}}": expected name, namespace, labels.KEY or values.KEY, optionally followed by | default "text"`,
      );
    }
    const root = (m[2] ?? m[1]) as Placeholder['root'];
    const fallback = m[6] === undefined ? undefined : m[6].replace(/\\(.)/g, '$1');
    if (fallback !== undefined && /[\r\n]/.test(fallback)) {
      throw new TemplateError(file, line, column, 'a default must not contain a line break');
    }
    out.push({ root, key: m[3], fallback, line, column, start, end: close + 2 });
    from = close + 2;
  }
  return out;
}

function lookup(p: Placeholder, instance: TemplateInstance): string | undefined {
  switch (p.root) {
    case 'name':
      return instance.metadata.name;
    case 'namespace':
      return instance.metadata.namespace;
    case 'labels':
      return instance.metadata.labels?.[p.key!];
    case 'values':
      return instance.spec?.values?.[p.key!];
  }
}

/** Render one text for one instance; a missing value without a default is a TemplateError. */
export function renderTemplate(text: string, instance: TemplateInstance, file = 'haproxy.cfg'): string {
  const placeholders = parseTemplate(text, file);
  if (placeholders.length === 0) return text;
  let out = '';
  let at = 0;
  for (const p of placeholders) {
    const value = lookup(p, instance) ?? p.fallback;
    if (value === undefined) {
      const what = p.root === 'labels' ? `label "${p.key}"` : p.root === 'values' ? `spec.values["${p.key}"]` : p.root;
      throw new TemplateError(file, p.line, p.column, `instance "${instance.metadata.name}" has no ${what} and the placeholder has no | default`);
    }
    // A value that breaks the line would let one label inject whole config sections.
    if (/[\r\n\0]/.test(value)) {
      throw new TemplateError(file, p.line, p.column, `the value for ${p.root}${p.key ? '.' + p.key : ''} of instance "${instance.metadata.name}" contains a line break`);
    }
    out += text.slice(at, p.start) + value;
    at = p.end;
  }
  return out + text.slice(at);
}

export interface RenderableSpec {
  config: string;
  files?: { path: string; content: string; kind?: 'map' | 'acl' | 'errorfile' | 'other' }[];
  template?: boolean;
}

/** The config text and files one instance runs: rendered when `template` is set, else as stored. */
export function renderConfig<S extends RenderableSpec>(spec: S, instance: TemplateInstance): { config: string; files: NonNullable<S['files']> } {
  const files = (spec.files ?? []) as NonNullable<S['files']>;
  if (!spec.template) return { config: spec.config, files };
  return {
    config: renderTemplate(spec.config, instance),
    files: files.map((f) => ({ ...f, content: renderTemplate(f.content, instance, f.path) })) as NonNullable<S['files']>,
  };
}

/** Check every placeholder of a templated spec parses; returns errors with the field they are in. */
export function checkTemplate(spec: RenderableSpec): { field: string; error: TemplateError }[] {
  if (!spec.template) return [];
  const errors: { field: string; error: TemplateError }[] = [];
  const check = (field: string, text: string, file: string) => {
    try {
      parseTemplate(text, file);
    } catch (e) {
      if (e instanceof TemplateError) errors.push({ field, error: e });
      else throw e;
    }
  };
  check('spec.config', spec.config, 'haproxy.cfg');
  (spec.files ?? []).forEach((f, i) => check(`spec.files[${i}].content`, f.content, f.path));
  return errors;
}
