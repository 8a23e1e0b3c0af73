import type { RequestContext } from '../auth/context.js';
import type { ImageRecord } from '../db/image-records.js';
import { Forbidden, NotFound } from './errors.js';

/**
 * Who may see and change an image. Until the policy engine lands these are Glance's default
 * outcomes for the common personas: admins everything, the owner project its images, everyone
 * public and community images. Member projects of a shared image also see it: that needs a
 * look-up, done by ImageService.get.
 */
export function canSee(ctx: RequestContext, image: ImageRecord): boolean {
  if (ctx.isAdmin) return true;
  if (image.visibility === 'public' || image.visibility === 'community') return true;
  return ctx.projectId !== null && image.owner === ctx.projectId;
}

export function canModify(ctx: RequestContext, image: ImageRecord): boolean {
  return ctx.isAdmin || (ctx.projectId !== null && image.owner === ctx.projectId);
}

export function notFound(id: string): NotFound {
  return new NotFound(`No image found with ID ${id}`);
}

export function assertCanModify(ctx: RequestContext, image: ImageRecord, action: string): void {
  if (!canModify(ctx, image)) throw new Forbidden(`You are not authorized to ${action} image ${image.id}.`);
}
