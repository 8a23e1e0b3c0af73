import { pipeline } from 'node:stream/promises';
import { BlobNotFound, StoreFull, StoreWriteDenied } from '../store/blob-store.js';
import { ImageHasher } from '../hashing/image-hasher.js';
import { assertCanModify } from './image-access.js';
import { BadRequest, Conflict, DomainError, Forbidden, Gone, RangeNotSatisfiable, ServiceUnavailable, TooLarge } from './errors.js';
/** Glance's Python name for the multihash algorithm (`sha3_256`), mapped to Node's (`sha3-256`). */
const nodeAlgorithm = (name) => name.replace('_', '-');
/** Uploading and downloading image data. */
export class ImageData {
    deps;
    now;
    log;
    constructor(deps) {
        this.deps = deps;
        this.now = deps.now ?? Date.now;
        this.log = deps.log ?? (() => undefined);
    }
    /**
     * PUT /file: queued → saving → active. The bytes stream into a store writer while both hashes
     * are computed; size, hashes and location are recorded with the status change to active in one
     * transaction. On any failure the written bytes are removed and the image returns to queued.
     */
    async upload(ctx, id, body, declaredSize) {
        const { repo, store, uploads } = this.deps;
        const image = await this.deps.images.get(ctx, id);
        assertCanModify(ctx, image, 'upload data to');
        if (image.status !== 'queued')
            throw new Conflict(`Image status transition from ${image.status} to saving is not allowed`);
        if (!image.disk_format || !image.container_format) {
            throw new BadRequest('Properties disk_format and container_format must be set prior to saving data.');
        }
        const cap = this.deps.imageSizeCap;
        if (declaredSize !== null && declaredSize > cap)
            throw tooLarge(cap);
        const owner = uploads.begin();
        const stop = new AbortController();
        let writer;
        let hasher;
        let heartbeat;
        try {
            if (!(await repo.beginUpload(id, owner, this.now()))) {
                const current = await repo.get(id);
                throw new Conflict(`Image status transition from ${current?.status ?? 'deleted'} to saving is not allowed`);
            }
            heartbeat = setInterval(() => {
                repo.heartbeat(id, owner.uploadId, this.now()).then((alive) => { if (!alive)
                    stop.abort(gone(id)); }, (err) => this.log(`heartbeat of upload to image ${id} failed`, err));
            }, this.deps.heartbeatMs);
            heartbeat.unref();
            writer = await store.createWriter(id, owner.uploadId);
            hasher = await ImageHasher.create(nodeAlgorithm(this.deps.hashingAlgorithm));
            const h = hasher;
            let size = 0;
            await pipeline(body, async function* meter(source) {
                for await (const chunk of source) {
                    size += chunk.length;
                    if (size > cap)
                        throw tooLarge(cap);
                    await h.update(chunk);
                    yield chunk;
                }
            }, writer, { signal: stop.signal });
            if (declaredSize !== null && size !== declaredSize) {
                throw new BadRequest(`Uploaded ${size} bytes but the request declared ${declaredSize}; the upload is discarded.`);
            }
            const digests = await hasher.digest();
            hasher = undefined;
            await writer.commit();
            const completed = await repo.completeUpload(id, owner.uploadId, { size, checksum: digests.md5, os_hash_algo: this.deps.hashingAlgorithm, os_hash_value: digests.multihash, virtual_size: null }, { url: store.url(id), metadata: {} }, this.now());
            writer = undefined;
            if (!completed) {
                await store.delete(id).catch(() => undefined);
                throw gone(id);
            }
        }
        catch (err) {
            hasher?.abort();
            await writer?.cancel().catch((e) => this.log(`could not remove partial data of image ${id}`, e));
            await repo.abandonUpload(id, owner.uploadId, this.now());
            throw this.uploadError(err, stop.signal, id);
        }
        finally {
            clearInterval(heartbeat);
            uploads.end(owner.uploadId);
        }
    }
    uploadError(err, signal, id) {
        if (signal.aborted && signal.reason instanceof DomainError)
            return signal.reason;
        if (err instanceof DomainError)
            return err;
        if (err instanceof StoreFull)
            return new TooLarge(`Image storage media is full: ${err.message}`);
        if (err instanceof StoreWriteDenied)
            return new ServiceUnavailable(`Insufficient permissions on image storage media: ${err.message}`);
        const code = err.code;
        if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || err.message === 'aborted') {
            return new BadRequest(`The upload of image ${id} was interrupted before all data arrived; nothing was stored.`);
        }
        this.log(`upload to image ${id} failed`, err);
        return err instanceof Error ? err : new Error(String(err));
    }
    /** GET /file: the data (or a range of it), 204 when the image has none, 403 for deactivated images unless admin. */
    async download(ctx, id, range) {
        const image = await this.deps.images.get(ctx, id);
        if (image.status === 'deactivated' && !ctx.isAdmin) {
            throw new Forbidden('The requested image has been deactivated. Image data download is forbidden.');
        }
        const key = image.locations.map((l) => this.deps.store.keyOf(l.url)).find((k) => k !== undefined);
        if (key === undefined || image.size === null)
            return { kind: 'no-data' };
        const size = image.size;
        let span;
        if (range) {
            span = resolveRange(range, size);
            if (!span)
                throw Object.assign(new RangeNotSatisfiable(`Requested range not satisfiable (image size ${size})`), { headers: { 'content-range': `bytes */${size}` } });
        }
        try {
            const stream = await this.deps.store.read(key, span);
            return { kind: 'data', stream, size, checksum: image.checksum, range: span };
        }
        catch (err) {
            if (err instanceof BlobNotFound) {
                this.log(`data of active image ${id} is missing from the ${this.deps.store.type} store`, err);
                return { kind: 'no-data' };
            }
            throw err;
        }
    }
}
function resolveRange(r, size) {
    if ('unsatisfiable' in r)
        return undefined;
    if ('suffix' in r) {
        if (r.suffix === 0 || size === 0)
            return undefined;
        return { start: Math.max(0, size - r.suffix), end: size - 1 };
    }
    if (r.start >= size)
        return undefined;
    const end = r.end === null ? size - 1 : Math.min(r.end, size - 1);
    if (end < r.start)
        return undefined;
    return { start: r.start, end };
}
function tooLarge(cap) {
    return new TooLarge(`Image exceeds the maximum size of ${cap} bytes (image_size_cap); nothing was stored.`);
}
function gone(id) {
    return new Gone(`Image ${id} could not be found after upload. The image may have been deleted during the upload.`);
}
//# sourceMappingURL=image-data.js.map