import type { Readable } from 'node:stream';
import type { BackendConfig, StoresConfig } from '../config/store-options.js';
import type { BlobStore } from './blob-store.js';
import { createDriver } from './drivers.js';

/** One configured store: its id (the enabled_backends id, or the type in single-store mode) and driver. */
export interface Backend {
  readonly id: string;
  readonly type: string;
  readonly description: string | null;
  readonly weight: number;
  /** os_glance_staging_store / os_glance_tasks_store: internal, never listed, never an upload target. */
  readonly reserved: boolean;
  readonly isDefault: boolean;
  readonly store: BlobStore;
}

/** A location as the registry needs to see it. */
export interface LocationRef {
  url: string;
  metadata: Record<string, unknown>;
}

/**
 * The stores this process writes to and reads from, found by backend id or by location: the
 * location's recorded `store` id first (multi-store), else the first store that owns its URL.
 */
export class StoreRegistry {
  private readonly byId: Map<string, Backend>;

  constructor(
    private readonly backends: readonly Backend[],
    /** With `enabled_backends`: locations record their store id and the stores API is on. */
    readonly multiStore: boolean,
  ) {
    this.byId = new Map(backends.map((b) => [b.id, b]));
    if (backends.filter((b) => b.isDefault).length !== 1) throw new Error('exactly one store must be the default');
  }

  /** Builds and prepares every configured driver (no remote service is contacted). */
  static async open(config: StoresConfig, log: (msg: string, err?: unknown) => void): Promise<StoreRegistry> {
    const backends: Backend[] = [];
    for (const b of config.backends) backends.push(await openBackend(b, b.id === config.defaultBackend, log));
    return new StoreRegistry(backends, config.multiStore);
  }

  get default(): Backend {
    return this.backends.find((b) => b.isDefault)!;
  }

  get(id: string): Backend | undefined {
    return this.byId.get(id);
  }

  /** The stores users see (GET /v2/info/stores): all but the reserved ones, in configuration order. */
  listed(): Backend[] {
    return this.backends.filter((b) => !b.reserved);
  }

  /** Every configured store, the reserved ones (staging) included. */
  all(): readonly Backend[] {
    return this.backends;
  }

  /** The store holding a location's bytes, or undefined if no configured store does. */
  forLocation(loc: LocationRef): Backend | undefined {
    const id = loc.metadata.store;
    if (typeof id === 'string') {
      const named = this.byId.get(id);
      if (named?.store.owns(loc.url)) return named;
    }
    return this.backends.find((b) => b.store.owns(loc.url));
  }

  /** The metadata to record with a location written to `backend`: the driver's, plus the store id in multi-store mode. */
  locationMetadata(backend: Backend, driverMetadata: Record<string, unknown>): Record<string, unknown> {
    return this.multiStore ? { ...driverMetadata, store: backend.id } : driverMetadata;
  }

  /** Frees the drivers' kept-alive connections (at shutdown). */
  close(): void {
    for (const b of this.backends) b.store.close?.();
  }

  /**
   * Opens the first of `locations` (in `ordered` order) that a configured store can read, the
   * others being tried in turn; each location passed over goes to `skipped` (with the read's
   * error, or none when no configured store holds it). Undefined when none could be read.
   */
  async readFirst<L extends LocationRef>(
    locations: readonly L[],
    range?: { start: number; end: number },
    skipped: (loc: L, backend: Backend | undefined, err?: unknown) => void = () => undefined,
  ): Promise<{ stream: Readable; backend: Backend } | undefined> {
    for (const loc of this.ordered(locations)) {
      const backend = this.forLocation(loc);
      if (!backend) {
        skipped(loc, undefined);
        continue;
      }
      try {
        return { stream: await backend.store.read(loc.url, range), backend };
      } catch (err) {
        skipped(loc, backend, err);
      }
    }
    return undefined;
  }

  /**
   * Locations in the order downloads try them: by the weight of their store, highest first
   * (multi-store), then as recorded.
   */
  ordered<L extends LocationRef>(locations: readonly L[]): L[] {
    const weight = (l: L) => this.forLocation(l)?.weight ?? Number.NEGATIVE_INFINITY;
    return locations.map((l, i) => ({ l, i, w: weight(l) })).sort((a, b) => b.w - a.w || a.i - b.i).map((x) => x.l);
  }
}

async function openBackend(b: BackendConfig, isDefault: boolean, log: (msg: string, err?: unknown) => void): Promise<Backend> {
  const store = createDriver(b, { id: b.id, log });
  try {
    await store.init();
  } catch (err) {
    throw new Error(`store '${b.id}' (${b.type}): ${(err as Error).message}`, { cause: err });
  }
  return { id: b.id, type: b.type, description: b.description, weight: b.weight, reserved: b.reserved, isDefault, store };
}
