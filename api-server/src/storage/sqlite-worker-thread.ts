/**
 * The embedded store's engine (sqlite-storage.ts) on a worker thread of its own; its front on the
 * server's thread is sqlite-worker.ts, which says why. This side answers the front's requests in
 * the order they come and posts every committed batch's events, so the front sees the same order
 * of events and answers that the engine makes.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openSqliteStorage, type SqliteStorage, type SqliteStorageOptions } from './sqlite-storage.ts';
import { encodeError, type FromWorker, type ToWorker } from './sqlite-worker-protocol.ts';

const port = parentPort!;
const post = (m: FromWorker) => port.postMessage(m);

let storage: SqliteStorage;
try {
  storage = openSqliteStorage(workerData as SqliteStorageOptions);
} catch (err) {
  post({ t: 'failed', error: encodeError(err) });
  process.exit(0);
}
// Posted in the turn the batch settles, before any later answer: the front delivers them in order.
storage.onCommit = (events, revision) => post({ t: 'events', events, revision });

async function handle(m: ToWorker): Promise<unknown> {
  switch (m.m) {
    case 'get':
      return storage.get(m.key);
    case 'list':
      return storage.list(m.prefix, m.options);
    case 'count':
      return storage.count(m.prefix);
    case 'txn':
      return storage.txn(m.ops);
    case 'since':
      return storage.since(m.prefix, m.fromRevision);
    case 'currentRevision':
      return storage.currentRevision();
    case 'compactedRevision':
      return storage.compactedRevision();
    case 'compact':
      return storage.compact(m.revision);
    case 'close':
      await storage.close();
      return undefined;
  }
}

port.on('message', (m: ToWorker) => {
  handle(m).then(
    (value) => {
      post({ t: 'reply', id: m.id, ok: true, value });
      if (m.m === 'close') port.close();
    },
    (err: unknown) => post({ t: 'reply', id: m.id, ok: false, error: encodeError(err) }),
  );
});
post({ t: 'ready', recordPrefixes: (workerData as SqliteStorageOptions).recordPrefixes ?? [] });
