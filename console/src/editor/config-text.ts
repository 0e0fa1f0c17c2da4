/**
 * Line-level reading of haproxy.cfg text shared by completion and lint: HAProxy's own rules are
 * line-based (a keyword, then words split on unquoted blanks, `#` to the end of the line).
 */
import type { Text } from '@codemirror/state';
import { SECTION_KEYWORDS } from './sections.ts';

/** One word of a line and its offset in the line. */
export interface Word {
  text: string;
  from: number;
}

/** The first word of a line, or undefined for a blank or comment line. */
export function firstWordOf(text: string): string | undefined {
  return /^\s*([^\s#]+)/.exec(text)?.[1];
}

/** Words of a line's text, split on unquoted, unescaped blanks; stops at an unquoted `#`. */
export function wordsOf(text: string): Word[] {
  const out: Word[] = [];
  let quote: string | null = null;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"') i++;
      continue;
    }
    if (ch === '#') break;
    if (ch === ' ' || ch === '\t') {
      if (start !== -1) out.push({ text: text.slice(start, i), from: start });
      start = -1;
      continue;
    }
    if (start === -1) start = i;
    if (ch === '\\') i++;
    else if (ch === '"' || ch === "'") quote = ch;
  }
  if (start !== -1) out.push({ text: text.slice(start), from: start });
  return out;
}

/** The section keyword line at or above `lineNumber` (1-based), or null before the first section. */
export function sectionAt(doc: Text, lineNumber: number): { name: string; line: number } | null {
  for (let n = lineNumber; n >= 1; n--) {
    const word = firstWordOf(doc.line(n).text);
    if (word !== undefined && SECTION_KEYWORDS.has(word)) return { name: word, line: n };
  }
  return null;
}

/** The last line (1-based) of the section that contains `lineNumber`. */
export function sectionEnd(doc: Text, lineNumber: number): number {
  let end = lineNumber;
  while (end < doc.lines && !SECTION_KEYWORDS.has(firstWordOf(doc.line(end + 1).text) ?? '')) end++;
  return end;
}
