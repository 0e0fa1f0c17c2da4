/**
 * Credentials in the store: API tokens (auth.ts's TokenRecord, keyed by the token's SHA-256),
 * join tokens (keyed the same way under their own prefix), and the writes that make, revoke and
 * rotate them. Secrets are made here, returned once to the caller, and never stored or logged.
 *
 * Revocation leaves a tombstone (the record with revokedAt) rather than deleting the key, so that
 * a server restarting with the same admin token in its kubeconfig cannot register it again.
 * Tombstones and expired records of agents and join tokens are swept a day later.
 */
import { randomBytes } from 'node:crypto';
import {
  API_VERSION,
  type APIToken,
  type Enrollment,
  type HAProxyInstance,
  type JoinToken,
  type TokenRequest,
} from '@haproxyhq/schemas';
import { recordOp, type Actor } from '../audit/log.ts';
import { TOKEN_PREFIX, generateToken, generateTokenId, hashToken, recordId, recordValid, type TokenRecord, type UserInfo } from '../auth.ts';
import { ApiError, forbidden, notFound, unauthorized } from '../errors.ts';
import { AGENTS_GROUP } from '../rbac/rules.ts';
import type { ResourceRegistry } from '../registry/registry.ts';
import { KeyExistsError, KeyNotFoundError, RevisionMismatchError, type KeyValue, type Storage, type WriteOp } from '../storage/types.ts';

export const JOIN_PREFIX = '/haproxyhq/auth/jointokens/';
/** How long a rotated-away credential keeps working: long enough for the agent to write its new one. */
export const ROTATION_GRACE_MS = 5 * 60_000;
/** Expired or revoked records of agents and join tokens are deleted this long after. */
const SWEEP_AFTER_MS = 24 * 3600_000;
const MAX_ATTEMPTS = 8;

export const agentUserName = (namespace: string, name: string) => `system:agent:${namespace}:${name}`;

/** A join token: `hqj_` and 256 random bits, so it is never mistaken for an API token. */
export const generateJoinToken = () => `hqj_${randomBytes(32).toString('base64url')}`;

export interface JoinRecord {
  id: string;
  namespace: string;
  instance?: string;
  description: string;
  createdAt: string;
  expiresAt: string;
  /** Who made it (a user name), for lists. */
  createdBy: string;
  usedAt?: string;
  usedBy?: string;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/** Every key/value under a prefix, read page by page at one revision. */
async function listAll(storage: Storage, prefix: string): Promise<KeyValue[]> {
  const out: KeyValue[] = [];
  let after: string | undefined;
  let revision: number | undefined;
  for (;;) {
    const page = await storage.list(prefix, { limit: 1000, ...(after ? { after } : {}), ...(revision ? { revision } : {}) });
    revision = page.revision;
    out.push(...page.items);
    if (!page.more || page.items.length === 0) return out;
    after = page.items[page.items.length - 1]!.key;
  }
}

interface StoredToken {
  hash: string;
  record: TokenRecord;
  kv: KeyValue;
}

const parseToken = (kv: KeyValue): StoredToken => ({ hash: kv.key.slice(TOKEN_PREFIX.length), record: JSON.parse(kv.value) as TokenRecord, kv });

/** How an API token is shown: by its id, never its secret or hash (`token` only when just made). */
export function toAPIToken(hash: string, r: TokenRecord, token?: string): APIToken {
  const agent = r.kind === 'agent' ? r.user.agent : undefined;
  return {
    apiVersion: API_VERSION,
    kind: 'APIToken',
    metadata: { name: recordId(hash, r), creationTimestamp: r.createdAt },
    type: r.kind ?? 'user',
    user: { name: r.user.name, groups: r.user.groups },
    description: r.description,
    ...(agent ? { instance: { namespace: agent.namespace, name: agent.name } } : {}),
    ...(r.expiresAt ? { expirationTimestamp: r.expiresAt } : {}),
    ...(token ? { token } : {}),
  };
}

export function toJoinToken(r: JoinRecord, token?: string): JoinToken {
  return {
    apiVersion: API_VERSION,
    kind: 'JoinToken',
    metadata: { name: r.id, namespace: r.namespace, creationTimestamp: r.createdAt },
    ...(r.instance ? { instance: r.instance } : {}),
    description: r.description,
    expirationTimestamp: r.expiresAt,
    ...(r.usedAt ? { usedTimestamp: r.usedAt } : {}),
    ...(r.usedBy ? { usedBy: r.usedBy } : {}),
    ...(token ? { token } : {}),
  };
}

export interface CredentialStoreOptions {
  now?: () => number;
}

export class CredentialStore {
  private readonly storage: Storage;
  private readonly now: () => number;

  constructor(storage: Storage, options: CredentialStoreOptions = {}) {
    this.storage = storage;
    this.now = options.now ?? Date.now;
  }

  // --- API tokens ---------------------------------------------------------------------------

  /** A new user token; the secret is in the answer and nowhere else. */
  async createUserToken(req: TokenRequest): Promise<APIToken> {
    const token = generateToken();
    const now = this.now();
    const record: TokenRecord = {
      id: generateTokenId(),
      kind: 'user',
      user: { name: req.user.name, groups: [...req.user.groups] },
      description: req.description ?? '',
      createdAt: iso(now),
      ...(req.ttlSeconds !== undefined ? { expiresAt: iso(now + req.ttlSeconds * 1000) } : {}),
    };
    const hash = hashToken(token);
    await this.storage.txn([{ type: 'create', key: TOKEN_PREFIX + hash, value: JSON.stringify(record) }]);
    return toAPIToken(hash, record, token);
  }

  /** Every token that still works (revoked and expired ones are left out). */
  async listTokens(): Promise<APIToken[]> {
    const now = this.now();
    return (await listAll(this.storage, TOKEN_PREFIX))
      .map(parseToken)
      .filter((t) => recordValid(t.record, now))
      .map((t) => toAPIToken(t.hash, t.record))
      .sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || a.metadata.name.localeCompare(b.metadata.name));
  }

  /** Revoke the token with this id; 404 when no working token has it. */
  async revokeToken(id: string): Promise<APIToken> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const now = this.now();
      const found = (await listAll(this.storage, TOKEN_PREFIX)).map(parseToken).find((t) => recordId(t.hash, t.record) === id && recordValid(t.record, now));
      if (!found) throw notFound('APIToken', 'haproxyhq.io', id, 'tokens');
      try {
        await this.storage.txn([this.tombstone(found, now)]);
        return toAPIToken(found.hash, found.record);
      } catch (err) {
        if (!(err instanceof RevisionMismatchError || err instanceof KeyNotFoundError)) throw err;
      }
    }
    throw new ApiError(409, 'Conflict', `the token ${id} kept changing while it was being revoked; retry`);
  }

  private tombstone(t: StoredToken, now: number): WriteOp {
    return { type: 'update', key: t.kv.key, value: JSON.stringify({ ...t.record, revokedAt: iso(now) }), expectedModRevision: t.kv.modRevision };
  }

  /** The working credentials bound to one instance. */
  private async instanceCredentials(namespace: string, name: string): Promise<StoredToken[]> {
    const now = this.now();
    return (await listAll(this.storage, TOKEN_PREFIX))
      .map(parseToken)
      .filter((t) => t.record.kind === 'agent' && t.record.user.agent?.namespace === namespace && t.record.user.agent.name === name && recordValid(t.record, now));
  }

  /** Revoke every credential bound to an instance; returns those revoked. */
  async revokeInstance(namespace: string, name: string): Promise<APIToken[]> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const now = this.now();
      const found = await this.instanceCredentials(namespace, name);
      if (found.length === 0) return [];
      try {
        await this.storage.txn(found.map((t) => this.tombstone(t, now)));
        return found.map((t) => toAPIToken(t.hash, t.record));
      } catch (err) {
        if (!(err instanceof RevisionMismatchError || err instanceof KeyNotFoundError)) throw err;
      }
    }
    throw new ApiError(409, 'Conflict', `the credentials of haproxyinstance ${namespace}/${name} kept changing while they were being revoked; retry`);
  }

  /** A new credential for an instance (not yet written): its secret, record and write. */
  private agentCredential(namespace: string, name: string, description: string, now: number) {
    const token = generateToken();
    const user: UserInfo = { name: agentUserName(namespace, name), groups: [AGENTS_GROUP], agent: { namespace, name } };
    const record: TokenRecord = { id: generateTokenId(), kind: 'agent', user, description, createdAt: iso(now) };
    const hash = hashToken(token);
    const op: WriteOp = { type: 'create', key: TOKEN_PREFIX + hash, value: JSON.stringify(record) };
    return { token, hash, record, op };
  }

  /**
   * Rotation: a new credential for the instance, and every other one it has expires after the
   * grace period (sooner if it already would), so an agent that dies before writing its new
   * credential down can still use the old one to try again.
   */
  async rotate(namespace: string, name: string, ca: string | undefined, graceMs = ROTATION_GRACE_MS): Promise<Enrollment> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const now = this.now();
      const others = await this.instanceCredentials(namespace, name);
      const cred = this.agentCredential(namespace, name, `agent ${namespace}/${name} (rotated)`, now);
      const ops: WriteOp[] = [cred.op];
      for (const t of others) {
        const until = now + graceMs;
        if (t.record.expiresAt !== undefined && Date.parse(t.record.expiresAt) <= until) continue;
        ops.push({ type: 'update', key: t.kv.key, value: JSON.stringify({ ...t.record, expiresAt: iso(until) }), expectedModRevision: t.kv.modRevision });
      }
      try {
        await this.storage.txn(ops);
        return enrollment(namespace, name, cred.record, cred.token, ca);
      } catch (err) {
        if (!(err instanceof RevisionMismatchError || err instanceof KeyNotFoundError)) throw err;
      }
    }
    throw new ApiError(409, 'Conflict', `the credentials of haproxyinstance ${namespace}/${name} kept changing during the rotation; retry`);
  }

  // --- join tokens --------------------------------------------------------------------------

  async createJoinToken(namespace: string, opts: { ttlSeconds: number; instance?: string; description?: string; createdBy: string }): Promise<JoinToken> {
    const token = generateJoinToken();
    const now = this.now();
    const record: JoinRecord = {
      id: generateTokenId(),
      namespace,
      ...(opts.instance ? { instance: opts.instance } : {}),
      description: opts.description ?? '',
      createdAt: iso(now),
      expiresAt: iso(now + opts.ttlSeconds * 1000),
      createdBy: opts.createdBy,
    };
    await this.storage.txn([{ type: 'create', key: JOIN_PREFIX + hashToken(token), value: JSON.stringify(record) }]);
    return toJoinToken(record, token);
  }

  /** The join tokens of a namespace (used and expired ones too, until they are swept). */
  async listJoinTokens(namespace: string): Promise<JoinToken[]> {
    return (await listAll(this.storage, JOIN_PREFIX))
      .map((kv) => JSON.parse(kv.value) as JoinRecord)
      .filter((r) => r.namespace === namespace)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id))
      .map((r) => toJoinToken(r));
  }

  async deleteJoinToken(namespace: string, id: string): Promise<JoinToken> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const kv = (await listAll(this.storage, JOIN_PREFIX)).find((k) => {
        const r = JSON.parse(k.value) as JoinRecord;
        return r.id === id && r.namespace === namespace;
      });
      if (!kv) throw notFound('JoinToken', 'haproxyhq.io', id, 'jointokens');
      try {
        await this.storage.txn([{ type: 'delete', key: kv.key, expectedModRevision: kv.modRevision }]);
        return toJoinToken(JSON.parse(kv.value) as JoinRecord);
      } catch (err) {
        if (!(err instanceof RevisionMismatchError || err instanceof KeyNotFoundError)) throw err;
      }
    }
    throw new ApiError(409, 'Conflict', `the join token ${id} kept changing while it was being deleted; retry`);
  }

  /**
   * Enroll: check the join token, then in ONE transaction mark it used (compare-and-swap on its
   * revision: of two enrollments racing with one token, exactly one commits), create the
   * instance if it is missing, and write the agent's credential. A refused enrollment writes
   * nothing.
   */
  async enroll(token: string, instance: string, ctx: { instances: ResourceRegistry; actor: Actor; ca?: string }): Promise<Enrollment> {
    const key = JOIN_PREFIX + hashToken(token);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const now = this.now();
      const kv = token.length <= 512 ? await this.storage.get(key) : undefined;
      if (!kv) throw unauthorized('Unauthorized: the join token is not valid: it is unknown (mistyped, deleted, or swept a day after it expired); make a new one with hqctl create join-token');
      const join = JSON.parse(kv.value) as JoinRecord;
      if (join.usedAt) {
        throw unauthorized(`Unauthorized: the join token ${join.id} was already used (by instance "${join.usedBy}" at ${join.usedAt}): a join token works once; make a new one with hqctl create join-token`);
      }
      if (Date.parse(join.expiresAt) <= now) {
        throw unauthorized(`Unauthorized: the join token ${join.id} expired at ${join.expiresAt}; make a new one with hqctl create join-token --ttl`);
      }
      if (join.instance !== undefined && join.instance !== instance) {
        throw forbidden(`the join token ${join.id} enrolls only haproxyinstance "${join.instance}" in namespace "${join.namespace}", not "${instance}"`);
      }
      const ns = join.namespace;
      const instances = ctx.instances;
      const ops: WriteOp[] = [];
      if (!(await instances.find(ns, instance))) {
        const obj = instances.prepareCreate(ns, {
          apiVersion: API_VERSION,
          kind: 'HAProxyInstance',
          metadata: { name: instance },
          spec: {},
        } satisfies HAProxyInstance);
        ops.push({ type: 'create', key: instances.key(ns, instance), value: instances.encode(obj) });
      }
      const used: JoinRecord = { ...join, usedAt: iso(now), usedBy: instance };
      ops.push({ type: 'update', key, value: JSON.stringify(used), expectedModRevision: kv.modRevision });
      const cred = this.agentCredential(ns, instance, `agent ${ns}/${instance} (enrolled with join token ${join.id})`, now);
      ops.push(cred.op);
      // The instance's create is recorded in the audit log in the same transaction, as every registry write is.
      const record = recordOp(this.storage, ops, { actor: ctx.actor, verb: 'create' });
      try {
        await this.storage.txn(record ? [...ops, record] : ops);
        return enrollment(ns, instance, cred.record, cred.token, ctx.ca);
      } catch (err) {
        // Another enrollment used the token, or created the instance, first: look again.
        if (!(err instanceof RevisionMismatchError || err instanceof KeyNotFoundError || err instanceof KeyExistsError)) throw err;
      }
    }
    throw new ApiError(409, 'Conflict', 'the join token kept changing during the enrollment; retry');
  }

  // --- sweeping -----------------------------------------------------------------------------

  /**
   * Delete join tokens and agent credentials that expired, were used or were revoked more than a
   * day ago. User tokens' tombstones stay (they keep a revoked admin token from coming back).
   */
  async sweep(): Promise<number> {
    const cutoff = this.now() - SWEEP_AFTER_MS;
    const old = (t: string | undefined) => t !== undefined && Date.parse(t) < cutoff;
    const ops: WriteOp[] = [];
    for (const kv of await listAll(this.storage, TOKEN_PREFIX)) {
      const r = JSON.parse(kv.value) as TokenRecord;
      if (r.kind === 'agent' && (old(r.expiresAt) || old(r.revokedAt))) ops.push({ type: 'delete', key: kv.key, expectedModRevision: kv.modRevision });
    }
    for (const kv of await listAll(this.storage, JOIN_PREFIX)) {
      const r = JSON.parse(kv.value) as JoinRecord;
      if (old(r.expiresAt) || old(r.usedAt)) ops.push({ type: 'delete', key: kv.key, expectedModRevision: kv.modRevision });
    }
    let deleted = 0;
    for (const op of ops) {
      try {
        await this.storage.txn([op]);
        deleted++;
      } catch {
        // Changed or swept by another replica meanwhile.
      }
    }
    return deleted;
  }
}

function enrollment(namespace: string, name: string, record: TokenRecord, token: string, ca: string | undefined): Enrollment {
  return {
    apiVersion: API_VERSION,
    kind: 'Enrollment',
    namespace,
    instance: name,
    user: { name: record.user.name, groups: record.user.groups },
    tokenId: record.id!,
    token,
    ...(ca ? { certificateAuthority: ca } : {}),
  };
}
