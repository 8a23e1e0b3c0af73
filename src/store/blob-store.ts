import type { Readable, Writable } from 'node:stream';

/**
 * One interface for every place image bytes live. Writes are two-phase: bytes written to a
 * BlobWriter become readable under their key only on `commit()`, and `cancel()` (or a crash,
 * followed by `discardPartial`) leaves nothing behind — so no partial image is ever visible,
 * whichever driver holds it. Every driver passes test/store-conformance.ts.
 */
export interface BlobStore {
  /** The driver's type, as Glance names it (`file`, `http`, `swift`, `s3`, …). */
  readonly type: string;

  /**
   * Starts writing the object `key`. `attempt` names this write, so that a later process can
   * remove what a crashed writer left with `discardPartial(key, attempt)`. The object becomes
   * readable only when `commit()` resolves.
   */
  createWriter(key: string, attempt: string): Promise<BlobWriter>;

  /** Removes whatever an uncommitted write of (key, attempt) left behind. No error if nothing is there. */
  discardPartial(key: string, attempt: string): Promise<void>;

  /**
   * Reads the committed object, bytes `start`..`end` inclusive when a range is given.
   * Rejects with BlobNotFound if there is no such object; an invalid range is the caller's bug.
   */
  read(key: string, range?: { start: number; end: number }): Promise<Readable>;

  /** Size in bytes of the committed object; BlobNotFound if absent. */
  size(key: string): Promise<number>;

  /** Deletes the committed object; BlobNotFound if absent. */
  delete(key: string): Promise<void>;

  /** The location URL Glance would record for `key` (e.g. `file:///var/lib/glance/images/<id>`). */
  url(key: string): string;
  /** The key a location URL of this store names, or undefined if the URL is not this store's. */
  keyOf(url: string): string | undefined;
}

/** A Writable that accepts an object's bytes; see BlobStore.createWriter. */
export interface BlobWriter extends Writable {
  /** Makes the written bytes durable and readable under the key. Call after the stream finished. */
  commit(): Promise<void>;
  /** Abandons the write and removes what was written. Safe to call more than once, or after a failure. */
  cancel(): Promise<void>;
}

/** Errors carry the driver's type, so a log line says which store failed. */
export class StoreError extends Error {
  constructor(readonly driver: string, message: string, options?: { cause?: unknown }) {
    super(`${driver} store: ${message}`, options);
    this.name = new.target.name;
  }
}
export class BlobNotFound extends StoreError {}
/** The store has no room left for the write. */
export class StoreFull extends StoreError {}
/** The store refused the write (permissions, read-only). */
export class StoreWriteDenied extends StoreError {}

/** Deletes the object `key` if it is there: removing bytes that are already gone is no error. */
export async function deleteIfPresent(store: BlobStore, key: string): Promise<void> {
  try {
    await store.delete(key);
  } catch (err) {
    if (!(err instanceof BlobNotFound)) throw err;
  }
}
