/** The calls that move an image through its life without data: delete, deactivate, reactivate. */
import type { RequestContext } from '../auth/context.js';
import { Conflict, Forbidden } from './errors.js';
import type { DataCleanup } from './data-cleanup.js';
import type { ImageAccess } from './image-access.js';
import { plan } from './image-lifecycle.js';
import { assertStagedHere } from './stage-host.js';
import type { UnitOfWork } from './ports.js';

export class ImageActions {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly access: ImageAccess,
    private readonly cleanup: DataCleanup,
    /** worker_self_reference_url: an image staged on another node is deleted there (StagedElsewhere). */
    private readonly selfUrl: string | null = null,
    /** [DEFAULT] delayed_delete: an image with data goes to `pending_delete` and keeps its bytes for the scrubber. */
    private readonly delayedDelete = false,
    private readonly now: () => number = Date.now,
  ) {}

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
        return delayed ? tx.images.doomStagedLocations(id, now) : tx.images.doomLocations(id, now);
      });
      // Lost a race with a status change (an upload finishing, say): look again.
      if (doomed === undefined) continue;
      await this.cleanup.removeBytes(doomed);
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
    if (!(await this.uow.repos.images.transition(id, step.from, step.to, step.resets, this.now()))) {
      throw new Conflict(`Image ${id} changed status while being ${action}d; retry.`);
    }
  }
}
