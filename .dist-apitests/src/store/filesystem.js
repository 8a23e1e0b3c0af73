import fsp from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { BlobNotFound, StoreError, StoreFull, StoreWriteDenied } from './blob-store.js';
const KEY = /^[A-Za-z0-9._-]+$/;
/** Reads in 1 MiB pieces: fewer syscalls and socket writes than the 64 KiB default. */
const READ_CHUNK = 1 << 20;
function checkKey(key) {
    if (!KEY.test(key) || key.startsWith('.'))
        throw new StoreError('file', `invalid object key '${key}'`);
    return key;
}
function mapWriteError(err) {
    const code = err.code;
    if (code === 'ENOSPC' || code === 'EDQUOT')
        return new StoreFull('file', 'no space left on device', { cause: err });
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
        return new StoreWriteDenied('file', 'permission denied', { cause: err });
    return err instanceof Error ? err : new Error(String(err));
}
/**
 * The filesystem store (Glance's `file` store): each object is one file `<datadir>/<key>`.
 * A write goes to `<datadir>/.partial/<key>.<attempt>` and is renamed into place on commit,
 * after fsync, so a crash leaves at most a partial file that `discardPartial` removes.
 */
export class FilesystemStore {
    dataDir;
    type = 'file';
    partialDir;
    constructor(dataDir) {
        this.dataDir = dataDir;
        this.dataDir = path.resolve(dataDir);
        this.partialDir = path.join(this.dataDir, '.partial');
    }
    /** Creates the directories; a start-up error if they cannot be created. */
    async init() {
        await fsp.mkdir(this.partialDir, { recursive: true });
    }
    file(key) {
        return path.join(this.dataDir, checkKey(key));
    }
    partial(key, attempt) {
        return path.join(this.partialDir, `${checkKey(key)}.${checkKey(attempt)}`);
    }
    async createWriter(key, attempt) {
        const tmp = this.partial(key, attempt);
        const final = this.file(key);
        let handle;
        try {
            handle = await fsp.open(tmp, 'wx', 0o640);
        }
        catch (err) {
            throw mapWriteError(err);
        }
        return new FileWriter(handle, tmp, final, this.dataDir);
    }
    async discardPartial(key, attempt) {
        await fsp.rm(this.partial(key, attempt), { force: true });
    }
    async read(key, range) {
        const file = this.file(key);
        // Open first so a missing file is a typed error, not a stream error after headers went out.
        let handle;
        try {
            handle = await fsp.open(file, 'r');
        }
        catch (err) {
            if (err.code === 'ENOENT')
                throw new BlobNotFound('file', `no object '${key}'`);
            throw err;
        }
        return handle.createReadStream({ start: range?.start, end: range?.end, highWaterMark: READ_CHUNK });
    }
    async size(key) {
        try {
            return (await fsp.stat(this.file(key))).size;
        }
        catch (err) {
            if (err.code === 'ENOENT')
                throw new BlobNotFound('file', `no object '${key}'`);
            throw err;
        }
    }
    async delete(key) {
        try {
            await fsp.unlink(this.file(key));
        }
        catch (err) {
            if (err.code === 'ENOENT')
                throw new BlobNotFound('file', `no object '${key}'`);
            throw err;
        }
    }
    url(key) {
        return pathToFileURL(this.file(key)).href;
    }
    keyOf(url) {
        if (!url.startsWith('file:'))
            return undefined;
        const file = fileURLToPath(url);
        return path.dirname(file) === this.dataDir ? path.basename(file) : undefined;
    }
}
class FileWriter extends Writable {
    handle;
    tmp;
    final;
    dir;
    state = 'open';
    position = 0;
    constructor(handle, tmp, final, dir) {
        // A deep buffer lets the network keep flowing while the disk catches up; writev merges it.
        super({ highWaterMark: 4 << 20 });
        this.handle = handle;
        this.tmp = tmp;
        this.final = final;
        this.dir = dir;
    }
    _write(chunk, _enc, cb) {
        this.writeAll([chunk], cb);
    }
    _writev(chunks, cb) {
        this.writeAll(chunks.map((c) => c.chunk), cb);
    }
    writeAll(buffers, cb) {
        const total = buffers.reduce((n, b) => n + b.length, 0);
        const loop = async () => {
            let pending = buffers;
            let left = total;
            while (left > 0) {
                const { bytesWritten } = await this.handle.writev(pending, this.position);
                this.position += bytesWritten;
                left -= bytesWritten;
                if (left > 0)
                    pending = skipBytes(pending, bytesWritten);
            }
        };
        loop().then(() => cb(), (err) => cb(mapWriteError(err)));
    }
    async commit() {
        if (this.state !== 'open')
            throw new StoreError('file', `commit of a ${this.state} write`);
        if (!this.writableFinished)
            throw new StoreError('file', 'commit before the stream finished');
        try {
            await this.handle.sync();
            await this.handle.close();
            await fsp.rename(this.tmp, this.final);
            await syncDir(this.dir);
            this.state = 'committed';
        }
        catch (err) {
            await this.cancel();
            throw mapWriteError(err);
        }
    }
    async cancel() {
        if (this.state !== 'open')
            return;
        this.state = 'cancelled';
        if (!this.destroyed)
            this.destroy();
        await this.handle.close().catch(() => undefined);
        await fsp.rm(this.tmp, { force: true });
    }
}
function skipBytes(buffers, n) {
    const out = [];
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
async function syncDir(dir) {
    const h = await fsp.open(dir, 'r');
    try {
        await h.sync();
    }
    finally {
        await h.close();
    }
}
//# sourceMappingURL=filesystem.js.map