/**
 * The generic registry: every verb for every resource, written once over the storage contract
 * (Kubernetes' genericregistry.Store). Per-resource behaviour lives in a ResourceStrategy.
 *
 * Objects are stored without metadata.resourceVersion: it is the store's modRevision, attached
 * on every read, so it can never disagree with the store.
 */
import { randomUUID } from 'node:crypto';
import { API_VERSION, GROUP, type ObjectMeta, type ResourceDescriptor } from '@haproxyhq/schemas';
import {
  ApiError,
  alreadyExists,
  badRequest,
  conflict,
  staleObject,
  gone,
  invalid,
  methodNotAllowed,
  notFound,
  serviceUnavailable,
  tooLarge,
  type Cause,
} from '../errors.ts';
import {
  CompactedError,
  KeyExistsError,
  KeyNotFoundError,
  RevisionMismatchError,
  StorageUnavailableError,
  ValueTooLargeError,
  type KeyValue,
  type Storage,
  type Watch,
  type WatchEvent as StorageEvent,
  type WriteOp,
} from '../storage/types.ts';
import { noteCommitted, recordOp, type Actor, type AuditTrace, type AuditWrite } from '../audit/log.ts';
import { applyJsonPatch, applyMergePatch, deepEqual } from './patch.ts';
import {
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  onlyMetadataFields,
  pinnedName,
  METADATA_FIELDS,
  type FieldGetters,
  type FieldRequirement,
  type Requirement,
} from './selectors.ts';
import { UNKNOWN_FIELD, metadataCauses, schemaCauses } from './validation.ts';
import { Value } from '@sinclair/typebox/value';

/** A stored object: envelope plus whatever the schema allows. */
export interface ApiObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: unknown;
  status?: unknown;
  [field: string]: unknown;
}

export interface WriteContext {
  registry: ResourceRegistry;
  /** The store itself, for strategies that keep records outside the registry (credentials). */
  storage: Storage;
  /** Registries of other resources, for strategies that write more than one object. */
  lookup(plural: string): ResourceRegistry;
}

/** What differs between resources. */
export interface ResourceStrategy {
  /** Extra checks beyond the schema. */
  validate?(obj: ApiObject, old: ApiObject | undefined): Cause[];
  /** Further writes to commit atomically with this one (e.g. a ConfigRevision); `dryRun`: nothing will be written. */
  extraWrites?(obj: ApiObject, old: ApiObject | undefined, ctx: WriteContext, dryRun: boolean): Promise<WriteOp[]>;
  /** Work after a delete (e.g. garbage-collect owned objects). Failures are logged, not returned. */
  afterDelete?(obj: ApiObject, ctx: WriteContext): Promise<void>;
  /** Field labels beyond metadata.name and metadata.namespace that fieldSelector may use. */
  fieldLabels?: FieldGetters;
}

export interface ListQuery {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export interface ListResponse {
  apiVersion: string;
  kind: string;
  metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number };
  items: ApiObject[];
}

export interface WatchQuery {
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchSink {
  event(type: WatchEventType, object: unknown): void;
  /** The stream ended (store closed, connection lost): close the response. */
  end(): void;
}

/** How unknown fields are handled, as Kubernetes' fieldValidation: Strict (our default) refuses them. */
export type FieldValidation = 'Ignore' | 'Warn' | 'Strict';

/**
 * Who writes, for the audit log: every write names its actor (a request's user and client, or one
 * of SYSTEM_ACTORS), and its record is committed in the write's own transaction.
 */
export interface Audited {
  actor: Actor;
  /** Filled in for the request's own audit record (routes/audit.ts). */
  trace?: AuditTrace;
}

export interface WriteOptions extends Audited {
  dryRun?: boolean;
  fieldValidation?: FieldValidation;
  /** Filled with warnings for the client (the Warning header), e.g. dropped unknown fields. */
  warnings?: string[];
}

export interface DeleteOptions extends Audited {
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface RegistryOptions {
  maxObjectBytes: number;
  /**
   * How often a watch with allowWatchBookmarks gets a BOOKMARK when the store's revision moved;
   * when it did not, every QUIET_BOOKMARK_TICKS intervals all the same (a minute at the default 10 s).
   */
  bookmarkIntervalMs: number;
  /** Resources whose writes are not audited (--audit-omit; empty by default). */
  auditOmit?: ReadonlySet<string>;
}

type PatchType = 'merge' | 'json';

const MAX_PATCH_RETRIES = 8;
/**
 * A watch with bookmarks hears from the server at least every this many bookmark intervals, even
 * when nothing was written: hq-agent takes 3 minutes of silence for a dead connection.
 */
export const QUIET_BOOKMARK_TICKS = 6;
const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

/** Parsed values of store events, shared by the watchers they are delivered to. */
const decoded = new WeakMap<KeyValue, ApiObject>();
/** The stored value each object find() and get() returned was decoded from: a write over it hands it to the store (WriteOp `read`). */
const readFrom = new WeakMap<ApiObject, KeyValue>();

/**
 * The object a write stored, as the API returns it: what was encoded, with the write's
 * resourceVersion, instead of parsing back the JSON just made from it. New top-level and metadata
 * objects, so the resourceVersion lands on nothing the caller still holds.
 */
function writtenObject(obj: ApiObject, kv: KeyValue): ApiObject {
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(kv.modRevision) } };
}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

export class ResourceRegistry {
  readonly descriptor: ResourceDescriptor;
  private readonly storage: Storage;
  private readonly strategy: ResourceStrategy;
  private readonly options: RegistryOptions;
  private readonly ctx: WriteContext;

  constructor(
    descriptor: ResourceDescriptor,
    storage: Storage,
    strategy: ResourceStrategy,
    options: RegistryOptions,
    lookup: (plural: string) => ResourceRegistry,
  ) {
    this.descriptor = descriptor;
    this.storage = storage;
    this.strategy = strategy;
    this.options = options;
    this.ctx = { registry: this, storage, lookup };
    this.fieldGetters = { ...METADATA_FIELDS, ...strategy.fieldLabels };
  }

  private readonly fieldGetters: FieldGetters;

  private get plural() {
    return this.descriptor.plural;
  }

  key(namespace: string, name: string): string {
    return `/registry/${GROUP}/${this.plural}/${namespace}/${name}`;
  }

  prefix(namespace?: string): string {
    return `/registry/${GROUP}/${this.plural}/${namespace ? `${namespace}/` : ''}`;
  }

  /** Stored value -> API object, with resourceVersion from the store. */
  decode(kv: KeyValue): ApiObject {
    const obj = JSON.parse(kv.value) as ApiObject;
    obj.metadata.resourceVersion = String(kv.modRevision);
    return obj;
  }

  /**
   * decode(), once per stored value for all the watchers it is delivered to (the store hands every
   * watcher the same event): an agent's own watch and the controller's informer share one parse.
   * Watch consumers only read what they get.
   */
  private decodeShared(kv: KeyValue): ApiObject {
    let obj = decoded.get(kv);
    if (!obj) {
      // This server's own write, still in flight: the object it encoded, not a parse of its JSON.
      const w = this.writing.get(kv.key);
      obj = w !== undefined && w.value === kv.value ? writtenObject(w.obj, kv) : this.decode(kv);
      decoded.set(kv, obj);
    }
    return obj;
  }

  /**
   * The objects behind the values this registry is committing, by key, each only while its txn
   * is in flight. The embedded store tells watchers of a write before the writer's await resumes,
   * so a write's watch event reuses the object it encoded (decodeShared), which a status write
   * already has in hand; etcd's events come later and are parsed. Matched by the value itself.
   */
  private readonly writing = new Map<string, { value: string; obj: ApiObject }>();

  /** API object -> stored value (without resourceVersion), enforcing the size cap. */
  encode(obj: ApiObject): string {
    const { resourceVersion: _rv, ...metadata } = obj.metadata;
    const value = JSON.stringify({ ...obj, metadata });
    const bytes = Buffer.byteLength(value);
    if (bytes > this.options.maxObjectBytes) {
      throw tooLarge(
        `${this.descriptor.kind} "${obj.metadata.name}" is ${bytes} bytes, over the limit of ${this.options.maxObjectBytes} bytes per object`,
      );
    }
    return value;
  }

  private notFound(name: string) {
    return notFound(this.descriptor.kind, GROUP, name, this.plural);
  }

  /** Envelope checks shared by create and update: kind, apiVersion, namespace, name. */
  private checkEnvelope(body: unknown, namespace: string, name: string | undefined): ApiObject {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw badRequest(`the request body must be a JSON object (a ${this.descriptor.kind})`);
    }
    const obj = body as ApiObject;
    if (obj.apiVersion !== undefined && obj.apiVersion !== API_VERSION) {
      throw badRequest(`the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${API_VERSION})`);
    }
    if (obj.kind !== undefined && obj.kind !== this.descriptor.kind) {
      throw badRequest(`the kind in the data (${String(obj.kind)}) does not match the expected kind (${this.descriptor.kind})`);
    }
    if (typeof obj.metadata !== 'object' || obj.metadata === null || Array.isArray(obj.metadata)) {
      throw invalid(this.descriptor.kind, GROUP, name ?? '', [{ reason: 'FieldValueRequired', field: 'metadata', message: 'Required value' }]);
    }
    if (!this.descriptor.namespaced) {
      // Cluster-wide objects have no namespace; one sent is ignored, as kube-apiserver does.
      const { namespace: _ignored, ...metadata } = obj.metadata;
      return { ...obj, apiVersion: API_VERSION, kind: this.descriptor.kind, metadata };
    }
    if (obj.metadata.namespace !== undefined && obj.metadata.namespace !== namespace) {
      throw badRequest(
        `the namespace of the provided object (${String(obj.metadata.namespace)}) does not match the namespace sent on the request (${namespace})`,
      );
    }
    if (name !== undefined && obj.metadata.name !== undefined && obj.metadata.name !== name) {
      throw badRequest(`the name of the object (${String(obj.metadata.name)}) does not match the name on the URL (${name})`);
    }
    return { ...obj, apiVersion: API_VERSION, kind: this.descriptor.kind, metadata: { ...obj.metadata, namespace } };
  }

  /** Validate, dropping unknown fields first when the client asked to (fieldValidation=Ignore|Warn). */
  private validate(obj: ApiObject, old: ApiObject | undefined, opts: Partial<WriteOptions> = {}): ApiObject {
    let schemaErrors = schemaCauses(this.descriptor.schema, obj);
    const unknown = schemaErrors.filter((c) => c.message === UNKNOWN_FIELD);
    if (unknown.length > 0 && (opts.fieldValidation === 'Ignore' || opts.fieldValidation === 'Warn')) {
      obj = Value.Clean(this.descriptor.schema, structuredClone(obj)) as ApiObject;
      if (opts.fieldValidation === 'Warn') for (const c of unknown) opts.warnings?.push(`unknown field "${c.field}"`);
      schemaErrors = schemaCauses(this.descriptor.schema, obj);
    }
    // The metadata rules and the strategy read the object as its schema types it: only then.
    const causes = schemaErrors.length > 0 ? schemaErrors : [...metadataCauses(obj.metadata), ...(this.strategy.validate?.(obj, old) ?? [])];
    if (causes.length > 0) throw invalid(this.descriptor.kind, GROUP, obj.metadata.name ?? '', causes);
    return obj;
  }

  /** Run a transaction with its audit record, turning storage failures into API errors for `name`. */
  private async commit(ops: WriteOp[], name: string, audit: AuditWrite, obj?: ApiObject): Promise<KeyValue[]> {
    try {
      return await this.txn(ops, audit, obj && [obj]);
    } catch (err) {
      throw this.storageError(err, name);
    }
  }

  /**
   * The one way the registry writes: `ops` and, in the same transaction, their audit record.
   * `objects[i]`, when given, is what ops[i]'s value encodes (see `writing`).
   */
  private async txn(ops: WriteOp[], audit: AuditWrite, objects?: ApiObject[]): Promise<KeyValue[]> {
    const record = recordOp(this.storage, ops, audit, this.options.auditOmit);
    const entries = objects?.map((obj, i) => {
      const op = ops[i]!;
      if (op.type === 'delete') return undefined;
      const entry = { value: op.value, obj };
      this.writing.set(op.key, entry);
      return entry;
    });
    try {
      const results = await this.storage.txn(record ? [...ops, record] : ops);
      noteCommitted(audit.trace, ops, results);
      return results.slice(0, ops.length);
    } finally {
      entries?.forEach((entry, i) => {
        // Unless a later write to the key took its place.
        if (entry && this.writing.get(ops[i]!.key) === entry) this.writing.delete(ops[i]!.key);
      });
    }
  }

  private storageError(err: unknown, name: string): unknown {
    if (err instanceof KeyExistsError) {
      if (err.opIndex === 0) return alreadyExists(GROUP, this.plural, name);
      return conflict(GROUP, this.plural, name, `a related object (${err.key.split('/').slice(3).join('/')}) already exists; retry`);
    }
    if (err instanceof RevisionMismatchError) {
      return staleObject(GROUP, this.plural, name);
    }
    if (err instanceof KeyNotFoundError) {
      if (err.opIndex === 0) return this.notFound(name);
      return conflict(GROUP, this.plural, name, 'a related object changed during the write; retry');
    }
    if (err instanceof ValueTooLargeError) return tooLarge(err.message);
    if (err instanceof StorageUnavailableError) return serviceUnavailable(`storage unavailable: ${err.message}`);
    if (err instanceof CompactedError) return gone(err.message);
    return err;
  }

  /** The object, or undefined when it does not exist. */
  async find(namespace: string, name: string): Promise<ApiObject | undefined> {
    const kv = await this.wrap(() => this.storage.get(this.key(namespace, name)), name);
    return kv ? this.decodeRead(kv) : undefined;
  }

  async get(namespace: string, name: string): Promise<ApiObject> {
    const kv = await this.wrap(() => this.storage.get(this.key(namespace, name)), name);
    if (!kv) throw this.notFound(name);
    return this.decodeRead(kv);
  }

  private decodeRead(kv: KeyValue): ApiObject {
    const obj = this.decode(kv);
    readFrom.set(obj, kv);
    return obj;
  }

  /** The update of `old` (as find() or get() returned it) to `value`. */
  private updateOp(namespace: string, name: string, value: string, old: ApiObject): WriteOp {
    return { type: 'update', key: this.key(namespace, name), value, expectedModRevision: Number(old.metadata.resourceVersion), read: readFrom.get(old) };
  }

  private async wrap<T>(fn: () => Promise<T>, name: string): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.storageError(err, name);
    }
  }

  async create(namespace: string, body: unknown, opts: WriteOptions): Promise<ApiObject> {
    if (this.descriptor.serverCreated) {
      throw methodNotAllowed(
        `${this.plural}.${GROUP} are recorded by the server when an HAProxyConfig's spec changes; change the HAProxyConfig instead`,
      );
    }
    return this.createObject(namespace, body, opts);
  }

  private async createObject(namespace: string, body: unknown, opts: WriteOptions): Promise<ApiObject> {
    const obj = this.prepareCreate(namespace, body, opts);
    const ops: WriteOp[] = [{ type: 'create', key: this.key(namespace, obj.metadata.name!), value: this.encode(obj) }];
    ops.push(...((await this.strategy.extraWrites?.(obj, undefined, this.ctx, opts.dryRun === true)) ?? []));
    if (opts.dryRun) {
      if (opts.trace) opts.trace.dryRun = true;
      return obj;
    }
    const [kv] = await this.commit(ops, obj.metadata.name!, { actor: opts.actor, trace: opts.trace, verb: 'create' }, obj);
    return writtenObject(obj, kv!);
  }

  /** A validated new object with server-owned metadata set, ready to encode and write. */
  prepareCreate(namespace: string, body: unknown, opts: Partial<WriteOptions> = {}): ApiObject {
    const obj = this.checkEnvelope(body, namespace, undefined);
    const meta = obj.metadata;
    if (!meta.name && meta.generateName) {
      let suffix = '';
      for (let i = 0; i < 5; i++) suffix += NAME_CHARS[Math.floor(Math.random() * NAME_CHARS.length)];
      meta.name = meta.generateName + suffix;
    }
    if (!meta.name) {
      throw invalid(this.descriptor.kind, GROUP, '', [
        { reason: 'FieldValueRequired', field: 'metadata.name', message: 'name or generateName is required' },
      ]);
    }
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== '') {
      throw invalid(this.descriptor.kind, GROUP, meta.name, [
        { reason: 'FieldValueInvalid', field: 'metadata.resourceVersion', message: 'must not be set on create' },
      ]);
    }
    delete meta.resourceVersion;
    meta.uid = randomUUID();
    meta.creationTimestamp = now();
    meta.generation = 1;
    delete meta.deletionTimestamp;
    // Status belongs to the /status subresource: a create cannot set it (as for CRDs with status).
    if (this.descriptor.statusSubresource) delete obj.status;
    return this.validate(obj, undefined, opts);
  }

  /**
   * Merge a proposed object onto the stored one: the main resource keeps the stored status, the
   * status subresource keeps everything but status; server-owned metadata is never taken from
   * the client; generation moves when spec changes.
   */
  private merge(proposed: ApiObject, old: ApiObject, subresource: 'status' | undefined): ApiObject {
    let next: ApiObject;
    if (subresource === 'status') {
      next = { ...old, metadata: { ...old.metadata } };
      if (proposed.status === undefined) delete next.status;
      else next.status = proposed.status;
    } else {
      next = { ...proposed, metadata: { ...proposed.metadata } };
      if (this.descriptor.statusSubresource) {
        if (old.status === undefined) delete next.status;
        else next.status = old.status;
      }
      next.metadata.uid = old.metadata.uid;
      next.metadata.creationTimestamp = old.metadata.creationTimestamp;
      next.metadata.generation = old.metadata.generation ?? 1;
      if (!deepEqual(proposed.spec, old.spec)) next.metadata.generation = (old.metadata.generation ?? 1) + 1;
    }
    next.metadata.resourceVersion = old.metadata.resourceVersion;
    return next;
  }

  /** Write `next` over `old` if anything changed; a no-op write keeps the resourceVersion. */
  private async writeOver(
    namespace: string,
    name: string,
    next: ApiObject,
    old: ApiObject,
    opts: WriteOptions,
    how: Pick<AuditWrite, 'verb' | 'subresource' | 'patchType'>,
  ): Promise<ApiObject> {
    if (this.descriptor.specImmutable && !deepEqual(next.spec, old.spec)) {
      throw invalid(this.descriptor.kind, GROUP, name, [
        { reason: 'FieldValueInvalid', field: 'spec', message: 'field is immutable' },
      ]);
    }
    next = this.validate(next, old, opts);
    if (deepEqual(next, old)) {
      if (opts.trace) opts.trace.resourceVersionAfter = old.metadata.resourceVersion;
      return old;
    }
    const value = this.encode(next);
    const ops: WriteOp[] = [this.updateOp(namespace, name, value, old)];
    ops.push(...((await this.strategy.extraWrites?.(next, old, this.ctx, opts.dryRun === true)) ?? []));
    if (opts.dryRun) {
      if (opts.trace) opts.trace.dryRun = true;
      return next;
    }
    const [kv] = await this.commit(ops, name, { actor: opts.actor, trace: opts.trace, ...how }, next);
    return writtenObject(next, kv!);
  }

  async update(namespace: string, name: string, body: unknown, subresource: 'status' | undefined, opts: WriteOptions): Promise<ApiObject> {
    const proposed = this.checkEnvelope(body, namespace, name);
    proposed.metadata.name = name;
    const rv = proposed.metadata.resourceVersion;
    if (rv === undefined || rv === '') {
      throw invalid(this.descriptor.kind, GROUP, name, [
        { reason: 'FieldValueInvalid', field: 'metadata.resourceVersion', message: 'must be specified for an update' },
      ]);
    }
    if (!/^\d+$/.test(rv)) {
      throw badRequest(`metadata.resourceVersion ${JSON.stringify(rv)} is not a valid resource version`);
    }
    const old = await this.get(namespace, name);
    if (opts.trace) opts.trace.resourceVersionBefore = old.metadata.resourceVersion;
    if (rv !== old.metadata.resourceVersion) {
      throw staleObject(GROUP, this.plural, name);
    }
    return this.writeOver(namespace, name, this.merge(proposed, old, subresource), old, opts, { verb: 'update', subresource });
  }

  /**
   * Controllers' bulk write: change the spec/metadata of many objects at once. Each item names the
   * resourceVersion the caller decided on and a function from the stored object to the proposed
   * one; the stored object is read here (callers may cache trimmed copies), and an object that
   * moved on since is a conflict. Written in transactions of `chunk` ops and their audit record
   * (etcd's default --max-txn-ops is 128), so ten thousand instances cost a hundred commits, not ten thousand. A
   * chunk that loses a race is retried object by object; objects that still conflict are
   * returned by name for the caller to re-read. Nothing here skips validation.
   */
  async updateMany(
    namespace: string,
    /** `mutate` returns the proposed object and must not modify the stored one it is given. */
    items: { name: string; resourceVersion: string; mutate(stored: ApiObject): ApiObject }[],
    actor: Actor,
    chunk = 100,
  ): Promise<{ written: ApiObject[]; conflicts: string[] }> {
    const written: ApiObject[] = [];
    const conflicts: string[] = [];
    // Chunk by chunk, read and prepared just before it is written: the first objects are written
    // while the rest wait, and only one chunk of read objects and encoded values is held at a time.
    for (let i = 0; i < items.length; i += chunk) {
      const batch: { name: string; op: WriteOp; next: ApiObject }[] = [];
      for (const { name, resourceVersion, mutate } of items.slice(i, i + chunk)) {
        const old = await this.find(namespace, name);
        if (!old || old.metadata.resourceVersion !== resourceVersion) {
          conflicts.push(name);
          continue;
        }
        // `old` was just parsed for this call: mutate may build on it without a copy.
        const proposed = mutate(old);
        if (this.descriptor.specImmutable && !deepEqual(proposed.spec, old.spec)) {
          throw invalid(this.descriptor.kind, GROUP, name, [{ reason: 'FieldValueInvalid', field: 'spec', message: 'field is immutable' }]);
        }
        const next = this.validate(this.merge(this.checkEnvelope(proposed, namespace, name), old, undefined), old);
        if (deepEqual(next, old)) continue;
        batch.push({ name, op: this.updateOp(namespace, name, this.encode(next), old), next });
      }
      if (batch.length === 0) continue;
      try {
        const kvs = await this.txn(batch.map((b) => b.op), { actor, verb: 'update' }, batch.map((b) => b.next));
        kvs.forEach((kv, j) => written.push(writtenObject(batch[j]!.next, kv)));
      } catch (err) {
        if (!(err instanceof RevisionMismatchError || err instanceof KeyNotFoundError)) throw this.storageError(err, batch[0]!.name);
        for (const b of batch) {
          try {
            const [kv] = await this.txn([b.op], { actor, verb: 'update' }, [b.next]);
            written.push(writtenObject(b.next, kv!));
          } catch (e) {
            if (e instanceof RevisionMismatchError || e instanceof KeyNotFoundError) conflicts.push(b.name);
            else throw this.storageError(e, b.name);
          }
        }
      }
    }
    return { written, conflicts };
  }

  async patch(
    namespace: string,
    name: string,
    type: PatchType,
    patch: unknown,
    subresource: 'status' | undefined,
    opts: WriteOptions,
  ): Promise<ApiObject> {
    if (type === 'merge' && (typeof patch !== 'object' || patch === null || Array.isArray(patch))) {
      throw badRequest('a merge patch must be a JSON object');
    }
    for (let attempt = 0; ; attempt++) {
      const old = await this.get(namespace, name);
      if (opts.trace) opts.trace.resourceVersionBefore = old.metadata.resourceVersion;
      const patched = type === 'merge' ? applyMergePatch(old, patch) : applyJsonPatch(old, patch);
      const proposed = this.checkEnvelope(patched, namespace, name);
      // A resourceVersion in the patch is a precondition (as in Kubernetes); none means "latest",
      // and a write that loses a race is then re-read and re-applied.
      const rv = proposed.metadata.resourceVersion;
      if (rv !== undefined && rv !== old.metadata.resourceVersion) {
        throw staleObject(GROUP, this.plural, name);
      }
      const pinned = patchSetsResourceVersion(type, patch);
      proposed.metadata.name = name;
      try {
        return await this.writeOver(namespace, name, this.merge(proposed, old, subresource), old, opts, { verb: 'patch', subresource, patchType: type });
      } catch (err) {
        // Lost a race with another writer: re-read and re-apply, unless the client pinned a version.
        const raced = err instanceof ApiError && err.reason === 'Conflict' && !pinned;
        if (!raced || attempt >= MAX_PATCH_RETRIES) throw err;
      }
    }
  }

  async delete(namespace: string, name: string, options: DeleteOptions): Promise<ApiObject> {
    const old = await this.get(namespace, name);
    if (options.trace) options.trace.resourceVersionBefore = old.metadata.resourceVersion;
    const pre = options.preconditions;
    if (pre?.uid && pre.uid !== old.metadata.uid) {
      throw conflict(GROUP, this.plural, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(
        GROUP,
        this.plural,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`,
      );
    }
    if (options.dryRun) {
      if (options.trace) options.trace.dryRun = true;
      return old;
    }
    const [kv] = await this.commit(
      [{ type: 'delete', key: this.key(namespace, name), expectedModRevision: Number(old.metadata.resourceVersion) }],
      name,
      { actor: options.actor, trace: options.trace, verb: 'delete' },
    );
    const deleted = this.decode(kv!);
    deleted.metadata.deletionTimestamp = now();
    await this.strategy.afterDelete?.(deleted, this.ctx);
    return deleted;
  }

  async list(namespace: string | undefined, q: ListQuery): Promise<ListResponse> {
    const labels = parseLabelSelector(q.labelSelector);
    const fields = parseFieldSelector(q.fieldSelector, this.fieldGetters);
    const limit = q.limit && q.limit > 0 ? q.limit : 0;
    const response = (items: ApiObject[], rv: number, cont?: string, remaining?: number): ListResponse => ({
      apiVersion: API_VERSION,
      kind: `${this.descriptor.kind}List`,
      metadata: { resourceVersion: String(rv), ...(cont ? { continue: cont } : {}), ...(remaining ? { remainingItemCount: remaining } : {}) },
      items,
    });

    // A field selector on one name in one namespace is a get, not a scan (agents use this).
    const pinned = pinnedName(fields);
    if (pinned !== undefined && namespace !== undefined && !q.continue) {
      return this.wrap(async () => {
        const rv = await this.storage.currentRevision();
        const kv = await this.storage.get(this.key(namespace, pinned));
        const obj = kv ? this.decode(kv) : undefined;
        const keep = obj && this.matches(obj, labels, fields);
        return response(keep ? [obj] : [], Math.max(rv, kv?.modRevision ?? 0));
      }, pinned);
    }

    let after: string | undefined;
    let revision: number | undefined;
    if (q.continue) {
      const token = decodeContinue(q.continue);
      revision = token.rv;
      after = this.prefix(namespace) + token.start;
    } else if (q.resourceVersion && q.resourceVersionMatch === 'Exact') {
      revision = revisionOf(q.resourceVersion);
      if (revision === undefined) throw badRequest(`invalid resourceVersion ${JSON.stringify(q.resourceVersion)}`);
    }
    const prefix = this.prefix(namespace);
    const filtered = labels.length > 0 || fields.length > 0;
    const items: ApiObject[] = [];
    const chunk = limit ? Math.max(limit, filtered ? 500 : limit) : 0;
    try {
      for (;;) {
        const page = await this.storage.list(prefix, { after, limit: chunk, revision });
        revision = page.revision;
        for (const kv of page.items) {
          after = kv.key;
          const obj = this.decode(kv);
          if (!this.matches(obj, labels, fields)) continue;
          items.push(obj);
          if (limit && items.length === limit) {
            const isLast = kv === page.items[page.items.length - 1] && !page.more;
            if (isLast) return response(items, revision);
            const remaining = !filtered && page.remaining !== undefined
              ? page.remaining + (page.items.length - 1 - page.items.indexOf(kv))
              : undefined;
            return response(items, revision, encodeContinue(revision, kv.key.slice(prefix.length)), remaining);
          }
        }
        if (!page.more) return response(items, revision);
      }
    } catch (err) {
      if (err instanceof CompactedError && q.continue) {
        throw gone(
          'The provided continue parameter is too old to display a consistent list result. Start a new list without the continue parameter.',
        );
      }
      if (err instanceof CompactedError) throw gone(`too old resource version: ${err.requested} (${err.compacted})`);
      throw this.storageError(err, '');
    }
  }

  private matches(obj: ApiObject, labels: Requirement[], fields: FieldRequirement[]): boolean {
    return matchesLabels(labels, obj.metadata.labels) && matchesFields(fields, obj, this.fieldGetters);
  }

  /**
   * Start a watch. Events go to `sink` until the returned handle is closed or the stream fails.
   * A resourceVersion too old for the store's history is an ERROR event with a 410 Expired
   * Status (as kube-apiserver sends it), so clients re-list.
   */
  async watch(namespace: string | undefined, q: WatchQuery, sink: WatchSink): Promise<Watch> {
    const labels = parseLabelSelector(q.labelSelector);
    const fields = parseFieldSelector(q.fieldSelector, this.fieldGetters);
    // An agent watches one object (metadata.name=X): watch its key, not the whole namespace, so
    // ten thousand agents don't each decode every other agent's writes.
    const pinned = pinnedName(fields);
    const metadataOnly = onlyMetadataFields(fields);
    const onlyKey = pinned !== undefined && namespace !== undefined ? this.key(namespace, pinned) : undefined;
    const prefix = onlyKey ?? this.prefix(namespace);
    let from: number;
    let stopped = false;
    let lastRevision = 0;
    let bookmarkTimer: NodeJS.Timeout | undefined;
    let storageWatch: Watch | undefined;
    const stop = () => {
      stopped = true;
      if (bookmarkTimer) clearInterval(bookmarkTimer);
      storageWatch?.close();
    };

    const rv = q.resourceVersion;
    if (rv === undefined || rv === '' || rv === '0') {
      // "Get state and start at most recent": synthetic ADDED for what exists, then changes.
      const initial = await this.list(namespace, { labelSelector: q.labelSelector, fieldSelector: q.fieldSelector });
      for (const obj of initial.items) sink.event('ADDED', obj);
      from = Number(initial.metadata.resourceVersion);
    } else {
      const at = revisionOf(rv);
      if (at === undefined) throw badRequest(`invalid resourceVersion ${JSON.stringify(rv)}: must be a number`);
      from = at;
    }
    lastRevision = from;

    const onEvent = (e: StorageEvent) => {
      if (stopped) return;
      lastRevision = e.kv.modRevision;
      // The key is also a prefix of longer names (edge-1 of edge-10).
      if (onlyKey !== undefined && e.kv.key !== onlyKey) return;
      const obj = this.decodeShared(e.kv);
      const now = e.type === 'put' && this.matches(obj, labels, fields);
      // Without a label selector the previous value matched exactly when this one does (same
      // key, same name and namespace): parse it only when labels could have changed the answer.
      const before =
        e.prevKv !== undefined &&
        (labels.length === 0 && metadataOnly ? matchesFields(fields, obj) : this.matches(this.decodeShared(e.prevKv), labels, fields));
      if (e.type === 'delete') {
        if (before) sink.event('DELETED', obj);
      } else if (now && (!before || e.kv.createRevision === e.kv.modRevision)) {
        sink.event('ADDED', obj);
      } else if (now) {
        sink.event('MODIFIED', obj);
      } else if (before) {
        // It stopped matching the selector: to this watcher it is gone.
        sink.event('DELETED', obj);
      }
    };
    try {
      storageWatch = await this.storage.watch(prefix, from, {
        onEvent,
        onProgress: (revision) => {
          if (revision > lastRevision) lastRevision = revision;
        },
        onError: (err) => {
          if (stopped) return;
          stop();
          if (err instanceof CompactedError) sink.event('ERROR', gone(`too old resource version: ${from} (${err.compacted})`).toStatus());
          sink.end();
        },
      });
    } catch (err) {
      if (err instanceof CompactedError) {
        sink.event('ERROR', gone(`too old resource version: ${from} (${err.compacted})`).toStatus());
        sink.end();
        return { close: stop };
      }
      throw this.storageError(err, '');
    }
    if (q.allowWatchBookmarks) {
      // A BOOKMARK when the revision moved, and at least every QUIET_BOOKMARK_TICKS intervals
      // however quiet the store: a client can then tell a quiet watch from a dead connection.
      let bookmarked = -1;
      let quiet = 0;
      bookmarkTimer = setInterval(() => {
        if (stopped) return;
        if (lastRevision === bookmarked && ++quiet < QUIET_BOOKMARK_TICKS) return;
        quiet = 0;
        bookmarked = lastRevision;
        sink.event('BOOKMARK', {
          apiVersion: API_VERSION,
          kind: this.descriptor.kind,
          metadata: { resourceVersion: String(lastRevision) },
        });
      }, this.options.bookmarkIntervalMs);
      bookmarkTimer.unref();
    }
    return { close: stop };
  }
}

/** Whether the client's patch itself names a resourceVersion (a precondition), not the object it patched. */
function patchSetsResourceVersion(type: PatchType, patch: unknown): boolean {
  if (type === 'merge') {
    const meta = (patch as { metadata?: unknown }).metadata;
    return typeof meta === 'object' && meta !== null && 'resourceVersion' in meta && (meta as { resourceVersion?: unknown }).resourceVersion != null;
  }
  return Array.isArray(patch) && patch.some((op) => typeof op === 'object' && op !== null && (op as { path?: unknown }).path === '/metadata/resourceVersion');
}

function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start })).toString('base64url');
}

/** A resourceVersion from a client as a store revision: digits that fit a safe integer (1e26 would come back as "1e+26"). */
function revisionOf(rv: string): number | undefined {
  return /^\d{1,16}$/.test(rv) && Number.isSafeInteger(Number(rv)) ? Number(rv) : undefined;
}

function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (
      typeof parsed === 'object' && parsed !== null &&
      'rv' in parsed && typeof parsed.rv === 'number' && Number.isSafeInteger(parsed.rv) && parsed.rv > 0 &&
      'start' in parsed && typeof parsed.start === 'string' && !parsed.start.includes('..')
    ) {
      return { rv: parsed.rv, start: parsed.start };
    }
  } catch {
    // fall through to the error below
  }
  throw badRequest('invalid continue token: pass the metadata.continue value of the previous page unchanged');
}
