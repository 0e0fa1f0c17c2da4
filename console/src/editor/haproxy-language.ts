/**
 * haproxy.cfg syntax for CodeMirror 6, as a stream parser: HAProxy's grammar is line-oriented
 * (a keyword, then words), which a stream parser follows without a real grammar, and the
 * highlighting does not depend on the HAProxy version (completion and lint do).
 */
import { HighlightStyle, LanguageSupport, StreamLanguage, foldService, indentService, type StringStream } from '@codemirror/language';
import { Tag, tags as t } from '@lezer/highlight';
import { SECTION_KEYWORDS } from './sections.ts';

/** Highlighting tag of our own `{{ ... }}` template placeholders, which are not HAProxy syntax. */
export const templateTag = Tag.define();

// Keywords whose next word is part of the keyword ("option httplog", "timeout client",
// "no option ...", "tcp-request content").
const PREFIXES = new Set([
  'no',
  'default',
  'option',
  'timeout',
  'stats',
  'http-check',
  'tcp-check',
  'capture',
  'stick',
  'email-alert',
  'tcp-request',
  'tcp-response',
  'external-check',
  'monitor',
  'persist',
  'rate-limit',
  'declare',
]);
// Keywords whose next word is an action ("http-request set-header").
const RULES = new Set(['http-request', 'http-response', 'http-after-response', 'stats http-request']);
const CONDITION = new Set(['if', 'unless']);

const ADDRESS = new RegExp(
  '^(?:[a-z0-9]+@)?(?:' +
    [
      '\\d{1,3}(?:\\.\\d{1,3}){3}(?:/\\d{1,2})?(?::\\d+(?:-\\d+)?)?', // IPv4[/mask][:port[-end]]
      '\\[[0-9a-fA-F:.]+\\](?::\\d+(?:-\\d+)?)?', // [IPv6][:port]
      '[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,8}(?:/\\d{1,3})?', // IPv6, with HAProxy's trailing :port
      '\\*?:\\d+(?:-\\d+)?', // *:80, :80
    ].join('|') +
    ')(?=$|[\\s,])',
);
const NUMBER = /^-?\d+(?:\.\d+)?(?:us|ms|s|m|h|d|k|K|M|G|g)?(?=$|[\s,)\]])/;

interface State {
  /** Index of the current word on the line; -1 before the first. */
  word: number;
  /** Whether the stream is between words. */
  between: boolean;
  /** The line's keyword so far: "option httplog", "tcp-request content". */
  keyword: string;
  /** Whether the keyword is still being read (its prefix words). */
  inKeyword: boolean;
  /** The word index at which the line's arguments start (after keyword and action). */
  argsFrom: number;
  /** Whether the keyword is a rule, whose first argument is an action. */
  rule: boolean;
  /** After `if` / `unless`. */
  condition: boolean;
  /** Open `{` of anonymous ACLs on this line, and whether the next word is the fetch. */
  braces: number;
  fetchNext: boolean;
  /** Inside a quoted string. */
  quote: '"' | "'" | null;
  /** Style for the plain parts of the current word. */
  wordStyle: string | null;
}

function startState(): State {
  return {
    word: -1,
    between: true,
    keyword: '',
    inKeyword: true,
    argsFrom: 1,
    rule: false,
    condition: false,
    braces: 0,
    fetchNext: false,
    quote: null,
    wordStyle: null,
  };
}

/** `%[...]` with nested brackets; the whole sample expression is one token. */
function eatSample(stream: StringStream): void {
  let depth = 0;
  while (!stream.eol()) {
    const ch = stream.next();
    if (ch === '[') depth++;
    else if (ch === ']' && --depth === 0) return;
  }
}

/** Tokens that may appear inside a word or a double-quoted string: samples, variables, templates. */
function tokenSpecial(stream: StringStream): string | null {
  if (stream.match(/^\{\{[^\n]*?\}\}/) || stream.match(/^\{\{.*/)) return 'template';
  if (stream.match('%[', false)) {
    eatSample(stream);
    return 'string.special';
  }
  if (stream.match(/^\$\{[^}\s]*\}?/)) return 'macroName';
  if (stream.match(/^%\{[^}]*\}[a-zA-Z]+/) || stream.match(/^%[a-zA-Z]{1,4}/)) return 'variableName.special';
  if (stream.match(/^\\./)) return 'escape';
  return null;
}

function tokenString(stream: StringStream, state: State): string | null {
  const quote = state.quote!;
  if (quote === '"') {
    const special = tokenSpecial(stream);
    if (special) return special;
  } else if (stream.match(/^\{\{[^\n]*?\}\}/)) {
    // Templates render before HAProxy reads the file, so they apply inside single quotes too.
    return 'template';
  }
  const start = stream.pos;
  while (!stream.eol()) {
    const ch = stream.peek()!;
    if (ch === quote) {
      stream.next();
      state.quote = null;
      return 'string';
    }
    if (quote === '"' && (ch === '\\' || ch === '$' || ch === '%' || stream.match('{{', false))) break;
    if (quote === "'" && stream.match('{{', false)) break;
    stream.next();
  }
  // A lone '%', '$' or backslash that starts nothing special is plain string text.
  if (stream.pos === start) stream.next();
  // A quote left open ends with the line: HAProxy reports it, the highlighting just stops there.
  if (stream.eol()) state.quote = null;
  return 'string';
}

/** The style of a whole word from its position on the line. */
function classifyWord(word: string, state: State): string | null {
  if (state.word === 0) {
    if (SECTION_KEYWORDS.has(word)) return 'heading';
    if (word.startsWith('.')) return 'meta'; // .if / .else / .endif / .notice / .diag
    return 'keyword';
  }
  if (SECTION_KEYWORDS.has(state.keyword)) return word === 'from' ? 'keyword' : 'variableName.definition';
  if (state.inKeyword) return 'keyword';
  if (CONDITION.has(word)) return 'controlKeyword';
  if (state.condition) {
    if (word === '!' || word === '||' || word === 'or') return 'logicOperator';
    if (state.fetchNext) return 'variableName.function';
    return state.braces > 0 ? null : 'variableName';
  }
  if (state.rule && state.word === state.argsFrom - 1) return 'propertyName';
  const kw = state.keyword.replace(/^(?:(?:no|default) )+/, '');
  if (kw === 'acl') return state.word === 1 ? 'variableName.definition' : state.word === 2 ? 'variableName.function' : null;
  if ((kw === 'server' || kw === 'server-template') && state.word === 1) return 'variableName.definition';
  if ((kw === 'use_backend' || kw === 'default_backend') && state.word === 1) return 'labelName';
  const optionsFrom = kw === 'bind' ? 2 : kw === 'server' ? 3 : kw === 'server-template' ? 4 : kw === 'default-server' ? 1 : Infinity;
  if (state.word >= optionsFrom && /^[a-z][a-z0-9-]*$/.test(word)) return 'attributeName';
  return null;
}

/** Reads the line's keyword words, recording where the arguments start. */
function trackKeyword(word: string, state: State): void {
  if (!state.inKeyword) return;
  const prev = state.keyword.split(' ').pop();
  state.keyword = state.keyword ? `${state.keyword} ${word}` : word;
  // "no option x": "no" and "option" both lead to the word that completes the keyword.
  if ((state.keyword === word || prev === 'no' || prev === 'default') && PREFIXES.has(word)) return;
  state.inKeyword = false;
  const kw = state.keyword.replace(/^(?:(?:no|default) )+/, '');
  // Rules name an action next ("http-request set-header", "tcp-request content accept").
  state.rule = RULES.has(kw) || (/^tcp-(?:request|response) /.test(kw) && !kw.endsWith('inspect-delay'));
  state.argsFrom = state.word + (state.rule ? 2 : 1);
}

function token(stream: StringStream, state: State): string | null {
  if (stream.sol()) {
    state.word = -1;
    state.between = true;
    state.keyword = '';
    state.inKeyword = true;
    state.argsFrom = 1;
    state.rule = false;
    state.condition = false;
    state.braces = 0;
    state.fetchNext = false;
    state.quote = null;
  }
  if (state.quote) return tokenString(stream, state);
  if (stream.eatSpace()) {
    state.between = true;
    return null;
  }
  const startsWord = state.between;
  if (startsWord) {
    state.between = false;
    state.word++;
  }
  const ch = stream.peek();
  // An unquoted, unescaped '#' starts a comment, even inside a word.
  if (ch === '#') {
    stream.skipToEnd();
    return 'comment';
  }
  if (startsWord) {
    // The whole word, up to the next space, to decide what it is.
    const word = /^\S*/.exec(stream.string.slice(stream.pos))![0];
    if (state.condition && word === '{') {
      stream.next();
      state.braces++;
      state.fetchNext = true;
      state.between = true;
      return 'brace';
    }
    if (state.condition && word === '}') {
      stream.next();
      state.braces = Math.max(0, state.braces - 1);
      return 'brace';
    }
    state.wordStyle = classifyWord(word, state);
    trackKeyword(word, state);
    if (CONDITION.has(word) && !state.inKeyword && state.word >= state.argsFrom - 1) state.condition = true;
    if (state.fetchNext && state.word > 0 && state.wordStyle === 'variableName.function') state.fetchNext = false;
    if (state.wordStyle === null || state.wordStyle === 'attributeName') {
      if (stream.match(ADDRESS)) return 'url';
      if (stream.match(NUMBER)) return 'number';
    }
  }
  if (ch === '"' || ch === "'") {
    stream.next();
    state.quote = ch;
    return 'string';
  }
  const special = tokenSpecial(stream);
  if (special) return special;
  // The plain rest of the word, up to something that needs its own token.
  if (!stream.match(/^[^\s"'#%${}\\]+/)) stream.next();
  return state.wordStyle;
}

/**
 * Indentation follows the text's own style: a keyword under a section header is indented by one
 * unit (see detectIndentUnit), under another keyword like that keyword, and a section keyword
 * goes back to column 0.
 */
const indentation = indentService.of((cx, pos) => {
  const first = /^\s*(\S+)/.exec(cx.textAfterPos(pos))?.[1];
  if (first !== undefined && SECTION_KEYWORDS.has(first)) return 0;
  for (let at = pos - 1; at >= 0; ) {
    const line = cx.lineAt(at, -1);
    const word = /^\s*([^\s#]+)/.exec(line.text)?.[1];
    if (word !== undefined) return SECTION_KEYWORDS.has(word) ? cx.unit : cx.lineIndent(line.from, -1);
    at = line.from - 1;
  }
  return 0;
});

/** The indentation unit a config uses (its first indented keyword line): Debian's uses tabs, the manual 4 spaces. */
export function detectIndentUnit(text: string): string {
  const m = /^([ \t]+)[^\s#]/m.exec(text);
  if (!m) return '    ';
  return m[1]!.startsWith('\t') ? '\t' : ' '.repeat(Math.min(m[1]!.length, 8));
}

/** The haproxy.cfg stream language (exported for the diff view and tests). */
export const haproxyLanguage = StreamLanguage.define<State>({
  name: 'haproxy',
  startState,
  copyState: (s) => ({ ...s }),
  token,
  blankLine(state) {
    state.quote = null;
  },
  tokenTable: { template: templateTag },
  languageData: {
    commentTokens: { line: '#' },
    // Typing a section keyword at the start of a line puts it back at column 0.
    indentOnInput: new RegExp(`^\\s*(?:${[...SECTION_KEYWORDS].join('|')})\\s$`),
    closeBrackets: { brackets: ['(', '[', '{', '"', "'"] },
  },
});

/** Folds a section from the end of its keyword line to its last non-blank line. */
const foldSections = foldService.of((state, lineStart, lineEnd) => {
  const line = state.doc.lineAt(lineStart);
  const first = /^\s*(\S+)/.exec(line.text)?.[1];
  if (first === undefined || !SECTION_KEYWORDS.has(first)) return null;
  let last = line;
  for (let n = line.number + 1; n <= state.doc.lines; n++) {
    const next = state.doc.line(n);
    const word = /^\s*(\S+)/.exec(next.text)?.[1];
    if (word !== undefined && SECTION_KEYWORDS.has(word)) break;
    if (word !== undefined) last = next;
  }
  return last.number > line.number ? { from: lineEnd, to: last.to } : null;
});

/** Colors for the tokens above, light and dark (CodeMirror picks by the editor theme's darkness). */
export const haproxyHighlightLight = HighlightStyle.define(
  [
    { tag: t.comment, color: '#6a737d', fontStyle: 'italic' },
    { tag: t.heading, color: '#6f42c1', fontWeight: 'bold' },
    { tag: t.keyword, color: '#005cc5' },
    { tag: t.propertyName, color: '#b31d28' },
    { tag: t.attributeName, color: '#22863a' },
    { tag: t.definition(t.variableName), color: '#e36209', fontWeight: '600' },
    { tag: t.labelName, color: '#e36209' },
    { tag: t.variableName, color: '#735c0f' },
    { tag: t.function(t.variableName), color: '#6f42c1' },
    { tag: [t.controlKeyword, t.logicOperator], color: '#d73a49', fontWeight: '600' },
    { tag: t.brace, color: '#d73a49' },
    { tag: t.string, color: '#032f62' },
    { tag: [t.special(t.string), t.special(t.variableName)], color: '#0366d6', backgroundColor: '#f1f8ff' },
    { tag: t.macroName, color: '#a1480c' },
    { tag: t.escape, color: '#a1480c' },
    { tag: [t.number, t.url], color: '#098658' },
    { tag: t.meta, color: '#6a737d', fontWeight: 'bold' },
    { tag: templateTag, color: '#8a1a9b', backgroundColor: '#fbe9ff', borderRadius: '3px', outline: '1px dashed #c77fd6' },
  ],
  { themeType: 'light' },
);

export const haproxyHighlightDark = HighlightStyle.define(
  [
    { tag: t.comment, color: '#8b949e', fontStyle: 'italic' },
    { tag: t.heading, color: '#d2a8ff', fontWeight: 'bold' },
    { tag: t.keyword, color: '#79c0ff' },
    { tag: t.propertyName, color: '#ffa198' },
    { tag: t.attributeName, color: '#7ee787' },
    { tag: t.definition(t.variableName), color: '#ffa657', fontWeight: '600' },
    { tag: t.labelName, color: '#ffa657' },
    { tag: t.variableName, color: '#e3b341' },
    { tag: t.function(t.variableName), color: '#d2a8ff' },
    { tag: [t.controlKeyword, t.logicOperator], color: '#ff7b72', fontWeight: '600' },
    { tag: t.brace, color: '#ff7b72' },
    { tag: t.string, color: '#a5d6ff' },
    { tag: [t.special(t.string), t.special(t.variableName)], color: '#79c0ff', backgroundColor: '#132a45' },
    { tag: t.macroName, color: '#ffa657' },
    { tag: t.escape, color: '#ffa657' },
    { tag: [t.number, t.url], color: '#56d4bc' },
    { tag: t.meta, color: '#8b949e', fontWeight: 'bold' },
    { tag: templateTag, color: '#f0b4ff', backgroundColor: '#3b1d48', borderRadius: '3px', outline: '1px dashed #a45bbd' },
  ],
  { themeType: 'dark' },
);

/** haproxy.cfg language support: highlighting, indentation, comments and section folding. */
export function haproxy(): LanguageSupport {
  return new LanguageSupport(haproxyLanguage, [foldSections, indentation]);
}
