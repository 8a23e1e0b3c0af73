import type { RequestContext } from '../auth/context.js';
import { BadRequest, Conflict, Forbidden, NotFound, TooLarge } from './errors.js';
import type { ImageAccess, VisibleImage } from './image-access.js';
import { MEMBER_STATUSES, type ImageRecord, type MemberRecord, type MemberStatus } from './image-model.js';
import { describeValue } from './image-schema.js';
import type { Notifier } from './notifications.js';
import type { MemberRepository, Repositories } from './ports.js';

/** Glance's membership look-ups show the owner project (and admins) every member, others only their own. */
function seesAllMembers(ctx: RequestContext, image: ImageRecord): boolean {
  return ctx.isAdmin || (ctx.projectId !== null && image.owner === ctx.projectId);
}

function memberNotFound(imageId: string, member: string): NotFound {
  return new NotFound(`${member} is not a member of image ${imageId}`);
}

/**
 * Sharing images between projects: the owner adds and removes member projects, each member
 * accepts or rejects. Only `shared` images have members.
 */
export class MemberService {
  constructor(
    private readonly access: ImageAccess,
    private readonly members: MemberRepository,
    private readonly quota: number,
    /** image.member.create / .update / .delete go with the change. */
    private readonly notifier?: Notifier,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The image once the caller may see it and `rule` allows (404/403; null: checked later by the
   * caller), if it is shared (403 otherwise, as Glance answers).
   */
  private async sharedImage(ctx: RequestContext, imageId: string, rule: string | null, refusal = 'Only shared images have members.'): Promise<VisibleImage> {
    const visible = rule === null ? await this.access.find(ctx, imageId) : await this.access.require(ctx, imageId, rule);
    if (visible.image.visibility !== 'shared') throw new Forbidden(refusal);
    return visible;
  }

  /** The owner (and admins) see every member; a member project sees only its own membership. */
  async list(ctx: RequestContext, imageId: string): Promise<MemberRecord[]> {
    const { image } = await this.sharedImage(ctx, imageId, 'get_members');
    const all = await this.members.list(imageId);
    return seesAllMembers(ctx, image) ? all : all.filter((m) => m.member === ctx.projectId);
  }

  async get(ctx: RequestContext, imageId: string, member: string): Promise<MemberRecord> {
    // Glance's show turns every 403 (a non-shared image included) into 404, not to leak information.
    const { image } = await this.sharedImage(ctx, imageId, 'get_member').catch((err: unknown) => {
      throw err instanceof Forbidden ? memberNotFound(imageId, member) : err;
    });
    if (!seesAllMembers(ctx, image) && member !== ctx.projectId) throw memberNotFound(imageId, member);
    const rec = await this.members.get(imageId, member);
    if (!rec) throw memberNotFound(imageId, member);
    return rec;
  }

  async add(ctx: RequestContext, imageId: string, body: unknown): Promise<MemberRecord> {
    await this.sharedImage(ctx, imageId, 'add_member', `Not allowed to create members for image ${imageId}.`);
    const member = (body as { member?: unknown } | null)?.member;
    if (typeof body !== 'object' || body === null || Array.isArray(body) || member === undefined) throw new BadRequest('Member to be added not specified');
    if (typeof member !== 'string' || member.trim() === '') throw new BadRequest('Member can not be empty');
    if (member.length > 255) throw new BadRequest('Member id is longer than 255 characters');
    const now = this.now();
    const rec: MemberRecord = { image_id: imageId, member, status: 'pending', created_at: now, updated_at: now };
    const outcome =
      (await this.withEvent('image.member.create', async (tx, notifier) => {
        const added = await tx.members.add(rec, this.quota);
        if (added === 'added') await notifier.member(tx, 'image.member.create', rec);
        return added;
      })) ?? (await this.members.add(rec, this.quota));
    if (outcome === 'duplicate') throw new Conflict(`Member ${member} is duplicated for image ${imageId}`);
    if (outcome === 'over-quota') throw new TooLarge(`Maximum number of members (image_member_quota = ${this.quota}) exceeded for image ${imageId}`);
    return rec;
  }

  /** The member project answers the invitation (the owner gets 403; admins may too). */
  async setStatus(ctx: RequestContext, imageId: string, member: string, body: unknown): Promise<MemberRecord> {
    const visible = await this.sharedImage(ctx, imageId, null);
    const image = visible.image;
    const status = (body as { status?: unknown } | null)?.status;
    if (typeof body !== 'object' || body === null || Array.isArray(body) || status === undefined) throw new BadRequest('Status not specified');
    // Glance's order: the membership as the caller sees it (owner and admins all, a member only
    // its own; 404 otherwise), then the modify_member rule (403), then the value (400).
    const rec = seesAllMembers(ctx, image) || member === ctx.projectId ? await this.members.get(imageId, member) : undefined;
    if (!rec) throw memberNotFound(imageId, member);
    // The default rule: admins, or the member project itself (never the owner).
    this.access.authorize(ctx, 'modify_member', visible, `You are not permitted to modify 'status' on this image member.`);
    if (typeof status !== 'string' || !(MEMBER_STATUSES as readonly string[]).includes(status)) {
      throw new BadRequest(`Invalid status: ${typeof status === 'string' ? status : describeValue(status)}; must be one of ${MEMBER_STATUSES.join(', ')}`);
    }
    const now = this.now();
    const updated: MemberRecord = { ...rec, status: status as MemberStatus, updated_at: now };
    const changed =
      (await this.withEvent('image.member.update', async (tx, notifier) => {
        if (!(await tx.members.setStatus(imageId, member, updated.status, now))) return false;
        await notifier.member(tx, 'image.member.update', updated);
        return true;
      })) ?? (await this.members.setStatus(imageId, member, updated.status, now));
    if (!changed) throw memberNotFound(imageId, member);
    return updated;
  }

  async remove(ctx: RequestContext, imageId: string, member: string): Promise<void> {
    await this.sharedImage(ctx, imageId, 'delete_member');
    const removed =
      (await this.withEvent('image.member.delete', async (tx, notifier) => {
        const rec = await tx.members.get(imageId, member);
        if (!(await tx.members.remove(imageId, member))) return false;
        await notifier.member(tx, 'image.member.delete', rec, this.now());
        return true;
      })) ?? (await this.members.remove(imageId, member));
    if (!removed) throw memberNotFound(imageId, member);
  }

  /** `work` in one transaction with its event when `eventType` is to be written; undefined (do it without) otherwise. */
  private async withEvent<T>(eventType: string, work: (tx: Repositories, notifier: Notifier) => Promise<T>): Promise<T | undefined> {
    const notifier = this.notifier;
    return notifier?.wants(eventType) ? notifier.run((tx) => work(tx, notifier)) : undefined;
  }
}
