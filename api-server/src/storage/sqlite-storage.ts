/**
 * The embedded store: Node's built-in SQLite (node:sqlite), durable on commit (WAL with
 * synchronous=FULL), with etcd's model of one global revision and a bounded history.
 *
 * Layout (after kine, which runs Kubernetes on SQL databases): `log` holds one row per write,
 * keyed by revision; `records` holds the records (Storage.isRecord: the audit log), one row each,
 * outside the revisions. Which row is each live key's latest is kept in memory (LiveKeys), built
 * from the log at open: a table of it cost every write one more randomly placed page in the WAL
 * (a quarter of the WAL's bytes, measured with instance-sized values). A read at an older
 * revision takes, per key, the latest row at or below it; a watch replays rows after its
 * revision, then follows live writes. Compaction drops rows that no read at or above the
 * compacted revision can see.
 *
 * node:sqlite is synchronous, so a watch's catch-up read and its registration for live events
 * happen in one turn of the event loop: no write can fall between them. Writes are group-committed
 * (see txn): the concurrent txns of one event-loop turn share one SQLite transaction and its fsync,
 * each in its own savepoint, which is what a fleet's many small status and Lease writes need.
 *
 * Durability without blocking the event loop: SQLite commits with synchronous=OFF (it writes the
 * WAL but does not fsync it), and the store fdatasyncs the WAL itself on libuv's thread pool. A
 * batch's txns resolve, and watchers hear of its writes, only after that sync: what synchronous=FULL
 * promises, without the main thread waiting for the disk (the COMMIT's fsync was the largest single
 * item of the server's time in a 10,000-agent rollout). A batch of one or two txns, a quiet
 * store's, syncs on the event loop instead, which is quicker for it. While a sync is in flight, reads wait for
 * it (nobody reads a write that is not yet durable) and new txns gather into the next batch.
 * Checkpoints are the store's own too (wal_autocheckpoint=0, see maybeCheckpoint), and off the
 * event loop as well: a worker thread's own connection copies the WAL into the database file and
 * syncs it (Checkpointer), while the event loop answers reads and batches go on committing; only
 * its short last step holds the next batch back. This also needs a store on a local disk: WAL
 * with shared connections uses shared memory (`<path>-shm`), which network filesystems lack.
 *
 * One server owns a data dir: it holds an exclusive lock on `<path>-lock` for as long as the store
 * is open, so a second one fails at open instead of writing beside it without seeing its watches.
 * (The database itself cannot be opened with locking_mode=EXCLUSIVE: the checkpointer's connection
 * shares it.)
 */
import { closeSync, fdatasync, fdatasyncSync, openSync } from 'node:fs';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import {
  CompactedError,
  KeyExistsError,
  KeyNotFoundError,
  RevisionMismatchError,
  StorageUnavailableError,
  prefixEnd,
  type KeyValue,
  type ListOptions,
  type ListResult,
  type Storage,
  type Watch,
  type WatchEvent,
  type WatchHandlers,
  type WriteOp,
} from './types.ts';
import { WatcherIndex, type Watcher } from './watchers.ts';

export interface SqliteStorageOptions {
  /** Database file; ':memory:' for a throwaway store. */
  path: string;
  /** Revisions of history kept for watches and snapshot reads, at least. */
  historyRevisions?: number;
  /**
   * History kept by time as well: nothing written in the last `historyMs` is compacted away, however
   * many revisions that is (default 5 minutes, the interval at which kube-apiserver compacts etcd).
   * 0: by count alone. A fleet's write rate then sizes the history by itself: 10,000 agents renewing
   * a Lease every 10 s keep 300,000 revisions, 100 agents the count's 10,000.
   */
  historyMs?: number;
  /** The clock, ms since the epoch (tests). */
  now?: () => number;
  /**
   * Keys under these prefixes are records (Storage.isRecord), kept in their own table. Records
   * written under them by a server opened without them are moved there at open.
   */
  recordPrefixes?: string[];
  /** Checkpoint the WAL into the database file once it is this large (default 32 MiB). */
  checkpointWalBytes?: number;
}

interface Row {
  rev: number;
  key: string;
  deleted: number;
  create_rev: number;
  prev_rev: number;
  value: string;
}

/** A txn waiting for its batch. */
interface Pending {
  ops: WriteOp[];
  /** UTF-16 length of its keys and values, about its size in the log. */
  bytes: number;
  resolve(results: KeyValue[]): void;
  reject(err: unknown): void;
}

const DEFAULT_HISTORY = 10_000;
const DEFAULT_HISTORY_MS = 5 * 60_000;
/** Bounds of one group commit (see txn). */
const MAX_BATCH_TXNS = 256;
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
const CHECKPOINT_WAL_BYTES = 32 * 1024 * 1024;
/** SQLite's extended result code for a duplicate primary key. */
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;

/** Make everything written to a file so far durable; the store's own fdatasync (a seam for fault tests). */
type FileSync = (done: (err: Error | null) => void) => void;

/**
 * One step of a checkpoint on the checkpointer thread (seams for fault tests): `copy` copies the
 * WAL into the database file and fdatasyncs that file while batches go on committing; `finish`,
 * with nothing committing, copies what they added meanwhile and syncs again. `complete` when
 * every frame was copied and synced, so that the next write may start the WAL over.
 */
type CheckpointStep = (done: StepDone) => void;
type StepDone = (err: Error | null, complete?: boolean) => void;

/**
 * The checkpointer thread's code. Its connection checkpoints with synchronous=FULL: SQLite syncs
 * the WAL before it copies and, when the copy reached the WAL's end, the database file before it
 * records the frames as copied; only a WAL whose every frame is copied is started over by the next
 * write. A copy that did not reach the end (writes went on) records what it copied without a sync,
 * which is safe, as those frames stay in the WAL: `copy` then fdatasyncs the database file itself,
 * so that `finish` has little left to write.
 */
const CHECKPOINTER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const { openSync, fdatasyncSync, closeSync } = require('node:fs');
const db = new DatabaseSync(workerData.path);
db.exec('PRAGMA busy_timeout = 0');
db.exec('PRAGMA synchronous = FULL');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
parentPort.on('message', (msg) => {
  if (msg === 'close') {
    db.close();
    process.exit(0);
  }
  try {
    const r = checkpoint.get();
    if (msg === 'copy') {
      const fd = openSync(workerData.path, 'r');
      try {
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    parentPort.postMessage({ complete: r.busy === 0 && r.log === r.checkpointed });
  } catch (err) {
    parentPort.postMessage({ error: String((err && err.message) || err) });
  }
});
`;

/** A worker thread with its own connection to the database, checkpointing when asked (one at a time). */
class Checkpointer {
  private readonly path: string;
  private worker: Worker | undefined;
  private waiting: StepDone | undefined;

  constructor(path: string) {
    this.path = path;
  }

  /** Started on the way to the first checkpoint (maybeCheckpoint), not at open: most stores (tests, small fleets) checkpoint rarely or never. */
  start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(CHECKPOINTER_SOURCE, {
      eval: true,
      workerData: { path: this.path },
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
    });
    worker.unref();
    worker.on('message', (m: { complete?: boolean; error?: string }) => this.settle(m.error ? new Error(m.error) : null, m.complete === true));
    worker.on('error', (err) => this.settle(err, false));
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      this.settle(new Error(`the checkpointer thread exited (${code})`), false);
    });
    return (this.worker = worker);
  }

  private settle(err: Error | null, complete: boolean): void {
    const done = this.waiting;
    this.waiting = undefined;
    done?.(err, complete);
  }

  private step(which: 'copy' | 'finish', done: StepDone): void {
    if (this.waiting) {
      done(new Error('a checkpoint step is already running'));
      return;
    }
    this.waiting = done;
    try {
      this.start().postMessage(which);
    } catch (err) {
      this.settle(err as Error, false);
    }
  }

  readonly copy: CheckpointStep = (done) => this.step('copy', done);
  readonly finish: CheckpointStep = (done) => this.step('finish', done);

  /** Close its connection and end the thread (before the store's own connection closes, so that one checkpoints last). */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    const exited = new Promise((r) => worker.once('exit', r));
    // Kept alive until it has closed its connection (it is unref'd otherwise).
    worker.ref();
    worker.postMessage('close');
    await exited;
  }
}

/** A file of the store (its WAL) that it fdatasyncs itself, opened on first use. */
class DurableFile {
  private readonly path: string;
  private fd: number | undefined;

  constructor(path: string) {
    this.path = path;
  }

  get opened(): boolean {
    return this.fd !== undefined;
  }

  private open(): number {
    return (this.fd ??= openSync(this.path, 'r'));
  }

  /** fdatasync on libuv's thread pool. */
  readonly sync: FileSync = (done) => {
    let fd: number;
    try {
      fd = this.open();
    } catch (err) {
      done(err as Error);
      return;
    }
    fdatasync(fd, done);
  };

  /** fdatasync on this thread; throws what it fails with. */
  syncNow(): void {
    fdatasyncSync(this.open());
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Open (creating if needed) the embedded store at `options.path`. */
export function openSqliteStorage(options: SqliteStorageOptions): Storage {
  let db: DatabaseSync | undefined;
  let owner: DatabaseSync | undefined;
  try {
    if (onDisk(options.path)) owner = takeOwnership(options.path);
    db = new DatabaseSync(options.path);
    db.exec('PRAGMA busy_timeout = 0');
    db.exec('PRAGMA journal_mode = WAL');
    // FULL while opening (migration); then OFF with the store's own WAL sync (see the top).
    db.exec('PRAGMA synchronous = FULL');
    db.exec(`
      CREATE TABLE IF NOT EXISTS log (
        rev        INTEGER PRIMARY KEY,
        key        TEXT    NOT NULL,
        deleted    INTEGER NOT NULL,
        create_rev INTEGER NOT NULL,
        prev_rev   INTEGER NOT NULL,
        value      TEXT    NOT NULL
      );
      CREATE INDEX IF NOT EXISTS log_key_rev ON log (key, rev);
      CREATE TABLE IF NOT EXISTS records (
        key   TEXT    PRIMARY KEY,
        rev   INTEGER NOT NULL,
        value TEXT    NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS meta (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      ) WITHOUT ROWID;
      INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0), ('compacted', 0);
    `);
  } catch (err) {
    db?.close();
    owner?.close();
    const message = err instanceof Error ? err.message : String(err);
    if (/locked|busy/i.test(message)) {
      throw new StorageUnavailableError(
        `the embedded store ${options.path} is in use by another process (is another HAProxyHQ server running on this data dir?)`,
        { cause: err },
      );
    }
    throw new StorageUnavailableError(`cannot open the embedded store ${options.path}: ${message}`, { cause: err });
  }
  try {
    return new SqliteStorage(db, options, owner);
  } catch (err) {
    // A store that cannot be read (a failed migration): nothing of it stays open, the lock included.
    db.close();
    owner?.close();
    throw err;
  }
}

const onDisk = (path: string) => path !== ':memory:' && path !== '';

/**
 * The store's owner lock: an exclusive lock on `<path>-lock` (a one-row SQLite database in
 * EXCLUSIVE locking mode, which keeps the lock of its first write until it is closed). A second
 * opener, in this process or another, fails with "database is locked".
 */
function takeOwnership(path: string): DatabaseSync {
  const owner = new DatabaseSync(`${path}-lock`);
  try {
    owner.exec('PRAGMA busy_timeout = 0');
    owner.exec('PRAGMA locking_mode = EXCLUSIVE');
    owner.exec('BEGIN EXCLUSIVE');
    owner.exec('CREATE TABLE IF NOT EXISTS owner (pid INTEGER NOT NULL)');
    owner.exec('DELETE FROM owner');
    owner.prepare('INSERT INTO owner (pid) VALUES (?)').run(process.pid);
    owner.exec('COMMIT');
  } catch (err) {
    owner.close();
    throw err;
  }
  return owner;
}

/**
 * Every live key and the revision of its latest row, with the keys sorted for range reads (sorted
 * again only after a key came or went, on the next range read: updates, most writes, keep it).
 */
class LiveKeys {
  private readonly revs = new Map<string, number>();
  private sorted: string[] | undefined;

  get(key: string): number | undefined {
    return this.revs.get(key);
  }

  set(key: string, rev: number): void {
    if (!this.revs.has(key)) this.sorted = undefined;
    this.revs.set(key, rev);
  }

  delete(key: string): void {
    if (this.revs.delete(key)) this.sorted = undefined;
  }

  /** The sorted keys and the bounds [lo, hi) of those in [start, end). */
  range(start: string, end: string): { keys: string[]; lo: number; hi: number } {
    const keys = (this.sorted ??= [...this.revs.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    return { keys, lo: lowerBound(keys, start), hi: lowerBound(keys, end) };
  }
}

/** The first index of `sorted` whose key is not below `key`. */
function lowerBound(sorted: string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A page read with one row over `options.limit`: without that row, whether there was one, and
 * how many keys follow the page (`count` over a key range): above its last key, or (reverse) below.
 */
function trimPage<T extends { key: string }>(
  rows: T[],
  start: string,
  end: string,
  options: ListOptions,
  count: (from: string, to: string) => number,
): { rows: T[]; more: boolean; remaining?: number } {
  const more = options.limit !== undefined && options.limit > 0 && rows.length > options.limit;
  if (!more) return { rows, more };
  rows.pop();
  const last = rows[rows.length - 1]!.key;
  const [from, to] = options.reverse ? [start, last] : [last + '\0', end];
  return { rows, more, remaining: count(from, to) };
}

/** A change to LiveKeys inside the open batch, to undo if its txn or the batch fails. */
interface LiveUndo {
  key: string;
  rev: number | undefined;
}

interface RecordRow {
  key: string;
  rev: number;
  value: string;
}

class SqliteStorage implements Storage {
  readonly name = 'embedded' as const;
  readonly txnRevisions = 'sequential' as const;
  private readonly db: DatabaseSync;
  private readonly historyRevisions: number;
  private readonly watchers = new WatcherIndex();
  private revision: number;
  private compacted: number;
  private closed = false;
  /** Txns waiting for the next batch, in arrival order, and the setImmediate that will run it. */
  private pending: Pending[] = [];
  private flushImmediate: NodeJS.Immediate | undefined;
  private readonly stmt: Record<string, StatementSync>;
  private readonly recordPrefixes: string[];
  private readonly live = new LiveKeys();
  /** Changes to `live` by the batch being applied, in order. */
  private liveUndo: LiveUndo[] = [];
  /** The WAL (undefined for ':memory:', which has nothing to make durable or to checkpoint). */
  private readonly wal: DurableFile | undefined;
  private readonly checkpointer: Checkpointer | undefined;
  private readonly owner: DatabaseSync | undefined;
  /** The WAL sync of the batch that committed last, until it is done. */
  private syncing: Promise<void> | undefined;
  /** Set when a sync failed: what is in the database may not be on disk, so nothing more is served. */
  private failed: Error | undefined;
  /** The WAL's sync and the checkpoint's two steps (see maybeCheckpoint): seams for fault tests. */
  walSync: FileSync;
  checkpointCopy: CheckpointStep;
  checkpointFinish: CheckpointStep;
  /** Batches of at most this many txns sync the WAL on the event loop (see flush); a seam for tests. */
  inlineSyncTxns = 2;
  /** A checkpoint's first step (copy), while it runs: batches go on committing. */
  private checkpointCopying = false;
  /** A checkpoint's last step (finish), while it runs: nothing commits. */
  private checkpointing: Promise<void> | undefined;
  /** About how many bytes the WAL holds since it last started over: each write's key and value and two pages of indexes. */
  private walWritten = 0;

  private readonly checkpointWalBytes: number;

  private readonly historyMs: number;
  private readonly now: () => number;
  /** The store's revision now and then (at most once a second), for the time bound of compaction. */
  private samples: { at: number; rev: number }[] = [];

  constructor(db: DatabaseSync, options: SqliteStorageOptions, owner?: DatabaseSync) {
    const path = options.path;
    const recordPrefixes = options.recordPrefixes ?? [];
    const checkpointWalBytes = options.checkpointWalBytes ?? CHECKPOINT_WAL_BYTES;
    this.db = db;
    this.checkpointWalBytes = checkpointWalBytes;
    this.historyMs = options.historyMs ?? DEFAULT_HISTORY_MS;
    this.now = options.now ?? Date.now;
    this.owner = owner;
    this.wal = onDisk(path) ? new DurableFile(`${path}-wal`) : undefined;
    this.checkpointer = onDisk(path) ? new Checkpointer(path) : undefined;
    this.walSync = this.wal?.sync ?? ((done) => done(null));
    const nothing: CheckpointStep = (done) => done(null, true);
    this.checkpointCopy = this.checkpointer?.copy ?? nothing;
    this.checkpointFinish = this.checkpointer?.finish ?? nothing;
    this.historyRevisions = options.historyRevisions ?? DEFAULT_HISTORY;
    this.recordPrefixes = recordPrefixes;
    this.stmt = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT txn'),
      release: db.prepare('RELEASE txn'),
      rollbackTo: db.prepare('ROLLBACK TO txn'),
      meta: db.prepare('SELECT value FROM meta WHERE name = ?'),
      setMeta: db.prepare('UPDATE meta SET value = ? WHERE name = ?'),
      insert: db.prepare(
        'INSERT INTO log (rev, key, deleted, create_rev, prev_rev, value) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      // Snapshot read: per key, the latest row at or below the revision, if it is not a deletion.
      listAt: db.prepare(`
        SELECT l.* FROM (
          SELECT key, MAX(rev) AS rev FROM log WHERE key >= ? AND key < ? AND rev <= ? GROUP BY key
        ) m JOIN log l ON l.rev = m.rev
        WHERE l.deleted = 0 ORDER BY l.key LIMIT ?`),
      listAtDesc: db.prepare(`
        SELECT l.* FROM (
          SELECT key, MAX(rev) AS rev FROM log WHERE key >= ? AND key < ? AND rev <= ? GROUP BY key
        ) m JOIN log l ON l.rev = m.rev
        WHERE l.deleted = 0 ORDER BY l.key DESC LIMIT ?`),
      countAt: db.prepare(`
        SELECT COUNT(*) AS n FROM (
          SELECT key, MAX(rev) AS rev FROM log WHERE key >= ? AND key < ? AND rev <= ? GROUP BY key
        ) m JOIN log l ON l.rev = m.rev WHERE l.deleted = 0`),
      since: db.prepare(
        'SELECT * FROM log WHERE rev > ? AND key >= ? AND key < ? ORDER BY rev',
      ),
      byRev: db.prepare('SELECT * FROM log WHERE rev = ?'),
      recordGet: db.prepare('SELECT * FROM records WHERE key = ?'),
      recordInsert: db.prepare('INSERT INTO records (key, rev, value) VALUES (?, ?, ?)'),
      recordUpdate: db.prepare('UPDATE records SET rev = ?, value = ? WHERE key = ?'),
      recordDelete: db.prepare('DELETE FROM records WHERE key = ?'),
      recordList: db.prepare('SELECT * FROM records WHERE key >= ? AND key < ? ORDER BY key LIMIT ?'),
      recordListDesc: db.prepare('SELECT * FROM records WHERE key >= ? AND key < ? ORDER BY key DESC LIMIT ?'),
      recordCount: db.prepare('SELECT COUNT(*) AS n FROM records WHERE key >= ? AND key < ?'),
      // Compaction from $from (the last one) to $c. Rows at or below $from are already each
      // key's latest there, so only what was written in ($from, $c] can make rows droppable:
      // deletions, and the rows they or updates replaced (their prev_rev). Work in proportion to
      // the history dropped, not to the number of keys.
      compact: db.prepare(`
        DELETE FROM log WHERE rev IN (
          SELECT prev_rev FROM log WHERE rev > $from AND rev <= $c AND prev_rev > 0
          UNION ALL
          SELECT rev FROM log WHERE rev > $from AND rev <= $c AND deleted = 1
        )`),
    };
    this.revision = this.readMeta('revision');
    this.compacted = this.readMeta('compacted');
    this.migrateRecords();
    // Each key's latest row, unless it is a deletion (SQLite takes `deleted` from the MAX row).
    for (const row of db.prepare('SELECT key, MAX(rev) AS rev, deleted FROM log GROUP BY key').iterate() as Iterable<{ key: string; rev: number; deleted: number }>) {
      if (!row.deleted) this.live.set(row.key, row.rev);
    }
    // Stores written before LiveKeys kept the same in a table.
    db.exec('DROP TABLE IF EXISTS current');
    this.db.exec('PRAGMA wal_autocheckpoint = 0');
    // A WAL that outgrew the estimate (maybeCheckpoint) is cut back when it starts over.
    this.db.exec(`PRAGMA journal_size_limit = ${2 * checkpointWalBytes}`);
    this.db.exec('PRAGMA synchronous = OFF');
  }

  /**
   * Records that a server opened without `recordPrefixes` wrote as objects move to the records
   * table, each with the revision it was written at, and leave the log (their history rows with
   * them: no watch follows them). One transaction: all of them move or none.
   */
  private migrateRecords(): void {
    for (const prefix of this.recordPrefixes) {
      const end = prefixEnd(prefix);
      if (!this.db.prepare('SELECT 1 FROM log WHERE key >= ? AND key < ? LIMIT 1').get(prefix, end)) continue;
      this.db.exec('BEGIN IMMEDIATE');
      try {
        this.db
          .prepare(`
            INSERT OR REPLACE INTO records (key, rev, value)
            SELECT l.key, l.rev, l.value FROM (SELECT key, MAX(rev) AS rev FROM log WHERE key >= ? AND key < ? GROUP BY key) m
            JOIN log l ON l.rev = m.rev WHERE l.deleted = 0`)
          .run(prefix, end);
        this.db.prepare('DELETE FROM log WHERE key >= ? AND key < ?').run(prefix, end);
        this.db.exec('COMMIT');
      } catch (err) {
        this.db.exec('ROLLBACK');
        throw err;
      }
    }
  }

  isRecord(key: string): boolean {
    for (const p of this.recordPrefixes) if (key.startsWith(p)) return true;
    return false;
  }

  private readMeta(name: string): number {
    const row = this.stmt.meta!.get(name) as { value: number } | undefined;
    return row?.value ?? 0;
  }

  private ensureOpen(): void {
    if (this.closed) throw new StorageUnavailableError('the embedded store is closed');
    if (this.failed) throw new StorageUnavailableError(`the embedded store failed to make a commit durable (${this.failed.message}); restart the server`);
  }

  /** Before a read: wait until the last commit is durable, so nothing read can still be lost. */
  private async durable(): Promise<void> {
    while (this.syncing) await this.syncing;
    this.ensureOpen();
  }

  private toKv(row: Row): KeyValue {
    return { key: row.key, value: row.value, createRevision: row.create_rev, modRevision: row.rev };
  }

  private recordKv(row: RecordRow): KeyValue {
    return { key: row.key, value: row.value, createRevision: row.rev, modRevision: row.rev };
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.ensureOpen();
    if (this.syncing) await this.durable();
    if (this.isRecord(key)) {
      const record = this.stmt.recordGet!.get(key) as RecordRow | undefined;
      return record ? this.recordKv(record) : undefined;
    }
    const row = this.liveRow(key);
    return row ? this.toKv(row) : undefined;
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListResult> {
    this.ensureOpen();
    if (this.syncing) await this.durable();
    // `after + '\0'` is the least string greater than `after`.
    const start = options.after !== undefined && options.after >= prefix ? options.after + '\0' : prefix;
    let end = prefixEnd(prefix);
    if (options.before !== undefined && options.before < end) end = options.before;
    const limit = options.limit && options.limit > 0 ? options.limit + 1 : -1;
    if (options.maxModRevision !== undefined && (this.isRecord(prefix) || options.revision !== undefined)) {
      throw new Error('maxModRevision reads object keys at the current revision only');
    }
    if (this.isRecord(prefix)) return this.listRecords(start, end, limit, options);
    const at = options.revision;
    if (at !== undefined && at < this.compacted) throw new CompactedError(at, this.compacted);
    const snapshot = at !== undefined && at < this.revision;
    const reverse = options.reverse === true;
    if (options.maxModRevision !== undefined) return this.listLiveUpTo(start, end, options.maxModRevision, options.limit, reverse);
    if (!snapshot) return this.listLive(start, end, options.limit, reverse);
    const read = (reverse ? this.stmt.listAtDesc! : this.stmt.listAt!).all(start, end, at, limit) as unknown as Row[];
    const { rows, more, remaining } = trimPage(read, start, end, options, (from, to) => (this.stmt.countAt!.get(from, to, at) as { n: number }).n);
    return { items: rows.map((r) => this.toKv(r)), revision: at, more, remaining };
  }

  /** list() at the current revision: the live keys in [start, end), each read by its revision. */
  private listLive(start: string, end: string, limit: number | undefined, reverse: boolean): ListResult {
    const { keys, lo, hi } = this.live.range(start, end);
    const take = limit !== undefined && limit > 0 ? Math.min(limit, hi - lo) : hi - lo;
    const page = reverse ? keys.slice(hi - take, hi).reverse() : keys.slice(lo, lo + take);
    const items = page.map((key) => this.toKv(this.liveRow(key)!));
    const more = take < hi - lo;
    return { items, revision: this.revision, more, ...(more ? { remaining: hi - lo - take } : {}) };
  }

  /** listLive() of the keys last written at or before `max`: the others are skipped unread. */
  private listLiveUpTo(start: string, end: string, max: number, limit: number | undefined, reverse: boolean): ListResult {
    const { keys, lo, hi } = this.live.range(start, end);
    const take = limit !== undefined && limit > 0 ? limit : Infinity;
    const page: string[] = [];
    let more = false;
    for (let i = reverse ? hi - 1 : lo; reverse ? i >= lo : i < hi; i += reverse ? -1 : 1) {
      if (this.live.get(keys[i]!)! > max) continue;
      if (page.length === take) {
        more = true;
        break;
      }
      page.push(keys[i]!);
    }
    return { items: page.map((key) => this.toKv(this.liveRow(key)!)), revision: this.revision, more };
  }

  /** A live key's latest row (inside a batch, as the batch has it so far). */
  private liveRow(key: string): Row | undefined {
    const rev = this.live.get(key);
    return rev === undefined ? undefined : (this.stmt.byRev!.get(rev) as unknown as Row);
  }

  /** list() under a record prefix: records have no history, so every read is of the current ones. */
  private listRecords(start: string, end: string, limit: number, options: ListOptions): ListResult {
    const read = (options.reverse ? this.stmt.recordListDesc! : this.stmt.recordList!).all(start, end, limit) as unknown as RecordRow[];
    const { rows, more, remaining } = trimPage(read, start, end, options, (from, to) => (this.stmt.recordCount!.get(from, to) as { n: number }).n);
    return { items: rows.map((r) => this.recordKv(r)), revision: this.revision, more, remaining };
  }

  async count(prefix: string): Promise<number> {
    this.ensureOpen();
    if (this.syncing) await this.durable();
    if (this.isRecord(prefix)) return (this.stmt.recordCount!.get(prefix, prefixEnd(prefix)) as { n: number }).n;
    const { lo, hi } = this.live.range(prefix, prefixEnd(prefix));
    return hi - lo;
  }

  /**
   * Writes are group-committed: the txns that arrive before the next setImmediate (at most
   * MAX_BATCH_TXNS of them, or about MAX_BATCH_BYTES of keys and values) share one SQLite
   * transaction, so one fsync-bound COMMIT serves them all. Each txn runs in its own SAVEPOINT:
   * one that fails (a lost compare-and-swap) rolls back alone and rejects alone; the others
   * commit. Txns apply in arrival order, each seeing the writes of those before it, and take
   * revisions in that order. Nothing resolves, and no watcher hears of a write, before the COMMIT
   * that holds it has returned. `ops` is read when the batch runs, not when txn() is called.
   */
  async txn(ops: WriteOp[]): Promise<KeyValue[]> {
    this.ensureOpen();
    if (ops.length === 0) return [];
    let bytes = 0;
    for (const op of ops) bytes += op.key.length + (op.type === 'delete' ? 0 : op.value.length);
    return new Promise<KeyValue[]>((resolve, reject) => {
      this.pending.push({ ops, bytes, resolve, reject });
      this.flushImmediate ??= setImmediate(this.flush);
    });
  }

  /** Commit the next batch of pending txns (a bound method: it is the setImmediate callback). */
  private readonly flush = (): void => {
    this.flushImmediate = undefined;
    // While the last batch syncs, txns gather for the next: its completion flushes them.
    if (this.closed || this.failed || this.syncing || this.checkpointing || this.pending.length === 0) return;
    // Take the batch: at least one txn, however large.
    let n = 0;
    let bytes = 0;
    while (n < this.pending.length && n < MAX_BATCH_TXNS && (n === 0 || bytes + this.pending[n]!.bytes <= MAX_BATCH_BYTES)) {
      bytes += this.pending[n]!.bytes;
      n++;
    }
    const batch = n === this.pending.length ? this.pending.splice(0) : this.pending.splice(0, n);

    const outcomes: ({ ok: true; results: KeyValue[] } | { ok: false; error: unknown })[] = [];
    const events: WatchEvent[] = [];
    let rev = this.revision;
    let committed = false;
    try {
      this.stmt.begin!.run();
    } catch (err) {
      for (const t of batch) t.reject(err);
      this.flushLater();
      return;
    }
    try {
      for (const t of batch) {
        const mark = events.length;
        const liveMark = this.liveUndo.length;
        this.stmt.savepoint!.run();
        try {
          const { results, last } = this.apply(t.ops, rev, events);
          this.stmt.release!.run();
          rev = last;
          outcomes.push({ ok: true, results });
        } catch (err) {
          // Undo this txn's writes (and forget its events); the batch goes on. If SQLite itself
          // failed and dropped the whole transaction, ROLLBACK TO throws: the batch fails below.
          events.length = mark;
          this.undoLive(liveMark);
          this.stmt.rollbackTo!.run();
          this.stmt.release!.run();
          outcomes.push({ ok: false, error: err });
        }
      }
      if (outcomes.some((o) => o.ok)) {
        // A batch of records alone takes no revision.
        if (rev !== this.revision) this.stmt.setMeta!.run(rev, 'revision');
        this.stmt.commit!.run();
        committed = true;
        batch.forEach((t, i) => {
          if (outcomes[i]!.ok) this.walWritten += t.bytes + t.ops.length * 2 * 4096;
        });
      } else {
        this.stmt.rollback!.run(); // every txn failed: nothing to make durable
      }
    } catch (err) {
      // The batch as a whole failed (COMMIT itself, or SQLite dropped the transaction): nothing
      // of it is durable, so every txn in it fails with that error and no state moves on.
      try {
        if (this.db.isTransaction) this.stmt.rollback!.run();
      } catch {
        // The connection is beyond a rollback; the next batch reports it.
      }
      this.undoLive(0);
      for (const t of batch) t.reject(err);
      this.flushLater();
      return;
    }
    this.liveUndo = [];
    const settle = () => {
      this.revision = rev;
      batch.forEach((t, i) => {
        const o = outcomes[i]!;
        if (o.ok) t.resolve(o.results);
        else t.reject(o.error);
      });
      if (events.length > 0) this.notify(events);
      if (!this.closed) {
        this.maybeCheckpoint();
        this.maybeCompact();
      }
      this.flushLater();
    };
    if (!committed || !this.wal) {
      settle();
      return;
    }
    const synced = (err: Error | null) => {
      if (!err) return settle();
      // Committed in SQLite but maybe not on disk: no txn of the batch may say it succeeded, and
      // nothing after it can be trusted to be durable either.
      const failure = this.fail(err);
      for (const t of batch) t.reject(failure);
    };
    if (batch.length <= this.inlineSyncTxns) {
      // A small batch (a quiet store): the event loop has little else to do, and handing the sync
      // to the thread pool and back would double the txn's latency (measured: 0.28 against 0.14
      // ms for one write at a time).
      let error: Error | null = null;
      try {
        this.wal.syncNow();
      } catch (err) {
        error = err as Error;
      }
      synced(error);
      return;
    }
    this.syncing = new Promise<void>((resolve) => {
      this.walSync((err) => {
        this.syncing = undefined;
        synced(err);
        resolve();
      });
    });
  };

  /** The txns that arrived meanwhile go in the next batch, after the event loop has had a turn. */
  private flushLater(): void {
    if (this.pending.length > 0 && !this.closed) this.flushImmediate ??= setImmediate(this.flush);
  }

  /** Put LiveKeys back as it was before the batch's change number `mark`. */
  private undoLive(mark: number): void {
    for (let i = this.liveUndo.length - 1; i >= mark; i--) {
      const { key, rev } = this.liveUndo[i]!;
      if (rev === undefined) this.live.delete(key);
      else this.live.set(key, rev);
    }
    this.liveUndo.length = mark;
  }

  /** A file sync failed: fail everything waiting and everything after. Returns the error to give. */
  private fail(err: Error): StorageUnavailableError {
    this.failed = err;
    const failure = new StorageUnavailableError(`the embedded store could not make a commit durable: ${err.message}`, { cause: err });
    for (const t of this.pending.splice(0)) t.reject(failure);
    this.watchers.endAll(failure);
    return failure;
  }

  /**
   * Checkpoint once about checkpointWalBytes went into the WAL, with neither the copy nor the disk
   * on the event loop, in two steps on the checkpointer thread (SQLite's PASSIVE checkpoint at
   * synchronous=FULL on its own connection):
   * - copy: the WAL's pages go into the database file, which is then fdatasynced, while batches go
   *   on committing (they append to the WAL; SQLite does not start it over while frames in it are
   *   not copied);
   * - finish: no batch commits and no compaction runs until it is done; it copies what was added
   *   meanwhile, and SQLite syncs the database file and records every frame as copied. Only then
   *   may the WAL start over (the next batch writes from its start). Reads go on throughout.
   * A crash at any point finds every page not yet durable in the database file still in the WAL,
   * which was synced at every commit. A step that fails stops the store, as a failed sync does.
   * The WAL is reused, not truncated: a WAL that grows makes every commit's fdatasync write the
   * file's size as well (measured: 0.21 against 0.14 ms a commit), so its size says nothing of
   * what is in it and `walWritten` estimates that instead.
   */
  private maybeCheckpoint(): void {
    // The thread starts (tens of milliseconds) half-way to the first checkpoint, not in its way.
    if (this.walWritten >= this.checkpointWalBytes / 2) this.checkpointer?.start();
    if (!this.wal?.opened || this.checkpointCopying || this.checkpointing || this.walWritten < this.checkpointWalBytes) return;
    this.checkpointCopying = true;
    this.checkpointCopy((err) => {
      this.checkpointCopying = false;
      if (err) this.fail(err);
      else if (!this.closed && !this.failed) this.finishCheckpoint();
    });
  }

  /** The checkpoint's last step: nothing commits until it is done. */
  private finishCheckpoint(): void {
    this.checkpointing = new Promise<void>((resolve) => {
      this.checkpointFinish((err, complete) => {
        if (err) this.fail(err);
        // Not complete (it should be, nothing committing meanwhile): the next batch asks again.
        else if (complete) this.walWritten = 0;
        this.checkpointing = undefined;
        resolve();
        this.flushLater();
      });
    });
  }

  /**
   * Apply one txn's ops inside the open transaction, with revisions after `rev`; its events are
   * appended to `events`. Throws the contract's error naming the first op that fails.
   */
  private apply(ops: WriteOp[], rev: number, events: WatchEvent[]): { results: KeyValue[]; last: number } {
    const results: KeyValue[] = [];
    // Current rows as seen inside this txn, so two ops on one key see each other.
    const seen = new Map<string, Row | undefined>();
    const currentRow = (op: WriteOp): Row | undefined => {
      if (seen.has(op.key)) return seen.get(op.key);
      // The writer's own read of the live row: no need to read it again.
      const read = op.type === 'update' ? op.read : undefined;
      if (read && read.key === op.key && read.modRevision === this.live.get(op.key)) {
        return { rev: read.modRevision, key: read.key, deleted: 0, create_rev: read.createRevision, prev_rev: 0, value: read.value };
      }
      return this.liveRow(op.key);
    };
    const setLive = (key: string, to: number | undefined) => {
      this.liveUndo.push({ key, rev: this.live.get(key) });
      if (to === undefined) this.live.delete(key);
      else this.live.set(key, to);
    };
    ops.forEach((op, i) => {
      if (this.isRecord(op.key)) {
        results.push(this.applyRecord(op, i, rev));
        return;
      }
      const existing = currentRow(op);
      if (op.type === 'create') {
        if (existing) throw new KeyExistsError(`key ${op.key} already exists`, op.key, i);
        rev++;
        const row: Row = { rev, key: op.key, deleted: 0, create_rev: rev, prev_rev: 0, value: op.value };
        this.stmt.insert!.run(rev, op.key, 0, rev, 0, op.value);
        setLive(op.key, rev);
        seen.set(op.key, row);
        results.push(this.toKv(row));
        events.push({ type: 'put', kv: this.toKv(row) });
        return;
      }
      if (!existing) throw new KeyNotFoundError(`key ${op.key} not found`, op.key, i);
      if (op.expectedModRevision !== undefined && existing.rev !== op.expectedModRevision) {
        throw new RevisionMismatchError(op.key, i, existing.rev);
      }
      rev++;
      if (op.type === 'update') {
        const row: Row = { rev, key: op.key, deleted: 0, create_rev: existing.create_rev, prev_rev: existing.rev, value: op.value };
        this.stmt.insert!.run(rev, op.key, 0, existing.create_rev, existing.rev, op.value);
        setLive(op.key, rev);
        seen.set(op.key, row);
        results.push(this.toKv(row));
        events.push({ type: 'put', kv: this.toKv(row), prevKv: this.toKv(existing) });
      } else {
        // A deletion row keeps the last value, so watchers get the final state of the object.
        this.stmt.insert!.run(rev, op.key, 1, existing.create_rev, existing.rev, existing.value);
        setLive(op.key, undefined);
        seen.set(op.key, undefined);
        const kv = { ...this.toKv(existing), modRevision: rev };
        results.push(kv);
        events.push({ type: 'delete', kv, prevKv: this.toKv(existing) });
      }
    });
    return { results, last: rev };
  }

  /** One op on a record, at the txn's revision so far: no revision, no history, no event. */
  private applyRecord(op: WriteOp, i: number, rev: number): KeyValue {
    if (op.type === 'create') {
      // The primary key says whether it exists: no read first (every write's audit record is a create).
      try {
        this.stmt.recordInsert!.run(op.key, rev, op.value);
      } catch (err) {
        if ((err as { errcode?: number }).errcode === SQLITE_CONSTRAINT_PRIMARYKEY) throw new KeyExistsError(`key ${op.key} already exists`, op.key, i);
        throw err;
      }
      return this.recordKv({ key: op.key, rev, value: op.value });
    }
    const existing = this.stmt.recordGet!.get(op.key) as RecordRow | undefined;
    if (!existing) throw new KeyNotFoundError(`key ${op.key} not found`, op.key, i);
    if (op.expectedModRevision !== undefined && existing.rev !== op.expectedModRevision) {
      throw new RevisionMismatchError(op.key, i, existing.rev);
    }
    if (op.type === 'update') {
      this.stmt.recordUpdate!.run(rev, op.value, op.key);
      return this.recordKv({ key: op.key, rev, value: op.value });
    }
    this.stmt.recordDelete!.run(op.key);
    return this.recordKv(existing);
  }

  /** Deliver a committed batch's events (see WatcherIndex). */
  private notify(events: WatchEvent[]): void {
    this.watchers.deliver(events, this.revision);
  }

  async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch> {
    const events = await this.catchUp(prefix, fromRevision);
    // Catch up and register in the same synchronous turn: no write can fall in between.
    const watcher: Watcher = { prefix, handlers, closed: false };
    this.watchers.add(watcher);
    for (const e of events) {
      if (watcher.closed) break;
      handlers.onEvent(e);
    }
    return { close: () => this.watchers.remove(watcher) };
  }

  /**
   * The events under `prefix` after `fromRevision`, up to the store's revision: what a watch from
   * `fromRevision` catches up on. Returned in the turn it reads them in, so a watcher registered
   * in that turn misses no later batch.
   */
  private async catchUp(prefix: string, fromRevision: number): Promise<WatchEvent[]> {
    this.ensureOpen();
    // The catch-up read must not see a batch whose events are still to come from its sync.
    if (this.syncing) await this.durable();
    if (fromRevision < this.compacted) throw new CompactedError(fromRevision, this.compacted);
    const rows = this.stmt.since!.all(fromRevision, prefix, prefixEnd(prefix)) as unknown as Row[];
    return rows.map((row) => this.rowToEvent(row));
  }

  private rowToEvent(row: Row): WatchEvent {
    const prev = row.prev_rev ? (this.stmt.byRev!.get(row.prev_rev) as Row | undefined) : undefined;
    const prevKv = prev ? this.toKv(prev) : undefined;
    if (row.deleted) return { type: 'delete', kv: this.toKv(row), prevKv };
    return { type: 'put', kv: this.toKv(row), prevKv };
  }

  async currentRevision(): Promise<number> {
    this.ensureOpen();
    return this.revision;
  }

  async compactedRevision(): Promise<number> {
    return this.compacted;
  }

  async compact(revision: number): Promise<void> {
    this.ensureOpen();
    // Its write must not restart the WAL while a checkpoint's copy is not yet durable.
    while (this.checkpointing) await this.checkpointing;
    this.ensureOpen();
    const target = Math.min(revision, this.revision);
    if (target <= this.compacted) return;
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.stmt.compact!.run({ $from: this.compacted, $c: target });
      this.stmt.setMeta!.run(target, 'compacted');
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
    this.compacted = target;
  }

  /** Keep history bounded, to at least historyRevisions revisions and historyMs of time: in steps of a quarter of the count, not on every write. */
  private maybeCompact(): void {
    const t = this.now();
    const last = this.samples[this.samples.length - 1];
    if (!last || t - last.at >= 1000) this.samples.push({ at: t, rev: this.revision });
    let target = this.revision - this.historyRevisions;
    if (this.historyMs > 0) {
      // Everything after the revision of the newest sample at or before the cutoff was written
      // within historyMs: keep it. Before the first such sample (a young server), keep everything.
      const cutoff = t - this.historyMs;
      let i = -1;
      while (i + 1 < this.samples.length && this.samples[i + 1]!.at <= cutoff) i++;
      if (i > 0) this.samples.splice(0, i);
      target = Math.min(target, i >= 0 ? this.samples[0]!.rev : this.compacted);
    }
    // In steps of a quarter of the count, not on every write.
    if (target - this.compacted > this.historyRevisions / 4) {
      // A failure here is not the writers' (their batch committed): the next batch tries again.
      this.compact(target).catch(() => {});
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // A batch whose sync is in flight is answered first; a checkpoint's sync finishes.
    while (this.syncing || this.checkpointing) await (this.syncing ?? this.checkpointing);
    if (this.closed) return;
    this.closed = true;
    this.watchers.endAll(new StorageUnavailableError('the embedded store was closed'));
    clearImmediate(this.flushImmediate);
    this.flushImmediate = undefined;
    for (const t of this.pending.splice(0)) t.reject(new StorageUnavailableError('the embedded store was closed'));
    // The checkpointer's connection first: the last one to close checkpoints and removes the WAL.
    await this.checkpointer?.close();
    // That checkpoint syncs the database file before it removes the WAL.
    try {
      this.db.exec('PRAGMA synchronous = FULL');
    } catch {
      // Closing anyway.
    }
    this.db.close();
    this.wal?.close();
    this.owner?.close();
  }
}
