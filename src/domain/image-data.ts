import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { RequestContext } from '../auth/context.js';
import { BlobNotFound, deleteIfPresent } from '../store/blob-store.js';
import { intakeError, writeInto } from './data-intake.js';
import type { Backend, StoreRegistry } from '../store/registry.js';
import { FormatInspector } from '../formats/inspector.js';
import { abandonDataWrite, beginDataWrite, UPLOAD_LEASE, type UploadLeaseData } from './data-cleanup.js';
import { nodeAlgorithm, verifiedDownload } from './download-verification.js';
import { BadRequest, DomainError, Forbidden, Gone, RangeNotSatisfiable, ServiceUnavailable, TooLarge } from './errors.js';
import { judgeInspection, type FormatCheckSettings } from './format-check.js';
import type { ImageAccess } from './image-access.js';
import type { ImageCaching } from './image-caching.js';
import { plan } from './image-lifecycle.js';
import { noKeyManager, signatureProperties, type ImageSignatures } from './image-signature.js';
import type { Leases } from './leases.js';
import { countReadErrors, countStoreError, measureDownload, noMetrics, type DomainMetrics } from './metrics-port.js';
import type { Notifier } from './notifications.js';
import type { Repositories, UnitOfWork } from './ports.js';
import type { ImageRecord } from './image-model.js';
import { mibDelta, type ProjectLimits } from './project-limits.js';

export interface ImageDataDeps {
  uow: UnitOfWork;
  access: ImageAccess;
  stores: StoreRegistry;
  leases: Leases;
  imageSizeCap: number;
  /** Bytes a project may store in all; 0 = unlimited. */
  userStorageQuota: number;
  hashingAlgorithm: string;
  /** use_keystone_limits: image_size_total (declared size) before the upload, image_count_uploading once the image is saving. */
  limits?: ProjectLimits;
  /** How uploaded bytes are judged by their inspected format; null or absent = not inspected (`[image_format] inspect_uploads = false`). */
  formatCheck?: FormatCheckSettings | null;
  /** The node-local image cache: whole downloads are served from it, and fill it (absent = no cache). */
  caching?: ImageCaching;
  /** Checks signed images' data (img_signature…); absent = no key manager: a signed image's upload is refused (400). */
  signatures?: ImageSignatures | null;
  now?: () => number;
  log?: (msg: string, err?: unknown) => void;
  /** image.prepare, .upload, .activate, .update go with the upload's commits; image.send follows a download. */
  notifier?: Notifier;
  /** Bytes in and out by store, uploads and downloads in flight, store errors (absent = not measured). */
  metrics?: DomainMetrics;
}

/** A byte range as the client asked for it: `a-b`, `a-` (end null) or the last `suffix` bytes. */
export type RangeRequest = { start: number; end: number | null } | { suffix: number } | { unsatisfiable: true };

export type Download =
  | { kind: 'no-data' }
  | { kind: 'data'; stream: Readable; size: number; checksum: string | null; range?: { start: number; end: number } };

/** The upload lost its image (deleted meanwhile) or its lease: its last commit is rolled back. */
class UploadLost extends Error {}

/** Uploading and downloading image data. */
export class ImageData {
  private readonly now: () => number;
  private readonly log: (msg: string, err?: unknown) => void;
  private readonly metrics: DomainMetrics;

  constructor(private readonly deps: ImageDataDeps) {
    this.now = deps.now ?? Date.now;
    this.log = deps.log ?? (() => undefined);
    this.metrics = deps.metrics ?? noMetrics;
  }

  /**
   * PUT /file: queued → saving → active. The upload takes a lease on the image in the transaction
   * that makes it `saving` and renews it while the bytes stream into a store writer and both
   * hashes are computed; size, hashes, location and the end of the lease commit together with the
   * change to `active`. On any failure the written bytes are removed and the image returns to
   * queued; if the process dies, its lease expires and any node's cleanup sweep does that.
   * `storeId` is the `X-Image-Meta-Store` header (multi-store only; default: the default backend).
   */
  async upload(ctx: RequestContext, id: string, body: Readable, declaredSize: number | null, storeId: string | null = null): Promise<void> {
    const { uow, leases } = this.deps;
    // Glance checks the caller's project's image_size_total first, with the declared size (in MiB) as the delta.
    await this.deps.limits?.enforce(ctx.projectId, { image_size_total: mibDelta(declaredSize) });
    const backend = this.uploadTarget(storeId);
    const store = backend.store;
    const { image } = await this.deps.access.require(ctx, id, 'upload_image');
    const start = plan('upload', image)!;
    const sizeCap = this.deps.imageSizeCap;
    if (declaredSize !== null && declaredSize > sizeCap) throw tooLarge(sizeCap);
    // user_storage_quota: checked before reading (declared size) and while streaming (cap).
    let cap = sizeCap;
    let overCap = tooLarge;
    if (this.deps.userStorageQuota > 0) {
      const left = Math.max(0, this.deps.userStorageQuota - (await uow.repos.images.storageUsed(image.owner)));
      if (declaredSize !== null && declaredSize > left) throw overQuota(declaredSize, left);
      if (left < cap) {
        cap = left;
        overCap = (c: number) => overQuota(null, c);
      }
    }

    // A signed image: properties, certificate and key checked (400/503) before anything is stored.
    const signature = await this.signatureCheck(ctx, image.properties);

    const attempt = randomUUID();
    const target = { key: id, attempt, project: image.owner, sizeHint: declaredSize };
    const leaseData: UploadLeaseData = { attempt, backend: backend.id, project: image.owner ?? '' };
    const notifier = this.deps.notifier;
    // Glance's order: the save that starts the upload (image.update), then set_data's image.prepare (with the backend, multi-store only).
    const prepared = notifier && ((tx: Repositories) => notifier.image(tx, id, 'image.update', ['image.prepare', this.deps.stores.multiStore ? { backend: backend.id } : {}]));
    await beginDataWrite(uow, leases, UPLOAD_LEASE, image, leaseData, this.now(), prepared);

    const held = leases.keep(UPLOAD_LEASE, id, { lost: gone(id), unwanted: gone(id) }, async (repos) => (await repos.images.find(id))?.image.status === 'saving');
    this.metrics.inFlight('upload', 1);
    try {
      // Counted with this image now saving: over the limit only if others are uploading too.
      await this.deps.limits?.enforce(ctx.projectId, { image_count_uploading: 0 });
      // The format is learnt from the bytes as they pass (bare containers only: other containers
      // are not disks); it is judged once all have arrived, before anything is committed.
      const formatCheck = this.deps.formatCheck ?? null;
      const inspector = formatCheck && image.container_format === 'bare' ? new FormatInspector() : null;
      let virtualSize: number | null = null;
      const { size, digests, stored } = await writeInto(store, target, body, {
        cap,
        overCap,
        hashAlgorithm: nodeAlgorithm(this.deps.hashingAlgorithm),
        observe: inspector ? (chunk) => inspector.feed(chunk) : undefined,
        signal: held.signal,
        signature,
        beforeCommit: (received) => {
          if (declaredSize !== null && received !== declaredSize) {
            throw new BadRequest(`Uploaded ${received} bytes but the request declared ${declaredSize}; the upload is discarded.`);
          }
          if (inspector && formatCheck) virtualSize = judgeInspection(inspector.finish(), image, formatCheck, (m) => this.log(`image ${id}: ${m}`));
        },
      });
      this.metrics.bytesReceived(backend.id, size);
      const finish = plan('finish_upload', { status: start.to })!;
      const facts = { size, checksum: digests!.md5, os_hash_algo: this.deps.hashingAlgorithm, os_hash_value: digests!.multihash, virtual_size: virtualSize };
      const completed = await uow
        .run(async (tx) => {
          const now = this.now();
          const won = (await tx.images.transition(id, finish.from, finish.to, facts, now)) && (await tx.leases.release(UPLOAD_LEASE, id, leases.owner));
          if (!won) throw new UploadLost();
          await tx.images.addLocation(id, { url: stored.url, metadata: this.deps.stores.locationMetadata(backend, stored.metadata) }, now);
          await notifier?.image(tx, id, 'image.upload', 'image.activate', 'image.update');
        })
        .then(
          () => true,
          (err: unknown) => {
            if (err instanceof UploadLost) return false;
            throw err;
          },
        );
      if (!completed) {
        // The image was deleted (or the upload declared dead) meanwhile: the committed bytes are
        // nobody's — unless a later upload already recorded its own under the same key.
        const current = await uow.repos.images.find(id);
        if (!current?.image.locations.some((l) => l.url === stored.url)) {
          await deleteIfPresent(store, stored.url);
        }
        throw gone(id);
      }
    } catch (err) {
      countStoreError(this.metrics, err, 'write');
      const failure = this.uploadError(err, held.signal, id);
      const failed = notifier && ((tx: Repositories) => notifier.error(tx, 'image.upload', uploadFailure(id, failure)));
      await abandonDataWrite(uow, leases, UPLOAD_LEASE, id, this.now(), failed).catch((e: unknown) => this.log(`could not end the failed upload to image ${id}; the cleanup sweep will`, e));
      throw failure;
    } finally {
      held.stop();
      this.metrics.inFlight('upload', -1);
    }
  }

  private async signatureCheck(ctx: RequestContext, properties: Readonly<Record<string, string>>) {
    if (this.deps.signatures) return this.deps.signatures.check(ctx, properties);
    if (signatureProperties(properties)) throw noKeyManager();
    return null;
  }

  /** The backend an upload writes to: the `X-Image-Meta-Store` one in multi-store mode, else the default. */
  private uploadTarget(storeId: string | null): Backend {
    const { stores } = this.deps;
    if (!stores.multiStore || storeId === null) return stores.default;
    const backend = stores.get(storeId);
    if (!backend || backend.reserved) throw new BadRequest(`Store for identifier ${storeId} not found`);
    if (!backend.store.capabilities.write) throw new Gone(`Error in store configuration. Adding images to store ${storeId} is disabled (read-only store).`);
    return backend;
  }

  private uploadError(err: unknown, signal: AbortSignal, id: string): Error {
    if (signal.aborted && signal.reason instanceof DomainError) return signal.reason;
    return intakeError(err, id, this.log);
  }

  /**
   * GET /file: the data (or a range of it), 204 when the image has none, 403 for deactivated
   * images unless admin. Locations are tried in the stores' weight order; one that cannot be
   * read falls over to the next. A whole download is checked against the recorded multihash (or
   * md5) as it streams: a mismatch aborts the response before its last bytes. With the image
   * cache on, a whole download of an active image is served from this node's cache when it holds
   * the image verified against the recorded digest, and otherwise fills it (image-caching.ts).
   */
  async download(ctx: RequestContext, id: string, range: RangeRequest | null): Promise<Download> {
    const { image } = await this.deps.access.require(ctx, id, 'download_image');
    if (image.status === 'deactivated' && !ctx.isAdmin) {
      throw new Forbidden('The requested image has been deactivated. Image data download is forbidden.');
    }
    if (image.locations.length === 0 || image.size === null) return { kind: 'no-data' };
    const size = image.size;
    let span: { start: number; end: number } | undefined;
    if (range) {
      span = resolveRange(range, size);
      if (!span) {
        const err = new RangeNotSatisfiable(`Start position MUST be in the inclusive range [0, ${Math.max(0, size - 1)}]`);
        err.headers['content-range'] = `bytes */${size}`;
        throw err;
      }
    }
    const cached = span ? null : await this.deps.caching?.cachedCopy(image);
    if (cached) {
      measureDownload(this.metrics, 'cache', cached, size);
      this.reportSent(ctx, image, cached, size);
      return { kind: 'data', stream: cached, size, checksum: image.checksum };
    }
    let unavailable: unknown;
    const found = await this.deps.stores.readFirst(image.locations, span, (loc, backend, err) => {
      if (!backend) return this.log(`no configured store holds ${loc.url} (image ${id}); trying its next location`);
      this.log(`could not read image ${id} from store ${backend.id}; trying its next location`, err);
      if (!(err instanceof BlobNotFound)) {
        unavailable = err;
        countStoreError(this.metrics, err, 'read', backend.type);
      }
    });
    if (found) {
      // A store whose stream fails partway (a broken connection to it) failed a read as well.
      countReadErrors(this.metrics, found.stream);
      const report = (msg: string) => this.log(`image ${id} from store ${found.backend.id}: ${msg}`);
      const stream = span ? found.stream : this.deps.caching ? await this.deps.caching.fromStore(image, found.stream, report) : verifiedDownload(found.stream, image, report);
      measureDownload(this.metrics, found.backend.id, stream, span ? span.end - span.start + 1 : size);
      this.reportSent(ctx, image, stream, span ? span.end - span.start + 1 : size);
      return { kind: 'data', stream, size, checksum: image.checksum, range: span };
    }
    if (unavailable !== undefined) throw new ServiceUnavailable(`The image data of ${id} cannot be read from any of its stores right now.`);
    return { kind: 'no-data' };
  }

  /** image.send once every byte asked for was read, in its own transaction, never holding the download up. */
  private reportSent(ctx: RequestContext, image: ImageRecord, stream: Readable, length: number): void {
    const notifier = this.deps.notifier;
    if (!notifier?.wants('image.send')) return;
    stream.once('end', () => void notifier.sent(image, ctx, length).catch((err: unknown) => this.log(`image.send of image ${image.id} could not be recorded`, err)));
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

/** The ERROR image.upload's payload: Glance's message for a failed upload. */
function uploadFailure(id: string, err: Error): string {
  const cause = err instanceof DomainError ? 'HTTP error' : 'internal error';
  return `Failed to upload image data for image ${id} due to ${cause}: ${err.message}`;
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
