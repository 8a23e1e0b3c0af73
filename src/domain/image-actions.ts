/** The calls that move an image through its life without data: delete, deactivate, reactivate. */
import type { RequestContext } from '../auth/context.js';
import { Conflict, Forbidden } from './errors.js';
import type { DataCleanup } from './data-cleanup.js';
import type { ImageAccess } from './image-access.js';
import type { ImageCaching } from './image-caching.js';
import { plan } from './image-lifecycle.js';
import { assertStagedHere } from './stage-host.js';
import type { Notifier } from './notifications.js';
import type { UnitOfWork } from './ports.js';

export interface ImageActionsOptions {
  /** worker_self_reference_url: an image staged on another node is deleted there (StagedElsewhere). */
  selfUrl?: string | null;
  /** [DEFAULT] delayed_delete: an image with data goes to `pending_delete` and keeps its bytes for the scrubber. */
  delayedDelete?: boolean;
  /** image.delete and image.update (deactivate, reactivate) go with the status change. */
  notifier?: Notifier;
  /** The node-local image cache: a deleted image's entry on this node goes with it. */
  caching?: ImageCaching | null;
  now?: () => number;
}

export class ImageActions {
  private readonly selfUrl: string | null;
  private readonly delayedDelete: boolean;
  private readonly notifier?: Notifier;
  private readonly caching: ImageCaching | null;
  private readonly now: () => number;

  constructor(
    private readonly uow: UnitOfWork,
    private readonly access: ImageAccess,
    private readonly cleanup: DataCleanup,
    options: ImageActionsOptions = {},
  ) {
    this.selfUrl = options.selfUrl ?? null;
    this.delayedDelete = options.delayedDelete ?? false;
    this.notifier = options.notifier;
    this.caching = options.caching ?? null;
    this.now = options.now ?? Date.now;
  }

  /**
   * DELETE: the image becomes `deleted` and its locations `pending_delete` in one transaction
   * (the intent is on record), then the bytes are removed. If this process dies before they
   * are, the cleanup sweep of any node finishes the job. With delayed_delete, an image with data
   * becomes `pending_delete` instead (Glance's 400 if it is not active): its locations stay active,
   * so nothing but the scrubber (`ocellus scrub`, after scrub_time) removes its bytes and a restore
   * finds them intact; only staged data goes now, as Glance removes it at DELETE.
   */
  async delete(ctx: RequestContext, id: string): Promise<void> {
    for (;;) {
      const { image } = await this.access.require(ctx, id, 'delete_image');
      if (image.protected) throw new Forbidden(`Image ${id} is protected and cannot be deleted.`);
      assertStagedHere(image, this.selfUrl);
      const delayed = this.delayedDelete && image.locations.length > 0;
      const step = plan(delayed ? 'delayed_delete' : 'delete', image)!;
      const now = this.now();
      const doomed = await this.uow.run(async (tx) => {
        if (!(await tx.images.transition(id, step.from, step.to, { deleted_at: now }, now))) return undefined;
        const doomed = delayed ? await tx.images.doomStagedLocations(id, now) : await tx.images.doomLocations(id, now);
        await this.notifier?.imageDeleted(tx, image, now);
        return doomed;
      });
      // Lost a race with a status change (an upload finishing, say): look again.
      if (doomed === undefined) continue;
      await this.cleanup.removeBytes(doomed);
      await this.caching?.forgetDeleted(id);
      return;
    }
  }

  async deactivate(ctx: RequestContext, id: string): Promise<void> {
    await this.toggle(ctx, id, 'deactivate');
  }

  async reactivate(ctx: RequestContext, id: string): Promise<void> {
    await this.toggle(ctx, id, 'reactivate');
  }

  /** `action` is also the name of its policy rule. */
  private async toggle(ctx: RequestContext, id: string, action: 'deactivate' | 'reactivate'): Promise<void> {
    const { image } = await this.access.require(ctx, id, action);
    const step = plan(action, image);
    if (step === null) return;
    const notifier = this.notifier;
    const moved = notifier?.wants('image.update')
      ? await notifier.run(async (tx) => {
          if (!(await tx.images.transition(id, step.from, step.to, step.resets, this.now()))) return false;
          await notifier.image(tx, id, 'image.update');
          return true;
        })
      : await this.uow.repos.images.transition(id, step.from, step.to, step.resets, this.now());
    if (!moved) throw new Conflict(`Image ${id} changed status while being ${action}d; retry.`);
  }
}
