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

  constructor(
    private readonly handle: fsp.FileHandle,
    private readonly tmp: string,
    private readonly final: string,
    private readonly dir: string,
  ) {
    // A deep buffer lets the network keep flowing while the disk catches up; writev merges it.
    super({ highWaterMark: 4 << 20 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.writeAll([chunk], cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.writeAll(chunks.map((c) => c.chunk), cb);
  }

  private writeAll(buffers: Buffer[], cb: (err?: Error | null) => void): void {
    if (this.flushError) {
      cb(this.flushError);
      return;
    }
    const total = buffers.reduce((n, b) => n + b.length, 0);
    const loop = async (): Promise<void> => {
      let pending = buffers;
      let left = total;
      while (left > 0) {
        const { bytesWritten } = await this.handle.writev(pending, this.position);
        this.position += bytesWritten;
        left -= bytesWritten;
        if (left > 0) pending = skipBytes(pending, bytesWritten);
      }
    };
    loop().then(() => {
      this.flushBehind(total);
      cb();
    }, (err: unknown) => cb(mapWriteError(err)));
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
