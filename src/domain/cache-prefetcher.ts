/**
 * The prefetcher: caches the images queued with PUT /v2/cache/{id} (Glance's CacheWorker and
 * glance-cache-prefetcher). The server runs a pass at start, on every PUT and every
 * `cache_prefetcher_interval`; `ocellus cache prefetch` runs one. Fills are node-local and
 * exclusive per image (ImageCacheStore.startFill), so several processes of a node never fill
 * one image twice, and a pass never holds anything that outlives its process.
 */
import type { StoreRegistry } from '../store/registry.js';
import { cacheable, teeIntoCache } from './cache-fill.js';
import type { ImageCacheStore } from './cache-ports.js';
import { countStoreError, noMetrics, type DomainMetrics } from './metrics-port.js';
import type { ImageRepository } from './ports.js';

export interface PrefetchDeps {
  cache: ImageCacheStore;
  images: ImageRepository;
  stores: StoreRegistry;
  log?: (msg: string, err?: unknown) => void;
  /** Counts the store reads that failed (absent = not counted). */
  metrics?: DomainMetrics;
}

export class CachePrefetcher {
  private readonly log: (msg: string, err?: unknown) => void;
  /** The pass under way in this process, and whether another was asked for meanwhile. */
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(private readonly deps: PrefetchDeps) {
    this.log = deps.log ?? (() => undefined);
  }

  /** Starts a pass now, or right after the one under way. */
  schedule(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.run()
      .then(() => undefined)
      .catch((err: unknown) => this.log('image cache: prefetching failed', err))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.schedule();
        }
      });
  }

  /**
   * Caches every queued image, one at a time (the queue is read once): an image that is gone,
   * not active or without a recorded digest leaves the queue uncached; one whose stores cannot
   * be read (or whose data does not verify) stays queued for the next pass.
   */
  async run(): Promise<{ cached: number; failed: number }> {
    const { cache } = this.deps;
    let cached = 0;
    let failed = 0;
    for (const id of await cache.queued()) {
      if (this.stopped) break;
      try {
        if (await this.fetch(id)) cached++;
      } catch (err) {
        this.log(`image cache: could not prefetch image ${id}; it stays queued`, err);
        failed++;
      }
    }
    return { cached, failed };
  }

  /** True if the image was cached; false if it left the queue without being cached. */
  private async fetch(id: string): Promise<boolean> {
    const { cache } = this.deps;
    const image = (await this.deps.images.find(id))?.image;
    if (!image || !cacheable(image)) {
      this.log(`image cache: image ${id} is gone, not active or has no recorded checksum; not caching it`);
      await cache.dequeue(id);
      return false;
    }
    if (await cache.has(id)) {
      await cache.dequeue(id);
      return false;
    }
    const found = await this.deps.stores.readFirst(image.locations, undefined, (loc, backend, err) => {
      if (backend && err !== undefined) countStoreError(this.deps.metrics ?? noMetrics, err, 'read', backend.type);
      this.log(`image cache: could not read image ${id} from ${backend ? `store ${backend.id}` : loc.url}; trying its next location`, err);
    });
    if (!found) throw new Error(`no location of image ${id} can be read`);
    const report = (msg: string) => this.log(`image cache: image ${id} from store ${found.backend.id}: ${msg}`);
    const { stream, filled } = await teeIntoCache(cache, image, found.stream, report, this.log);
    await new Promise<void>((resolve, reject) => {
      stream.on('error', reject);
      stream.on('end', resolve);
      stream.resume();
    });
    // A committed fill takes the image off the queue (ImageCacheStore.startFill's commit).
    if (!(await filled)) throw new Error(`image ${id} was not cached (another fill of it runs, or its entry could not be written)`);
    return true;
  }

  /** No new pass; waits for the one under way (it stops after its current image). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }
}
