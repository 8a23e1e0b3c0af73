import type { Readable, Writable } from 'node:stream';

/**
 * One interface for every place image bytes live (glance_store's `Store`). Objects are named by
 * their location URL once written (what the image's location records); a write names its target
 * by key (the image id), attempt and owner project, and says on commit which URL it produced.
 *
 * Writes are two-phase: bytes written to a BlobWriter become readable only on `commit()`, and
 * `cancel()` (or, after a crash, `discardWrite`) leaves nothing behind — so no partial image is
 * ever visible, whichever driver holds it. Every driver passes test/support/store-conformance.ts.
 *
 * Contract for the cases callers must not guess at:
 * - Two writers to one target key: each writes its own partial data (by attempt); each commit
 *   replaces the object as a whole, so a reader sees one complete object, the last committed.
 *   (The domain never runs two uploads of one image to one store at once: the upload lease.)
 * - Commit over an existing object replaces it atomically; readers see the old or the new bytes.
 * - Delete during a write removes only the committed object (BlobNotFound if there is none); the
 *   write goes on, and its commit makes its bytes the object.
 * - A range whose start is past the last byte rejects with InvalidRange; an end past the last
 *   byte is clamped to it.
 * - A writer that was cancelled (or whose stream failed) refuses further writes and commits;
 *   `cancel()` after a successful commit does nothing (callers cancel in `finally`).
 * - When commits of one key may produce different URLs (several directories), the last commit's
 *   URL serves the object and the earlier ones are gone.
 * - read, size and delete of a URL the store does not own reject with StoreError (never
 *   BlobNotFound, so that `deleteIfPresent` cannot quietly skip it).
 * - Reads respect backpressure: a slow consumer makes the driver wait, never buffer the object.
 */
export interface BlobStore {
  /** The driver's type, as Glance names it (`file`, `http`, `swift`, `s3`). */
  readonly type: string;
  readonly capabilities: StoreCapabilities;

  /** Prepares the store once, before use (directories, option checks); contacts no remote service. */
  init(): Promise<void>;

  /** Whether a location URL names an object of this store (scheme and, where it tells, host and container). */
  owns(url: string): boolean;

  /**
   * Starts writing the object for `target`. The bytes become readable only when `commit()`
   * resolves. Rejects with StoreWriteDenied on a read-only store.
   */
  createWriter(target: WriteTarget): Promise<BlobWriter>;

  /**
   * Removes what a write of `target` left behind when its process died: partial data (temporary
   * files, segments, multipart uploads) and — with `committed` — the object the write may have
   * committed that nobody recorded (drivers that tag objects with their attempt remove it only
   * if this attempt wrote it). Without `committed`, the pieces of a committed object stay: they
   * are its bytes. No error if nothing is there.
   */
  discardWrite(target: WriteTarget, opts: { committed: boolean }): Promise<void>;

  /**
   * Reads the object at `url`, bytes `start`..`end` inclusive when a range is given.
   * BlobNotFound if there is no such object; InvalidRange if `start` is past its end.
   */
  read(url: string, range?: ByteRange): Promise<Readable>;

  /** Size in bytes of the object at `url`; BlobNotFound if absent. */
  size(url: string): Promise<number>;

  /** Deletes the object at `url`; BlobNotFound if absent; StoreWriteDenied on a read-only store. */
  delete(url: string): Promise<void>;

  /**
   * Optional: why a user may not record `url` as an image location, or null — for stores whose
   * locations users supply (the http store's address filter, OSSN-0065). Resolves DNS.
   */
  checkLocation?(url: string): Promise<string | null>;

  /** Optional: enumerates the store's objects, for the scrubber's orphan search (file, s3, swift; not http). */
  readonly listing?: ObjectListing;

  /** Optional: frees kept-alive connections at shutdown. */
  close?(): void;

  /** Facts for `GET /v2/info/stores/detail` (`properties`), e.g. `data_dir`, `container`. */
  describe(): Record<string, unknown>;
}

/**
 * What a store holds, for finding objects no location records any more (bytes a crash orphaned).
 * The names `list` gives and `nameOf` computes are the same for one object, whichever spelling
 * of its URL a location recorded (credentials, scheme variant), so the two can be compared.
 */
export interface ObjectListing {
  /**
   * Every committed object of this store (as configured: its directories, its bucket, its
   * containers), page by page, in no particular order. Partial writes and the driver's own
   * bookkeeping (segments of a manifest, upload markers) are not objects.
   */
  list(): AsyncIterable<ListedObject>;
  /** The name `list` gives the object a location URL names; undefined if the URL names none of this store's objects. */
  nameOf(url: string): string | undefined;
}

export interface ListedObject {
  /** Unique in this store; compared with `nameOf` of recorded locations. */
  name: string;
  /** The location URL that reads and deletes it. */
  url: string;
  /** The write target key it was written under (the image id). */
  key: string;
  size: number;
  /** When it was last written (epoch ms). */
  modifiedAt: number;
}

export interface StoreCapabilities {
  /** False for read-only drivers (http): createWriter and delete refuse. */
  readonly write: boolean;
  /** Ranged reads are served by the store itself (otherwise the caller skips bytes). */
  readonly rangedReads: boolean;
  /** Large objects are written in parts (Swift segments, S3 multipart). */
  readonly multipart: boolean;
}

/** Inclusive byte range. */
export interface ByteRange {
  start: number;
  end: number;
}

/** What a write is for: the object key (the image id), this attempt's id and the image owner's project. */
export interface WriteTarget {
  key: string;
  /** Names this write, so that `discardWrite` can find what a crashed writer left. */
  attempt: string;
  /** The image owner's project, for stores that keep objects per project (Swift multi-tenant). */
  project: string | null;
  /** Bytes expected, when the client said (lets S3 and Swift choose part sizes); null = unknown. */
  sizeHint: number | null;
}

/** The location a committed write produced, and driver facts to record with it. */
export interface StoredObject {
  url: string;
  /** Driver metadata for the location (e.g. an S3 ETag); the registry adds `store` in multi-store mode. */
  metadata: Record<string, unknown>;
}

/** A Writable that accepts an object's bytes; see BlobStore.createWriter. */
export interface BlobWriter extends Writable {
  /** Makes the written bytes durable and readable, and says where. Call after the stream finished. */
  commit(): Promise<StoredObject>;
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
/** A read range starting past the object's last byte. */
export class InvalidRange extends StoreError {}
/** The store cannot be reached or answered with an error (5xx, refused connection, bad credentials). */
export class StoreUnavailable extends StoreError {}

/** Deletes the object at `url` if it is there: removing bytes that are already gone is no error. */
export async function deleteIfPresent(store: BlobStore, url: string): Promise<void> {
  try {
    await store.delete(url);
  } catch (err) {
    if (!(err instanceof BlobNotFound)) throw err;
  }
}
