/**
 * Parses HAProxy's configuration manual (configuration.txt) into the editor's keyword data.
 *
 * The manual is plain text with stable conventions (80 columns, "N.N. Title" headings underlined
 * with dashes, every keyword described by an unindented usage line followed by a text indented by
 * two spaces). We rely on those conventions and on the data the manual itself tabulates (the
 * "global" keyword list in section 3, the proxy keyword matrix in 4.1, the "May be used in
 * sections" tables in 4.2) rather than on section numbers, which move between versions.
 * Pure: no file system access, so tests can run it on any text.
 */
import type { KeywordData, KeywordEntry, ProxyKeywordEntry, SectionInfo } from '../src/editor/keywords/types.ts';
import { STANDALONE_SECTIONS } from '../src/editor/sections.ts';

/** A numbered chapter of the manual ("3.4. Userlists") with its body lines. */
interface Chapter {
  number: string;
  title: string;
  lines: string[];
}

/** One described keyword: its usage line(s), summary, and "May be used in sections" letters if any. */
interface ManualEntry {
  headers: string[];
  summary: string;
  where?: string;
  /** The description's text, to expand names with placeholders. */
  body: string;
}

const HEADING = /^(\d+(?:\.\d+)*)\.\s+(\S.*?)\s*$/;
const UNDERLINE = /^-{3,}\s*$/;
// A usage line starts at column 0 with a lowercase keyword; prose sentences start with a capital.
// Names may hold placeholders ("map_<match_type>(...)"), expanded from the entry's text.
const USAGE_LINE = /^(?:no |default )?[a-z0-9][a-zA-Z0-9_.<>-]*(?:[( ]|$)/;
const SUMMARY_MAX = 200;
const USAGE_MAX = 120;

/** The manual's "version X.Y" and date lines from its title block. */
export function manualVersion(text: string): { version: string; date: string } | undefined {
  const head = text.split('\n', 12);
  for (let i = 0; i < head.length; i++) {
    const m = /^\s+version (\d+\.\d+)\b/.exec(head[i]!);
    if (m) return { version: m[1]!, date: head[i + 1]?.trim() ?? '' };
  }
  return undefined;
}

function chaptersOf(lines: string[]): Chapter[] {
  const out: Chapter[] = [];
  let current: Chapter | undefined;
  for (let i = 0; i < lines.length; i++) {
    // A few lines are indented with tabs: expand them to the 8 columns the layout assumes.
    const line = expandTabs(lines[i]!);
    const m = HEADING.exec(line);
    if (m && UNDERLINE.test(lines[i + 1] ?? '')) {
      current = { number: m[1]!, title: m[2]!, lines: [] };
      out.push(current);
      i++;
      continue;
    }
    current?.lines.push(line);
  }
  return out;
}

function expandTabs(line: string): string {
  if (!line.includes('\t')) return line;
  let out = '';
  for (const ch of line) out += ch === '\t' ? ' '.repeat(8 - (out.length % 8)) : ch;
  return out;
}

const isBlank = (line: string | undefined) => line === undefined || line.trim() === '';

function isUsageLine(line: string): boolean {
  // "See also :" lines and sentences ending in a single period are prose, not usage.
  return USAGE_LINE.test(line) && !/[^.]\.\s*$/.test(line) && !/:\s*$/.test(line);
}

/** The sentences of a paragraph, with its line breaks flattened. */
function sentencesOf(text: string): string[] {
  const flat = text.replace(/\s+/g, ' ').trim();
  const out: string[] = [];
  let from = 0;
  for (const m of flat.matchAll(/[.!?](?=\s|$)/g)) {
    const upto = flat.slice(from, m.index + 1);
    // "e.g." and friends end no sentence.
    if (/\b(?:e\.g|i\.e|etc|vs|resp|approx|ex)\.$/i.test(upto)) continue;
    out.push(upto.trim());
    from = m.index + 1;
  }
  if (from < flat.length) out.push(flat.slice(from).trim());
  return out.filter((x) => x !== '');
}

// Sentences that say nothing about what a keyword does, only when it exists.
const BOILERPLATE = /\bonly (?:available|supported) (?:when|if|with|on)\b|^Please note\b/i;

function capped(sentence: string): string {
  if (sentence.length <= SUMMARY_MAX) return sentence;
  const cut = sentence.lastIndexOf(' ', SUMMARY_MAX - 1);
  return `${sentence.slice(0, cut > 0 ? cut : SUMMARY_MAX - 1)}…`;
}

/** First sentence of a paragraph, capped to one line's worth of text. */
export function firstSentence(text: string): string {
  return capped(sentencesOf(text)[0] ?? '');
}

/** The first informative sentence of a description's paragraphs, capped like firstSentence. */
function summaryOf(paragraphs: string[]): string {
  const sentences = paragraphs.flatMap(sentencesOf);
  return capped(sentences.find((s) => !BOILERPLATE.test(s)) ?? sentences[0] ?? '');
}

function usageOf(header: string): string {
  const flat = header.replace(/\s+/g, ' ').trim();
  return flat.length <= USAGE_MAX ? flat : `${flat.slice(0, USAGE_MAX - 1)}…`;
}

/** "yes(!) | yes | yes | no" under "May be used in sections" → "dfl". */
function whereOf(row: string): string | undefined {
  const cells = row.split('|').map((c) => c.trim());
  if (cells.length !== 4) return undefined;
  return cells.map((c, i) => (c.startsWith('yes') ? 'dflb'[i] : '')).join('');
}

/** Every described keyword of a chapter, in manual order. */
function entriesOf(chapter: Chapter): ManualEntry[] {
  const L = chapter.lines;
  const out: ManualEntry[] = [];
  for (let i = 0; i < L.length; i++) {
    // Usage lines start a paragraph: the line before is blank (or the chapter's underline).
    if (!isUsageLine(L[i]!) || (i > 0 && !isBlank(L[i - 1]))) continue;
    const headers = [L[i]!];
    let j = i + 1;
    for (; j < L.length; j++) {
      const line = L[j]!;
      if (isUsageLine(line)) headers.push(line);
      // Long usage lines continue indented by more than the description's two spaces.
      else if (/^ {3,}\S/.test(line)) headers[headers.length - 1] += ` ${line.trim()}`;
      else break;
    }
    // Some entries (the http-request actions) leave one blank line before their description.
    let k = j;
    if (isBlank(L[k]) && !isBlank(L[k + 1])) k++;
    if (!/^ {2}\S/.test(L[k] ?? '')) continue;

    const start = k;
    const paragraphs: string[] = [];
    let where: string | undefined;
    let para: string[] = [];
    let skipping = false;
    const endPara = () => {
      if (!skipping && para.length > 0) paragraphs.push(para.join(' '));
      para = [];
      skipping = false;
    };
    for (; k < L.length; k++) {
      const line = L[k]!;
      if (isBlank(line)) {
        endPara();
        continue;
      }
      if (!line.startsWith('  ')) break;
      if (/^ {2}May be used in sections/.test(line)) {
        endPara();
        where = whereOf(L[k + 1] ?? '');
        k++;
        skipping = true;
      } else if (/^ {2}(?:Arguments|Examples?|See also|Note)\b/.test(line)) {
        endPara();
        skipping = true;
      } else if (/^ {2}\S/.test(line)) {
        if (!skipping) para.push(line.trim());
      } else {
        // Deeper indentation: an argument list or an example, never the summary.
        endPara();
        skipping = true;
      }
    }
    endPara();
    out.push({
      headers: headers.map((h) => h.replace(/\s+$/, '')),
      summary: summaryOf(paragraphs),
      ...(where ? { where } : {}),
      body: L.slice(start, k).join('\n'),
    });
    i = k - 1;
  }
  return out;
}

const firstWord = (s: string) => /^[^\s(]+/.exec(s)?.[0] ?? s;

/**
 * The names a usage line's first word stands for: itself, or for a placeholder name such as
 * "map_<match_type>_<output_type>", every matching name the entry's text mentions (map_beg_int, ...).
 */
function namesOf(word: string, body: string): string[] {
  if (!word.includes('<')) return [word];
  const pattern = word.split(/<[^>]*>/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[a-z0-9]+');
  // Not inside another name, nor an argument placeholder such as "<map_file>".
  const re = new RegExp(`(?<![\\w.<-])${pattern}(?![\\w.>-])`, 'g');
  return [...new Set(body.match(re) ?? [])];
}
const stripNegation = (s: string) => s.replace(/^(?:no|default)\s+/, '');

/**
 * The keyword a usage line describes. Multi-word keywords ("option httplog", "timeout mail",
 * "stats socket") are recognized by their first word, which the proxy matrix tells us about.
 */
function keywordOf(header: string, multiWordPrefixes: Set<string>): string {
  const words = stripNegation(header).split(/\s+/);
  const first = firstWord(words[0]!);
  const second = words[1] === undefined ? undefined : firstWord(words[1]);
  if (multiWordPrefixes.has(first) && second !== undefined && /^[a-z][a-z0-9_-]*$/.test(second)) return `${first} ${second}`;
  return first;
}

function sorted<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Adds an entry unless one is there already: the first description in the manual wins. */
function add(record: Record<string, KeywordEntry>, name: string, summary: string, section: string, usage: string): void {
  // A placeholder left in a name ("<event>") is a usage pattern, not something to complete.
  if (name.includes('<')) return;
  const existing = record[name];
  if (existing && existing[0] !== '') return;
  record[name] = usage ? [summary, section, usage] : [summary, section];
}

/**
 * The "ACL derivatives" a fetch's description lists ("path_beg : prefix match"): names valid as
 * ACL criteria only, so they are kept apart from the fetches usable in %[...].
 */
function addAclDerivatives(record: Record<string, KeywordEntry>, e: ManualEntry, section: string): void {
  const lines = e.body.split('\n');
  const fetch = firstWord(e.headers[0]!);
  for (let i = lines.findIndex((l) => /^ {2}ACL derivatives\s*:/.test(l)) + 1; i > 0 && i < lines.length; i++) {
    const m = /^\s{3,}([a-z][\w.]*)(?:\([^)]*\))?\s*:\s*(.+?)\s*$/.exec(lines[i]!);
    if (!m) break;
    const match = m[2]!.replace(/\s*\.\.\.$/, '');
    add(record, m[1]!, `${match[0]!.toUpperCase()}${match.slice(1)} on ${fetch} (ACL derivative).`, section, usageOf(lines[i]!));
  }
}

/** Parses the proxy keyword matrix (4.1): "keyword   [(*)]  X (!)  X  X  -" rows. */
function parseMatrix(chapter: Chapter): Map<string, string> {
  const rows = new Map<string, string>();
  const ROW = /^(\S.*?)\s{2,}(?:\((?:\*|deprecated)\)\s+)?([X-])(?:\s*\(!\))?\s+([X-])\s+([X-])\s+([X-])\s*$/;
  for (const line of chapter.lines) {
    const m = ROW.exec(line);
    if (!m || m[1]!.startsWith('--')) continue;
    const keyword = m[1]!.trim();
    const where = [m[2], m[3], m[4], m[5]].map((c, i) => (c === 'X' ? 'dflb'[i] : '')).join('');
    rows.set(keyword, where);
  }
  return rows;
}

/** Builds the editor's keyword data from the text of configuration.txt. */
export function parseManual(text: string): KeywordData {
  const ver = manualVersion(text);
  if (!ver) throw new Error('not an HAProxy configuration manual: no "version X.Y" line in its title block');
  const chapters = chaptersOf(text.replace(/\r\n/g, '\n').split('\n'));
  const byNumber = new Map(chapters.map((c) => [c.number, c]));
  const byTitle = (re: RegExp) => chapters.find((c) => re.test(c.title));
  const need = (c: Chapter | undefined, what: string): Chapter => {
    if (!c) throw new Error(`the manual has no ${what} chapter: its layout changed, update console/scripts/haproxy-manual.ts`);
    return c;
  };

  const matrixChapter = need(byTitle(/^Proxy keywords matrix$/i), '"Proxy keywords matrix"');
  const matrix = parseMatrix(matrixChapter);
  const multiWord = new Set([...matrix.keys()].filter((k) => k.includes(' ')).map((k) => k.split(' ')[0]!));
  const parent = (c: Chapter) => c.number.split('.').slice(0, -1).join('.');

  const sections: Record<string, SectionInfo> = {};

  // global: the keyword list at the top of chapter 3, grouped by the subchapters describing them.
  const globalChapter = need(byTitle(/^Global parameters$/i), '"Global parameters"');
  const globalKeywords: Record<string, KeywordEntry> = {};
  const globalChapters: Chapter[] = [];
  let group: Chapter | undefined;
  for (const line of globalChapter.lines) {
    const star = /^\s*\* (.+?)\s*$/.exec(line);
    if (star) {
      group = chapters.find((c) => parent(c) === globalChapter.number && c.title.toLowerCase() === star[1]!.toLowerCase());
      if (group) globalChapters.push(group);
      continue;
    }
    const item = /^\s+- ([a-z0-9][^\s(]*)/.exec(line);
    if (item && group) add(globalKeywords, item[1]!, '', group.number, '');
  }
  for (const c of globalChapters) {
    for (const e of entriesOf(c)) {
      for (const h of e.headers) add(globalKeywords, keywordOf(h, multiWord), e.summary, c.number, usageOf(h));
    }
  }
  // The list names "stats" where the manual describes "stats socket", "stats timeout", ...
  for (const name of Object.keys(globalKeywords)) {
    if (globalKeywords[name]![0] === '' && Object.keys(globalKeywords).some((k) => k.startsWith(`${name} `))) delete globalKeywords[name];
  }
  const globalIntro = globalChapter.lines.join('\n').split(/\n\s*\n/).find((p) => p.trim() !== '') ?? '';
  sections['global'] = { manual: globalChapter.number, summary: firstSentence(globalIntro), keywords: sorted(globalKeywords) };

  // Proxies: the matrix says where, the alphabetical reference (4.2) says what.
  const proxyChapter = need(byNumber.get(parent(matrixChapter)), 'proxies');
  const proxyText = proxyChapter.lines.join('\n');
  for (const name of ['defaults', 'frontend', 'listen', 'backend']) {
    const para = new RegExp(`^A "${name}" section[\\s\\S]*?(?=\\n\\s*\\n)`, 'm').exec(proxyText)?.[0] ?? '';
    sections[name] = { manual: proxyChapter.number, summary: firstSentence(para) };
  }
  const referenceChapter = need(
    chapters.find((c) => parent(c) === proxyChapter.number && /keywords reference/i.test(c.title)),
    '"keywords reference"',
  );
  const matrixKeys = [...matrix.keys()].sort((a, b) => b.length - a.length);
  const proxyKeyOf = (header: string): string => {
    const h = stripNegation(header);
    return matrixKeys.find((k) => h === k || h.startsWith(`${k} `) || h.startsWith(`${k}(`)) ?? keywordOf(header, multiWord);
  };
  const referenceEntries = entriesOf(referenceChapter);
  // Rule keywords are the ones whose usage reads "<keyword> <action> ...".
  const ruleKeywords = new Set<string>();
  for (const e of referenceEntries) {
    for (const h of e.headers) {
      const key = proxyKeyOf(h);
      if (stripNegation(h).slice(key.length).trimStart().startsWith('<action>')) ruleKeywords.add(key);
    }
  }
  const proxyKeywords: Record<string, ProxyKeywordEntry> = {};
  const actions: Record<string, Record<string, KeywordEntry>> = {};
  const actionOf = (header: string): [string, string] | undefined => {
    const key = proxyKeyOf(header);
    if (!ruleKeywords.has(key) || !header.startsWith(`${key} `)) return undefined;
    const rest = header.slice(key.length).trimStart();
    if (rest.startsWith('<') || !/^[a-z]/.test(rest)) return undefined;
    return [key, firstWord(rest)];
  };
  for (const e of referenceEntries) {
    for (const h of e.headers) {
      const action = actionOf(h);
      if (action) continue;
      const key = proxyKeyOf(h);
      const where = matrix.get(key) ?? e.where;
      if (where === undefined) continue;
      const existing = proxyKeywords[key];
      if (!existing || existing[0] === '') proxyKeywords[key] = [e.summary, referenceChapter.number, usageOf(h), where];
    }
  }
  for (const [key, where] of matrix) {
    if (!proxyKeywords[key]) proxyKeywords[key] = ['', referenceChapter.number, key, where];
  }

  // Sections with a chapter of their own (userlist, peers, resolvers, cache, ...).
  const entriesByChapter = new Map(chapters.map((c) => [c, entriesOf(c)]));
  for (const [c, entries] of entriesByChapter) {
    const opener = entries[0];
    if (!opener) continue;
    const name = firstWord(opener.headers[0]!);
    // A chapter describes a standalone section when its first described keyword is that section's.
    if (!STANDALONE_SECTIONS.includes(name) || sections[name]) continue;
    const keywords: Record<string, KeywordEntry> = {};
    for (const e of entries.slice(1)) {
      for (const h of e.headers) add(keywords, keywordOf(h, multiWord), e.summary, c.number, usageOf(h));
    }
    sections[name] = { manual: c.number, summary: opener.summary, keywords: sorted(keywords) };
  }

  // Actions are described in 4.2 and wherever a feature brings its own (cache-use in 6.2.2).
  for (const [c, entries] of entriesByChapter) {
    for (const e of entries) {
      for (const h of e.headers) {
        const action = actionOf(h);
        if (!action) continue;
        const [rule, name] = action;
        add((actions[rule] ??= {}), name, e.summary, c.number, usageOf(h));
      }
    }
  }

  const options = (re: RegExp, what: string) => {
    const c = need(byTitle(re), what);
    const out: Record<string, KeywordEntry> = {};
    for (const e of entriesByChapter.get(c)!) for (const h of e.headers) for (const name of namesOf(firstWord(h), e.body)) add(out, name, e.summary, c.number, usageOf(h));
    return sorted(out);
  };

  const samplesChapter = need(byTitle(/^Fetching samples$/i), '"Fetching samples"');
  const fetches: Record<string, KeywordEntry> = {};
  const converters: Record<string, KeywordEntry> = {};
  const aclCriteria: Record<string, KeywordEntry> = {};
  for (const c of chapters.filter((c) => parent(c) === samplesChapter.number)) {
    const isConverters = /^Converters$/i.test(c.title);
    for (const e of entriesByChapter.get(c)!) {
      for (const h of e.headers) {
        for (const name of namesOf(firstWord(h), e.body)) add(isConverters ? converters : fetches, name, e.summary, c.number, usageOf(h));
      }
      if (!isConverters) addAclDerivatives(aclCriteria, e, c.number);
    }
  }

  return {
    version: ver.version,
    manualDate: ver.date,
    sections,
    proxyKeywords: sorted(proxyKeywords),
    bindOptions: options(/^Bind options$/i, '"Bind options"'),
    serverOptions: options(/^Server and default-server options$/i, '"Server and default-server options"'),
    actions: sorted(Object.fromEntries(Object.entries(actions).map(([k, v]) => [k, sorted(v)]))),
    fetches: sorted(fetches),
    // "path : exact string match" is the fetch itself, already listed with the fetches.
    aclCriteria: sorted(Object.fromEntries(Object.entries(aclCriteria).filter(([name]) => !fetches[name]))),
    converters: sorted(converters),
  };
}

/**
 * JSON text of the data: objects indented, each keyword entry on one line, so a regenerated file
 * diffs keyword by keyword.
 */
export function serializeKeywords(data: KeywordData): string {
  const write = (value: unknown, indent: string): string => {
    if (Array.isArray(value) || value === null || typeof value !== 'object') return JSON.stringify(value);
    const inner = `${indent}  `;
    const fields = Object.entries(value as Record<string, unknown>).map(([k, v]) => `${inner}${JSON.stringify(k)}: ${write(v, inner)}`);
    return fields.length === 0 ? '{}' : `{\n${fields.join(',\n')}\n${indent}}`;
  };
  return `${write(data, '')}\n`;
}
