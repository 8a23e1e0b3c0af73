import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL, fileURLToPath } from 'node:url';
import type { StoreOptions } from '../config/store-options.js';
import {
  BlobNotFound,
  InvalidRange,
  StoreError,
  StoreFull,
  StoreUnavailable,
  StoreWriteDenied,
  type BlobStore,
  type BlobWriter,
  type ByteRange,
  type ListedObject,
  type ObjectListing,
  type StoreCapabilities,
  type StoredObject,
  type WriteTarget,
} from './blob-store.js';
import type { StoreEnv } from './store-env.js';

const KEY = /^[A-Za-z0-9._-]+$/;
/** Reads in 1 MiB pieces: fewer syscalls and socket writes than the 64 KiB default. */
const READ_CHUNK = 1 << 20;
/** A writer flushes to disk in the background after every this many bytes (see FileWriter.flushBehind). */
const FLUSH_EVERY = 64 << 20;
/** Where writes in progress live, inside each data directory (same filesystem, so commit is a rename). */
const PARTIAL_DIR = '.partial';
/** Mode of new image files when filesystem_store_file_perm is 0 (the umask may narrow it). */
const DEFAULT_FILE_MODE = 0o640;
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
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG') return new StoreFull('file', 'no space left on device', { cause: err });
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return new StoreWriteDenied('file', 'permission denied', { cause: err });
  // Any other failure (EIO, ENOTDIR, EISDIR, …) is still the store's: typed, with the driver's name.
  return err instanceof StoreError ? err : new StoreError('file', err instanceof Error ? err.message : String(err), { cause: err });
}

const isErrno = (err: unknown, ...codes: string[]) => codes.includes((err as NodeJS.ErrnoException).code ?? '');

/** One data directory: where its objects and partial writes live, its priority and the location metadata of its objects. */
interface DataDir {
  path: string;
  partial: string;
  priority: number;
  /** What filesystem_store_metadata_file says about this directory's mountpoint ({} when it says nothing). */
  metadata: Record<string, unknown>;
}

/**
 * The filesystem store (Glance's `file` store): each object is one file `<datadir>/<key>`, its
 * location `file://<datadir>/<key>`. A write goes to `<datadir>/.partial/<key>.<attempt>` and is
 * renamed into place on commit, after fsync, so a crash leaves at most a partial file that
 * `discardWrite` removes. With `filesystem_store_datadirs`, a new object goes to the directory
 * with the most free space among those of the highest priority that have room for it; a key
 * lives in one directory at a time (a commit removes the key's older copies in the others).
 *
 * Only files directly inside the configured directories are this store's: a `file:` location
 * anywhere else (file:///etc/passwd) is not owned and never opened (OSSN-0065).
 */
export class FilesystemStore implements BlobStore {
  readonly type = 'file';
  readonly capabilities: StoreCapabilities = { write: true, rangedReads: true, multipart: false };
  /** Highest priority first; within a priority, in configuration order. Filled by the constructor, checked by init(). */
  private readonly dirs: DataDir[];
  private readonly byPath = new Map<string, DataDir>();
  /** Mode set on each image file before it becomes visible; null = DEFAULT_FILE_MODE. */
  private readonly filePerm: number | null;
  /** Configuration mistakes found without I/O, thrown by init() so they are start-up errors. */
  private readonly problems: string[] = [];

  constructor(
    private readonly options: StoreOptions<'file'>,
    private readonly env: StoreEnv,
  ) {
    const perm = Number.parseInt(options.filesystem_store_file_perm, 8);
    this.filePerm = Number.isNaN(perm) || perm <= 0 ? null : perm;
    if (this.filePerm !== null && !(this.filePerm & 0o400)) {
      this.problems.push(`filesystem_store_file_perm = ${options.filesystem_store_file_perm} would make image files unreadable by Ocellus itself`);
    }
    const single = options.filesystem_store_datadir;
    const entries = options.filesystem_store_datadirs.length > 0 ? options.filesystem_store_datadirs : single ? [`${single}:0`] : [];
    const dirs: DataDir[] = [];
    for (const entry of entries) {
      const m = /^(.+?)(?::(-?\d+))?$/.exec(entry.trim());
      if (!m) {
        this.problems.push(`filesystem_store_datadirs: '${entry}' is not path:priority`);
        continue;
      }
      const dir = path.resolve(m[1]!);
      const priority = Number(m[2] ?? '0');
      const seen = this.byPath.get(dir);
      if (seen) {
        if (seen.priority !== priority) this.problems.push(`filesystem_store_datadirs: ${dir} is listed twice with different priorities (${seen.priority}, ${priority})`);
        else env.log(`file store ${env.id}: ${dir} is listed twice in filesystem_store_datadirs`);
        continue;
      }
      const d: DataDir = { path: dir, partial: path.join(dir, PARTIAL_DIR), priority, metadata: {} };
      dirs.push(d);
      this.byPath.set(dir, d);
    }
    // A stable sort keeps configuration order within a priority.
    this.dirs = dirs.sort((a, b) => b.priority - a.priority);
  }

  /**
   * Checks the options, creates the directories (and their `.partial`), and reads the metadata
   * file; rejects with an error naming the directory or file at fault.
   */
  async init(): Promise<void> {
    if (this.problems.length > 0) throw new StoreError('file', this.problems.join('; '));
    if (this.dirs.length === 0) throw new StoreError('file', 'no data directory configured');
    for (const d of this.dirs) {
      try {
        await fsp.mkdir(d.partial, { recursive: true });
        await fsp.access(d.path, fs.constants.W_OK);
        await fsp.access(d.partial, fs.constants.W_OK);
      } catch (err) {
        throw new StoreError('file', `cannot use data directory ${d.path}: ${(err as Error).message}`, { cause: err });
      }
      await this.openUpDirectory(d.path);
    }
    const file = this.options.filesystem_store_metadata_file;
    if (file) {
      const entries = await readMetadataFile(file);
      for (const d of this.dirs) {
        const entry = entries.find((e) => contains(e.mountpoint as string, d.path));
        if (entry) d.metadata = entry;
        // glance_store records {} then, and logs it on every upload; once at start says the same.
        else this.env.log(`file store ${this.env.id}: ${d.path} is under none of the mountpoints of ${file}; its locations get no metadata`);
      }
    }
  }

  /**
   * With filesystem_store_file_perm giving the group (or others) access, the directory must let
   * them reach the files: add the matching search (x) bit, as glance_store does. Only a warning
   * when that fails — the files themselves are still written.
   */
  private async openUpDirectory(dir: string): Promise<void> {
    if (this.filePerm === null) return;
    let add = 0;
    if (this.filePerm & 0o070) add |= 0o010;
    if (this.filePerm & 0o007) add |= 0o001;
    if (add === 0) return;
    try {
      const mode = (await fsp.stat(dir)).mode & 0o7777;
      if ((mode & add) !== add) await fsp.chmod(dir, mode | add);
    } catch (err) {
      this.env.log(`file store ${this.env.id}: cannot make ${dir} searchable for the group/others that filesystem_store_file_perm lets read images`, err);
    }
  }

  /** The file a location names, if it is one of this store's objects; undefined otherwise. */
  private fileOf(url: string): string | undefined {
    let file: string;
    try {
      const m = /^(file|filesystem):(.*)$/s.exec(url);
      if (!m) return undefined;
      const rest = m[2]!;
      // file://host/path (localhost too, which the URL parser drops): glance_store would read
      // `host/path` as a relative path; not one of ours either way.
      if (rest.startsWith('//') && !rest.startsWith('///')) return undefined;
      file = fileURLToPath(new URL(`file:${rest}`));
    } catch {
      return undefined;
    }
    // The URL parser already resolved `..` segments; what remains must sit directly in a data dir.
    if (!this.byPath.has(path.dirname(file))) return undefined;
    const key = path.basename(file);
    return KEY.test(key) && !key.startsWith('.') ? file : undefined;
  }

  private located(url: string): string {
    const file = this.fileOf(url);
    if (file === undefined) throw new StoreError('file', `'${url}' is not a location of this store`);
    return file;
  }

  owns(url: string): boolean {
    return this.fileOf(url) !== undefined;
  }

  /** Objects are the files directly in the data directories (not `.partial`); a file's name is its path. */
  readonly listing: ObjectListing = {
    list: () => this.listFiles(),
    nameOf: (url) => this.fileOf(url),
  };

  private async *listFiles(): AsyncIterable<ListedObject> {
    for (const d of this.dirs) {
      const dir = await fsp.opendir(d.path);
      for await (const entry of dir) {
        if (!entry.isFile() || !KEY.test(entry.name) || entry.name.startsWith('.')) continue;
        const file = path.join(d.path, entry.name);
        let st: fs.Stats;
        try {
          st = await fsp.lstat(file);
        } catch (err) {
          if (isErrno(err, 'ENOENT')) continue;
          throw err;
        }
        yield { name: file, url: pathToFileURL(file).href, key: entry.name, size: st.size, modifiedAt: st.mtimeMs };
      }
    }
  }

  /**
   * The directory for a new object: the one with the most free space among the highest priority
   * whose free space fits sizeHint (glance_store's choice). StoreFull when none has room.
   */
  private async chooseDir(sizeHint: number | null): Promise<DataDir> {
    if (this.dirs.length === 1) return this.dirs[0]!;
    const need = sizeHint ?? 0;
    let failed: unknown;
    let i = 0;
    while (i < this.dirs.length) {
      const priority = this.dirs[i]!.priority;
      let best: DataDir | undefined;
      let bestFree = 0;
      for (; i < this.dirs.length && this.dirs[i]!.priority === priority; i++) {
        const d = this.dirs[i]!;
        let free: number;
        try {
          const st = await fsp.statfs(d.path);
          free = st.bavail * st.bsize;
        } catch (err) {
          this.env.log(`file store ${this.env.id}: cannot read the free space of ${d.path}`, err);
          failed = err;
          continue;
        }
        if (free >= need && free > bestFree) {
          best = d;
          bestFree = free;
        }
      }
      if (best) return best;
    }
    if (failed !== undefined) throw new StoreUnavailable('file', 'no data directory could take the image (some could not be checked)', { cause: failed });
    throw new StoreFull('file', `no data directory has ${need} bytes free`);
  }

  async createWriter(target: WriteTarget): Promise<BlobWriter> {
    const key = checkKey(target.key);
    const attempt = checkKey(target.attempt);
    const dir = await this.chooseDir(target.sizeHint);
    const tmp = path.join(dir.partial, `${key}.${attempt}`);
    const final = path.join(dir.path, key);
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(tmp, 'wx', DEFAULT_FILE_MODE);
    } catch (err) {
      throw mapWriteError(err);
    }
    if (this.filePerm !== null) {
      try {
        // On the open file, so the mode is right before the file is renamed into view.
        await handle.chmod(this.filePerm);
      } catch (err) {
        await handle.close().catch(() => undefined);
        await fsp.rm(tmp, { force: true });
        throw mapWriteError(err);
      }
    }
    const others = this.dirs.filter((d) => d !== dir).map((d) => path.join(d.path, key));
    return new FileWriter(handle, tmp, { file: final, dir: dir.path, others, metadata: dir.metadata, warn: (msg, err) => this.env.log(`file store ${this.env.id}: ${msg}`, err) });
  }

  async discardWrite(target: WriteTarget, opts: { committed: boolean }): Promise<void> {
    const key = checkKey(target.key);
    const attempt = checkKey(target.attempt);
    for (const d of this.dirs) {
      await fsp.rm(path.join(d.partial, `${key}.${attempt}`), { force: true });
      if (opts.committed) await fsp.rm(path.join(d.path, key), { force: true });
    }
  }

  async read(url: string, range?: ByteRange): Promise<fs.ReadStream> {
    const file = this.located(url);
    // Open first so a missing file is a typed error, not a stream error after headers went out.
    // O_NOFOLLOW: a symlink planted in a data directory does not lead elsewhere.
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new BlobNotFound('file', `no object at ${url}`);
      throw new StoreError('file', `cannot open ${file}: ${(err as Error).message}`, { cause: err });
    }
    if (!range) return handle.createReadStream({ highWaterMark: READ_CHUNK });
    let size: number;
    try {
      size = (await handle.stat()).size;
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
    if (range.start >= size || range.start < 0 || range.end < range.start) {
      await handle.close().catch(() => undefined);
      throw new InvalidRange('file', `range ${range.start}-${range.end} of an object of ${size} bytes`);
    }
    return handle.createReadStream({ start: range.start, end: Math.min(range.end, size - 1), highWaterMark: READ_CHUNK });
  }

  async size(url: string): Promise<number> {
    const file = this.located(url);
    let st: fs.Stats;
    try {
      st = await fsp.lstat(file);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new BlobNotFound('file', `no object at ${url}`);
      throw err;
    }
    if (!st.isFile()) throw new StoreError('file', `${file} is not a regular file`);
    return st.size;
  }

  async delete(url: string): Promise<void> {
    const file = this.located(url);
    try {
      await fsp.unlink(file);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new BlobNotFound('file', `no object at ${url}`);
      throw mapWriteError(err);
    }
  }

  /**
   * Glance's properties of a file store. With datadirs Glance has no single `data_dir` (its
   * stores/detail fails); Ocellus names the first directory of the highest priority and lists all.
   */
  describe(): Record<string, unknown> {
    const facts: Record<string, unknown> = {
      data_dir: this.dirs[0]?.path ?? this.options.filesystem_store_datadir,
      chunk_size: this.options.filesystem_store_chunk_size,
      thin_provisioning: this.options.filesystem_thin_provisioning,
    };
    if (this.options.filesystem_store_datadirs.length > 0) facts.data_dirs = this.dirs.map((d) => `${d.path}:${d.priority}`);
    return facts;
  }
}

/** Whether `file` is `mountpoint` or inside it (by path components, so /mnt/a does not contain /mnt/ab). */
function contains(mountpoint: string, file: string): boolean {
  const mp = path.resolve(mountpoint);
  return file === mp || file.startsWith(mp.endsWith(path.sep) ? mp : mp + path.sep);
}

/**
 * Reads filesystem_store_metadata_file with glance_store's rules: a JSON object, or a list of
 * them, each with string `id` and `mountpoint`; values only strings, lists and objects.
 */
async function readMetadataFile(file: string): Promise<Record<string, unknown>[]> {
  const fail = (why: string, cause?: unknown) => new StoreError('file', `filesystem_store_metadata_file ${file}: ${why}`, { cause });
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    throw fail(`cannot be read: ${(err as Error).message}`, err);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw fail(`not valid JSON: ${(err as Error).message}`, err);
  }
  const list = Array.isArray(parsed) ? (parsed as unknown[]) : [parsed];
  return list.map((entry, i) => {
    const where = Array.isArray(parsed) ? `entry ${i}` : 'the object';
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw fail(`${where} is not a JSON object`);
    const e = entry as Record<string, unknown>;
    for (const k of ['id', 'mountpoint']) if (typeof e[k] !== 'string') throw fail(`${where} needs a string '${k}'`);
    const bad = badMetadataValue(e, '');
    if (bad) throw fail(`${where}: ${bad} is neither a string, a list nor an object (location metadata allows only those)`);
    return e;
  });
}

function badMetadataValue(v: unknown, at: string): string | undefined {
  if (typeof v === 'string') return undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const bad = badMetadataValue(v[i], `${at}[${i}]`);
      if (bad) return bad;
    }
    return undefined;
  }
  if (typeof v === 'object' && v !== null) {
    for (const [k, x] of Object.entries(v)) {
      const bad = badMetadataValue(x, at ? `${at}.${k}` : `'${k}'`);
      if (bad) return bad;
    }
    return undefined;
  }
  return at || 'the value';
}

/** Where a write lands on commit, and what its location records. */
interface CommitPlan {
  file: string;
  dir: string;
  /** The key's path in the other data directories: an older copy there is removed on commit, so the last commit is the object. */
  others: string[];
  metadata: Record<string, unknown>;
  warn: (msg: string, err?: unknown) => void;
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
    private readonly plan: CommitPlan,
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

  /** A writer destroyed before it finished (its source failed) lets go of its file at once; cancel() removes it. */
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.writableFinished) return cb(err);
    this.handle.close().then(() => cb(err), () => cb(err));
  }

  async commit(): Promise<StoredObject> {
    if (this.state !== 'open') throw new StoreError('file', `commit of a ${this.state} write`);
    if (!this.writableFinished) throw new StoreError('file', this.destroyed ? 'commit of a failed write' : 'commit before the stream finished');
    try {
      await this.flushing;
      if (this.flushError) throw this.flushError;
      await this.handle.sync();
      await this.handle.close();
      await fsp.rename(this.tmp, this.plan.file);
      await syncDir(this.plan.dir);
      this.state = 'committed';
    } catch (err) {
      await this.cancel();
      throw mapWriteError(err);
    }
    for (const other of this.plan.others) {
      // An older copy left in place would only waste space (its location is no longer recorded): warn, do not fail a done commit.
      await fsp.rm(other, { force: true }).catch((err: unknown) => this.plan.warn(`cannot remove the older copy ${other}`, err));
    }
    return { url: pathToFileURL(this.plan.file).href, metadata: structuredClone(this.plan.metadata) };
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
