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

export class ImageActions {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly access: ImageAccess,
    private readonly cleanup: DataCleanup,
    /** worker_self_reference_url: an image staged on another node is deleted there (StagedElsewhere). */
    private readonly selfUrl: string | null = null,
    /** image.delete and image.update (deactivate, reactivate) go with the status change. */
    private readonly notifier?: Notifier,
    private readonly now: () => number = Date.now,
    /** The node-local image cache: a deleted image's entry on this node goes with it. */
    private readonly caching: ImageCaching | null = null,
  ) {}

  /**
   * DELETE: the image becomes `deleted` and its locations `pending_delete` in one transaction
   * (the intent is on record), then the bytes are removed. If this process dies before they
   * are, the cleanup sweep of any node finishes the job.
   */
  async delete(ctx: RequestContext, id: string): Promise<void> {
    for (;;) {
      const { image } = await this.access.require(ctx, id, 'delete_image');
      if (image.protected) throw new Forbidden(`Image ${id} is protected and cannot be deleted.`);
      assertStagedHere(image, this.selfUrl);
      const step = plan('delete', image)!;
      const now = this.now();
      const doomed = await this.uow.run(async (tx) => {
        if (!(await tx.images.transition(id, step.from, step.to, { deleted_at: now }, now))) return undefined;
        const doomed = await tx.images.doomLocations(id, now);
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
