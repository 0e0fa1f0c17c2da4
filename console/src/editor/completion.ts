/**
 * Keyword completion for haproxy.cfg from the manual's keyword data, for the HAProxy version an
 * instance runs: section keywords, the keywords of the section the cursor is in, bind and server
 * options, rule actions, sample fetches and converters, and the names the config itself declares
 * (backends for use_backend, ACLs for conditions).
 */
import type { Completion, CompletionContext, CompletionResult, CompletionSource } from '@codemirror/autocomplete';
import type { EditorState } from '@codemirror/state';
import { sectionAt, sectionEnd, wordsOf } from './config-text.ts';
import { keywordData, keywordIndex, manualRef, type KeywordIndex } from './keywords/index.ts';
import type { KeywordEntry } from './keywords/types.ts';

/** What the cursor is on, as far as completion is concerned. `from` is where the typed word starts. */
export type CompletionPlace =
  | { kind: 'keyword'; from: number; section: string | null; column0: boolean }
  | { kind: 'subkeyword'; from: number; section: string | null; prefix: string }
  | { kind: 'bind-option'; from: number }
  | { kind: 'server-option'; from: number }
  | { kind: 'action'; from: number; rule: string }
  | { kind: 'fetch'; from: number; acl: boolean }
  | { kind: 'converter'; from: number }
  | { kind: 'acl-name'; from: number; section: string | null }
  | { kind: 'backend-name'; from: number };

const SERVER_OPTIONS_FROM: Record<string, number> = { server: 3, 'default-server': 1, 'server-template': 4 };
const RULES = new Set(['http-request', 'http-response', 'http-after-response']);
const WORD = /[\w.-]*$/;

/** Where an unclosed `%[` before the end of `text` starts, if any. */
function openSample(text: string): number {
  const open: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '%' && text[i + 1] === '[') {
      open.push(i);
      i++;
    } else if (text[i] === ']' && open.length > 0) {
      open.pop();
    }
  }
  return open.length > 0 ? open[open.length - 1]! : -1;
}

/** Decides what to complete at `pos`: pure, so tests can ask it directly. */
export function completionPlace(state: EditorState, pos: number, index: KeywordIndex): CompletionPlace | null {
  const line = state.doc.lineAt(pos);
  const before = line.text.slice(0, pos - line.from);
  const partial = WORD.exec(before)![0];
  const from = pos - partial.length;

  const sample = openSample(before);
  if (sample !== -1) {
    const inner = before.slice(sample + 2, before.length - partial.length);
    // Inside a fetch's or converter's arguments: nothing we know to complete.
    if ((inner.match(/\(/g)?.length ?? 0) > (inner.match(/\)/g)?.length ?? 0)) return null;
    if (inner === '') return { kind: 'fetch', from, acl: false };
    return inner.endsWith(',') ? { kind: 'converter', from } : null;
  }
  if (/(^|\s)#/.test(before) || /["']/.test(before.slice(from - line.from - 1, from - line.from))) return null;

  const words = wordsOf(before);
  const atNewWord = before === '' || /\s$/.test(before);
  const current = atNewWord ? words.length : words.length - 1;
  if (!atNewWord && words[current]!.text !== partial) return null; // inside a path, a quoted string, ...

  const sectionLine = sectionAt(state.doc, line.number);
  const isHeader = sectionLine?.line === line.number;
  const section = isHeader ? null : (sectionLine?.name ?? null);
  if (current === 0) return { kind: 'keyword', from, section, column0: from === line.from };
  if (isHeader) return null;

  // "no option x" and "default option x" complete like "option x".
  let skip = 0;
  while (skip < words.length && (words[skip]!.text === 'no' || words[skip]!.text === 'default')) skip++;
  const kw = words.slice(skip).map((w) => w.text);
  const at = current - skip;
  const first = kw[0];
  if (first === undefined || at === 0) return { kind: 'keyword', from, section, column0: false };

  const conditionAt = kw.findIndex((w, i) => i > 0 && i < at && (w === 'if' || w === 'unless'));
  if (conditionAt !== -1) {
    const cond = kw.slice(conditionAt + 1, at);
    const open = cond.filter((w) => w === '{').length - cond.filter((w) => w === '}').length;
    if (open > 0) return kw[at - 1] === '{' ? { kind: 'fetch', from, acl: true } : null;
    return { kind: 'acl-name', from, section };
  }
  if (first === 'acl' && at === 2) return { kind: 'fetch', from, acl: true };
  if ((first === 'use_backend' || first === 'default_backend') && at === 1) return { kind: 'backend-name', from };
  if (first === 'bind' && at >= 2) return { kind: 'bind-option', from };
  const serverFrom = SERVER_OPTIONS_FROM[first];
  if (serverFrom !== undefined && at >= serverFrom) return { kind: 'server-option', from };
  if (RULES.has(first) && at === 1) return { kind: 'action', from, rule: first };
  if ((first === 'tcp-request' || first === 'tcp-response') && at === 2) return { kind: 'action', from, rule: `${first} ${kw[1]}` };
  if (at === 1 && section !== null && [...index.keywords(section).keys()].some((k) => k.startsWith(`${first} `))) {
    return { kind: 'subkeyword', from, section, prefix: first };
  }
  return null;
}

function entryCompletion(label: string, entry: KeywordEntry, type: string, boost = 0): Completion {
  const [summary, manual, usage] = entry;
  // The usage without the name itself: "<algorithm> [ <arguments> ]" for balance.
  let detail = usage?.startsWith(label) ? usage.slice(label.length).trim() : '';
  if (detail.length > 48) detail = `${detail.slice(0, 47)}…`;
  return {
    label,
    type,
    info: summary ? `${summary}\n${manualRef(manual)}` : manualRef(manual),
    ...(detail ? { detail } : {}),
    ...(boost ? { boost } : {}),
  };
}

const fromRecord = (record: Record<string, KeywordEntry> | undefined, type: string) =>
  Object.entries(record ?? {}).map(([label, entry]) => entryCompletion(label, entry, type));

/** Names that lines starting with `keyword` declare, e.g. every `backend NAME`. */
function declared(state: EditorState, keywords: ReadonlySet<string>, fromLine = 1, toLine = state.doc.lines): string[] {
  const out = new Set<string>();
  for (let n = fromLine; n <= toLine; n++) {
    const m = /^\s*(\S+)\s+([^\s#]+)/.exec(state.doc.line(n).text);
    if (m && keywords.has(m[1]!)) out.add(m[2]!);
  }
  return [...out];
}

/** The completion options for a place (option lists are built once per data file and kind). */
export function completionsFor(place: CompletionPlace, index: KeywordIndex, state: EditorState): Completion[] {
  const { data } = index;
  switch (place.kind) {
    case 'keyword': {
      const keywords = place.section ? [...index.keywords(place.section)].map(([k, e]) => entryCompletion(k, e, 'keyword')) : [];
      // At column 0 a new section is the likelier intent; indented, a keyword.
      const sections =
        place.column0 || place.section === null
          ? Object.entries(data.sections).map(([name, s]) => entryCompletion(name, [s.summary, s.manual], 'namespace', place.column0 ? 1 : 0))
          : [];
      return [...sections, ...keywords];
    }
    case 'subkeyword':
      return [...index.keywords(place.section ?? '')]
        .filter(([k]) => k.startsWith(`${place.prefix} `))
        .map(([k, e]) => entryCompletion(k.slice(place.prefix.length + 1), [e[0], e[1], e[2]?.slice(place.prefix.length + 1)], 'keyword'));
    case 'bind-option':
      return fromRecord(data.bindOptions, 'property');
    case 'server-option':
      return fromRecord(data.serverOptions, 'property');
    case 'action':
      return fromRecord(data.actions[place.rule], 'method');
    case 'fetch':
      return [...fromRecord(data.fetches, 'function'), ...(place.acl ? fromRecord(data.aclCriteria, 'function') : [])];
    case 'converter':
      return fromRecord(data.converters, 'function');
    case 'acl-name': {
      const line = state.doc.lineAt(place.from).number;
      return declared(state, new Set(['acl']), sectionAt(state.doc, line)?.line ?? 1, sectionEnd(state.doc, line)).map((label) => ({ label, type: 'variable', detail: 'acl' }));
    }
    case 'backend-name':
      return declared(state, new Set(['backend', 'listen'])).map((label) => ({ label, type: 'class', detail: 'backend' }));
  }
}

/**
 * A CodeMirror completion source for the HAProxy version an instance reports (e.g.
 * "2.6.12-1+deb12u2"), using the nearest data file we have.
 */
export function haproxyCompletions(version?: string): CompletionSource {
  const index = keywordIndex(keywordData(version));
  return (context: CompletionContext): CompletionResult | null => {
    const place = completionPlace(context.state, context.pos, index);
    if (!place) return null;
    // Typing a space is not asking for a list; Ctrl-Space and `%[` are.
    if (place.from === context.pos && !context.explicit && place.kind !== 'fetch' && place.kind !== 'converter') return null;
    const options = completionsFor(place, index, context.state);
    if (options.length === 0) return null;
    return { from: place.from, options, validFor: /^[\w.-]*$/ };
  };
}
