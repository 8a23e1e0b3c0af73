/**
 * Who may see and do what to an image: Glance's visibility rule, the policy rules by name with
 * Glance's outcomes (404 where the image stays hidden, 403 otherwise), and property protections
 * on custom properties. The metadata, data and member services all ask here.
 */
import type { RequestContext } from '../auth/context.js';
import type { PropertyOperation, PropertyProtections } from '../policy/property-protections.js';
import type { Target } from '../policy/rule-language.js';
import { Forbidden, imageNotFound } from './errors.js';
import type { FoundImage, ImageRecord } from './image-model.js';
import { imageTarget, type AccessPolicy, type VisibleImage } from './image-policy.js';
import type { ImageRepository } from './ports.js';

export type { VisibleImage } from './image-policy.js';

/**
 * Glance's `is_image_visible`, before any policy rule: admins see everything, everyone sees
 * public and community images, a project its own images, and a member project the shared
 * images it is a member of, whatever its answer. Null if the caller does not see the image.
 * (Its SQL twin for lists is db/image-visibility-sql.ts.)
 */
export function visibleTo(ctx: RequestContext, { image, viewerMembership }: FoundImage): VisibleImage | null {
  const own = ctx.projectId !== null && image.owner === ctx.projectId;
  const asMember = image.visibility === 'shared' && ctx.projectId !== null && !own && viewerMembership !== null;
  if (asMember) return { image, memberId: ctx.projectId };
  if (ctx.isAdmin || own || image.visibility === 'public' || image.visibility === 'community') return { image, memberId: null };
  return null;
}

export class ImageAccess {
  constructor(
    private readonly images: ImageRepository,
    private readonly policy: AccessPolicy,
    /** `property_protection_file`'s rules; undefined = every property open to whoever may change the image. */
    private readonly protections?: PropertyProtections,
  ) {}

  /** The image if the caller may see it (`get_image`), else 404: Glance never reveals invisible images. */
  async find(ctx: RequestContext, id: string): Promise<VisibleImage> {
    const found = await this.images.find(id, ctx.projectId);
    const visible = found && visibleTo(ctx, found);
    if (!visible) throw imageNotFound(id);
    this.policy.enforceOnImage(ctx, 'get_image', visible);
    return visible;
  }

  /** The image once `get_image`, then `rule`, allow the caller to act on it (404 or 403 as Glance answers). */
  async require(ctx: RequestContext, id: string, rule: string): Promise<VisibleImage> {
    const visible = await this.find(ctx, id);
    this.policy.enforceOnImage(ctx, rule, visible);
    return visible;
  }

  /** `rule` on an image the caller sees: 404 if it may not even `get_image` it, else 403. */
  enforceOnImage(ctx: RequestContext, rule: string, visible: VisibleImage): void {
    this.policy.enforceOnImage(ctx, rule, visible);
  }

  /** `rule` on an image the caller sees: 403 (with `message`, if given) unless allowed. */
  authorize(ctx: RequestContext, rule: string, visible: VisibleImage, message?: string): void {
    this.policy.enforce(ctx, rule, imageTarget(visible), message);
  }

  /** Whether `rule` allows the caller on an image it sees (for what is shown or offered, not refused). */
  allows(ctx: RequestContext, rule: string, visible: VisibleImage): boolean {
    return this.policy.allows(ctx, rule, imageTarget(visible));
  }

  /** `rule` on a target that is not (yet) an image: 403 (with `message`) unless allowed. */
  enforce(ctx: RequestContext, rule: string, target: Target, message?: string): void {
    this.policy.enforce(ctx, rule, target, message);
  }

  /** Whether a listed image (the list query already applied visibility) passes `get_image`, as Glance checks each. */
  listed(ctx: RequestContext, image: ImageRecord): boolean {
    const memberId = image.visibility === 'shared' && image.owner !== ctx.projectId ? ctx.projectId : null;
    return this.policy.allows(ctx, 'get_image', imageTarget({ image, memberId }));
  }

  /** Making an image public or community has a rule of its own (publicize_image, communitize_image). */
  checkVisibility(ctx: RequestContext, visibility: string, target: Target): void {
    if (visibility === 'public') this.policy.enforce(ctx, 'publicize_image', target);
    if (visibility === 'community') this.policy.enforce(ctx, 'communitize_image', target);
  }

  /** Property protections: may the caller `op` the custom property `key`? */
  propertyAllowed(ctx: RequestContext, op: PropertyOperation, key: string): boolean {
    const rules = this.protections;
    if (!rules) return true;
    return rules.allowed(op, key, { roles: ctx.roles, serviceRoles: ctx.service?.roles }, (rule) => this.policy.allowsRule(ctx, rule));
  }

  /** 403 `reserved` unless the caller may `op` the custom property `key`. */
  assertProperty(ctx: RequestContext, op: PropertyOperation, key: string): void {
    if (!this.propertyAllowed(ctx, op, key)) throw new Forbidden(`Attribute '${key}' is reserved.`);
  }

  /** The image as the caller may read it: custom properties it may not read are left out, as Glance leaves them out. */
  readable(ctx: RequestContext, image: ImageRecord): ImageRecord {
    if (!this.protections) return image;
    return { ...image, properties: Object.fromEntries(Object.entries(image.properties).filter(([k]) => this.propertyAllowed(ctx, 'read', k))) };
  }
}
