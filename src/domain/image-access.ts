import type { RequestContext } from '../auth/context.js';
import type { ImageRecord } from '../db/image-records.js';
import { NotFound } from './errors.js';

/**
 * Whether the catalogue shows an image to the caller at all, before any policy rule (Glance's
 * `is_image_visible`): admins everything, the owner project its images, everyone public and
 * community images. Member projects of a shared image also see it: that needs a look-up of the
 * membership, done by ImageService.
 */
export function visibleWithoutMembership(ctx: RequestContext, image: ImageRecord): boolean {
  if (ctx.isAdmin) return true;
  if (image.visibility === 'public' || image.visibility === 'community') return true;
  return ctx.projectId !== null && image.owner === ctx.projectId;
}

export function notFound(id: string): NotFound {
  return new NotFound(`No image found with ID ${id}`);
}
