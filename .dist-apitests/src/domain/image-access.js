import { Forbidden, NotFound } from './errors.js';
/**
 * Who may see and change an image. Until the policy engine lands these are Glance's default
 * outcomes for the common personas: admins everything, the owner project its images, everyone
 * public and community images; shared images are seen by their owner (members come with the
 * catalogue).
 */
export function canSee(ctx, image) {
    if (ctx.isAdmin)
        return true;
    if (image.visibility === 'public' || image.visibility === 'community')
        return true;
    return ctx.projectId !== null && image.owner === ctx.projectId;
}
export function canModify(ctx, image) {
    return ctx.isAdmin || (ctx.projectId !== null && image.owner === ctx.projectId);
}
export function notFound(id) {
    return new NotFound(`No image found with ID ${id}`);
}
export function assertCanModify(ctx, image, action) {
    if (!canModify(ctx, image))
        throw new Forbidden(`You are not authorized to ${action} image ${image.id}.`);
}
//# sourceMappingURL=image-access.js.map