/**
 * The audit log: who wrote what, kept in the store beside the objects, under a prefix of its own
 * (AUDIT_PREFIX) that no resource route reaches, so it cannot be written through the API.
 *
 * Every registry transaction carries one more op: the record of the objects it writes (see
 * recordOp), so a write and its record commit together or not at all. Requests that commit
 * nothing (failures, dry runs, writes that change nothing) are recorded after their response by
 * routes/audit.ts, in a transaction of their own.
 *
 * Keys are `<13-digit ms>-<server id>-<6-digit sequence>`: they sort by the time they were made,
 * and one server makes each just before the transaction that writes it, in the order its store
 * applies them, so on one server key order is commit order. A record holds no resourceVersion
 * after: it is derived on read from the record's own modRevision (Storage.txnRevisions), as the
 * registry derives every object's resourceVersion from its modRevision. The embedded store keeps
 * the records outside its revisions (Storage.isRecord; main.ts opens it so), so the log costs a
 * write no second revision, history row or watch index entry.
 */
import { randomBytes } from 'node:crypto';
import { API_VERSION, GROUP, type AuditEvent, type AuditEventList, type AuditUser, type AuditVerb } from '@haproxyhq/schemas';
import type { KeyValue, ListOptions, Storage, WriteOp } from '../storage/types.ts';

export const AUDIT_PREFIX = '/haproxyhq/audit/';
const REGISTRY_PREFIX = `/registry/${GROUP}/`;

/** Who writes: a request's user and client, or one of the server's own writers (SYSTEM_ACTORS). */
export interface Actor {
  user: AuditUser;
  sourceIP?: string;
  userAgent?: string;
  requestID?: string;
}

const systemActor = (name: string): Actor => ({ user: { name: `system:controller:${name}`, groups: ['system:controllers'] } });

/** The server's own writers: every write they make is recorded under these names. */
export const SYSTEM_ACTORS = {
  rollout: systemActor('rollout'),
  leaderElection: systemActor('leader-election'),
  eventTtl: systemActor('event-ttl'),
  garbageCollector: systemActor('garbage-collector'),
  /** The built-in ClusterRoles, written at start. */
  rbacBootstrap: systemActor('rbac-bootstrap'),
  /** POST /enroll: the HAProxyInstance an agent's enrollment creates. */
  enrollment: systemActor('enrollment'),
} as const;

/** The user of a request that brought no valid token (a 401). */
export const UNAUTHENTICATED: AuditUser = { name: 'system:unauthenticated', groups: ['system:unauthenticated'] };

/**
 * What a request's write tells the request's own audit (routes/audit.ts): whether it committed
 * its records, and the versions it saw, for the record of a request that committed nothing.
 */
export interface AuditTrace {
  committed?: boolean;
  resourceVersionBefore?: string;
  resourceVersionAfter?: string;
  dryRun?: boolean;
}

/** How one registry write is recorded: by whom, and what the request asked (for its first op). */
export interface AuditWrite {
  actor: Actor;
  trace?: AuditTrace;
  verb: AuditVerb;
  subresource?: string;
  patchType?: 'merge' | 'json';
}

/** One object of a stored record. */
export interface AuditEntry {
  verb: AuditVerb;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  resourceVersionBefore?: string;
  resourceVersionAfter?: string;
  /** The object's write took the record's revision minus this (written in the same txn). */
  revisionOffset?: number;
  patchType?: 'merge' | 'json';
  dryRun?: boolean;
  code: number;
  reason?: string;
  path?: string;
}

interface StoredRecord {
  time: string;
  user: AuditUser;
  sourceIP?: string;
  userAgent?: string;
  requestID?: string;
  entries: AuditEntry[];
}

// --- keys ------------------------------------------------------------------------------------

/** This process's part of every key it makes: two servers never make the same key. */
const SERVER_ID = randomBytes(4).toString('hex');
let lastMs = 0;
let sequence = 0;

const msPart = (ms: number) => String(Math.max(0, Math.floor(ms))).padStart(13, '0');

/** The next key, never before the previous one even if the clock steps back. */
export function nextAuditKey(now = Date.now()): { key: string; ms: number } {
  if (now > lastMs) {
    lastMs = now;
    sequence = 0;
  } else if (++sequence > 999_999) {
    lastMs++;
    sequence = 0;
  }
  return { key: `${AUDIT_PREFIX}${msPart(lastMs)}-${SERVER_ID}-${String(sequence).padStart(6, '0')}`, ms: lastMs };
}

/** Milliseconds since the epoch a key was made at. */
export const keyTime = (key: string) => Number(key.slice(AUDIT_PREFIX.length, AUDIT_PREFIX.length + 13));

// --- writing ---------------------------------------------------------------------------------

const cut = (s: string | undefined, max: number) => (s === undefined ? undefined : s.length > max ? s.slice(0, max) : s);

/** The actor's fields, each bounded: a record never grows with what a client sends. */
function actorFields(actor: Actor): Omit<StoredRecord, 'time' | 'entries'> {
  return {
    user: { name: cut(actor.user.name, 256)!, groups: actor.user.groups.slice(0, 32).map((g) => cut(g, 256)!) },
    ...(actor.sourceIP ? { sourceIP: cut(actor.sourceIP, 64) } : {}),
    ...(actor.userAgent ? { userAgent: cut(actor.userAgent, 256) } : {}),
    ...(actor.requestID ? { requestID: cut(actor.requestID, 64) } : {}),
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Resource, namespace and name of a registry key (`/registry/GROUP/PLURAL/NAMESPACE/NAME`), or undefined. */
function parseRegistryKey(key: string): { resource: string; namespace: string; name: string } | undefined {
  if (!key.startsWith(REGISTRY_PREFIX)) return undefined;
  const parts = key.slice(REGISTRY_PREFIX.length).split('/');
  if (parts.length !== 3) return undefined;
  return { resource: parts[0]!, namespace: parts[1]!, name: parts[2]! };
}

/**
 * The record of a registry transaction, as one more op to append to it: an entry per object op
 * (the first with the request's verb, the others, such as a ConfigRevision written with its
 * HAProxyConfig, with the verb of their own op). Undefined when no op writes an object, or only
 * objects of resources the operator chose not to audit (`omit`, --audit-omit).
 */
export function recordOp(storage: Storage, ops: WriteOp[], w: AuditWrite, omit?: ReadonlySet<string>): WriteOp | undefined {
  const entries: AuditEntry[] = [];
  // On the embedded store each op takes the next revision, and the record (the txn's last op)
  // takes one more unless the store keeps it outside the revisions (Storage.isRecord): then its
  // modRevision is the last object op's.
  const recordRevision = storage.isRecord(AUDIT_PREFIX) ? 0 : 1;
  ops.forEach((op, i) => {
    const ref = parseRegistryKey(op.key);
    if (!ref || omit?.has(ref.resource)) return;
    const first = i === 0;
    entries.push({
      verb: first ? w.verb : op.type,
      resource: ref.resource,
      ...(first && w.subresource ? { subresource: w.subresource } : {}),
      ...(ref.namespace ? { namespace: ref.namespace } : {}),
      name: ref.name,
      ...(op.type !== 'create' && op.expectedModRevision !== undefined ? { resourceVersionBefore: String(op.expectedModRevision) } : {}),
      revisionOffset: storage.txnRevisions === 'shared' ? 0 : ops.length - 1 - i + recordRevision,
      ...(first && w.patchType ? { patchType: w.patchType } : {}),
      code: op.type === 'create' ? 201 : 200,
    });
  });
  if (entries.length === 0) return undefined;
  const { key, ms } = nextAuditKey();
  const record: StoredRecord = { time: iso(ms), ...actorFields(w.actor), entries };
  return { type: 'create', key, value: JSON.stringify(record) };
}

/** After the txn of `ops` committed (results in op order): what the request's own audit needs. */
export function noteCommitted(trace: AuditTrace | undefined, ops: WriteOp[], results: KeyValue[]): void {
  if (!trace) return;
  const op = ops[0]!;
  trace.committed = true;
  trace.resourceVersionBefore = op.type !== 'create' && op.expectedModRevision !== undefined ? String(op.expectedModRevision) : undefined;
  trace.resourceVersionAfter = String(results[0]!.modRevision);
}

/** Append the record of a request that committed nothing of its own (a failure, a dry run, a no-op write). */
export async function appendRecord(storage: Storage, actor: Actor, entry: AuditEntry): Promise<void> {
  const { key, ms } = nextAuditKey();
  const bounded: AuditEntry = {
    ...entry,
    resource: cut(entry.resource, 64)!,
    ...(entry.subresource !== undefined ? { subresource: cut(entry.subresource, 64) } : {}),
    ...(entry.namespace !== undefined ? { namespace: cut(entry.namespace, 253) } : {}),
    ...(entry.name !== undefined ? { name: cut(entry.name, 253) } : {}),
    ...(entry.reason !== undefined ? { reason: cut(entry.reason, 64) } : {}),
    ...(entry.path !== undefined ? { path: cut(entry.path, 256) } : {}),
  };
  const record: StoredRecord = { time: iso(ms), ...actorFields(actor), entries: [bounded] };
  await storage.txn([{ type: 'create', key, value: JSON.stringify(record) }]);
}

// --- reading ---------------------------------------------------------------------------------

/** The AuditEvents of one stored record, in entry order. */
export function decodeRecord(kv: KeyValue): AuditEvent[] {
  const r = JSON.parse(kv.value) as StoredRecord;
  const id = kv.key.slice(AUDIT_PREFIX.length);
  return r.entries.map((e, i): AuditEvent => {
    const after = e.revisionOffset !== undefined ? String(kv.modRevision - e.revisionOffset) : e.resourceVersionAfter;
    return {
      apiVersion: API_VERSION,
      kind: 'AuditEvent',
      metadata: { name: `${id}.${i}`, resourceVersion: String(kv.modRevision) },
      time: r.time,
      verb: e.verb,
      user: r.user,
      ...(r.sourceIP !== undefined ? { sourceIP: r.sourceIP } : {}),
      ...(r.userAgent !== undefined ? { userAgent: r.userAgent } : {}),
      ...(r.requestID !== undefined ? { requestID: r.requestID } : {}),
      resource: e.resource,
      ...(e.subresource !== undefined ? { subresource: e.subresource } : {}),
      ...(e.namespace !== undefined ? { namespace: e.namespace } : {}),
      ...(e.name !== undefined ? { name: e.name } : {}),
      ...(e.resourceVersionBefore !== undefined ? { resourceVersionBefore: e.resourceVersionBefore } : {}),
      ...(after !== undefined ? { resourceVersionAfter: after } : {}),
      ...(e.patchType !== undefined ? { patchType: e.patchType } : {}),
      ...(e.dryRun ? { dryRun: true } : {}),
      code: e.code,
      ...(e.reason !== undefined ? { reason: e.reason } : {}),
      ...(e.path !== undefined ? { path: e.path } : {}),
    };
  });
}

export interface AuditQuery {
  user?: string;
  namespace?: string;
  resource?: string;
  name?: string;
  verb?: string;
  /** Only records made at or after this time (ms since the epoch). */
  sinceMs?: number;
  limit: number;
  /** metadata.continue of the previous page. */
  continue?: string;
  /** desc: newest first (the default); asc: oldest first. */
  order: 'asc' | 'desc';
}

/** Where a page ends: the record, and the next entry of it not yet returned. */
interface Cursor {
  key: string;
  entry: number;
  order: 'asc' | 'desc';
}

export class InvalidContinueError extends Error {}

const encodeCursor = (c: Cursor) => Buffer.from(JSON.stringify({ k: c.key.slice(AUDIT_PREFIX.length), e: c.entry, o: c.order })).toString('base64url');

function decodeCursor(token: string, order: 'asc' | 'desc'): Cursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const p = parsed as { k?: unknown; e?: unknown; o?: unknown } | undefined;
  if (
    typeof p !== 'object' || p === null ||
    typeof p.k !== 'string' || !/^\d{13}-[0-9a-f]{8}-\d{6}$/.test(p.k) ||
    typeof p.e !== 'number' || !Number.isInteger(p.e) || p.e < 0 ||
    p.o !== order
  ) {
    throw new InvalidContinueError('invalid continue token: pass the metadata.continue of the previous page unchanged, with the same order');
  }
  return { key: AUDIT_PREFIX + p.k, entry: p.e, order };
}

/** Records read per store call, and at most per request (a page may then hold fewer than `limit` items, with a continue token). */
const SCAN_PAGE = 500;
const MAX_SCANNED = 20_000;

/**
 * A page of the log, newest or oldest first, filtered. Entries of one record come in index order
 * (asc) or reverse (desc), so a page can end inside a record and the next resumes there.
 */
export async function listAudit(storage: Storage, q: AuditQuery): Promise<AuditEventList> {
  const desc = q.order === 'desc';
  const cursor = q.continue ? decodeCursor(q.continue, q.order) : undefined;
  const floor = q.sinceMs !== undefined ? `${AUDIT_PREFIX}${msPart(q.sinceMs)}` : undefined;
  const items: AuditEvent[] = [];
  const matches = (e: AuditEvent) =>
    (q.user === undefined || e.user.name === q.user) &&
    (q.namespace === undefined || e.namespace === q.namespace) &&
    (q.resource === undefined || e.resource === q.resource) &&
    (q.name === undefined || e.name === q.name) &&
    (q.verb === undefined || e.verb === q.verb);

  let revision = 0;
  /** Take entries of a record from `start`; returns the cursor to resume at if the page filled. */
  const take = (kv: KeyValue, start: number): Cursor | undefined => {
    const events = decodeRecord(kv);
    const order = desc ? events.map((_, i) => events.length - 1 - i) : events.map((_, i) => i);
    for (let j = start; j < order.length; j++) {
      if (items.length === q.limit) return { key: kv.key, entry: j, order: q.order };
      const e = events[order[j]!]!;
      if (matches(e)) items.push(e);
    }
    return undefined;
  };
  const page = (next?: Cursor): AuditEventList => ({
    apiVersion: API_VERSION,
    kind: 'AuditEventList',
    metadata: { resourceVersion: String(revision), ...(next ? { continue: encodeCursor(next) } : {}) },
    items,
  });

  // The record a page ended inside: the rest of its entries first.
  let position = cursor?.key;
  if (cursor) {
    const kv = await storage.get(cursor.key);
    if (kv) {
      const stop = take(kv, cursor.entry);
      if (stop) return page(stop);
    }
  }
  let scanned = 0;
  for (;;) {
    const opts: ListOptions = desc
      ? { reverse: true, limit: SCAN_PAGE, ...(position ? { before: position } : {}), ...(floor ? { after: floor } : {}) }
      : { limit: SCAN_PAGE, ...(position ?? floor ? { after: position ?? floor } : {}) };
    const result = await storage.list(AUDIT_PREFIX, opts);
    revision = result.revision;
    for (const kv of result.items) {
      const stop = take(kv, 0);
      if (stop) return page(stop);
      position = kv.key;
      scanned++;
    }
    if (!result.more) {
      // The log ended where a page fills exactly: no continue, as for any list.
      return page();
    }
    if (scanned >= MAX_SCANNED) return page({ key: position!, entry: Number.MAX_SAFE_INTEGER, order: q.order });
  }
}

// --- retention -------------------------------------------------------------------------------

/** Delete records made before `cutoffMs`, a txn of at most 100 deletes at a time; returns how many. */
export async function sweepAudit(storage: Storage, cutoffMs: number): Promise<number> {
  const before = `${AUDIT_PREFIX}${msPart(cutoffMs)}`;
  let deleted = 0;
  for (;;) {
    const { items } = await storage.list(AUDIT_PREFIX, { before, limit: 100 });
    if (items.length === 0) return deleted;
    try {
      await storage.txn(items.map((kv) => ({ type: 'delete', key: kv.key })));
      deleted += items.length;
    } catch {
      // Another replica swept some of them first: go one by one.
      for (const kv of items) {
        try {
          await storage.txn([{ type: 'delete', key: kv.key }]);
          deleted++;
        } catch {
          // Gone already.
        }
      }
    }
  }
}

export interface AuditRetentionOptions {
  retentionMs: number;
  intervalMs: number;
  now?: () => number;
  onError?: (err: unknown) => void;
}

/** Sweep the log now and then (first after a minute, so a server restarted often still sweeps). */
export function startAuditRetention(storage: Storage, options: AuditRetentionOptions): { stop(): void } {
  const tick = () => {
    sweepAudit(storage, (options.now ?? Date.now)() - options.retentionMs).catch((err: unknown) => options.onError?.(err));
  };
  const first = setTimeout(tick, Math.min(60_000, options.intervalMs));
  first.unref();
  const timer = setInterval(tick, options.intervalMs);
  timer.unref();
  return {
    stop: () => {
      clearTimeout(first);
      clearInterval(timer);
    },
  };
}
