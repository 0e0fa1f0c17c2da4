/**
 * Errors about a config, placed at their lines: HAProxy's own verdict reported by an agent
 * (`status.lastApplyError`), the API server's 422 for `spec.config` (template errors carry
 * `haproxy.cfg:LINE:COL`), and a client-side lint against the manual's keyword data.
 *
 * The first two are read into ConfigDiagnostics (line numbers, no document needed), which the
 * editor places on its current text with `toDiagnostics`; positions then follow edits.
 */
import type { Diagnostic } from '@codemirror/lint';
import type { Line, Text } from '@codemirror/state';
import type { HAProxyInstanceStatus, Status } from '@haproxyhq/schemas';
import { firstWordOf, wordsOf } from './config-text.ts';
import { SECTION_KEYWORDS } from './sections.ts';
import type { KeywordIndex } from './keywords/index.ts';

/** An error or warning about a line of the config, before it is placed in a document. */
export interface ConfigDiagnostic {
  /** 1-based line of haproxy.cfg; undefined when the message names none (shown on line 1). */
  line?: number;
  /** 1-based column where the problem starts, when known. */
  column?: number;
  severity: 'error' | 'warning' | 'info';
  message: string;
  /** Who says so: "haproxy -c on edge-1", "api-server". */
  source?: string;
  /** Words the message quotes, best first: the first one found on the line is underlined. */
  tokens?: string[];
}

export type ApplyError = NonNullable<HAProxyInstanceStatus['lastApplyError']>;

const PREFIX = /^\[(ALERT|WARNING|NOTICE)\]\s+(?:\d+\/\d+\s+)?\(\d+\)\s*:\s?/;
// HAProxy ends a failed check with these; they add nothing next to the errors they sum up.
const SUMMARY = /Error\(s\) found in configuration file|Fatal errors found in configuration/;
const ADDRESS = /^[\d.]+$|^[0-9a-f:]+$/i;

const basename = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/** Words an HAProxy message quotes, the ones naming the culprit first ("unknown keyword 'x'"). */
function quotedTokens(message: string): string[] {
  const culprits = [...message.matchAll(/(?:unknown [\w ]*?|no such [\w ]*?: ?)'([^']+)'/g)].map((m) => m[1]!);
  const all = [...message.matchAll(/'([^']+)'/g)].map((m) => m[1]!);
  return [...new Set([...culprits, ...all])];
}

/** `[file:LINE]` places a message names, "parsing [...]" first; addresses like [127.0.0.1:80] are not places. */
function placesIn(message: string): { file: string; line: number }[] {
  const out: { file: string; line: number }[] = [];
  for (const pattern of [/parsing \[([^\]\n]+):(\d+)\]/g, /\[([^\]\n]+):(\d+)\]/g]) {
    for (const m of message.matchAll(pattern)) {
      if (!ADDRESS.test(m[1]!)) out.push({ file: m[1]!, line: Number(m[2]) });
    }
  }
  return out;
}

/**
 * Reads an agent's `status.lastApplyError` into line diagnostics. The message is HAProxy's own
 * output, one alert per line (with or without the `[ALERT] (pid) :` prefix), continuation lines
 * indented. Only places in the main config file count as lines of the edited text: `configFile`
 * names it (default: the error's `file` when it is a .cfg, else "haproxy.cfg"), compared by
 * base name since the agent may report an absolute path. Pass only errors of the revision shown.
 */
export function applyErrorDiagnostics(error: ApplyError, opts: { source?: string; configFile?: string } = {}): ConfigDiagnostic[] {
  const configFile = basename(opts.configFile ?? (error.file?.endsWith('.cfg') ? error.file : 'haproxy.cfg'));
  const alerts: { severity: ConfigDiagnostic['severity']; lines: string[] }[] = [];
  for (const raw of error.message.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const prefix = PREFIX.exec(line);
    if (prefix) {
      if (prefix[1] === 'NOTICE') continue;
      alerts.push({ severity: prefix[1] === 'WARNING' ? 'warning' : 'error', lines: [line.slice(prefix[0].length).trimEnd()] });
    } else if (/^\s/.test(line) && alerts.length > 0) {
      if (line.trim() !== '') alerts[alerts.length - 1]!.lines.push(line);
    } else if (line.trim() !== '') {
      alerts.push({ severity: 'error', lines: [line.trimEnd()] });
    }
  }
  const meaningful = alerts.filter((a) => !SUMMARY.test(a.lines[0]!));
  const out: ConfigDiagnostic[] = [];
  for (const alert of meaningful.length > 0 ? meaningful : alerts) {
    const head = alert.lines[0]!;
    // "unmatched quote at position 29:" is followed by an echo of the line and a caret under
    // the column: the column says the same, more usefully.
    const position = /at position (\d+)/.exec(head);
    const message = position ? head.replace(/:$/, '') : alert.lines.join('\n');
    const place = placesIn(head).find((p) => basename(p.file) === configFile);
    const diag: ConfigDiagnostic = { severity: alert.severity, message, source: opts.source ?? 'haproxy -c' };
    if (place) {
      diag.line = place.line;
      if (position) diag.column = Number(position[1]);
    }
    const tokens = quotedTokens(head);
    if (tokens.length > 0) diag.tokens = tokens;
    out.push(diag);
  }
  // An error whose text names no line, but whose line the agent recorded: trust the agent.
  if (error.line !== undefined && (error.file === undefined || basename(error.file) === configFile) && out.every((d) => d.line === undefined)) {
    const first = out[0];
    if (first) first.line = error.line;
  }
  return out;
}

/**
 * Apply errors of several instances (the ones running the revision shown), each labelled with
 * its instance; the same error at the same place from many instances is shown once.
 */
export function diagnosticsFromApplyErrors(
  errors: readonly { instance: string; error: ApplyError }[],
  opts: { configFile?: string } = {},
): ConfigDiagnostic[] {
  const merged = new Map<string, { diag: ConfigDiagnostic; instances: string[] }>();
  for (const { instance, error } of errors) {
    for (const diag of applyErrorDiagnostics(error, opts)) {
      // The same file at another path on another host must still merge: compare without the path.
      const key = JSON.stringify([diag.line, diag.column, diag.severity, diag.message.replace(/\[[^\]]*\//g, '[')]);
      const seen = merged.get(key);
      if (seen) seen.instances.push(instance);
      else merged.set(key, { diag, instances: [instance] });
    }
  }
  return [...merged.values()].map(({ diag, instances }) => {
    const names = instances.length > 3 ? `${instances.slice(0, 3).join(', ')} and ${instances.length - 3} more` : instances.join(', ');
    return { ...diag, source: `haproxy -c on ${names}` };
  });
}

/**
 * Reads the API server's 422 Status into line diagnostics for one field (default `spec.config`):
 * template errors say `haproxy.cfg:LINE:COL: ...`; causes for other fields are left to the page.
 */
export function diagnosticsFromStatus(status: Pick<Status, 'details'>, opts: { field?: string; source?: string } = {}): ConfigDiagnostic[] {
  const field = opts.field ?? 'spec.config';
  const out: ConfigDiagnostic[] = [];
  for (const cause of status.details?.causes ?? []) {
    if (cause.field !== field) continue;
    const message = cause.message ?? cause.reason ?? 'invalid';
    const diag: ConfigDiagnostic = { severity: 'error', message, source: opts.source ?? 'api-server' };
    const at = /(?:^|\s)[^\s:]+:(\d+):(\d+):\s/.exec(message) ?? /\[[^\]\s:]+:(\d+)\]/.exec(message) ?? /\bline (\d+)/i.exec(message);
    if (at) {
      diag.line = Number(at[1]);
      if (at[2] !== undefined) diag.column = Number(at[2]);
    }
    out.push(diag);
  }
  return out;
}

/** The range to mark on a line: a `{{...}}` or word at the column, a quoted token, or the line's text. */
function rangeOn(line: Line, d: ConfigDiagnostic): { from: number; to: number } {
  const text = line.text;
  if (d.column !== undefined) {
    const start = Math.min(Math.max(d.column - 1, 0), text.length);
    const rest = text.slice(start);
    const placeholder = /^\{\{.*?\}\}/.exec(rest);
    const len = placeholder ? placeholder[0].length : (/^\S+/.exec(rest)?.[0].length ?? 0);
    return { from: line.from + start, to: line.from + start + len };
  }
  for (const token of d.tokens ?? []) {
    const escaped = token.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const m = new RegExp(`(?<![\\w.-])${escaped}(?![\\w.-])`).exec(text);
    if (m) return { from: line.from + m.index, to: line.from + m.index + token.length };
  }
  const indent = /^\s*/.exec(text)![0].length;
  return { from: line.from + indent, to: line.to };
}

/** Places line diagnostics in a document; lines past its end go to its last line. */
export function toDiagnostics(doc: Text, diagnostics: readonly ConfigDiagnostic[]): Diagnostic[] {
  return diagnostics.map((d) => {
    const line = doc.line(Math.min(Math.max(d.line ?? 1, 1), doc.lines));
    const located = d.line !== undefined && d.line >= 1 && d.line <= doc.lines;
    const range = located ? rangeOn(line, d) : { from: line.from, to: line.to };
    return {
      ...range,
      severity: d.severity,
      message: d.line !== undefined && !located ? `${d.message} (line ${d.line} is past the end of this text)` : d.message,
      ...(d.source ? { source: d.source } : {}),
    };
  });
}

/**
 * Warns about keywords the manual's data does not know in their section. Only warnings: a newer
 * HAProxy than the data, or a Lua-registered keyword, may well know them; `haproxy -c` decides.
 */
export function lintConfig(doc: Text, index: KeywordIndex): Diagnostic[] {
  const version = index.data.version;
  const out: Diagnostic[] = [];
  const warn = (line: Line, from: number, to: number, message: string) =>
    out.push({ from: line.from + from, to: line.from + to, severity: 'warning', message, source: `HAProxy ${version} manual` });
  let section: string | null = null;
  for (let n = 1; n <= doc.lines; n++) {
    const line = doc.line(n);
    if (firstWordOf(line.text) === undefined) continue;
    const words = wordsOf(line.text);
    const first = words[0]!;
    if (SECTION_KEYWORDS.has(first.text)) {
      section = first.text;
      if (!index.sectionNames.has(section)) {
        warn(line, first.from, first.from + section.length, `unknown section '${section}' (HAProxy ${version})`);
      }
      continue;
    }
    // Conditional blocks (.if/.endif/.notice) and templated or quoted keywords are not ours to judge.
    if (first.text.startsWith('.') || /[{}$"'\\]/.test(first.text)) continue;
    if (section === null) {
      warn(line, first.from, first.from + first.text.length, `'${first.text}' is outside any section: start one with global, defaults, frontend, backend, ...`);
      continue;
    }
    if (!index.sectionNames.has(section)) continue;
    let k = 0;
    while (k < words.length - 1 && (words[k]!.text === 'no' || words[k]!.text === 'default')) k++;
    const kw = words[k]!;
    const keywords = index.keywords(section);
    const where = `${section} section (HAProxy ${version})`;
    if (!index.firstWords(section).has(kw.text)) {
      warn(line, kw.from, kw.from + kw.text.length, `unknown keyword '${kw.text}' in ${where}`);
      continue;
    }
    // "option", "timeout", ... are only keywords with their second word.
    const second = words[k + 1];
    if (keywords.has(kw.text) || second === undefined || /[{}$"'\\]/.test(second.text)) continue;
    const pair = `${kw.text} ${second.text}`;
    if (!keywords.has(pair)) warn(line, second.from, second.from + second.text.length, `unknown keyword '${pair}' in ${where}`);
  }
  return out;
}
