/**
 * What the domain needs from a node-local image cache (src/cache implements it): complete
 * entries that are served only when they were verified against the hash the caller names, fills
 * that become visible only on `commit`, a queue of images to prefetch, and the pruner and cleaner.
 */
import type { Readable } from 'node:stream';

/** One complete entry, as GET /v2/cache lists it (times in seconds since the epoch, as Glance). */
export interface CacheEntry {
  imageId: string;
  size: number;
  hits: number;
  lastAccessed: number;
  lastModified: number;
  /** The digest (os_hash_value, or md5 checksum) the bytes were verified against when written. */
  verifiedHash: string;
}

/**
 * The bytes of a new entry on their way in. Nothing of them is visible until `commit`: a fill
 * that is cancelled, fails or dies with its process leaves no entry, only an incomplete file
 * that the next start-up (or the cleaner) removes.
 */
export interface CacheFill {
  /** Appends a chunk; resolves when the caller may send the next (the store may accept a bounded amount ahead of its disk; the caller waits: that is the backpressure). */
  write(chunk: Buffer): Promise<void>;
  /** Makes the entry complete (and takes the image off the prefetch queue): only once every byte was verified against the fill's hash. */
  commit(): Promise<void>;
  /** Removes what was written (idempotent; also after a failed write or commit). */
  cancel(): Promise<void>;
}

export interface ImageCacheStore {
  /**
   * A read stream of the complete entry of `imageId`, counted as a hit — only if it was verified
   * against `hash` and holds `size` bytes. An entry verified against another hash or of another
   * size is stale: it is moved to the invalid entries and null returned, as for no entry.
   */
  open(imageId: string, hash: string, size: number): Promise<Readable | null>;
  /** A fill of a new entry verified against `hash`; null if the image is cached already or another fill of it runs (on this node). */
  startFill(imageId: string, hash: string): Promise<CacheFill | null>;
  /** The complete entries. */
  entries(): Promise<CacheEntry[]>;
  /** Whether a complete entry of the image exists (whatever it was verified against). */
  has(imageId: string): Promise<boolean>;
  /** Removes the complete entry; false if there was none. */
  remove(imageId: string): Promise<boolean>;
  /** Removes every complete entry; how many there were. */
  removeAll(): Promise<number>;
  /** Queues the image for prefetching (again: no-op). */
  queue(imageId: string): Promise<void>;
  /** The queued image ids, oldest first. */
  queued(): Promise<string[]>;
  /** Takes the image off the queue; false if it was not queued. */
  dequeue(imageId: string): Promise<boolean>;
  /** Empties the queue; how many were queued. */
  dequeueAll(): Promise<number>;
  /** Removes least recently used entries until the cache holds at most its maximum size. */
  prune(): Promise<{ files: number; bytes: number }>;
  /** Removes invalid entries and incomplete ones stalled longer than the stall time (not fills of this process). */
  clean(): Promise<{ invalid: number; stalled: number }>;
  /** Waits for the commits under way, then closes the index. */
  close(): Promise<void>;
}
