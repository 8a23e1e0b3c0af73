/**
 * The PATCH engine: Glance's JSON-patch rules for images (add, replace, remove on base
 * attributes and custom properties), applied to a working copy. Every operation is checked
 * (pointer, read-only, reserved, schema) before any is applied, as Glance's deserializer does;
 * then each is applied after the policy and property-protection checks it needs.
 */
import type { RequestContext } from '../auth/context.js';
import { BadRequest, Conflict, Forbidden } from './errors.js';
import type { ImageAccess, VisibleImage } from './image-access.js';
import { plan } from './image-lifecycle.js';
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

export class ImagePatcher {
  constructor(
    private readonly attributes: ImageAttributes,
    private readonly access: ImageAccess,
  ) {}

  /** The checks that do not depend on the image: pointer, read-only, reserved, schema. */
  check(ops: readonly PatchOp[]): void {
    for (const op of ops) this.checkOp(op);
  }

  /** The image with `ops` applied (the image itself is not changed). */
  apply(ctx: RequestContext, visible: VisibleImage, ops: readonly PatchOp[]): ImageRecord {
    const image = visible.image;
    const next: ImageRecord = { ...image, tags: [...image.tags], properties: { ...image.properties } };
    for (const op of ops) this.applyOp(ctx, visible, next, op);
    return next;
  }

  private checkOp(op: PatchOp): void {
    const [root, ...rest] = op.path;
    if (root === undefined || root === '') throw new BadRequest(`Invalid JSON pointer for this resource: '/${op.path.join('/')}'`);
    if (root === 'locations') {
      throw new Forbidden(`It's not allowed to ${op.op === 'remove' ? 'remove' : 'add'} locations if locations are invisible.`);
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
