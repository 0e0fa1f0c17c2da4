/**
 * What the embedded store's front (sqlite-worker.ts) and its worker thread
 * (sqlite-worker-thread.ts) say to each other, and the storage errors carried across.
 */
import {
  CompactedError,
  KeyExistsError,
  KeyNotFoundError,
  RevisionMismatchError,
  StorageUnavailableError,
  ValueTooLargeError,
  type ListOptions,
  type WatchEvent,
  type WriteOp,
} from './types.ts';

export type ToWorker = { id: number } & (
  | { m: 'get'; key: string }
  | { m: 'list'; prefix: string; options?: ListOptions }
  | { m: 'count'; prefix: string }
  | { m: 'txn'; ops: WriteOp[] }
  | { m: 'since'; prefix: string; fromRevision: number }
  | { m: 'currentRevision' }
  | { m: 'compactedRevision' }
  | { m: 'compact'; revision: number }
  | { m: 'close' }
);

export type FromWorker =
  | { t: 'ready'; recordPrefixes: string[] }
  | { t: 'failed'; error: EncodedError }
  | { t: 'events'; events: WatchEvent[]; revision: number }
  | { t: 'reply'; id: number; ok: true; value: unknown }
  | { t: 'reply'; id: number; ok: false; error: EncodedError };

export interface EncodedError {
  name: string;
  message: string;
  key?: string;
  opIndex?: number;
  actualModRevision?: number;
  requested?: number;
  compacted?: number;
}

export function encodeError(err: unknown): EncodedError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const e = err as Error & Partial<Omit<EncodedError, 'name' | 'message'>>;
  return {
    name: e.name,
    message: e.message,
    ...(e.key !== undefined ? { key: e.key } : {}),
    ...(e.opIndex !== undefined ? { opIndex: e.opIndex } : {}),
    ...(e.actualModRevision !== undefined ? { actualModRevision: e.actualModRevision } : {}),
    ...(e.requested !== undefined ? { requested: e.requested } : {}),
    ...(e.compacted !== undefined ? { compacted: e.compacted } : {}),
  };
}

/** The error the engine threw, as the same class on this side. */
export function decodeError(e: EncodedError): Error {
  switch (e.name) {
    case 'KeyExistsError':
      return new KeyExistsError(e.message, e.key!, e.opIndex);
    case 'KeyNotFoundError':
      return new KeyNotFoundError(e.message, e.key!, e.opIndex);
    case 'RevisionMismatchError':
      return new RevisionMismatchError(e.key!, e.opIndex!, e.actualModRevision!);
    case 'CompactedError':
      return new CompactedError(e.requested!, e.compacted!);
    case 'StorageUnavailableError':
      return new StorageUnavailableError(e.message);
    case 'ValueTooLargeError':
      return new ValueTooLargeError(e.message);
    default: {
      const err = new Error(e.message);
      err.name = e.name;
      return err;
    }
  }
}
