import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { BlobNotFound, StoreError, StoreFull, StoreWriteDenied, type BlobStore, type BlobWriter } from './blob-store.js';

const KEY = /^[A-Za-z0-9._-]+$/;
/** Reads in 1 MiB pieces: fewer syscalls and socket writes than the 64 KiB default. */
const READ_CHUNK = 1 << 20;
/** A writer flushes to disk in the background after every this many bytes (see FileWriter.flushBehind). */
const FLUSH_EVERY = 64 << 20;
/**
 * A writer acknowledges bytes at once while fewer than this many are accepted and not yet written
 * (see FileWriter.writeAll): the request thread keeps receiving while the disk writes, and a
 * write that stalls for a moment (a journal commit, the page cache) does not stall the upload.
 */
const WRITE_AHEAD = 8 << 20;
/** At most this many bytes, and IOV_MAX pieces, in one writev. */
const WRITE_MAX = 8 << 20;
const IOV_MAX = 1024;

function checkKey(key: string): string {
  if (!KEY.test(key) || key.startsWith('.')) throw new StoreError('file', `invalid object key '${key}'`);
  return key;
}

function mapWriteError(err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new StoreFull('file', 'no space left on device', { cause: err });
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return new StoreWriteDenied('file', 'permission denied', { cause: err });
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * The filesystem store (Glance's `file` store): each object is one file `<datadir>/<key>`.
 * A write goes to `<datadir>/.partial/<key>.<attempt>` and is renamed into place on commit,
 * after fsync, so a crash leaves at most a partial file that `discardPartial` removes.
 */
export class FilesystemStore implements BlobStore {
  readonly type = 'file';
  private readonly partialDir: string;

  constructor(readonly dataDir: string) {
    this.dataDir = path.resolve(dataDir);
    this.partialDir = path.join(this.dataDir, '.partial');
  }

  /** Creates the directories; a start-up error if they cannot be created. */
  async init(): Promise<void> {
    await fsp.mkdir(this.partialDir, { recursive: true });
  }

  private file(key: string): string {
    return path.join(this.dataDir, checkKey(key));
  }

  private partial(key: string, attempt: string): string {
    return path.join(this.partialDir, `${checkKey(key)}.${checkKey(attempt)}`);
  }

  async createWriter(key: string, attempt: string): Promise<BlobWriter> {
    const tmp = this.partial(key, attempt);
    const final = this.file(key);
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(tmp, 'wx', 0o640);
    } catch (err) {
      throw mapWriteError(err);
    }
    return new FileWriter(handle, tmp, final, this.dataDir);
  }

  async discardPartial(key: string, attempt: string): Promise<void> {
    await fsp.rm(this.partial(key, attempt), { force: true });
  }

  async read(key: string, range?: { start: number; end: number }): Promise<fs.ReadStream> {
    const file = this.file(key);
    // Open first so a missing file is a typed error, not a stream error after headers went out.
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFound('file', `no object '${key}'`);
      throw err;
    }
    return handle.createReadStream({ start: range?.start, end: range?.end, highWaterMark: READ_CHUNK });
  }

  async size(key: string): Promise<number> {
    try {
      return (await fsp.stat(this.file(key))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFound('file', `no object '${key}'`);
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await fsp.unlink(this.file(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFound('file', `no object '${key}'`);
      throw err;
    }
  }

  url(key: string): string {
    return pathToFileURL(this.file(key)).href;
  }

  keyOf(url: string): string | undefined {
    if (!url.startsWith('file:')) return undefined;
    const file = fileURLToPath(url);
    return path.dirname(file) === this.dataDir ? path.basename(file) : undefined;
  }
}

class FileWriter extends Writable implements BlobWriter {
  private state: 'open' | 'committed' | 'cancelled' = 'open';
  private position = 0;
  private unflushed = 0;
  /** The background fdatasync in flight, if any. It never rejects: a failure is kept in flushError. */
  private flushing: Promise<void> | undefined;
  private flushError: Error | undefined;
  /** Accepted bytes waiting behind the write under way, and their count. */
  private queue: Buffer[] = [];
  private queued = 0;
  /** Bytes in the write under way (0: none). One at a time: the kernel serializes writes to a file anyway. */
  private writing = 0;
  private writeError: Error | undefined;
  /** The callback of the chunk that filled WRITE_AHEAD: called once there is room again. */
  private held: ((err?: Error | null) => void) | undefined;
  /** _final's callback: called once every accepted byte is written. */
  private ended: ((err?: Error | null) => void) | undefined;

  constructor(
    private readonly handle: fsp.FileHandle,
    private readonly tmp: string,
    private readonly final: string,
    private readonly dir: string,
  ) {
    // Small: the deep buffer is WRITE_AHEAD, past the acknowledgement (see writeAll).
    super({ highWaterMark: 1 << 20 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.writeAll([chunk], cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.writeAll(chunks.map((c) => c.chunk), cb);
  }

  /** Everything accepted is written (or a write failed) before 'finish': commit() syncs after that. */
  override _final(cb: (err?: Error | null) => void): void {
    if (this.failure() || (this.writing === 0 && this.queued === 0)) cb(this.failure());
    else this.ended = cb;
  }

  private failure(): Error | undefined {
    return this.writeError ?? this.flushError;
  }

  /**
   * Queues the buffers behind the write under way (or starts one) and acknowledges them at once
   * while fewer than WRITE_AHEAD bytes are accepted and unwritten; past that, the acknowledgement
   * waits for the disk (backpressure). Writes go one after another, each taking everything
   * queued meanwhile in one writev. A failure fails the next chunk, the held one, or _final.
   */
  private writeAll(buffers: Buffer[], cb: (err?: Error | null) => void): void {
    const failed = this.failure();
    if (failed) {
      cb(failed);
      return;
    }
    for (const b of buffers) {
      if (b.length === 0) continue;
      this.queue.push(b);
      this.queued += b.length;
    }
    if (this.writing === 0 && this.queued > 0) this.writeNext();
    if (this.writing + this.queued < WRITE_AHEAD) cb();
    else this.held = cb;
  }

  private writeNext(): void {
    let n = 0;
    let count = 0;
    while (count < this.queue.length && count < IOV_MAX && (count === 0 || n + this.queue[count]!.length <= WRITE_MAX)) n += this.queue[count++]!.length;
    const buffers = this.queue.splice(0, count);
    this.queued -= n;
    this.writing = n;
    const at = this.position;
    this.position += n;
    writeFully(this.handle, buffers, at, n).then(
      () => this.flushBehind(n),
      (err: unknown) => { this.writeError ??= mapWriteError(err); },
    ).then(() => {
      this.writing = 0;
      const failed = this.failure();
      // After cancel() nothing more is written (the handle is closing).
      if (!failed && this.queued > 0 && !this.destroyed) this.writeNext();
      const held = this.held;
      if (held && (failed || this.writing + this.queued < WRITE_AHEAD)) {
        this.held = undefined;
        held(failed);
      }
      const ended = this.ended;
      if (ended && (failed || (this.writing === 0 && this.queued === 0))) {
        this.ended = undefined;
        ended(failed);
      }
    });
  }

  /**
   * Once FLUSH_EVERY bytes were written since the last flush, starts an fdatasync in the background
   * (one at a time; writes go on meanwhile): the disk writes the image out while the rest of it
   * arrives, instead of all of it in commit's fsync. A failure fails the next write or the commit.
   */
  private flushBehind(written: number): void {
    this.unflushed += written;
    if (this.unflushed < FLUSH_EVERY || this.flushing || this.state !== 'open') return;
    this.unflushed = 0;
    this.flushing = this.handle.datasync().then(
      () => { this.flushing = undefined; },
      (err: unknown) => {
        this.flushError = mapWriteError(err);
        this.flushing = undefined;
      },
    );
  }

  async commit(): Promise<void> {
    if (this.state !== 'open') throw new StoreError('file', `commit of a ${this.state} write`);
    if (!this.writableFinished) throw new StoreError('file', 'commit before the stream finished');
    try {
      await this.flushing;
      if (this.flushError) throw this.flushError;
      await this.handle.sync();
      await this.handle.close();
      await fsp.rename(this.tmp, this.final);
      await syncDir(this.dir);
      this.state = 'committed';
    } catch (err) {
      await this.cancel();
      throw mapWriteError(err);
    }
  }

  async cancel(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'cancelled';
    if (!this.destroyed) this.destroy();
    await this.handle.close().catch(() => undefined);
    await fsp.rm(this.tmp, { force: true });
  }
}

/** Writes all of `buffers` (`total` bytes) at `position`, however many writev calls that takes. */
async function writeFully(handle: fsp.FileHandle, buffers: Buffer[], position: number, total: number): Promise<void> {
  let pending = buffers;
  let left = total;
  while (left > 0) {
    const { bytesWritten } = await handle.writev(pending, position);
    position += bytesWritten;
    left -= bytesWritten;
    if (left > 0) pending = skipBytes(pending, bytesWritten);
  }
}

function skipBytes(buffers: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of buffers) {
    if (n >= b.length) {
      n -= b.length;
      continue;
    }
    out.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return out;
}

async function syncDir(dir: string): Promise<void> {
  const h = await fsp.open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}
