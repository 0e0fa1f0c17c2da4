/**
 * The embedded store on a thread of its own: the engine (sqlite-storage.ts) runs in a worker
 * thread (sqlite-worker-thread.ts) and this front implements Storage on the server's thread by
 * asking it. node:sqlite is synchronous, so on the server's thread every statement, COMMIT and
 * checkpoint held up every request: in a rollout to 10,000 agents that was a third of the
 * thread's time, while the machine's other core had room. Here the server's thread only posts
 * requests and takes answers; SQLite and its disk work happen beside it.
 *
 * Order and atomicity carry over because one thread does all of the engine's work and a port
 * delivers messages in the order they were posted. The worker posts each committed batch's events
 * in the turn the batch settles, before it answers anything after it, so:
 * - a read or a txn answered after a write sees it (the engine answers in order);
 * - a watch asks the worker for its catch-up events up to the engine's revision R, and registers
 *   here in the turn that answer arrives (see watch): every batch up to R came before the answer,
 *   every later one comes after it, so the watch misses none and sees none twice.
 * Watchers are indexed here (WatcherIndex), as the engine indexes its own.
 */
import { Worker } from 'node:worker_threads';
import type { SqliteStorageOptions } from './sqlite-storage.ts';
import { decodeError, type FromWorker, type ToWorker } from './sqlite-worker-protocol.ts';
import {
  StorageUnavailableError,
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

type Request = ToWorker extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

interface Waiting {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/** Open the embedded store on its own thread; fails as openSqliteStorage does (in use, cannot open). */
export async function openSqliteStorageInWorker(options: SqliteStorageOptions): Promise<Storage> {
  const worker = new Worker(new URL('./sqlite-worker-thread.ts', import.meta.url), { workerData: options });
  const first = await new Promise<FromWorker>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new StorageUnavailableError(`the embedded store's thread exited with ${code} while opening ${options.path}`)));
  }).catch((err: unknown) => {
    throw err instanceof StorageUnavailableError ? err : new StorageUnavailableError(`cannot start the embedded store's thread: ${(err as Error).message}`, { cause: err });
  });
  worker.removeAllListeners('message');
  worker.removeAllListeners('error');
  worker.removeAllListeners('exit');
  if (first.t === 'failed') {
    await worker.terminate();
    throw decodeError(first.error);
  }
  if (first.t !== 'ready') throw new StorageUnavailableError(`the embedded store's thread said ${first.t} before it was ready`);
  return new SqliteWorkerStorage(worker, first.recordPrefixes);
}

class SqliteWorkerStorage implements Storage {
  readonly name = 'embedded' as const;
  readonly txnRevisions = 'sequential' as const;
  private readonly worker: Worker;
  private readonly recordPrefixes: string[];
  private readonly waiting = new Map<number, Waiting>();
  private readonly watchers = new WatcherIndex();
  private seq = 0;
  /** Why nothing more can be asked: closed, or the thread ended. */
  private ended: Error | undefined;
  private readonly exited: Promise<void>;

  constructor(worker: Worker, recordPrefixes: string[]) {
    this.worker = worker;
    this.recordPrefixes = recordPrefixes;
    worker.on('message', (m: FromWorker) => this.dispatch(m));
    worker.on('error', (err) => this.end(new StorageUnavailableError(`the embedded store's thread failed: ${err.message}`, { cause: err })));
    this.exited = new Promise((resolve) => {
      worker.once('exit', (code) => {
        this.end(new StorageUnavailableError(`the embedded store's thread exited (${code})`));
        resolve();
      });
    });
  }

  private dispatch(m: FromWorker): void {
    if (m.t === 'events') {
      this.watchers.deliver(m.events, m.revision);
      return;
    }
    if (m.t !== 'reply') return;
    const w = this.waiting.get(m.id);
    if (!w) return;
    this.waiting.delete(m.id);
    if (m.ok) w.resolve(m.value);
    else w.reject(decodeError(m.error));
  }

  /** Everything waiting fails with `err`, every watch ends with it, and nothing more is asked. */
  private end(err: Error): void {
    if (this.ended) return;
    this.ended = err;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    this.watchers.endAll(err);
  }

  /** Ask the worker; `waiting` runs in the turn the answer arrives. */
  private send(request: Request, waiting: Waiting): void {
    if (this.ended) {
      waiting.reject(this.ended);
      return;
    }
    const id = ++this.seq;
    this.waiting.set(id, waiting);
    this.worker.postMessage({ ...request, id } as ToWorker);
  }

  private call<T>(request: Request): Promise<T> {
    return new Promise<T>((resolve, reject) => this.send(request, { resolve: resolve as (v: unknown) => void, reject }));
  }

  isRecord(key: string): boolean {
    for (const p of this.recordPrefixes) if (key.startsWith(p)) return true;
    return false;
  }

  get(key: string): Promise<KeyValue | undefined> {
    return this.call({ m: 'get', key });
  }

  list(prefix: string, options?: ListOptions): Promise<ListResult> {
    return this.call({ m: 'list', prefix, ...(options ? { options } : {}) });
  }

  count(prefix: string): Promise<number> {
    return this.call({ m: 'count', prefix });
  }

  txn(ops: WriteOp[]): Promise<KeyValue[]> {
    return this.call({ m: 'txn', ops });
  }

  watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch> {
    return new Promise<Watch>((resolve, reject) => {
      const watcher: Watcher = { prefix, handlers, closed: false };
      this.send({ m: 'since', prefix, fromRevision }, {
        reject,
        // In the answer's turn: register, then catch up, before the next batch's events arrive.
        resolve: (value) => {
          const { events } = value as { events: WatchEvent[]; revision: number };
          this.watchers.add(watcher);
          try {
            for (const e of events) {
              if (watcher.closed) break;
              handlers.onEvent(e);
            }
          } catch (err) {
            this.watchers.remove(watcher);
            reject(err as Error);
            return;
          }
          resolve({ close: () => this.watchers.remove(watcher) });
        },
      });
    });
  }

  currentRevision(): Promise<number> {
    return this.call({ m: 'currentRevision' });
  }

  compactedRevision(): Promise<number> {
    return this.call({ m: 'compactedRevision' });
  }

  compact(revision: number): Promise<void> {
    return this.call({ m: 'compact', revision });
  }

  async close(): Promise<void> {
    if (this.ended) {
      await this.worker.terminate();
      return;
    }
    // The engine answers what it was asked first, ends its watches' batches, then closes.
    await this.call({ m: 'close' }).catch(() => {});
    this.end(new StorageUnavailableError('the embedded store was closed'));
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, 5_000).unref())]);
    await this.worker.terminate();
  }
}
