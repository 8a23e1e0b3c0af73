import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RequestContext } from '../auth/context.js';
import type { ImageRepository } from '../db/image-repository.js';
import type { BlobStore, BlobWriter } from '../store/blob-store.js';
import { BlobNotFound, StoreFull, StoreWriteDenied } from '../store/blob-store.js';
import { ImageHasher } from '../hashing/image-hasher.js';
import { assertTransition } from './image-lifecycle.js';
import { BadRequest, Conflict, DomainError, Forbidden, Gone, RangeNotSatisfiable, ServiceUnavailable, TooLarge } from './errors.js';
import type { ImageService } from './image-service.js';
import type { UploadRegistry } from './upload-owner.js';

export interface ImageDataDeps {
  images: ImageService;
  repo: ImageRepository;
  store: BlobStore;
  uploads: UploadRegistry;
  imageSizeCap: number;
  /** Bytes a project may store in all; 0 = unlimited. */
  userStorageQuota: number;
  hashingAlgorithm: string;
  heartbeatMs: number;
  now?: () => number;
  log?: (msg: string, err?: unknown) => void;
}

/** A byte range as the client asked for it: `a-b`, `a-` (end null) or the last `suffix` bytes. */
export type RangeRequest = { start: number; end: number | null } | { suffix: number } | { unsatisfiable: true };

export type Download =
  | { kind: 'no-data' }
  | { kind: 'data'; stream: Readable; size: number; checksum: string | null; range?: { start: number; end: number } };

/** Glance's Python name for the multihash algorithm (`sha3_256`), mapped to Node's (`sha3-256`). */
const nodeAlgorithm = (name: string) => name.replace('_', '-');

/** Uploading and downloading image data. */
export class ImageData {
  private readonly now: () => number;
  private readonly log: (msg: string, err?: unknown) => void;

  constructor(private readonly deps: ImageDataDeps) {
    this.now = deps.now ?? Date.now;
    this.log = deps.log ?? (() => undefined);
  }

  /**
   * PUT /file: queued → saving → active. The bytes stream into a store writer while both hashes
   * are computed; size, hashes and location are recorded with the status change to active in one
   * transaction. On any failure the written bytes are removed and the image returns to queued.
   */
  async upload(ctx: RequestContext, id: string, body: Readable, declaredSize: number | null): Promise<void> {
    const { repo, store, uploads } = this.deps;
    const { image } = await this.deps.images.accessFor(ctx, id, 'upload_image');
    assertTransition(image.status, 'saving');
    if (!image.disk_format || !image.container_format) {
      throw new BadRequest('Properties disk_format and container_format must be set prior to saving data.');
    }
    const sizeCap = this.deps.imageSizeCap;
    if (declaredSize !== null && declaredSize > sizeCap) throw tooLarge(sizeCap);
    // user_storage_quota: checked before reading (declared size) and while streaming (cap).
    let cap = sizeCap;
    let overCap = tooLarge;
    if (this.deps.userStorageQuota > 0) {
      const left = Math.max(0, this.deps.userStorageQuota - (await repo.storageUsed(image.owner)));
      if (declaredSize !== null && declaredSize > left) throw overQuota(declaredSize, left);
      if (left < cap) {
        cap = left;
        overCap = (c: number) => overQuota(null, c);
      }
    }

    const owner = uploads.begin();
    const stop = new AbortController();
    let writer: BlobWriter | undefined;
    let hasher: ImageHasher | undefined;
    let heartbeat: NodeJS.Timeout | undefined;
    try {
      if (!(await repo.beginUpload(id, owner, this.now()))) {
        const current = await repo.get(id);
        throw new Conflict(`Image status transition from ${current?.status ?? 'deleted'} to saving is not allowed`);
      }
      heartbeat = setInterval(() => {
        repo.heartbeat(id, owner.uploadId, this.now()).then(
          (alive) => { if (!alive) stop.abort(gone(id)); },
          (err: unknown) => this.log(`heartbeat of upload to image ${id} failed`, err),
        );
      }, this.deps.heartbeatMs);
      heartbeat.unref();

      writer = await store.createWriter(id, owner.uploadId);
      hasher = await ImageHasher.create(nodeAlgorithm(this.deps.hashingAlgorithm));
      const h = hasher;
      let size = 0;
      await pipeline(
        body,
        async function* meter(source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            size += chunk.length;
            if (size > cap) throw overCap(cap);
            await h.update(chunk);
            yield chunk;
          }
        },
        writer,
        { signal: stop.signal },
      );
      if (declaredSize !== null && size !== declaredSize) {
        throw new BadRequest(`Uploaded ${size} bytes but the request declared ${declaredSize}; the upload is discarded.`);
      }
      const digests = await hasher.digest();
      hasher = undefined;
      await writer.commit();
      const completed = await repo.completeUpload(
        id,
        owner.uploadId,
        { size, checksum: digests.md5, os_hash_algo: this.deps.hashingAlgorithm, os_hash_value: digests.multihash, virtual_size: null },
        { url: store.url(id), metadata: {} },
        this.now(),
      );
      writer = undefined;
      if (!completed) {
        await store.delete(id).catch(() => undefined);
        throw gone(id);
      }
    } catch (err) {
      hasher?.abort();
      await writer?.cancel().catch((e: unknown) => this.log(`could not remove partial data of image ${id}`, e));
      await repo.abandonUpload(id, owner.uploadId, this.now());
      throw this.uploadError(err, stop.signal, id);
    } finally {
      clearInterval(heartbeat);
      uploads.end(owner.uploadId);
    }
  }

  private uploadError(err: unknown, signal: AbortSignal, id: string): Error {
    if (signal.aborted && signal.reason instanceof DomainError) return signal.reason;
    if (err instanceof DomainError) return err;
    if (err instanceof StoreFull) return new TooLarge(`Image storage media is full: ${err.message}`);
    if (err instanceof StoreWriteDenied) return new ServiceUnavailable(`Insufficient permissions on image storage media: ${err.message}`);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || (err as Error).message === 'aborted') {
      return new BadRequest(`The upload of image ${id} was interrupted before all data arrived; nothing was stored.`);
    }
    this.log(`upload to image ${id} failed`, err);
    return err instanceof Error ? err : new Error(String(err));
  }

  /** GET /file: the data (or a range of it), 204 when the image has none, 403 for deactivated images unless admin. */
  async download(ctx: RequestContext, id: string, range: RangeRequest | null): Promise<Download> {
    const { image } = await this.deps.images.accessFor(ctx, id, 'download_image');
    if (image.status === 'deactivated' && !ctx.isAdmin) {
      throw new Forbidden('The requested image has been deactivated. Image data download is forbidden.');
    }
    const key = image.locations.map((l) => this.deps.store.keyOf(l.url)).find((k) => k !== undefined);
    if (key === undefined || image.size === null) return { kind: 'no-data' };
    const size = image.size;
    let span: { start: number; end: number } | undefined;
    if (range) {
      span = resolveRange(range, size);
      if (!span) throw Object.assign(new RangeNotSatisfiable(`Requested range not satisfiable (image size ${size})`), { headers: { 'content-range': `bytes */${size}` } });
    }
    try {
      const stream = await this.deps.store.read(key, span);
      return { kind: 'data', stream, size, checksum: image.checksum, range: span };
    } catch (err) {
      if (err instanceof BlobNotFound) {
        this.log(`data of active image ${id} is missing from the ${this.deps.store.type} store`, err);
        return { kind: 'no-data' };
      }
      throw err;
    }
  }
}

function resolveRange(r: RangeRequest, size: number): { start: number; end: number } | undefined {
  if ('unsatisfiable' in r) return undefined;
  if ('suffix' in r) {
    if (r.suffix === 0 || size === 0) return undefined;
    return { start: Math.max(0, size - r.suffix), end: size - 1 };
  }
  if (r.start >= size) return undefined;
  const end = r.end === null ? size - 1 : Math.min(r.end, size - 1);
  if (end < r.start) return undefined;
  return { start: r.start, end };
}

function tooLarge(cap: number): TooLarge {
  return new TooLarge(`Image exceeds the maximum size of ${cap} bytes (image_size_cap); nothing was stored.`);
}

function overQuota(size: number | null, left: number): TooLarge {
  const what = size === null ? 'The image data' : `The size of the data ${size}`;
  return new TooLarge(`Image exceeds the storage quota: ${what} will exceed the limit (user_storage_quota). ${left} bytes remaining.`);
}

function gone(id: string): Gone {
  return new Gone(`Image ${id} could not be found after upload. The image may have been deleted during the upload.`);
}
