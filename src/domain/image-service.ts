import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RequestContext } from '../auth/context.js';
import type { ImageRepository } from '../db/image-repository.js';
import type { MemberRepository } from '../db/member-repository.js';
import type { ImageFilters, ImageRecord, SortDir, SortKey } from '../db/image-records.js';
import type { BlobStore } from '../store/blob-store.js';
import { BlobNotFound } from '../store/blob-store.js';
import { notFound, visibleWithoutMembership } from './image-access.js';
import { imageTarget, type AccessPolicy, type VisibleImage } from './image-policy.js';
import type { PropertyOperation, PropertyProtections } from './property-protections.js';
import { BadRequest, Conflict, Forbidden, NotFound, TooLarge } from './errors.js';
import { baseAttributes, SchemaValidator, type JsonSchema } from './image-schema.js';

/** Attributes the server computes; sending them is 403 `read-only` (Glance's list). */
const READ_ONLY_ON_CREATE = ['created_at', 'updated_at', 'status', 'checksum', 'size', 'virtual_size', 'os_hash_algo', 'os_hash_value', 'direct_url', 'self', 'file', 'schema', 'stores'];
const READ_ONLY_ON_PATCH = new Set([...READ_ONLY_ON_CREATE, 'id']);
/** Names no user may set as custom properties. */
const RESERVED = new Set(['location', 'deleted', 'deleted_at', 'locations']);
const isReserved = (key: string) => RESERVED.has(key) || key.startsWith('os_glance');

/** Properties that count against image_property_quota (Glance's own os_glance* do not). */
const countedProperties = (image: ImageRecord) => Object.keys(image.properties).filter((k) => !k.startsWith('os_glance')).length;

export const SORT_KEYS: readonly SortKey[] = ['name', 'status', 'container_format', 'disk_format', 'size', 'id', 'created_at', 'updated_at'];

export interface PatchOp {
  op: 'add' | 'replace' | 'remove';
  /** The decoded JSON-pointer segments. */
  path: string[];
  value?: unknown;
  /** With the v2.0 patch media type, `add` of a property that exists is a conflict. */
  style?: 'v2.0' | 'v2.1';
}

export const DEFAULT_FILTERS: ImageFilters = { memberStatus: 'accepted', in: {}, equals: {}, ranges: [], times: [], tags: [], properties: [], osHidden: false };

export interface ListRequest {
  filters?: ImageFilters;
  limit: number;
  marker?: string;
  sort: { key: SortKey; dir: SortDir }[];
}

export interface ImageServiceDeps {
  repo: ImageRepository;
  members: MemberRepository;
  store: BlobStore;
  schema: JsonSchema;
  policy: AccessPolicy;
  /** `property_protection_file`'s rules; undefined = every property open to whoever may change the image. */
  protections?: PropertyProtections;
  /** image_property_quota and image_tag_quota; negative = unlimited. */
  quotas: { properties: number; tags: number };
  now?: () => number;
  log?: (msg: string, err?: unknown) => void;
}

/** Image metadata operations: each reads top to bottom, calling access checks, repository and store explicitly. */
export class ImageService {
  private readonly validator: SchemaValidator;
  private readonly base: Set<string>;
  private readonly now: () => number;
  private readonly log: (msg: string, err?: unknown) => void;

  constructor(private readonly deps: ImageServiceDeps) {
    this.validator = new SchemaValidator(deps.schema);
    this.base = baseAttributes(deps.schema);
    this.now = deps.now ?? Date.now;
    this.log = deps.log ?? (() => undefined);
  }

  /** The image if the caller may see it (`get_image`), else 404: Glance never reveals invisible images. */
  async get(ctx: RequestContext, id: string): Promise<ImageRecord> {
    return this.readable(ctx, (await this.access(ctx, id)).image);
  }

  /** As `get`, with how the caller reached the image, for further policy checks on it. */
  async access(ctx: RequestContext, id: string): Promise<VisibleImage> {
    const image = await this.deps.repo.get(id);
    const visible = image && (await this.visibility(ctx, image));
    if (!visible) throw notFound(id);
    this.deps.policy.enforceOnImage(ctx, 'get_image', visible);
    return visible;
  }

  /** The image once `get_image`, then `rule`, allow the caller to act on it (404 or 403 as Glance answers). */
  async accessFor(ctx: RequestContext, id: string, rule: string): Promise<VisibleImage> {
    const visible = await this.access(ctx, id);
    this.deps.policy.enforceOnImage(ctx, rule, visible);
    return visible;
  }

  /** `rule` on an image the caller sees: 403 (with `message`, if given) unless allowed. */
  authorize(ctx: RequestContext, rule: string, visible: VisibleImage, message?: string): void {
    this.deps.policy.enforce(ctx, rule, imageTarget(visible), message);
  }

  /** Whether the catalogue shows the image to the caller: a shared image also to its member projects, whatever their answer. */
  private async visibility(ctx: RequestContext, image: ImageRecord): Promise<VisibleImage | null> {
    const asMember =
      image.visibility === 'shared' && ctx.projectId !== null && image.owner !== ctx.projectId && (await this.deps.members.get(image.id, ctx.projectId)) !== undefined;
    if (!asMember && !visibleWithoutMembership(ctx, image)) return null;
    return { image, memberId: asMember ? ctx.projectId : null };
  }

  async create(ctx: RequestContext, body: unknown): Promise<ImageRecord> {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new BadRequest('Unexpected body type. Expected a JSON object.');
    }
    const doc = body as Record<string, unknown>;
    for (const key of READ_ONLY_ON_CREATE) {
      if (key in doc) throw new Forbidden(`Attribute '${key}' is read-only.`);
    }
    this.validator.validate(doc);
    for (const key of Object.keys(doc)) {
      if (isReserved(key)) throw new Forbidden(`Attribute '${key}' is reserved.`);
      if (key.length > 255) throw new BadRequest(`Property name '${key.slice(0, 40)}…' is longer than 255 characters.`);
    }
    const owner = doc.owner === undefined ? ctx.projectId : (doc.owner as string | null);
    const visibility = (doc.visibility as string | undefined) ?? 'shared';
    const target = { project_id: owner, owner, visibility };
    this.deps.policy.enforce(ctx, 'add_image', target, `You are not permitted to create images owned by '${owner ?? 'None'}'.`);
    if (doc.visibility !== undefined) this.checkVisibility(ctx, visibility, target);
    for (const k of ['min_ram', 'min_disk'] as const) {
      if (typeof doc[k] === 'number' && (doc[k] as number) < 0) throw new BadRequest(`${k} must be a non-negative integer.`);
    }

    const now = this.now();
    const properties: Record<string, string> = {};
    for (const [k, v] of Object.entries(doc)) {
      if (this.base.has(k)) continue;
      this.assertProperty(ctx, 'create', k);
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
    this.checkQuotas(image, { properties: 0, tags: 0 });
    if (!(await this.deps.repo.insert(image))) throw new Conflict(`An image with identifier ${image.id} already exists`);
    return this.readable(ctx, image);
  }

  async list(ctx: RequestContext, req: ListRequest): Promise<{ images: ImageRecord[]; nextMarker?: string }> {
    this.deps.policy.enforce(ctx, 'get_images', { project_id: ctx.projectId });
    let marker: ImageRecord | null = null;
    if (req.marker !== undefined) {
      const m = await this.deps.repo.get(req.marker);
      if (!m || !(await this.visibility(ctx, m))) throw new BadRequest(`Invalid marker. Image ${req.marker} could not be found.`);
      marker = m;
    }
    const sort = [...req.sort];
    // Glance appends created_at then id as tie-breakers, in the first direction given.
    const dir = sort[0]?.dir ?? 'desc';
    for (const key of ['created_at', 'id'] as const) if (!sort.some((s) => s.key === key)) sort.push({ key, dir });
    const images = await this.deps.repo.list({
      // Admins too: their own project's community images stay in their default list (Glance's
      // community filter keeps images owned by the caller's project).
      viewerProject: ctx.projectId,
      isAdmin: ctx.isAdmin,
      filters: req.filters ?? DEFAULT_FILTERS,
      sort,
      limit: req.limit,
      marker,
    });
    const last = images[images.length - 1];
    // Each image is then checked against get_image, as Glance does; the next page starts after
    // the last image read, shown or not.
    const shown = images.filter((image) => {
      const memberId = image.visibility === 'shared' && image.owner !== ctx.projectId ? ctx.projectId : null;
      return this.deps.policy.allows(ctx, 'get_image', imageTarget({ image, memberId }));
    });
    return { images: shown.map((image) => this.readable(ctx, image)), nextMarker: last && images.length === req.limit ? last.id : undefined };
  }

  async update(ctx: RequestContext, id: string, ops: PatchOp[]): Promise<ImageRecord> {
    // As Glance's deserializer does: every operation is checked (pointer, read-only, reserved,
    // schema) before any is applied.
    for (const op of ops) this.checkOp(op);
    const updated = await this.modify(ctx, id, null, (visible) => {
      const image = visible.image;
      const next: ImageRecord = { ...image, tags: [...image.tags], properties: { ...image.properties } };
      for (const op of ops) this.applyOp(ctx, visible, next, op);
      this.checkQuotas(next, { properties: countedProperties(image), tags: image.tags.length });
      return next;
    });
    return this.readable(ctx, updated);
  }

  /** Property protections: may the caller `op` the custom property `key`? */
  private propertyAllowed(ctx: RequestContext, op: PropertyOperation, key: string): boolean {
    const rules = this.deps.protections;
    if (!rules) return true;
    return rules.allowed(op, key, { roles: ctx.roles, serviceRoles: ctx.service?.roles }, (rule) => this.deps.policy.allowsRule(ctx, rule));
  }

  private assertProperty(ctx: RequestContext, op: PropertyOperation, key: string): void {
    if (!this.propertyAllowed(ctx, op, key)) throw new Forbidden(`Attribute '${key}' is reserved.`);
  }

  /** The image as the caller may read it: custom properties it may not read are left out, as Glance leaves them out. */
  private readable(ctx: RequestContext, image: ImageRecord): ImageRecord {
    if (!this.deps.protections) return image;
    return { ...image, properties: Object.fromEntries(Object.entries(image.properties).filter(([k]) => this.propertyAllowed(ctx, 'read', k))) };
  }

  /**
   * Read, change, save — with optimistic concurrency: `change` builds the new version from the
   * current one (null: nothing to do). If another request saved the image in between, the image
   * is read again and the change re-applied, exactly as if the two requests had come one after
   * the other; no update is lost and none overwrites another. Only a change that keeps losing is 409.
   * `rule` is checked first (null: `change` checks its own).
   */
  private async modify(ctx: RequestContext, id: string, rule: string | null, change: (visible: VisibleImage) => ImageRecord | null): Promise<ImageRecord> {
    for (let attempt = 0; attempt < 30; attempt++) {
      const visible = rule === null ? await this.access(ctx, id) : await this.accessFor(ctx, id, rule);
      const image = visible.image;
      const next = change(visible);
      if (next === null) return image;
      next.updated_at = this.touched(image);
      if (await this.deps.repo.save(next, image.status, image.updated_at)) return next;
      // Lost the race: back off a random while, so that many writers of one image spread out.
      await sleep(Math.random() * Math.min(50, 2 ** attempt));
    }
    throw new Conflict(`Image ${id} is being changed by other requests; retry.`);
  }

  /** The checks that do not depend on the image: pointer, read-only, reserved, schema. */
  private checkOp(op: PatchOp): void {
    const [root, ...rest] = op.path;
    if (root === undefined || root === '') throw new BadRequest(`Invalid JSON pointer for this resource: '/${op.path.join('/')}'`);
    if (root === 'locations') {
      throw new Forbidden(`It's not allowed to ${op.op === 'remove' ? 'remove' : 'add'} locations if locations are invisible.`);
    }
    if (rest.length > 0) throw new BadRequest(`Invalid JSON pointer for this resource: '/${op.path.join('/')}'`);
    if (READ_ONLY_ON_PATCH.has(root)) throw new Forbidden(`Attribute '${root}' is read-only.`);
    if (isReserved(root)) throw new Forbidden(`Attribute '${root}' is reserved.`);
    if (root.length > 255) throw new BadRequest(`Property name '${root.slice(0, 40)}…' is longer than 255 characters.`);
    if (op.op !== 'remove') this.validator.validate({ [root]: op.value });
  }

  /** Applies one operation (already passed `checkOp`) to the working copy, after Glance's policy checks for it. */
  private applyOp(ctx: RequestContext, visible: VisibleImage, image: ImageRecord, op: PatchOp): void {
    const root = op.path[0]!;
    const isBase = this.base.has(root);
    // Glance refuses any `replace` of owner by a non-admin, even with the same value, before policy.
    if (root === 'owner' && op.op === 'replace' && !ctx.isAdmin) throw new Forbidden("Owner can't be updated by non admin.");
    if (root === 'visibility' && op.op !== 'remove') this.checkVisibility(ctx, op.value as string, imageTarget(visible));
    this.deps.policy.enforceOnImage(ctx, 'modify_image', visible);

    if (op.op === 'remove') {
      if (isBase) throw new Forbidden(`Attribute '${root}' may not be removed.`);
      if (!(root in image.properties)) throw new Conflict(`Property ${root} does not exist.`);
      this.assertProperty(ctx, 'delete', root);
      delete image.properties[root];
      return;
    }

    const record = image as unknown as Record<string, unknown>;
    const coreColumn = isBase && root in record;
    // Glance's draft-4 `add` refuses any attribute the image has, and base attributes it always has.
    if (coreColumn && op.op === 'add' && op.style === 'v2.0') throw new Conflict(`Property ${root} already present.`);
    if (!coreColumn) {
      const exists = root in image.properties;
      if (op.op === 'replace' && !exists) throw new Conflict(`Property ${root} does not exist.`);
      if (op.op === 'add' && exists && op.style === 'v2.0') throw new Conflict(`Property ${root} already present.`);
      // Glance's protected properties: changing one the caller can read needs `update` (even to
      // the same value); one it cannot read (or a new one) needs `create`.
      this.assertProperty(ctx, exists && this.propertyAllowed(ctx, 'read', root) ? 'update' : 'create', root);
      image.properties[root] = op.value === null ? '' : String(op.value);
      return;
    }
    switch (root) {
      case 'owner':
        if (!ctx.isAdmin && op.value !== image.owner) throw new Forbidden("Owner can't be updated by non admin.");
        break;
      case 'disk_format':
      case 'container_format':
        // Glance's setter refuses any assignment outside queued/importing, even of the same value.
        if (image.status !== 'queued' && image.status !== 'importing') {
          throw new Forbidden(`Attribute ${root} can be only replaced for a queued image.`);
        }
        break;
      case 'min_ram':
      case 'min_disk':
        if ((op.value as number) < 0) throw new BadRequest(`${root} must be a non-negative integer.`);
        break;
      case 'tags':
        image.tags = [...new Set(op.value as string[])];
        return;
    }
    record[root] = op.value;
  }

  /** image_property_quota / image_tag_quota, checked when a change adds to the count (413). */
  private checkQuotas(image: ImageRecord, before: { properties: number; tags: number }): void {
    const { properties, tags } = this.deps.quotas;
    const nProps = countedProperties(image);
    if (properties >= 0 && nProps > properties && nProps > before.properties) {
      throw new TooLarge(`Maximum number of properties exceeded (image_property_quota = ${properties}).`);
    }
    if (tags >= 0 && image.tags.length > tags && image.tags.length > before.tags) {
      throw new TooLarge(`Maximum number of tags exceeded (image_tag_quota = ${tags}).`);
    }
  }

  async addTag(ctx: RequestContext, id: string, tag: string): Promise<void> {
    if (tag.length > 255) throw new BadRequest(`Tag '${tag.slice(0, 40)}…' is longer than 255 characters.`);
    await this.modify(ctx, id, 'modify_image', ({ image }) => {
      if (image.tags.includes(tag)) return null;
      const next = { ...image, tags: [...image.tags, tag] };
      this.checkQuotas(next, { properties: countedProperties(image), tags: image.tags.length });
      return next;
    });
  }

  async removeTag(ctx: RequestContext, id: string, tag: string): Promise<void> {
    await this.modify(ctx, id, 'modify_image', ({ image }) => {
      if (!image.tags.includes(tag)) throw new NotFound(`Tag ${tag} not found on image ${id}`);
      return { ...image, tags: image.tags.filter((t) => t !== tag) };
    });
  }

  /**
   * The updated_at of a new version of `image`: now, but always later than the version read, so
   * save's compare-and-set on updated_at tells every concurrent update apart (no lost updates).
   */
  private touched(image: ImageRecord): number {
    return Math.max(this.now(), image.updated_at + 1);
  }

  /** Making an image public or community has a rule of its own (publicize_image, communitize_image). */
  private checkVisibility(ctx: RequestContext, visibility: string, target: Record<string, unknown>): void {
    if (visibility === 'public') this.deps.policy.enforce(ctx, 'publicize_image', target);
    if (visibility === 'community') this.deps.policy.enforce(ctx, 'communitize_image', target);
  }

  async delete(ctx: RequestContext, id: string): Promise<void> {
    for (;;) {
      const { image } = await this.accessFor(ctx, id, 'delete_image');
      if (image.protected) throw new Forbidden(`Image ${id} is protected and cannot be deleted.`);
      const locations = await this.deps.repo.markDeleted(id, image.status, this.now());
      // Lost a race with a status change (an upload finishing, say): look again.
      if (locations === undefined) continue;
      for (const loc of locations) {
        const key = this.deps.store.keyOf(loc.url);
        if (key === undefined) continue;
        await this.deps.store.delete(key).catch((err: unknown) => {
          if (!(err instanceof BlobNotFound)) this.log(`could not delete data of image ${id} at ${loc.url}`, err);
        });
      }
      return;
    }
  }

  async deactivate(ctx: RequestContext, id: string): Promise<void> {
    await this.toggleActive(ctx, id, 'active', 'deactivated', 'deactivate');
  }

  async reactivate(ctx: RequestContext, id: string): Promise<void> {
    await this.toggleActive(ctx, id, 'deactivated', 'active', 'reactivate');
  }

  /** `action` is also the name of its policy rule. */
  private async toggleActive(ctx: RequestContext, id: string, from: string, to: string, action: 'deactivate' | 'reactivate'): Promise<void> {
    const { image } = await this.accessFor(ctx, id, action);
    if (image.status === to) return;
    if (image.status !== from) throw new Forbidden(`Not allowed to ${action} image in status '${image.status}'`);
    if (!(await this.deps.repo.setStatus(id, [from], to, this.now()))) {
      throw new Conflict(`Image ${id} changed status while being ${action}d; retry.`);
    }
  }
}
