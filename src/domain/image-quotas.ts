/** Glance's per-image quotas on properties and tags (413 beyond), checked when a change adds to a count. */
import { TooLarge } from './errors.js';
import type { ImageRecord } from './image-model.js';

/** image_property_quota and image_tag_quota; negative = unlimited. */
export interface ImageQuotas {
  properties: number;
  tags: number;
}

/** Properties that count against image_property_quota (Glance's own os_glance* do not). */
export function countedProperties(image: ImageRecord): number {
  return Object.keys(image.properties).filter((k) => !k.startsWith('os_glance')).length;
}

/**
 * Throws 413 if `next` is over a quota and has more than `before` had: an image already over a
 * quota that was lowered may still be changed, as long as the change does not add to it.
 */
export function checkImageQuotas(quotas: ImageQuotas, next: ImageRecord, before: ImageRecord | null): void {
  const nProps = countedProperties(next);
  if (quotas.properties >= 0 && nProps > quotas.properties && nProps > (before ? countedProperties(before) : 0)) {
    throw new TooLarge(`Maximum number of properties exceeded (image_property_quota = ${quotas.properties}).`);
  }
  if (quotas.tags >= 0 && next.tags.length > quotas.tags && next.tags.length > (before?.tags.length ?? 0)) {
    throw new TooLarge(`Maximum number of tags exceeded (image_tag_quota = ${quotas.tags}).`);
  }
}
