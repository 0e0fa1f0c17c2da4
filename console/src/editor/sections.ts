/**
 * HAProxy's section keywords, shared by the editor (highlighting, folding, lint) and the keyword
 * generator (which chapters of the manual describe a section). Syntax, not version data: a newer
 * section (crt-store, traces, acme) is listed even where an older manual lacks it.
 */

/** Sections that are not proxies and have a chapter of their own in the manual. */
export const STANDALONE_SECTIONS: readonly string[] = [
  'userlist',
  'peers',
  'mailers',
  'program',
  'http-errors',
  'ring',
  'log-forward',
  'resolvers',
  'cache',
  'fcgi-app',
  'crt-store',
  'traces',
  'acme',
];

/** Every keyword that opens a section. */
export const SECTION_KEYWORDS: ReadonlySet<string> = new Set(['global', 'defaults', 'frontend', 'backend', 'listen', ...STANDALONE_SECTIONS]);
