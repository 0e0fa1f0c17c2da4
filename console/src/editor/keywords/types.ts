/**
 * Shape of the keyword data generated from HAProxy's configuration manual
 * (console/scripts/generate-keywords.ts writes one `haproxy-<major.minor>.json` per manual).
 * Environment-neutral: the Node generator and the browser editor both import it.
 */

/** One documented keyword: a one-line summary, the manual section it is described in, and its usage line. */
export type KeywordEntry = [summary: string, manualSection: string, usage?: string];

/**
 * A proxy keyword: like a KeywordEntry, plus where it may be used, as letters of the proxy
 * sections that accept it: d(efaults), f(rontend), l(isten), b(ackend), e.g. "dlb".
 */
export type ProxyKeywordEntry = [summary: string, manualSection: string, usage: string, where: string];

export interface SectionInfo {
  /** Manual section describing this section type, e.g. "3" for global, "3.4" for userlist. */
  manual: string;
  summary: string;
  /** Keywords valid in it; absent for the proxy sections, whose keywords are in `proxyKeywords`. */
  keywords?: Record<string, KeywordEntry>;
}

export interface KeywordData {
  /** major.minor of the manual, e.g. "2.6". */
  version: string;
  /** The manual's own date line, e.g. "2023/03/28". */
  manualDate: string;
  /** Every section type the manual documents, by the keyword that opens it. */
  sections: Record<string, SectionInfo>;
  /** Keywords of defaults/frontend/listen/backend (manual 4.1 and 4.2). Multi-word keywords keep their space: "option httplog". */
  proxyKeywords: Record<string, ProxyKeywordEntry>;
  /** Options of `bind` lines (5.1). */
  bindOptions: Record<string, KeywordEntry>;
  /** Options of `server` / `default-server` lines (5.2). */
  serverOptions: Record<string, KeywordEntry>;
  /** Actions of rule keywords, e.g. actions["http-request"]["set-header"], actions["tcp-request content"]["accept"]. */
  actions: Record<string, Record<string, KeywordEntry>>;
  /** Sample fetches (7.3.2 - 7.3.7); usage carries the argument list and output type. */
  fetches: Record<string, KeywordEntry>;
  /** ACL-only forms of the fetches ("path_beg", "hdr_sub"), from their "ACL derivatives" lists. */
  aclCriteria: Record<string, KeywordEntry>;
  /** Converters (7.3.1). */
  converters: Record<string, KeywordEntry>;
}

/** The proxy section types and the letter `ProxyKeywordEntry.where` uses for each. */
export const PROXY_SECTIONS = { defaults: 'd', frontend: 'f', listen: 'l', backend: 'b' } as const;
export type ProxySection = keyof typeof PROXY_SECTIONS;
