/**
 * The etcd backend (etcd v3 API through the `etcd3` package). Revisions are etcd's own: one per
 * transaction, shared by every write in it.
 *
 * Things etcd or the etcd3 package do that shape this file (found against etcd 3.4 and
 * etcd3 1.1.2):
 *
 * - Watches use raw gRPC watch streams (`client.watchClient`), one per storage watch, not
 *   etcd3's `Watcher`. That class resumes after a reconnect at (last response header revision
 *   + 1), and the header of etcd's "created" response is the store's current revision, not
 *   the watch's: a connection lost while a watch is still catching up on history would skip
 *   the rest of the history. It also reports a compacted start revision only as an error
 *   "Watcher canceled: " (etcd leaves cancel_reason empty), dropping `compact_revision`.
 *   Here each watch remembers the last revision it delivered and resumes after exactly that.
 * - etcd accepts a watch from a compacted revision and then cancels it with
 *   `compact_revision` set, and it only does so when start_revision < compaction revision.
 *   The contract is stricter (fromRevision < compacted, i.e. start_revision <= compaction
 *   revision: compaction may drop a deletion at the compaction revision itself), so before
 *   starting or resuming a watch we probe with a read at fromRevision, which etcd refuses
 *   exactly when fromRevision < its compaction revision.
 * - etcd has no cheap call that returns the compaction revision. It is found by probing
 *   reads at older revisions (a binary search, only when it moved since we last looked).
 * - The etcd3 default fault handling tries every call three times and opens a per-host
 *   circuit breaker after three failures. An oversized value (RESOURCE_EXHAUSTED counts as
 *   recoverable) then makes the client refuse every request for five seconds, and a
 *   transaction retried after a lost reply fails its own preconditions (a create that
 *   worked reports KeyExistsError). It is replaced by a pass-through policy: reads are
 *   retried here, writes never (the caller gets StorageUnavailableError and decides).
 * - etcd3's `dialTimeout` option is not used by the package; we dial ourselves at open.
 */
import {
  ClientClosedError,
  Etcd3,
  GRPCDeadlineExceededError,
  GRPCResourceExhastedError,
  GRPCUnavailableError,
  type ICompare,
  type IDuplexStream,
  type IEvent,
  type IKeyValue,
  type IOptions,
  type IRangeRequest,
  type IRangeResponse,
  type IRequestOp,
  type ITxnResponse,
  type IWatchRequest,
  type IWatchResponse,
} from 'etcd3';
import {
  CompactedError,
  KeyExistsError,
  KeyNotFoundError,
  RevisionMismatchError,
  StorageUnavailableError,
  ValueTooLargeError,
  type KeyValue,
  type ListOptions,
  type ListResult,
  type Storage,
  type Watch,
  type WatchEvent,
  type WatchHandlers,
  type WriteOp,
} from './types.ts';

export interface EtcdStorageOptions {
  /** Client URLs (http://host:port, https://host:port or host:port). user:password@ in a URL logs in as that etcd user. */
  endpoints: string[];
  /** Prepended to every key in etcd, and stripped from keys read back. */
  prefix?: string;
  /** How long open waits for etcd to answer (default 5 s). */
  dialTimeoutMs?: number;
}

const DEFAULT_DIAL_TIMEOUT_MS = 5_000;
/** Deadline of one unary call; without one a call to a hung member never returns. */
const REQUEST_TIMEOUT_MS = 30_000;
/** Attempts of a read that failed with UNAVAILABLE (each attempt picks a random endpoint). */
const READ_ATTEMPTS = 3;
/** A watch that cannot reconnect for this long ends with StorageUnavailableError. */
const WATCH_GIVE_UP_MS = 30_000;
const WATCH_BACKOFF_MAX_MS = 2_000;

/** Connect to etcd and return a Storage over it; fails with StorageUnavailableError if etcd does not answer. */
export async function openEtcdStorage(options: EtcdStorageOptions): Promise<Storage> {
  const { hosts, shown, auth } = parseEndpoints(options.endpoints);
  const policy = new PassThroughPolicy();
  const client = new Etcd3({
    hosts,
    auth,
    grpcOptions: {
      // A list of many objects can be far larger than gRPC's default 4 MiB receive limit.
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      // Notice a silently dead connection under a watch. etcd refuses pings more often than its
      // --grpc-keepalive-min-time (5 s), and any ping with no call open, so neither of those.
      'grpc.keepalive_time_ms': 15_000,
      'grpc.keepalive_timeout_ms': 5_000,
    },
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + REQUEST_TIMEOUT_MS }),
    faultHandling: { host: () => policy, global: policy },
  });
  const storage = new EtcdStorage(client, options.prefix ?? '', shown);
  try {
    await storage.dial(options.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS);
  } catch (err) {
    client.close();
    throw err;
  }
  return storage;
}

function parseEndpoints(endpoints: string[]): { hosts: string[]; shown: string; auth?: IOptions['auth'] } {
  if (endpoints.length === 0) throw new Error('etcd storage needs at least one endpoint');
  let auth: IOptions['auth'];
  const hosts = endpoints.map((endpoint) => {
    const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `http://${endpoint}`);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`etcd endpoint ${url.protocol}//${url.host}: only http and https are supported`);
    }
    if (url.username) {
      auth = { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
    }
    // etcd3 takes https:// to mean TLS; the path, query and credentials are not part of a gRPC target.
    return `${url.protocol}//${url.host}`;
  });
  return { hosts, shown: hosts.join(','), auth };
}

type FaultPolicy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;
type PolicyContext = Parameters<Parameters<FaultPolicy['execute']>[0]>[0];

/** Runs the call once: no retries, no circuit breaker (see the top of the file). */
class PassThroughPolicy implements FaultPolicy {
  declare readonly _altReturn: never;
  readonly onSuccess = () => ({ dispose() {} });
  readonly onFailure = () => ({ dispose() {} });
  async execute<T>(fn: (context: PolicyContext) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
    return fn({ signal: signal ?? new AbortController().signal });
  }
}

// ---------------------------------------------------------------------------------------------
// Checking what etcd sends

/** An etcd int64 (sent as a decimal string) as a number. */
function int64(value: unknown, what: string): number {
  if (typeof value === 'string' && /^\d+$/.test(value)) {
    const n = Number(value);
    if (Number.isSafeInteger(n)) return n;
  }
  throw new StorageUnavailableError(`etcd sent an invalid ${what}: ${JSON.stringify(value)}`);
}

function bytes(value: unknown, what: string): Buffer {
  if (Buffer.isBuffer(value)) return value;
  throw new StorageUnavailableError(`etcd sent an invalid ${what}`);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const isCompactedError = (err: unknown) => /required revision has been compacted/.test(messageOf(err));
const isFutureRevisionError = (err: unknown) => /required revision is a future revision/.test(messageOf(err));
/** Failures worth another try on a (possibly) different member: no leader, connection refused, ... */
const isTransient = (err: unknown) => err instanceof GRPCUnavailableError;

/** The exclusive end of the range of keys that start with `prefix` (bytes, as etcd compares keys). */
function prefixRangeEnd(prefix: Buffer): Buffer {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const byte = prefix[i]!;
    if (byte < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i] = byte + 1;
      return end;
    }
  }
  // Empty or all 0xff: range_end "\0" means "every key from start on" to etcd.
  return Buffer.from([0]);
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------

/** Keys read per request by a maxModRevision list (listUpTo). */
const UP_TO_PAGE = 500;

class EtcdStorage implements Storage {
  readonly name = 'etcd' as const;
  readonly txnRevisions = 'shared' as const;
  isRecord(): boolean {
    return false;
  }
  readonly client: Etcd3;
  private readonly prefix: string;
  /** The endpoints as shown in messages: no credentials. */
  private readonly shown: string;
  /** etcd's compaction revision is at least this (what we compacted or saw). */
  private knownCompacted = 0;
  private closed = false;
  private readonly watches = new Set<EtcdWatch>();
  /**
   * The key of reads made only for their header or their error (current revision, compaction
   * probes). Under our prefix, so an etcd user allowed only that prefix may make them.
   */
  private readonly probeKey: Buffer;

  constructor(client: Etcd3, prefix: string, shown: string) {
    this.client = client;
    this.prefix = prefix;
    this.shown = shown;
    this.probeKey = this.rangeOf('').key;
  }

  /** Wait until etcd answers a read, for at most `timeoutMs`. */
  async dial(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.client.kv.range({ key: this.probeKey, count_only: true }, { deadline });
        return;
      } catch (err) {
        if (isTransient(err) && Date.now() + 100 < deadline) {
          await delay(Math.min(250, deadline - Date.now()));
          continue;
        }
        if (isTransient(err) || err instanceof GRPCDeadlineExceededError) {
          throw new StorageUnavailableError(`cannot reach etcd at ${this.shown} within ${timeoutMs} ms: ${messageOf(err)}`, {
            cause: err,
          });
        }
        throw this.mapError(err);
      }
    }
  }

  // --- keys ---

  keyBytes(key: string): Buffer {
    return Buffer.from(this.prefix + key, 'utf8');
  }

  private rangeOf(prefix: string): { key: Buffer; end: Buffer } {
    const key = this.keyBytes(prefix);
    // etcd refuses an empty key; "\0" is the least non-empty one.
    return { key: key.length > 0 ? key : Buffer.from([0]), end: prefixRangeEnd(key) };
  }

  /** A key/value from etcd, prefix stripped. */
  toKv(raw: IKeyValue): KeyValue {
    const full = bytes(raw.key, 'key').toString('utf8');
    if (!full.startsWith(this.prefix)) {
      throw new StorageUnavailableError(`etcd returned key ${JSON.stringify(full)} outside the prefix ${JSON.stringify(this.prefix)}`);
    }
    return {
      key: full.slice(this.prefix.length),
      value: bytes(raw.value, 'value').toString('utf8'),
      createRevision: int64(raw.create_revision, 'create_revision'),
      modRevision: int64(raw.mod_revision, 'mod_revision'),
    };
  }

  // --- errors ---

  ensureOpen(): void {
    if (this.closed) throw new StorageUnavailableError('the etcd storage is closed');
  }

  /** Our error for a failed etcd call (CompactedError is the caller's job: it needs the revision). */
  mapError(err: unknown): Error {
    if (
      err instanceof StorageUnavailableError ||
      err instanceof ValueTooLargeError ||
      err instanceof CompactedError ||
      err instanceof KeyExistsError ||
      err instanceof KeyNotFoundError ||
      err instanceof RevisionMismatchError
    ) {
      return err;
    }
    const message = messageOf(err);
    // etcd answers "etcdserver: request is too large" above --max-request-bytes, and gRPC
    // itself refuses a message above that limit plus 512 KiB ("received message larger than max").
    if (/request is too large/.test(message) || (err instanceof GRPCResourceExhastedError && /larger than max/.test(message))) {
      return new ValueTooLargeError(
        `the request is larger than etcd accepts (${message}); etcd's limit is its --max-request-bytes ` +
          '(1.5 MiB unless set): store a smaller value, or raise --max-request-bytes on every etcd member',
      );
    }
    if (this.closed || err instanceof ClientClosedError) {
      return new StorageUnavailableError('the etcd storage is closed', { cause: err });
    }
    if (isTransient(err) || err instanceof GRPCDeadlineExceededError) {
      return new StorageUnavailableError(`etcd at ${this.shown} is unavailable: ${message}`, { cause: err });
    }
    return new StorageUnavailableError(`etcd at ${this.shown} failed the request: ${message}`, { cause: err });
  }

  /** Run a read, again on UNAVAILABLE (reads are idempotent; writes are never retried). */
  private async read<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.ensureOpen();
      try {
        return await call();
      } catch (err) {
        if (attempt >= READ_ATTEMPTS || !isTransient(err) || this.closed) throw err;
        await delay(100 * attempt);
      }
    }
  }

  private range(request: IRangeRequest): Promise<IRangeResponse> {
    return this.read(() => this.client.kv.range(request));
  }

  // --- compaction ---

  /** Whether etcd refuses a read at `revision` as compacted (revision < etcd's compaction revision). */
  async isCompactedAt(revision: number): Promise<boolean> {
    try {
      await this.range({ key: this.probeKey, revision, count_only: true });
      return false;
    } catch (err) {
      if (isCompactedError(err)) return true;
      if (isFutureRevisionError(err)) return false;
      throw this.mapError(err);
    }
  }

  noteCompacted(revision: number): void {
    if (revision > this.knownCompacted) this.knownCompacted = revision;
  }

  /**
   * etcd's compaction revision: a read at r fails iff r < it, so it is the least readable
   * revision. One probe when it has not moved since we last looked, a binary search otherwise.
   */
  async findCompactRevision(): Promise<number> {
    let low = Math.max(this.knownCompacted, 1);
    if (!(await this.isCompactedAt(low))) return this.knownCompacted;
    // low is compacted, high (the current revision) never is.
    let high = await this.currentRevision();
    while (high - low > 1) {
      const mid = Math.floor((low + high) / 2);
      if (await this.isCompactedAt(mid)) low = mid;
      else high = mid;
    }
    this.noteCompacted(high);
    return high;
  }

  /** CompactedError for a read or watch at `requested`. */
  async compactedError(requested: number): Promise<CompactedError> {
    return new CompactedError(requested, await this.findCompactRevision());
  }

  // --- Storage ---

  async get(key: string): Promise<KeyValue | undefined> {
    try {
      const res = await this.range({ key: this.keyBytes(key) });
      const kv = res.kvs[0];
      return kv ? this.toKv(kv) : undefined;
    } catch (err) {
      throw this.mapError(err);
    }
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListResult> {
    const { key, end } = this.rangeOf(prefix);
    let start = key;
    if (options.after !== undefined) {
      // after + "\0" is the least key greater than `after`.
      const after = Buffer.concat([this.keyBytes(options.after), Buffer.from([0])]);
      if (Buffer.compare(after, start) > 0) start = after;
    }
    let stop = end;
    if (options.before !== undefined) {
      const before = this.keyBytes(options.before);
      if (Buffer.compare(before, stop) < 0) stop = before;
    }
    const limit = options.limit && options.limit > 0 ? options.limit : 0;
    const at = options.revision && options.revision > 0 ? options.revision : undefined;
    if (options.maxModRevision !== undefined) {
      if (options.revision !== undefined) throw new Error('maxModRevision reads object keys at the current revision only');
      return this.listUpTo(prefix, options, options.maxModRevision);
    }
    if (Buffer.compare(start, stop) >= 0) {
      // An empty range (etcd would read a lone key for it): nothing, at the revision asked for.
      return { items: [], revision: at ?? (await this.currentRevision()), more: false, remaining: 0 };
    }
    const request: IRangeRequest = {
      key: start,
      range_end: stop,
      limit,
      ...(options.reverse ? { sort_order: 'Descend' as const, sort_target: 'Key' as const } : {}),
    };
    let res: IRangeResponse;
    let revision: number;
    try {
      try {
        res = await this.range({ ...request, revision: at ?? 0 });
        revision = at ?? int64(res.header.revision, 'header revision');
      } catch (err) {
        // Like the embedded store, a revision not reached yet reads the current state.
        if (at === undefined || !isFutureRevisionError(err)) throw err;
        res = await this.range(request);
        revision = int64(res.header.revision, 'header revision');
      }
    } catch (err) {
      if (at !== undefined && isCompactedError(err)) throw await this.compactedError(at);
      throw this.mapError(err);
    }
    const items = res.kvs.map((kv) => this.toKv(kv));
    // etcd's count is every key in the range, not only those returned (etcd 3.4+), so what
    // follows the page comes free. `more` is etcd's own flag for a range cut by the limit.
    const remaining = Math.max(0, int64(res.count, 'count') - items.length);
    return { items, revision, more: res.more === true, remaining };
  }

  /**
   * list() with maxModRevision. Not etcd's max_mod_revision: with it etcd reads the whole rest of
   * the range for every request (its rangeLimit drops the limit when a revision filter is set), so
   * each page of a long list would cost the range. Pages of plain ranges, read at the first one's
   * revision and filtered here, until `limit` match (and one more, for `more`).
   */
  private async listUpTo(prefix: string, options: ListOptions, max: number): Promise<ListResult> {
    const want = options.limit && options.limit > 0 ? options.limit : Infinity;
    const items: KeyValue[] = [];
    let { after, before } = options;
    let revision: number | undefined;
    for (;;) {
      const page = await this.list(prefix, { after, before, reverse: options.reverse, limit: UP_TO_PAGE, revision });
      revision ??= page.revision;
      for (const kv of page.items) {
        if (kv.modRevision > max) continue;
        if (items.length === want) return { items, revision, more: true };
        items.push(kv);
      }
      if (!page.more || page.items.length === 0) return { items, revision, more: false };
      const last = page.items[page.items.length - 1]!.key;
      if (options.reverse) before = last;
      else after = last;
    }
  }

  async count(prefix: string): Promise<number> {
    const { key, end } = this.rangeOf(prefix);
    try {
      const res = await this.range({ key, range_end: end, count_only: true });
      return int64(res.count, 'count');
    } catch (err) {
      throw this.mapError(err);
    }
  }

  async txn(ops: WriteOp[]): Promise<KeyValue[]> {
    this.ensureOpen();
    if (ops.length === 0) return [];
    // etcd refuses two writes to one key in a transaction ("duplicate key given in txn request").
    const seen = new Set<string>();
    for (const op of ops) {
      if (seen.has(op.key)) throw new Error(`etcd cannot write key ${op.key} twice in one transaction`);
      seen.add(op.key);
    }

    const compare: ICompare[] = [];
    const success: IRequestOp[] = [];
    // On failure, read every key in the same transaction: the state the compares saw.
    const failure: IRequestOp[] = [];
    for (const op of ops) {
      const key = this.keyBytes(op.key);
      failure.push({ request_range: { key } });
      if (op.type === 'create') {
        // A missing key compares as create_revision 0.
        compare.push({ key, target: 'Create', result: 'Equal', create_revision: 0 });
        success.push({ request_put: { key, value: Buffer.from(op.value, 'utf8') } });
      } else if (op.type === 'update') {
        compare.push({ key, target: 'Mod', result: 'Equal', mod_revision: op.expectedModRevision });
        success.push({ request_put: { key, value: Buffer.from(op.value, 'utf8'), prev_kv: true } });
      } else {
        compare.push(
          op.expectedModRevision !== undefined
            ? { key, target: 'Mod', result: 'Equal', mod_revision: op.expectedModRevision }
            : { key, target: 'Create', result: 'Greater', create_revision: 0 },
        );
        success.push({ request_delete_range: { key, prev_kv: true } });
      }
    }

    let res: ITxnResponse;
    try {
      res = await this.client.kv.txn({ compare, success, failure });
    } catch (err) {
      throw this.mapError(err);
    }
    const revision = int64(res.header.revision, 'header revision');

    if (!res.succeeded) {
      ops.forEach((op, i) => {
        const raw = res.responses[i]?.response_range?.kvs[0];
        const existing = raw ? this.toKv(raw) : undefined;
        if (op.type === 'create') {
          if (existing) throw new KeyExistsError(`key ${op.key} already exists`, op.key, i);
          return;
        }
        if (!existing) throw new KeyNotFoundError(`key ${op.key} not found`, op.key, i);
        if (op.expectedModRevision !== undefined && existing.modRevision !== op.expectedModRevision) {
          throw new RevisionMismatchError(op.key, i, existing.modRevision);
        }
      });
      throw new StorageUnavailableError('etcd rejected the transaction, but every precondition holds when read back');
    }

    return ops.map((op, i): KeyValue => {
      const response = res.responses[i];
      if (op.type === 'create') {
        return { key: op.key, value: op.value, createRevision: revision, modRevision: revision };
      }
      if (op.type === 'update') {
        const prev = response?.response_put?.prev_kv;
        if (!prev) throw new StorageUnavailableError(`etcd did not return the previous value of ${op.key}`);
        return { key: op.key, value: op.value, createRevision: this.toKv(prev).createRevision, modRevision: revision };
      }
      const prev = response?.response_delete_range?.prev_kvs[0];
      if (!prev) throw new StorageUnavailableError(`etcd did not return the deleted value of ${op.key}`);
      return { ...this.toKv(prev), modRevision: revision };
    });
  }

  async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch> {
    this.ensureOpen();
    if (fromRevision < this.knownCompacted) throw new CompactedError(fromRevision, this.knownCompacted);
    if (await this.isCompactedAt(Math.max(fromRevision, 1))) throw await this.compactedError(fromRevision);
    const { key, end } = this.rangeOf(prefix);
    const watch = new EtcdWatch(this, key, end, fromRevision, handlers, () => this.watches.delete(watch));
    this.watches.add(watch);
    try {
      await watch.connect();
    } catch (err) {
      watch.close();
      throw err instanceof WatchRefused ? new StorageUnavailableError(err.message) : this.mapError(err);
    }
    return watch;
  }

  async currentRevision(): Promise<number> {
    try {
      const res = await this.range({ key: this.probeKey, count_only: true });
      return int64(res.header.revision, 'header revision');
    } catch (err) {
      throw this.mapError(err);
    }
  }

  async compactedRevision(): Promise<number> {
    this.ensureOpen();
    return this.findCompactRevision();
  }

  async compact(revision: number): Promise<void> {
    this.ensureOpen();
    if (revision <= this.knownCompacted) return;
    // Like the embedded store: compacting past the current revision compacts to it.
    const target = Math.min(revision, await this.currentRevision());
    if (target <= this.knownCompacted) return;
    try {
      // physical: return once the old revisions are gone from the backend, not just scheduled.
      await this.read(() => this.client.kv.compact({ revision: target, physical: true }));
    } catch (err) {
      // Compacted at or past target already (by someone else, or by our retried first attempt).
      if (!isCompactedError(err)) throw this.mapError(err);
    }
    this.noteCompacted(target);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      for (const watch of [...this.watches]) watch.fail(new StorageUnavailableError('the etcd storage was closed'));
    } finally {
      this.client.close();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Watch

/** etcd refused to create the watch (created and cancelled at once): retrying will not help. */
class WatchRefused extends Error {}

type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

/** Release a watch stream, whatever state it is in. */
function endStream(stream: WatchStream): void {
  // end() first: etcd3 reports a stream that errors while still writable to its connection
  // pool as a failed host, and cancel() makes it emit CANCELLED. Both are no-ops on a stream
  // that already failed.
  try {
    stream.end();
    stream.cancel();
  } catch {
    // already gone
  }
}

class EtcdWatch implements Watch {
  private readonly storage: EtcdStorage;
  private readonly key: Buffer;
  private readonly end: Buffer;
  private readonly handlers: WatchHandlers;
  private readonly onDone: () => void;
  /** Every event at or below this revision has been delivered. */
  private delivered: number;
  private stream: WatchStream | undefined;
  private watchId: string | undefined;
  /** No more events will be delivered. */
  private done = false;
  /** onError was called, or the watch was closed: nothing more to tell the handlers. */
  private reported = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retries = 0;
  private disconnectedSince: number | undefined;

  constructor(storage: EtcdStorage, key: Buffer, end: Buffer, fromRevision: number, handlers: WatchHandlers, onDone: () => void) {
    this.storage = storage;
    this.key = key;
    this.end = end;
    this.delivered = fromRevision;
    this.handlers = handlers;
    this.onDone = onDone;
  }

  /** Open a stream and resolve once etcd has created the watch on it. */
  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      let created = false;
      let timer: NodeJS.Timeout | undefined;
      const settle = (err?: unknown) => {
        clearTimeout(timer);
        if (err === undefined) resolve();
        else reject(err);
      };
      this.storage.client.watchClient.watch().then(
        (stream) => {
          if (this.done) {
            endStream(stream);
            settle(new StorageUnavailableError('the watch was closed'));
            return;
          }
          this.stream = stream;
          const lost = (err: Error) => {
            if (this.stream !== stream) return; // a stream we already left
            this.stream = undefined;
            this.watchId = undefined;
            endStream(stream);
            if (created) this.lost(err);
            else settle(err);
          };
          timer = setTimeout(() => {
            lost(new StorageUnavailableError(`etcd did not create the watch within ${REQUEST_TIMEOUT_MS} ms`));
          }, REQUEST_TIMEOUT_MS);
          stream.on('data', (res) => {
            if (this.stream !== stream || this.done) return;
            if (!created) {
              if (!res.created) return;
              if (res.canceled) {
                this.stream = undefined;
                endStream(stream);
                settle(new WatchRefused(`etcd refused the watch: ${res.cancel_reason || 'no reason given'}`));
                return;
              }
              created = true;
              this.watchId = res.watch_id;
              this.disconnectedSince = undefined;
              this.retries = 0;
              settle();
              return;
            }
            this.receive(res);
          });
          stream.on('error', (err) => lost(err));
          stream.on('end', () => lost(new StorageUnavailableError('etcd ended the watch stream')));
          stream.write({
            create_request: {
              key: this.key,
              range_end: this.end,
              start_revision: this.delivered + 1,
              prev_kv: true,
              // etcd then sends an empty response (a progress notification) every
              // --experimental-watch-progress-notify-interval (10 min by default) when idle.
              progress_notify: true,
            },
          });
        },
        (err: unknown) => settle(err),
      );
    });
  }

  private receive(res: IWatchResponse): void {
    // One watch per stream; anything else (etcd 3.4 broadcasts manual progress responses
    // as watch id -1, which we never request) is not ours.
    if (res.watch_id !== this.watchId) return;
    try {
      if (res.canceled) {
        const compacted = Number(res.compact_revision);
        if (compacted > 0) {
          // etcd cancels a watch whose next revision was compacted away while it caught up.
          this.storage.noteCompacted(compacted);
          this.fail(new CompactedError(this.delivered, compacted));
        } else {
          this.fail(new StorageUnavailableError(`etcd cancelled the watch: ${res.cancel_reason || 'no reason given'}`));
        }
        return;
      }
      const events = Array.isArray(res.events) ? res.events : [];
      if (events.length === 0) {
        // A progress notification: etcd sends one only to a watcher that has caught up
        // (mvcc watchableStore.progress checks the synced set), through the same channel as
        // events, so everything up to the header revision has been sent before it.
        const revision = int64(res.header.revision, 'header revision');
        if (revision > this.delivered) {
          this.delivered = revision;
          this.handlers.onProgress?.(revision);
        }
        return;
      }
      // A response holds whole revisions (etcd batches catch-up events by revision), so the
      // delivered mark moves once per response. Events at or below it come from a stream we
      // resumed and were delivered before.
      const before = this.delivered;
      let newest = before;
      for (const raw of events) {
        const event = this.toEvent(raw);
        if (event === undefined) {
          this.failCompacted();
          return;
        }
        if (event.kv.modRevision <= before) continue;
        this.handlers.onEvent(event);
        if (this.done) return;
        if (event.kv.modRevision > newest) newest = event.kv.modRevision;
      }
      this.delivered = newest;
    } catch (err) {
      // A bad response from etcd, or onEvent threw: either way this watch cannot go on.
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** The storage event for an etcd one; undefined when etcd could not give the previous value. */
  private toEvent(raw: IEvent): WatchEvent | undefined {
    const prevKv = raw.prev_kv ? this.storage.toKv(raw.prev_kv) : undefined;
    if (raw.type === 'Put') {
      const kv = this.storage.toKv(raw.kv);
      // An update (version > 1) always has a previous value. etcd reads it at revision - 1
      // when it sends the event, and leaves it out if that revision was compacted meanwhile.
      if (!prevKv && int64(raw.kv.version, 'version') > 1) return undefined;
      return { type: 'put', kv, prevKv };
    }
    if (raw.type === 'Delete') {
      // etcd's delete event carries only the key and the deletion revision; the contract
      // wants the last value, which is the previous one.
      if (!prevKv) return undefined;
      return { type: 'delete', kv: { ...prevKv, modRevision: int64(raw.kv.mod_revision, 'mod_revision') }, prevKv };
    }
    throw new StorageUnavailableError(`etcd sent a watch event of unknown type ${JSON.stringify(raw.type)}`);
  }

  private failCompacted(): void {
    const requested = this.delivered;
    this.stop();
    this.storage.compactedError(requested).then(
      (err) => this.fail(err),
      (err: unknown) => this.fail(this.storage.mapError(err)),
    );
  }

  /** The stream broke after the watch was created: resume after the last delivered revision. */
  private lost(err: unknown): void {
    if (this.done) return;
    const now = Date.now();
    this.disconnectedSince ??= now;
    if (now - this.disconnectedSince > WATCH_GIVE_UP_MS) {
      this.fail(this.storage.mapError(err));
      return;
    }
    const wait = Math.min(100 * 2 ** this.retries, WATCH_BACKOFF_MAX_MS);
    this.retries++;
    this.retryTimer = setTimeout(() => void this.resume(), wait);
  }

  private async resume(): Promise<void> {
    this.retryTimer = undefined;
    if (this.done) return;
    try {
      // etcd would resume at a compacted revision without a word (see the top of the file).
      if (await this.storage.isCompactedAt(Math.max(this.delivered, 1))) {
        this.failCompacted();
        return;
      }
      if (this.done) return;
      await this.connect();
    } catch (err) {
      if (this.done) return;
      if (err instanceof WatchRefused) this.fail(new StorageUnavailableError(err.message));
      else this.lost(err);
    }
  }

  /** Stop the stream and timers without telling the handlers. */
  private stop(): void {
    this.done = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const stream = this.stream;
    this.stream = undefined;
    if (stream) endStream(stream);
    this.onDone();
  }

  /** End the watch for good and tell the handlers why (once; never after close). */
  fail(err: Error): void {
    if (this.reported) return;
    this.reported = true;
    this.stop();
    this.handlers.onError(err);
  }

  close(): void {
    this.reported = true;
    this.stop();
  }
}
