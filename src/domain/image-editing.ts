/** Changing an image's metadata (and, through ImageLocations, its locations): PATCH and tags, with optimistic concurrency. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RequestContext } from '../auth/context.js';
import { BadRequest, Conflict, NotFound } from './errors.js';
import type { ImageAccess, VisibleImage } from './image-access.js';
import type { ImageRecord } from './image-model.js';
import type { ImageLocations, LocationChange } from './image-locations.js';
import type { ImagePatcher, PatchOp } from './image-patch.js';
import { checkImageQuotas, type ImageQuotas } from './image-quotas.js';
import type { Notifier } from './notifications.js';
import type { ImageRepository } from './ports.js';

export class ImageEditing {
  constructor(
    private readonly images: ImageRepository,
    private readonly access: ImageAccess,
    private readonly patcher: ImagePatcher,
    private readonly quotas: ImageQuotas,
    /** The locations' rules and view (the patcher's too); absent, locations are invisible. */
    private readonly locations?: ImageLocations,
    /** image.update goes with every save. */
    private readonly notifier?: Notifier,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * PATCH. Operations on locations are checked against the stores before anything is saved, and
   * saved in the image's transaction; the bytes of removed locations go after the commit. The
   * image is then read again, with its locations as they now are.
   */
  async update(ctx: RequestContext, id: string, ops: PatchOp[]): Promise<ImageRecord> {
    this.patcher.check(ops);
    const sizes = new Map<string, number>();
    let change: LocationChange | undefined;
    let memberId: string | null = null;
    const updated = await this.modify(ctx, id, null, async (visible) => {
      memberId = visible.memberId;
      const { image: next, locations } = this.patcher.applyAll(ctx, visible, ops);
      checkImageQuotas(this.quotas, next, visible.image);
      if (locations && !this.locations) throw new Error('image-editing: the patcher changed locations, but ImageEditing was built without ImageLocations');
      change = locations && this.locations ? await this.locations.prepare(ctx, visible, locations, sizes) : undefined;
      return next;
    }, (next, expected) => (change && this.locations ? this.locations.save(next, expected, change) : this.saveImage(next, expected)));
    if (!change || !this.locations) return this.shown(ctx, updated, memberId);
    await this.locations.finish(change);
    const fresh = await this.access.find(ctx, id);
    return this.shown(ctx, fresh.image, fresh.memberId);
  }

  /** The image as the caller may read it: readable properties, and locations only if it may see them. */
  private shown(ctx: RequestContext, image: ImageRecord, memberId: string | null): ImageRecord {
    const readable = this.access.readable(ctx, image);
    return this.locations ? this.locations.shown(ctx, { image: readable, memberId }) : readable;
  }

  async addTag(ctx: RequestContext, id: string, tag: string): Promise<void> {
    if (tag.length > 255) throw new BadRequest(`Tag '${tag.slice(0, 40)}…' is longer than 255 characters.`);
    await this.modify(ctx, id, 'modify_image', ({ image }) => {
      if (image.tags.includes(tag)) return null;
      const next = { ...image, tags: [...image.tags, tag] };
      checkImageQuotas(this.quotas, next, image);
      return next;
    });
  }

  async removeTag(ctx: RequestContext, id: string, tag: string): Promise<void> {
    await this.modify(ctx, id, 'modify_image', ({ image }) => {
      if (!image.tags.includes(tag)) throw new NotFound(`Tag ${tag} not found on image ${id}`);
      return { ...image, tags: image.tags.filter((t) => t !== tag) };
    });
  }

  /** Saves the image with its image.update (the payload is `next`: no second read). */
  private saveImage(next: ImageRecord, expected: { status: ImageRecord['status']; updatedAt: number }): Promise<boolean> {
    if (!this.notifier?.wants('image.update')) return this.images.save(next, expected);
    const notifier = this.notifier;
    return notifier.run(async (tx) => {
      if (!(await tx.images.save(next, expected))) return false;
      await notifier.image(tx, next, 'image.update');
      return true;
    });
  }

  /**
   * Read, change, save — with optimistic concurrency: `change` builds the new version from the
   * current one (null: nothing to do). If another request saved the image in between, the image
   * is read again and the change re-applied, exactly as if the two requests had come one after
   * the other; no update is lost and none overwrites another. Only a change that keeps losing is 409.
   * `rule` is checked first (null: `change` checks its own).
   */
  private async modify(
    ctx: RequestContext,
    id: string,
    rule: string | null,
    change: (visible: VisibleImage) => ImageRecord | null | Promise<ImageRecord | null>,
    save: (next: ImageRecord, expected: { status: ImageRecord['status']; updatedAt: number }) => Promise<boolean> = (next, expected) => this.saveImage(next, expected),
  ): Promise<ImageRecord> {
    for (let attempt = 0; attempt < 30; attempt++) {
      const visible = rule === null ? await this.access.find(ctx, id) : await this.access.require(ctx, id, rule);
      const image = visible.image;
      const next = await change(visible);
      if (next === null) return image;
      // Always later than the version read, so the compare-and-set on updated_at tells every
      // concurrent update apart.
      next.updated_at = Math.max(this.now(), image.updated_at + 1);
      if (await save(next, { status: image.status, updatedAt: image.updated_at })) return next;
      // Lost the race: back off a random while, so that many writers of one image spread out.
      await sleep(Math.random() * Math.min(50, 2 ** attempt));
    }
    throw new Conflict(`Image ${id} is being changed by other requests; retry.`);
  }
}
