/**
 * The PATCH engine: Glance's JSON-patch rules for images (add, replace, remove on base
 * attributes and custom properties), applied to a working copy. Every operation is checked
 * (pointer, read-only, reserved, schema) before any is applied, as Glance's deserializer does;
 * then each is applied after the policy and property-protection checks it needs. Operations on
 * `/locations` are ImageLocations' (image-locations.ts): applied here in their turn to a working
 * copy of the locations, which the caller checks against the stores and saves with the image.
 */
import type { RequestContext } from '../auth/context.js';
import { BadRequest, Conflict, Forbidden } from './errors.js';
import type { ImageAccess, VisibleImage } from './image-access.js';
import { plan } from './image-lifecycle.js';
import type { ImageLocations, LocationEdit } from './image-locations.js';
import type { ImageRecord } from './image-model.js';
import { imageTarget } from './image-policy.js';
import { isReservedProperty, type ImageAttributes } from './image-schema.js';

export interface PatchOp {
  op: 'add' | 'replace' | 'remove';
  /** The decoded JSON-pointer segments. */
  path: string[];
  value?: unknown;
  /** With the v2.0 patch media type, `add` of a property that exists is a conflict. */
  style?: 'v2.0' | 'v2.1';
}

/** The image as the operations leave it, and what they did to its locations (null: nothing). */
export interface PatchResult {
  image: ImageRecord;
  locations: LocationEdit | null;
}

export class ImagePatcher {
  constructor(
    private readonly attributes: ImageAttributes,
    private readonly access: ImageAccess,
    /** Absent: locations are invisible, as with show_multiple_locations = false. */
    private readonly locations?: ImageLocations,
  ) {}

  /** The checks that do not depend on the image: pointer, read-only, reserved, schema. */
  check(ops: readonly PatchOp[]): void {
    for (const op of ops) this.checkOp(op);
  }

  /** The image with `ops` applied (the image itself is not changed); operations on locations are refused. */
  apply(ctx: RequestContext, visible: VisibleImage, ops: readonly PatchOp[]): ImageRecord {
    const { image, locations } = this.applyAll(ctx, visible, ops);
    if (locations) throw new Error('image-patch: apply() does not save locations; use applyAll()');
    return image;
  }

  /** The image with `ops` applied (the image itself is not changed), and what they did to its locations. */
  applyAll(ctx: RequestContext, visible: VisibleImage, ops: readonly PatchOp[]): PatchResult {
    const image = visible.image;
    const next: ImageRecord = { ...image, tags: [...image.tags], properties: { ...image.properties } };
    let edit: LocationEdit | null = null;
    for (const op of ops) {
      if (op.path[0] !== 'locations') {
        this.applyOp(ctx, visible, next, op);
        continue;
      }
      if (!this.locations) throw new Forbidden(`It's not allowed to ${op.op === 'remove' ? 'remove' : op.op === 'add' ? 'add' : 'update'} locations if locations are invisible.`);
      edit ??= this.locations.begin(image);
      this.locations.applyOp(ctx, visible, edit, op.op, op.path[1], op.value);
    }
    return { image: next, locations: edit };
  }

  private checkOp(op: PatchOp): void {
    const [root, ...rest] = op.path;
    if (root === undefined || root === '') throw new BadRequest(`Invalid JSON pointer for this resource: '/${op.path.join('/')}'`);
    if (root === 'locations') {
      // `/locations/<position>` for add and remove, `/locations` (the whole list) for replace.
      if (op.path.length !== (op.op === 'replace' ? 1 : 2)) throw new BadRequest(`Invalid JSON pointer for this resource: '/${op.path.join('/')}'`);
      if (op.op !== 'remove') this.attributes.validator.validate({ locations: op.op === 'add' ? [op.value] : op.value });
      return;
    }
    if (rest.length > 0) throw new BadRequest(`Invalid JSON pointer for this resource: '/${op.path.join('/')}'`);
    if (root === 'id' || this.attributes.readOnly.has(root)) throw new Forbidden(`Attribute '${root}' is read-only.`);
    if (isReservedProperty(root)) throw new Forbidden(`Attribute '${root}' is reserved.`);
    if (root.length > 255) throw new BadRequest(`Property name '${root.slice(0, 40)}…' is longer than 255 characters.`);
    if (op.op !== 'remove') this.attributes.validator.validate({ [root]: op.value });
  }

  private applyOp(ctx: RequestContext, visible: VisibleImage, image: ImageRecord, op: PatchOp): void {
    const { access } = this;
    const root = op.path[0]!;
    const isBase = this.attributes.base.has(root);
    // Glance refuses any `replace` of owner by a non-admin, even with the same value, before policy.
    if (root === 'owner' && op.op === 'replace' && !ctx.isAdmin) throw new Forbidden("Owner can't be updated by non admin.");
    if (root === 'visibility' && op.op !== 'remove') access.checkVisibility(ctx, op.value as string, imageTarget(visible));
    access.enforceOnImage(ctx, 'modify_image', visible);

    if (op.op === 'remove') {
      if (isBase) throw new Forbidden(`Attribute '${root}' may not be removed.`);
      if (!(root in image.properties)) throw new Conflict(`Property ${root} does not exist.`);
      access.assertProperty(ctx, 'delete', root);
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
      access.assertProperty(ctx, exists && access.propertyAllowed(ctx, 'read', root) ? 'update' : 'create', root);
      image.properties[root] = op.value === null ? '' : String(op.value);
      return;
    }
    switch (root) {
      case 'owner':
        if (!ctx.isAdmin && op.value !== image.owner) throw new Forbidden("Owner can't be updated by non admin.");
        break;
      case 'disk_format':
      case 'container_format':
        plan('set_formats', image, root);
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
}
