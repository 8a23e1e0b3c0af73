/**
 * The node-local image cache, as the domain uses it: which downloads it serves and fills (whole
 * downloads of active images whose recorded digest the entry was verified against), the cache
 * API's calls with Glance's policy rules and answers, and the prefetcher that fills the queued
 * images. The bytes and the index are an ImageCacheStore's (src/cache); none of it is in the
 * shared database, so every node answers for its own cache.
 */
import type { Readable } from 'node:stream';
import type { RequestContext } from '../auth/context.js';
import type { StoreRegistry } from '../store/registry.js';
import { cacheable, teeIntoCache, type CacheableImage } from './cache-fill.js';
import type { CacheEntry, ImageCacheStore } from './cache-ports.js';
import { CachePrefetcher } from './cache-prefetcher.js';
import { recordedDigest, verifiedDownload } from './download-verification.js';
import { BadRequest, Conflict, imageNotFound, NotFound } from './errors.js';
import { visibleTo, type ImageAccess, type VisibleImage } from './image-access.js';
import type { ImageRepository } from './ports.js';
import type { DomainMetrics } from './metrics-port.js';

export interface ImageCachingDeps {
  /** null: no `image_cache_dir` — the cache API answers 404 after its policy check, as Glance. */
  cache: ImageCacheStore | null;
  /** A caching flavor (`keystone+caching`, …): downloads are served from and fill the cache. */
  serveDownloads: boolean;
  images: ImageRepository;
  access: ImageAccess;
  stores: StoreRegistry;
  log?: (msg: string, err?: unknown) => void;
  /** Counts the hits and misses of downloads served through the cache, and the prefetcher's failed store reads (absent = not counted). */
  metrics?: DomainMetrics;
}

export interface CacheState {
  cached_images: { image_id: string; hits: number; last_accessed: number; last_modified: number; size: number }[];
  queued_images: string[];
}

export class ImageCaching {
  private readonly log: (msg: string, err?: unknown) => void;
  private readonly prefetcher: CachePrefetcher | null;
  private closed = false;

  constructor(private readonly deps: ImageCachingDeps) {
    this.log = deps.log ?? (() => undefined);
    this.prefetcher = deps.cache ? new CachePrefetcher({ cache: deps.cache, images: deps.images, stores: deps.stores, log: deps.log, metrics: deps.metrics }) : null;
  }

  /** Whether the cache API (and the versions that announce it) exist: `image_cache_dir` is set. */
  get enabled(): boolean {
    return this.deps.cache !== null;
  }

  // ---- downloads ---------------------------------------------------------------------------

  /**
   * The cached bytes of a whole download of an active image, or null (no entry, or one verified
   * against other data than the image records now: that one is dropped). The caller has checked
   * the image's visibility and `download_image`; a deactivated image is never served from here.
   * A cache that fails is a miss, never a failed download.
   */
  async cachedCopy(image: CacheableImage): Promise<Readable | null> {
    const cache = this.downloadCache(image);
    if (!cache) return null;
    let copy: Readable | null = null;
    try {
      copy = await cache.open(image.id, recordedDigest(image)!.value, image.size!);
    } catch (err) {
      this.log(`image cache: could not read the entry of ${image.id}; serving it from its store`, err);
    }
    this.deps.metrics?.cacheLookup(copy !== null);
    return copy;
  }

  /** How many complete entries this node's cache holds and their bytes; null without a cache. */
  async size(): Promise<{ entries: number; bytes: number } | null> {
    const cache = this.deps.cache;
    if (!cache || this.closed) return null;
    const entries = await cache.entries();
    return { entries: entries.length, bytes: entries.reduce((sum, e) => sum + e.size, 0) };
  }

  /** The store's bytes of a whole download, verified (see verifiedDownload) and, when the cache serves downloads, filling it as they pass. */
  async fromStore(image: CacheableImage, source: Readable, report: (msg: string) => void): Promise<Readable> {
    const cache = this.downloadCache(image);
    return cache ? (await teeIntoCache(cache, image, source, report, this.log)).stream : verifiedDownload(source, image, report);
  }

  /** The cache downloads use for this image; null when there is none or the image cannot be cached (not active, no size or digest recorded). */
  private downloadCache(image: CacheableImage): ImageCacheStore | null {
    const { cache, serveDownloads } = this.deps;
    if (!cache || !serveDownloads || this.closed) return null;
    return cacheable(image) ? cache : null;
  }

  /** DELETE /v2/images/{id}: the image's entry on this node goes with it. */
  async forgetDeleted(id: string): Promise<void> {
    const cache = this.deps.cache;
    if (!cache) return;
    try {
      await cache.remove(id);
      await cache.dequeue(id);
    } catch (err) {
      this.log(`image cache: could not remove the entry of deleted image ${id}`, err);
    }
  }

  // ---- the cache API (Glance's cached_images controller) -------------------------------------

  /** The policy rule, then 404 when this node has no cache: Glance's order. */
  private authorized(ctx: RequestContext, rule: string, image?: VisibleImage | null): ImageCacheStore {
    if (image) this.deps.access.authorize(ctx, rule, image);
    else this.deps.access.enforce(ctx, rule, {});
    if (!this.deps.cache) throw new NotFound('Caching via API is not supported at this site.');
    return this.deps.cache;
  }

  /** GET /v2/cache. */
  async state(ctx: RequestContext): Promise<CacheState> {
    const cache = this.authorized(ctx, 'cache_list');
    return { cached_images: (await cache.entries()).map(listed), queued_images: await cache.queued() };
  }

  /**
   * PUT /v2/cache/{id}: queues an active image (202) for the prefetcher's next run (every
   * cache_prefetcher_interval seconds), as Glance: until then it is listed as queued, which
   * clients (tempest's caching test) check right after the call.
   */
  async queue(ctx: RequestContext, id: string): Promise<void> {
    const found = await this.visible(ctx, id);
    if (!found) throw imageNotFound(id);
    const cache = this.authorized(ctx, 'cache_image', found);
    if (found.image.status !== 'active') throw new BadRequest('Only images with status active can be targeted for queueing');
    await cache.queue(id);
  }

  /** DELETE /v2/cache/{id}: off the cache and the queue; 404 only if the image exists in neither the catalogue nor the cache. */
  async remove(ctx: RequestContext, id: string): Promise<void> {
    const found = await this.visible(ctx, id);
    const cache = this.deps.cache;
    if (!found && !(cache && ((await cache.has(id)) || (await cache.queued()).includes(id)))) throw imageNotFound(id);
    const authorized = this.authorized(ctx, 'cache_delete', found);
    await authorized.remove(id);
    await authorized.dequeue(id);
  }

  /** DELETE /v2/cache with `x-image-cache-clear-target`. */
  async clear(ctx: RequestContext, target: string): Promise<void> {
    const cache = this.authorized(ctx, 'cache_delete');
    const t = target.toLowerCase();
    if (t !== '' && t !== 'cache' && t !== 'queue') throw new BadRequest("If provided 'x-image-cache-clear-target' must be 'cache', 'queue' or empty string.");
    if (t !== 'queue') await cache.removeAll();
    if (t !== 'cache') await cache.dequeueAll();
  }

  /** POST /v2/cache/clean: invalid entries and stalled incomplete ones. */
  async clean(ctx: RequestContext): Promise<void> {
    await this.authorized(ctx, 'cache_clean').clean();
  }

  /** POST /v2/cache/prune. */
  async prune(ctx: RequestContext): Promise<{ total_files_pruned: number; total_bytes_pruned: number }> {
    const { files, bytes } = await this.authorized(ctx, 'cache_prune').prune();
    return { total_files_pruned: files, total_bytes_pruned: bytes };
  }

  /** GET /v2/cache/nodes/{id}: Glance answers only with its centralized_db driver; this cache is node-local (409). */
  async nodes(ctx: RequestContext): Promise<never> {
    this.authorized(ctx, 'list_cached_nodes');
    throw new Conflict('Centralized caching is not enabled');
  }

  /** The image as the caller sees it (Glance's repository with the request context), or null. */
  private async visible(ctx: RequestContext, id: string): Promise<VisibleImage | null> {
    const found = await this.deps.images.find(id, ctx.projectId);
    return found ? visibleTo(ctx, found) : null;
  }

  /** Starts a prefetch pass of the queued images now, or right after the one under way. */
  schedulePrefetch(): void {
    this.prefetcher?.schedule();
  }

  /** Stops prefetching (the pass under way ends after its current image), then closes the cache. */
  async close(): Promise<void> {
    this.closed = true;
    await this.prefetcher?.stop();
    await this.deps.cache?.close();
  }
}

function listed(e: CacheEntry): CacheState['cached_images'][number] {
  return { image_id: e.imageId, hits: e.hits, last_accessed: e.lastAccessed, last_modified: e.lastModified, size: e.size };
}
