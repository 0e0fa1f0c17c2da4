/**
 * The keyword data files, one per HAProxy major.minor, and the lookups completion and lint share.
 * Adding a version is adding its generated JSON file here: the glob picks it up.
 */
import { PROXY_SECTIONS, type KeywordData, type KeywordEntry, type ProxySection } from './types.ts';

const files = import.meta.glob<KeywordData>('./haproxy-*.json', { eager: true, import: 'default' });

const DATA = new Map<string, KeywordData>(Object.values(files).map((d) => [d.version, d]));

/** "2.6.12-1+deb12u2" → [2, 6]; undefined when the text has no major.minor. */
export function parseVersion(version: string): [number, number] | undefined {
  const m = /(\d+)\.(\d+)/.exec(version);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

const compare = (a: [number, number], b: [number, number]) => a[0] - b[0] || a[1] - b[1];

/** Versions with data, oldest first. */
export const AVAILABLE_VERSIONS: readonly string[] = [...DATA.keys()].sort((a, b) => compare(parseVersion(a)!, parseVersion(b)!));

/**
 * The data version to use for an HAProxy version: the same major.minor if we have it, else the
 * newest one older than it (what an older manual documents mostly still works in a newer HAProxy,
 * while a newer manual would offer keywords the running HAProxy rejects), else the oldest we have.
 * Without a version (the instance has not reported one yet), the newest.
 */
export function pickVersion(version: string | undefined, available: readonly string[] = AVAILABLE_VERSIONS): string {
  const sorted = [...available].sort((a, b) => compare(parseVersion(a)!, parseVersion(b)!));
  const newest = sorted[sorted.length - 1];
  if (newest === undefined) throw new Error('no HAProxy keyword data: run console/scripts/generate-keywords.ts');
  const wanted = version === undefined ? undefined : parseVersion(version);
  if (!wanted) return newest;
  const older = sorted.filter((v) => compare(parseVersion(v)!, wanted) <= 0);
  return older[older.length - 1] ?? sorted[0]!;
}

/** The keyword data for an HAProxy version string such as status.haproxy.version. */
export function keywordData(version?: string): KeywordData {
  return DATA.get(pickVersion(version))!;
}

/** Lookups over one KeywordData, built once per data file. */
export interface KeywordIndex {
  data: KeywordData;
  /** Section keywords: global, defaults, frontend, ..., peers, resolvers, ... */
  sectionNames: ReadonlySet<string>;
  /** Keywords valid in a section type (multi-word ones with their space); empty for unknown sections. */
  keywords(section: string): ReadonlyMap<string, KeywordEntry>;
  /** First words of the keywords valid in a section type ("option" for "option httplog"). */
  firstWords(section: string): ReadonlySet<string>;
}

const indexes = new WeakMap<KeywordData, KeywordIndex>();

/** The lookup index of a data file (memoized). */
export function keywordIndex(data: KeywordData): KeywordIndex {
  const cached = indexes.get(data);
  if (cached) return cached;
  const bySection = new Map<string, Map<string, KeywordEntry>>();
  for (const [name, info] of Object.entries(data.sections)) {
    const letter = PROXY_SECTIONS[name as ProxySection];
    const map = new Map<string, KeywordEntry>();
    if (letter) {
      for (const [kw, [summary, manual, usage, where]] of Object.entries(data.proxyKeywords)) {
        if (where.includes(letter)) map.set(kw, [summary, manual, usage]);
      }
    } else {
      for (const [kw, entry] of Object.entries(info.keywords ?? {})) map.set(kw, entry);
    }
    bySection.set(name, map);
  }
  const firstWords = new Map<string, Set<string>>();
  for (const [name, map] of bySection) firstWords.set(name, new Set([...map.keys()].map((k) => k.split(' ')[0]!)));
  const empty = new Map<string, KeywordEntry>();
  const index: KeywordIndex = {
    data,
    sectionNames: new Set(Object.keys(data.sections)),
    keywords: (section) => bySection.get(section) ?? empty,
    firstWords: (section) => firstWords.get(section) ?? new Set(),
  };
  indexes.set(data, index);
  return index;
}

/** "configuration.txt §4.2": where an entry is documented, for completion info and messages. */
export const manualRef = (section: string) => `configuration.txt §${section}`;
