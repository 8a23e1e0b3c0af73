import type { RequestContext } from '../auth/context.js';
import type { MemberRecord, MemberRepository } from '../db/member-repository.js';
import type { ImageRecord } from '../db/image-records.js';
import { assertCanModify, canModify } from './image-access.js';
import { BadRequest, Conflict, Forbidden, NotFound, TooLarge } from './errors.js';
import type { ImageService } from './image-service.js';

export const MEMBER_STATUSES = ['pending', 'accepted', 'rejected'] as const;

function memberNotFound(imageId: string, member: string): NotFound {
  return new NotFound(`${member} is not a member of image ${imageId}`);
}

/**
 * Sharing images between projects: the owner adds and removes member projects, each member
 * accepts or rejects. Only `shared` images have members.
 */
export class MemberService {
  constructor(
    private readonly images: ImageService,
    private readonly members: MemberRepository,
    private readonly quota: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The image if the caller can see it and it is shared (403 otherwise, as Glance answers). */
  private async sharedImage(ctx: RequestContext, imageId: string): Promise<ImageRecord> {
    const image = await this.images.get(ctx, imageId);
    if (image.visibility !== 'shared') throw new Forbidden('Only shared images have members.');
    return image;
  }

  /** The owner (and admins) see every member; a member project sees only its own membership. */
  async list(ctx: RequestContext, imageId: string): Promise<MemberRecord[]> {
    const image = await this.sharedImage(ctx, imageId);
    const all = await this.members.list(imageId);
    return canModify(ctx, image) ? all : all.filter((m) => m.member === ctx.projectId);
  }

  async get(ctx: RequestContext, imageId: string, member: string): Promise<MemberRecord> {
    // Glance's show turns every 403 (a non-shared image included) into 404, not to leak information.
    const image = await this.sharedImage(ctx, imageId).catch((err: unknown) => {
      throw err instanceof Forbidden ? memberNotFound(imageId, member) : err;
    });
    if (!canModify(ctx, image) && member !== ctx.projectId) throw memberNotFound(imageId, member);
    const rec = await this.members.get(imageId, member);
    if (!rec) throw memberNotFound(imageId, member);
    return rec;
  }

  async add(ctx: RequestContext, imageId: string, body: unknown): Promise<MemberRecord> {
    const image = await this.sharedImage(ctx, imageId);
    assertCanModify(ctx, image, 'add members to');
    const member = (body as { member?: unknown } | null)?.member;
    if (typeof body !== 'object' || body === null || Array.isArray(body) || member === undefined) throw new BadRequest('Member to be added not specified');
    if (typeof member !== 'string' || member.trim() === '') throw new BadRequest('Member can not be empty');
    if (member.length > 255) throw new BadRequest('Member id is longer than 255 characters');
    const now = this.now();
    const rec: MemberRecord = { image_id: imageId, member, status: 'pending', created_at: now, updated_at: now };
    const outcome = await this.members.add(rec, this.quota);
    if (outcome === 'duplicate') throw new Conflict(`Member ${member} already exists for image ${imageId}`);
    if (outcome === 'over-quota') throw new TooLarge(`Maximum number of members (image_member_quota = ${this.quota}) exceeded for image ${imageId}`);
    return rec;
  }

  /** The member project answers the invitation (the owner gets 403; admins may too). */
  async setStatus(ctx: RequestContext, imageId: string, member: string, body: unknown): Promise<MemberRecord> {
    const image = await this.sharedImage(ctx, imageId);
    const status = (body as { status?: unknown } | null)?.status;
    if (typeof body !== 'object' || body === null || Array.isArray(body) || status === undefined) throw new BadRequest('Status not specified');
    // Glance's order: the membership as the caller sees it (owner and admins all, a member only
    // its own; 404 otherwise), then the modify_member rule (403), then the value (400).
    const rec = canModify(ctx, image) || member === ctx.projectId ? await this.members.get(imageId, member) : undefined;
    if (!rec) throw memberNotFound(imageId, member);
    // Glance's modify_member rule: admins, or the member project itself.
    if (!ctx.isAdmin && ctx.projectId !== member) throw new Forbidden(`You are not permitted to modify 'status' on this image member.`);
    if (typeof status !== 'string' || !(MEMBER_STATUSES as readonly string[]).includes(status)) {
      throw new BadRequest(`Invalid status: ${String(status)}; must be one of ${MEMBER_STATUSES.join(', ')}`);
    }
    const now = this.now();
    if (!(await this.members.setStatus(imageId, member, status, now))) throw memberNotFound(imageId, member);
    return { ...rec, status, updated_at: now };
  }

  async remove(ctx: RequestContext, imageId: string, member: string): Promise<void> {
    const image = await this.sharedImage(ctx, imageId);
    if (!canModify(ctx, image)) {
      if (member !== ctx.projectId) throw memberNotFound(imageId, member);
      throw new Forbidden(`You are not permitted to remove members of image ${imageId}.`);
    }
    if (!(await this.members.remove(imageId, member))) throw memberNotFound(imageId, member);
  }
}
