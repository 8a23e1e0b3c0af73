import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from '../../src/db/connect.js';
import { SqlUnitOfWork } from '../../src/db/unit-of-work.js';

/**
 * A worker thread that takes image import locks on its own database handle: another process for
 * the race tests (a second SQLite handle in the test's own thread would block that thread in
 * BEGIN IMMEDIATE while the first handle's transaction waits for the same thread).
 *
 * Messages in: `{ id, imageId, taskId, stale, mode }` to take a lock: `alone`, or inside a unit of
 * work that first reads the image (`tx`); `tx-barrier` then answers `{ id, ready: true }` and
 * waits for `{ go: id }` before locking, so two contenders both hold a snapshot older than
 * either's write (not on SQLite, whose second transaction waits at BEGIN for the first to end).
 * `{ close: true }` ends the worker. Out: `{ id, won }` or `{ id, error }`.
 */
export interface LockRequest {
  id: number;
  imageId: string;
  taskId: string;
  stale: string | null;
  mode: 'alone' | 'tx' | 'tx-barrier';
}

const port = parentPort!;
const db = openDatabase((workerData as { url: string }).url);
const uow = new SqlUnitOfWork(db);
const released = new Map<number, () => void>();

port.on('message', (m: LockRequest | { go: number } | { close: true }) => {
  if ('close' in m) {
    void db.destroy().then(() => port.close());
    return;
  }
  if ('go' in m) {
    released.get(m.go)?.();
    return;
  }
  const lock = m.mode !== 'alone'
    ? uow.run(async (tx) => {
        await tx.images.find(m.imageId);
        if (m.mode === 'tx-barrier') {
          const go = new Promise<void>((resolve) => released.set(m.id, resolve));
          port.postMessage({ id: m.id, ready: true });
          await go;
        }
        return tx.images.lockForImport(m.imageId, m.taskId, m.stale, Date.now());
      })
    : uow.repos.images.lockForImport(m.imageId, m.taskId, m.stale, Date.now());
  lock.then(
    (won) => port.postMessage({ id: m.id, won }),
    (err: unknown) => port.postMessage({ id: m.id, error: String(err) }),
  );
});
