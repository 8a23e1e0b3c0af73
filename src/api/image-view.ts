import type { LocationView } from '../domain/image-locations.js';
import type { ImageRecord } from '../domain/image-model.js';

/** Glance's timestamp format: ISO 8601 UTC, whole seconds, `Z`. */
export function isoSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`; // years 0–9999: YYYY-MM-DDThh:mm:ss.sssZ
}

/**
 * The image as the API shows it: custom properties as top-level keys, base attributes winning.
 * Object.assign, not `{ ...image.properties, id, … }`: on Node 20 each key written after a spread
 * in an object literal takes a slow path (≈ 3 µs a key, 60+ µs for this view), an
 * Object.assign of the same keys about 4 µs. `locations`: the keys read from the image's
 * locations (`locations`, `direct_url`, `stores`), each present only when Glance shows it.
 */
export function imageView(image: ImageRecord, locations?: LocationView): Record<string, unknown> {
  const view = Object.assign({}, image.properties, {
    id: image.id,
    name: image.name,
    status: image.status,
    visibility: image.visibility,
    protected: image.protected,
    os_hidden: image.os_hidden,
    checksum: image.checksum,
    os_hash_algo: image.os_hash_algo,
    os_hash_value: image.os_hash_value,
    owner: image.owner,
    size: image.size,
    virtual_size: image.virtual_size,
    min_disk: image.min_disk,
    min_ram: image.min_ram,
    container_format: image.container_format,
    disk_format: image.disk_format,
    created_at: isoSeconds(image.created_at),
    updated_at: isoSeconds(image.updated_at),
    tags: image.tags,
    self: `/v2/images/${image.id}`,
    file: `/v2/images/${image.id}/file`,
    schema: '/v2/schemas/image',
  });
  // Where an import's data is staged is the servers' business (Glance hides these two as well).
  if (image.properties.os_glance_stage_host !== undefined) delete (view as Record<string, unknown>).os_glance_stage_host;
  if (image.properties.os_glance_hash_op_host !== undefined) delete (view as Record<string, unknown>).os_glance_hash_op_host;
  return locations ? Object.assign(view, locations) : view;
}
