/** Store discovery (`/v2/info/stores`) and removing an image's data from one store (`DELETE /v2/stores/{store}/{image}`). */
import type { RequestContext } from '../auth/context.js';
import type { Backend, StoreRegistry } from '../store/registry.js';
import type { DataCleanup } from './data-cleanup.js';
import { Conflict, Forbidden, NotFound } from './errors.js';
import type { ImageAccess } from './image-access.js';
import type { Notifier } from './notifications.js';
import type { UnitOfWork } from './ports.js';

export interface StoreSummary {
  id: string;
  description?: string;
  default?: 'true';
  'read-only'?: 'true';
}

export interface StoreDetail extends StoreSummary {
  type: string;
  weight: number;
  properties: Record<string, unknown>;
}

export class ImageStores {
  constructor(
    private readonly stores: StoreRegistry,
    private readonly uow: UnitOfWork,
    private readonly access: ImageAccess,
    private readonly cleanup: DataCleanup,
    /** image.update goes with the removal of a store's location. */
    private readonly notifier?: Notifier,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether multi-store is configured: the stores API exists only then (404 otherwise, as in Glance). */
  get enabled(): boolean {
    return this.stores.multiStore;
  }

  /** The stores a client may name, the default first flagged; Glance's strings `"true"`, present only when true. */
  list(): StoreSummary[] {
    this.assertEnabled();
    return this.stores.listed().map(summary);
  }

  /** With each store's type, weight and driver facts; policy `stores_info_detail`. */
  detail(ctx: RequestContext): StoreDetail[] {
    this.assertEnabled();
    this.access.enforce(ctx, 'stores_info_detail', {});
    return this.stores.listed().map((b) => ({ ...summary(b), type: b.type, weight: b.weight, properties: b.store.describe() }));
  }

  /** The store ids a new image may be uploaded to, for the `OpenStack-image-store-ids` header. */
  storeIds(): string[] {
    return this.stores.multiStore ? this.stores.listed().map((b) => b.id) : [];
  }

  /**
   * Removes the image's data from one store, keeping it in the others. The location becomes
   * `pending_delete` first (the intent is on record), then the bytes go, as on image delete.
   */
  async deleteFromStore(ctx: RequestContext, storeId: string, imageId: string): Promise<void> {
    this.assertEnabled();
    const backend = this.stores.get(storeId);
    if (!backend || backend.reserved) throw new Conflict(`The selected store ${storeId} is not available on this node.`);
    const found = await this.access.find(ctx, imageId).catch((err: unknown) => {
      if (err instanceof NotFound) throw new NotFound(`Failed to find image ${imageId}`);
      throw err;
    });
    this.access.authorize(ctx, 'get_image_location', found);
    this.access.authorize(ctx, 'delete_image_location', found);
    const { image } = found;
    if (image.status !== 'active') throw new Conflict("It's not allowed to remove image data from store if image status is not 'active'");
    if (image.locations.length === 1) throw new Forbidden('Cannot delete image data from the only store containing it. Consider deleting the image instead.');
    const location = image.locations.find((l) => l.metadata.store === storeId);
    if (!location) throw new NotFound(`Image ${imageId} is not stored in store ${storeId}.`);
    const notifier = this.notifier;
    const outcome = notifier?.wants('image.update')
      ? await notifier.run(async (tx) => {
          const doomed = await tx.images.doomLocation(imageId, location.id, this.now());
          if (doomed === 'doomed') await notifier.image(tx, imageId, 'image.update');
          return doomed;
        })
      : await this.uow.repos.images.doomLocation(imageId, location.id, this.now());
    if (outcome === 'last') throw new Forbidden('Cannot delete image data from the only store containing it. Consider deleting the image instead.');
    if (outcome === 'absent') throw new NotFound(`Image ${imageId} is not stored in store ${storeId}.`);
    await this.cleanup.removeBytes([location]);
  }

  private assertEnabled(): void {
    if (!this.stores.multiStore) throw new NotFound('Multi backend is not supported at this site.');
  }
}

function summary(b: Backend): StoreSummary {
  const s: StoreSummary = { id: b.id };
  if (b.description) s.description = b.description;
  if (b.isDefault) s.default = 'true';
  if (!b.store.capabilities.write) s['read-only'] = 'true';
  return s;
}
