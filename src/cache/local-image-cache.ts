/**
 * The node-local image cache on disk, in Glance's layout: `<dir>/<image id>` complete entries,
 * `<dir>/incomplete/<id>` fills under way, `<dir>/invalid/<id>` entries found stale or corrupt,
 * `<dir>/queue/<id>` images queued for prefetching; and Glance's `sqlite` driver's index, an
 * SQLite file in the same directory (never the shared database: the cache is this node's).
 *
 * An entry is complete when its file is under `<dir>` *and* the index has its row, which records
 * the digest the bytes were verified against: the file is fsynced and renamed first, the row
 * written after. A crash between the two leaves a file without a row, never served and removed at
 * the next start; a fill that dies leaves only an incomplete file, also removed at start.
 *
 * Several processes of one node (workers) may share the directory: a fill opens its incomplete
 * file exclusively (O_EXCL), so one image is filled once; the index is in WAL mode with a busy
 * timeout.
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { CacheEntry, CacheFill, ImageCacheStore } from '../domain/cache-ports.js';

/** Image ids become file names: anything else is never cached (and never found). */
const SAFE_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$/;
/** Cached files are read in 1 MiB pieces: fewer syscalls and socket writes than the 64 KiB default. */
const READ_CHUNK = 1 << 20;

export interface LocalCacheOptions {
  dir: string;
  /** `image_cache_sqlite_db`: the index's file name in `dir`. */
  indexFile: string;
  /** `image_cache_max_size`: bytes kept after a prune. */
  maxSize: number;
  /** `image_cache_stall_time` in seconds: incomplete files older than this are stalled. */
  stallTimeSec: number;
  /**
   * Start-up of a server: incomplete files (fills of a dead process) are removed, and index rows
   * without a file and files without a row are dropped. Tools (`ocellus cache …`) open without it,
   * so that they never remove a running server's fills.
   */
  recover?: boolean;
  now?: () => number;
  log?: (msg: string, err?: unknown) => void;
}

interface Row {
  image_id: string;
  size: number;
  hits: number;
  last_accessed: number;
  last_modified: number;
  verified_hash: string;
}

const isErrno = (err: unknown, code: string) => (err as NodeJS.ErrnoException).code === code;

/** A fill accepts this many bytes ahead of the disk before its writer waits (see WriteBehind). */
const WRITE_AHEAD = 8 << 20;
/** At most IOV_MAX pieces in one writev. */
const IOV_MAX = 1024;

/**
 * Appends chunks to a file with writev in the background: `write` resolves at once while fewer
 * than WRITE_AHEAD bytes wait for the disk, so a stream of small chunks (64 KiB from a remote
 * store) is not held up by one disk round trip per chunk, and memory stays bounded. A failed write
 * fails every later call.
 */
class WriteBehind {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private running: Promise<void> | null = null;
  private failure: unknown = null;
  private waiters: (() => void)[] = [];

  constructor(private readonly handle: fsp.FileHandle) {}

  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.running ??= this.drain();
    while (this.pendingBytes >= WRITE_AHEAD && !this.failure) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.failure) throw this.failure;
  }

  /** Resolves when every accepted byte is written; rejects if a write failed. */
  async flush(): Promise<void> {
    await this.settled();
    if (this.failure) throw this.failure;
  }

  /** Resolves when no write is under way (whatever their outcome). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0 && !this.failure) {
        const batch = this.pending.splice(0, IOV_MAX);
        const bytes = batch.reduce((n, b) => n + b.length, 0);
        try {
          const { bytesWritten } = await this.handle.writev(batch);
          if (bytesWritten !== bytes) throw new Error(`short write to the cache (${bytesWritten} of ${bytes} bytes)`);
        } catch (err) {
          this.failure = err;
        }
        this.pendingBytes -= bytes;
        for (const wake of this.waiters.splice(0)) wake();
      }
    } finally {
      this.running = null;
      for (const wake of this.waiters.splice(0)) wake();
    }
  }
}

export class LocalImageCache implements ImageCacheStore {
  private readonly db: Database.Database;
  private readonly incomplete: string;
  private readonly invalid: string;
  private readonly queueDir: string;
  private readonly now: () => number;
  private readonly log: (msg: string, err?: unknown) => void;
  /** Image ids this process is filling (the cleaner leaves them alone). */
  private readonly filling = new Set<string>();
  private readonly commits = new Set<Promise<unknown>>();

  constructor(private readonly opts: LocalCacheOptions) {
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? (() => undefined);
    this.incomplete = path.join(opts.dir, 'incomplete');
    this.invalid = path.join(opts.dir, 'invalid');
    this.queueDir = path.join(opts.dir, 'queue');
    for (const d of [opts.dir, this.incomplete, this.invalid, this.queueDir]) fs.mkdirSync(d, { recursive: true });
    this.db = new Database(path.join(opts.dir, opts.indexFile));
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('journal_mode = WAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS cached_images (
      image_id TEXT PRIMARY KEY,
      size INTEGER NOT NULL,
      hits INTEGER NOT NULL DEFAULT 0,
      last_accessed REAL NOT NULL,
      last_modified REAL NOT NULL,
      verified_hash TEXT NOT NULL
    )`);
    if (opts.recover) this.recover();
  }

  private recover(): void {
    for (const name of fs.readdirSync(this.incomplete)) fs.rmSync(path.join(this.incomplete, name), { force: true });
    const rows = new Set(this.rows().map((r) => r.image_id));
    const files = new Set(this.completeFiles());
    for (const id of rows) if (!files.has(id)) this.db.prepare('DELETE FROM cached_images WHERE image_id = ?').run(id);
    // A file without its row was never recorded as verified (a crash between rename and insert).
    for (const id of files) if (!rows.has(id)) fs.rmSync(this.complete(id), { force: true });
  }

  private complete(id: string): string {
    return path.join(this.opts.dir, id);
  }

  /** The names under `<dir>` that are entries (not the sub-directories, not the index and its WAL files). */
  private completeFiles(): string[] {
    const index = this.opts.indexFile;
    return fs
      .readdirSync(this.opts.dir, { withFileTypes: true })
      .filter((e) => e.isFile() && SAFE_ID.test(e.name) && e.name !== index && !e.name.startsWith(`${index}-`))
      .map((e) => e.name);
  }

  private rows(): Row[] {
    return this.db.prepare('SELECT * FROM cached_images').all() as Row[];
  }

  private row(id: string): Row | undefined {
    return this.db.prepare('SELECT * FROM cached_images WHERE image_id = ?').get(id) as Row | undefined;
  }

  private seconds(): number {
    return this.now() / 1000;
  }

  async open(imageId: string, hash: string, size: number): Promise<Readable | null> {
    if (!SAFE_ID.test(imageId)) return null;
    const row = this.row(imageId);
    if (!row) return null;
    if (row.verified_hash !== hash || row.size !== size) {
      this.log(`cached image ${imageId} was verified against other data than the image has now; it is invalid`);
      this.invalidate(imageId);
      return null;
    }
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(this.complete(imageId), 'r');
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      this.db.prepare('DELETE FROM cached_images WHERE image_id = ?').run(imageId);
      return null;
    }
    // Open first, then count: a prune that removes the file now does not cut this read short.
    if ((await handle.stat()).size !== size) {
      await handle.close();
      this.log(`cached image ${imageId} has not the size it was written with; it is invalid`);
      this.invalidate(imageId);
      return null;
    }
    this.db.prepare('UPDATE cached_images SET hits = hits + 1, last_accessed = ? WHERE image_id = ?').run(this.seconds(), imageId);
    return handle.createReadStream({ highWaterMark: READ_CHUNK });
  }

  /** Moves a complete entry to invalid/ (the cleaner removes it) and drops its row. */
  private invalidate(imageId: string): void {
    this.db.prepare('DELETE FROM cached_images WHERE image_id = ?').run(imageId);
    try {
      fs.renameSync(this.complete(imageId), path.join(this.invalid, imageId));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) this.log(`could not move cached image ${imageId} to invalid/`, err);
    }
  }

  async startFill(imageId: string, hash: string): Promise<CacheFill | null> {
    if (!SAFE_ID.test(imageId) || this.filling.has(imageId) || this.row(imageId)) return null;
    const file = path.join(this.incomplete, imageId);
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(file, 'wx');
    } catch (err) {
      if (isErrno(err, 'EEXIST')) return null; // another process of this node fills it
      throw err;
    }
    this.filling.add(imageId);
    const writer = new WriteBehind(handle);
    let size = 0;
    let ended = false;
    const end = async (removeFile: boolean) => {
      if (ended) return;
      ended = true;
      this.filling.delete(imageId);
      await writer.settled();
      await handle.close().catch(() => undefined);
      if (removeFile) await fsp.rm(file, { force: true });
    };
    return {
      write: async (chunk) => {
        size += chunk.length;
        await writer.write(chunk);
      },
      commit: () => {
        const done = (async () => {
          if (ended) throw new Error(`the fill of ${imageId} has ended`);
          ended = true;
          try {
            await writer.flush();
            await handle.sync();
            await handle.close();
            await fsp.rename(file, this.complete(imageId));
          } catch (err) {
            await handle.close().catch(() => undefined);
            await fsp.rm(file, { force: true });
            throw err;
          } finally {
            this.filling.delete(imageId);
          }
          const now = this.seconds();
          this.db
            .prepare('INSERT OR REPLACE INTO cached_images (image_id, size, hits, last_accessed, last_modified, verified_hash) VALUES (?, ?, 0, ?, ?, ?)')
            .run(imageId, size, now, now, hash);
          await this.dequeue(imageId);
          if (this.totalSize() > this.opts.maxSize) await this.prune();
        })();
        this.commits.add(done);
        void done.catch(() => undefined).finally(() => this.commits.delete(done));
        return done;
      },
      cancel: () => end(true),
    };
  }

  private totalSize(): number {
    return (this.db.prepare('SELECT COALESCE(SUM(size), 0) AS total FROM cached_images').get() as { total: number }).total;
  }

  async entries(): Promise<CacheEntry[]> {
    return this.rows().map((r) => ({
      imageId: r.image_id,
      size: r.size,
      hits: r.hits,
      lastAccessed: r.last_accessed,
      lastModified: r.last_modified,
      verifiedHash: r.verified_hash,
    }));
  }

  async has(imageId: string): Promise<boolean> {
    return SAFE_ID.test(imageId) && this.row(imageId) !== undefined;
  }

  async remove(imageId: string): Promise<boolean> {
    if (!SAFE_ID.test(imageId)) return false;
    // The row first: from then on nobody opens the file; a read under way keeps its open file.
    const removed = this.db.prepare('DELETE FROM cached_images WHERE image_id = ?').run(imageId).changes > 0;
    await fsp.rm(this.complete(imageId), { force: true });
    return removed;
  }

  async removeAll(): Promise<number> {
    let n = 0;
    for (const r of this.rows()) if (await this.remove(r.image_id)) n++;
    return n;
  }

  async queue(imageId: string): Promise<void> {
    if (!SAFE_ID.test(imageId)) throw new Error(`'${imageId}' cannot be queued for caching`);
    await fsp.writeFile(path.join(this.queueDir, imageId), '', { flag: 'a' });
  }

  async queued(): Promise<string[]> {
    const names = await fsp.readdir(this.queueDir);
    const withTimes = await Promise.all(
      names.filter((n) => SAFE_ID.test(n)).map(async (n) => ({ n, t: await fsp.stat(path.join(this.queueDir, n)).then((s) => s.mtimeMs, () => Infinity) })),
    );
    return withTimes.filter((x) => x.t !== Infinity).sort((a, b) => a.t - b.t || a.n.localeCompare(b.n)).map((x) => x.n);
  }

  async dequeue(imageId: string): Promise<boolean> {
    if (!SAFE_ID.test(imageId)) return false;
    try {
      await fsp.unlink(path.join(this.queueDir, imageId));
      return true;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
  }

  async dequeueAll(): Promise<number> {
    let n = 0;
    for (const id of await this.queued()) if (await this.dequeue(id)) n++;
    return n;
  }

  async prune(): Promise<{ files: number; bytes: number }> {
    let total = this.totalSize();
    let files = 0;
    let bytes = 0;
    if (total <= this.opts.maxSize) return { files, bytes };
    const lru = this.db.prepare('SELECT image_id, size FROM cached_images ORDER BY last_accessed ASC, image_id ASC').all() as Pick<Row, 'image_id' | 'size'>[];
    for (const r of lru) {
      if (total <= this.opts.maxSize) break;
      if (await this.remove(r.image_id)) {
        total -= r.size;
        files++;
        bytes += r.size;
      }
    }
    return { files, bytes };
  }

  async clean(): Promise<{ invalid: number; stalled: number }> {
    let invalid = 0;
    for (const name of await fsp.readdir(this.invalid)) {
      await fsp.rm(path.join(this.invalid, name), { force: true });
      invalid++;
    }
    let stalled = 0;
    const cutoff = this.now() - this.opts.stallTimeSec * 1000;
    for (const name of await fsp.readdir(this.incomplete)) {
      if (this.filling.has(name)) continue;
      const file = path.join(this.incomplete, name);
      const stat = await fsp.stat(file).catch(() => undefined);
      if (stat && stat.mtimeMs < cutoff) {
        await fsp.rm(file, { force: true });
        stalled++;
      }
    }
    return { invalid, stalled };
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.commits]);
    this.db.close();
  }
}
