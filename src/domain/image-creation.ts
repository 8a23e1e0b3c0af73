/** POST /v2/images: a new image record, in `queued`, owned by the caller's project unless an admin says otherwise. */
import { randomUUID } from 'node:crypto';
import type { RequestContext } from '../auth/context.js';
import { BadRequest, Conflict, Forbidden } from './errors.js';
import type { ImageAccess } from './image-access.js';
import type { ImageRecord } from './image-model.js';
import { checkImageQuotas, type ImageQuotas } from './image-quotas.js';
import { isReservedProperty, type ImageAttributes } from './image-schema.js';
import type { Notifier } from './notifications.js';
import type { ProjectLimits } from './project-limits.js';

export class ImageCreation {
  constructor(
    private readonly attributes: ImageAttributes,
    /** image.create goes with the insert. */
    private readonly notifier: Notifier,
    private readonly access: ImageAccess,
    private readonly quotas: ImageQuotas,
    private readonly now: () => number = Date.now,
    /** use_keystone_limits: image_count_total is checked (+1) before the image is recorded. */
    private readonly limits: ProjectLimits | null = null,
  ) {}

  async create(ctx: RequestContext, body: unknown): Promise<ImageRecord> {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new BadRequest('Unexpected body type. Expected a JSON object.');
    }
    const doc = body as Record<string, unknown>;
    for (const key of Object.keys(doc)) {
      if (this.attributes.readOnly.has(key)) throw new Forbidden(`Attribute '${key}' is read-only.`);
    }
    this.attributes.validator.validate(doc);
    for (const key of Object.keys(doc)) {
      if (isReservedProperty(key)) throw new Forbidden(`Attribute '${key}' is reserved.`);
      if (key.length > 255) throw new BadRequest(`Property name '${key.slice(0, 40)}…' is longer than 255 characters.`);
    }
    const owner = doc.owner === undefined ? ctx.projectId : (doc.owner as string | null);
    const visibility = (doc.visibility as string | undefined) ?? 'shared';
    const target = { project_id: owner, owner, visibility };
    this.access.enforce(ctx, 'add_image', target, `You are not permitted to create images owned by '${owner ?? 'None'}'.`);
    if (doc.visibility !== undefined) this.access.checkVisibility(ctx, visibility, target);
    for (const k of ['min_ram', 'min_disk'] as const) {
      if (typeof doc[k] === 'number' && (doc[k] as number) < 0) throw new BadRequest(`${k} must be a non-negative integer.`);
    }

    await this.limits?.enforce(ctx.projectId, { image_count_total: 1 });

    const now = this.now();
    const properties: Record<string, string> = {};
    for (const [k, v] of Object.entries(doc)) {
      if (this.attributes.base.has(k)) continue;
      this.access.assertProperty(ctx, 'create', k);
      properties[k] = v === null ? '' : String(v);
    }
    const image: ImageRecord = {
      id: (doc.id as string | undefined)?.toLowerCase() ?? randomUUID(),
      name: (doc.name as string | null | undefined) ?? null,
      status: 'queued',
      visibility,
      protected: (doc.protected as boolean | undefined) ?? false,
      os_hidden: (doc.os_hidden as boolean | undefined) ?? false,
      checksum: null,
      os_hash_algo: null,
      os_hash_value: null,
      owner,
      size: null,
      virtual_size: null,
      min_disk: (doc.min_disk as number | undefined) ?? 0,
      min_ram: (doc.min_ram as number | undefined) ?? 0,
      container_format: (doc.container_format as string | null | undefined) ?? null,
      disk_format: (doc.disk_format as string | null | undefined) ?? null,
      created_at: now,
      updated_at: now,
      deleted_at: null,
      tags: [...new Set((doc.tags as string[] | undefined) ?? [])],
      properties,
      locations: [],
    };
    checkImageQuotas(this.quotas, image, null);
    const inserted = await this.notifier.run(async (tx) => {
      if (!(await tx.images.insert(image))) return false;
      await this.notifier.image(tx, image, 'image.create');
      return true;
    });
    if (!inserted) throw new Conflict(`An image with identifier ${image.id} already exists`);
    return this.access.readable(ctx, image);
  }
}
