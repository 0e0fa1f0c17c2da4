/** How the Audit page words a record. */
import type { AuditEvent } from '@haproxyhq/schemas';

/** "12→15"; "→15" for a create; "12→" for a write refused after reading the object; "—" for none. */
export const versions = (e: AuditEvent): string =>
  e.resourceVersionBefore === undefined && e.resourceVersionAfter === undefined ? '—' : `${e.resourceVersionBefore ?? ''}→${e.resourceVersionAfter ?? ''}`;

/** "200 OK", or "Refused: 409 Conflict": the outcome in words, not only in colour. */
export const outcome = (e: AuditEvent): string => (e.code >= 400 ? `Refused: ${e.code}${e.reason ? ` ${e.reason}` : ''}` : `${e.code} OK`);

/** The object written: its resource (and subresource), or the path when it named none. */
export const target = (e: AuditEvent): string => (e.resource || e.path || '—') + (e.subresource ? `/${e.subresource}` : '');
