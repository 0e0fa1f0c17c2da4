/**
 * The storage contract: keys, opaque string values and one global, monotonically increasing
 * revision. Storage knows nothing of spec or status. Both backends (embedded SQLite and etcd)
 * implement it, and test/storage-conformance.ts is the executable form of this contract.
 */

export interface KeyValue {
  key: string;
  value: string;
  /** Revision of the write that created the key (since its last deletion). */
  createRevision: number;
  /** Revision of the last write to the key; for a deleted key, the revision of the deletion. */
  modRevision: number;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  /** After a put: the new value. After a delete: the last value, with modRevision = the deletion's revision. */
  kv: KeyValue;
  /** The value before this write, when there was one. */
  prevKv?: KeyValue;
}

/** One write inside an atomic transaction. */
export type WriteOp =
  | { type: 'create'; key: string; value: string }
  /**
   * Compare-and-swap on modRevision. `read` is the key's value as the writer read it (its
   * modRevision is expectedModRevision): a store may take it instead of reading the key again.
   */
  | { type: 'update'; key: string; value: string; expectedModRevision: number; read?: KeyValue }
  /** Delete; when expectedModRevision is given, only if it still matches. */
  | { type: 'delete'; key: string; expectedModRevision?: number };

export interface ListOptions {
  /** Return keys strictly greater than this one (for pagination). */
  after?: string;
  /** Return keys strictly less than this one. */
  before?: string;
  /** Largest keys first (descending key order); with `limit`, the last keys of the range. */
  reverse?: boolean;
  /** At most this many items (0 or undefined: no limit). */
  limit?: number;
  /** Read at this revision (a consistent snapshot for pagination); default the current revision. */
  revision?: number;
  /**
   * Only keys last written at or before this revision (etcd's max_mod_revision), with `limit`
   * counting those; no `remaining`. Current-revision reads of object keys only (not with
   * `revision`, not under a record prefix). The embedded store skips the others unread.
   */
  maxModRevision?: number;
}

export interface ListResult {
  items: KeyValue[];
  /** The revision the list was read at. */
  revision: number;
  /** True when more keys follow the last item returned. */
  more: boolean;
  /** How many keys follow, when the backend knows cheaply. */
  remaining?: number;
}

export interface WatchHandlers {
  /** Events in revision order, each exactly once, starting after the watch's fromRevision. */
  onEvent(event: WatchEvent): void;
  /**
   * Every event up to `revision` has been delivered. Backends call it when they know
   * (for bookmarks); it never runs ahead of onEvent.
   */
  onProgress?(revision: number): void;
  /** The watch ended for good (CompactedError, connection loss, close of the store). */
  onError(error: Error): void;
}

export interface Watch {
  close(): void;
}

export interface Storage {
  readonly name: 'embedded' | 'etcd';
  /**
   * How the ops of one txn take revisions: 'shared' (etcd), every op the txn's one revision;
   * 'sequential' (embedded), each op the next revision, in op order. The audit log derives an
   * object's resourceVersion from its record's revision with it.
   */
  readonly txnRevisions: 'shared' | 'sequential';
  /**
   * Whether `key` is a record rather than an object: on the embedded store, keys under the
   * `recordPrefixes` it was opened with (the audit log). A record is written in a txn like any key,
   * atomically with the txn's other ops, and read back with get, list and count, but it takes no
   * revision of its own, keeps no history and is never seen by a watch: its modRevision is the
   * revision of the txn's last versioned op (the store's revision when it has none). An append-only
   * log then costs the fleet's writes no second revision, watch index or history row. On etcd every
   * key is versioned (a txn's ops share its revision anyway): always false.
   */
  isRecord(key: string): boolean;
  get(key: string): Promise<KeyValue | undefined>;
  list(prefix: string, options?: ListOptions): Promise<ListResult>;
  /** Count keys under a prefix at the current revision. */
  count(prefix: string): Promise<number>;
  /**
   * Apply every op or none. Results are in op order (a delete's result is the deleted value).
   * Throws KeyExistsError, KeyNotFoundError or RevisionMismatchError naming the first op that failed.
   */
  txn(ops: WriteOp[]): Promise<KeyValue[]>;
  /**
   * Stream changes under `prefix` with revision > fromRevision. Throws (or reports through
   * onError) CompactedError when events after fromRevision are no longer kept.
   */
  watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch>;
  currentRevision(): Promise<number>;
  /** Oldest revision a watch may start from (events after it are all kept). */
  compactedRevision(): Promise<number>;
  /** Drop history at or below `revision` (events from watches before it become unavailable). */
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}

/** Base of storage errors; `opIndex` points at the failing op of a txn. */
export class StorageError extends Error {
  readonly key: string;
  readonly opIndex: number;
  constructor(message: string, key: string, opIndex = 0) {
    super(message);
    this.name = new.target.name;
    this.key = key;
    this.opIndex = opIndex;
  }
}

export class KeyExistsError extends StorageError {}
export class KeyNotFoundError extends StorageError {}
export class RevisionMismatchError extends StorageError {
  readonly actualModRevision: number;
  constructor(key: string, opIndex: number, actualModRevision: number) {
    super(`key ${key} was modified (now at revision ${actualModRevision})`, key, opIndex);
    this.actualModRevision = actualModRevision;
  }
}

/** The requested revision is older than the oldest kept one. */
export class CompactedError extends Error {
  readonly requested: number;
  readonly compacted: number;
  constructor(requested: number, compacted: number) {
    super(`revision ${requested} has been compacted; the oldest available is ${compacted}`);
    this.name = 'CompactedError';
    this.requested = requested;
    this.compacted = compacted;
  }
}

/** The store cannot be reached or refused the request for a reason that is not the caller's. */
export class StorageUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageUnavailableError';
  }
}

/** A value is larger than the store accepts. */
export class ValueTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValueTooLargeError';
  }
}

/** The exclusive end of a prefix range: the prefix with its last byte incremented. */
export function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}
