/** What the views know of the image schema: the choices Glance offers and which fields are not custom properties. */
import type { Image } from '../../src/sdk/types.js';
import { app } from '../app.js';
import { checkbox, field, h } from '../dom.js';

export const STATUSES = ['queued', 'saving', 'uploading', 'importing', 'active', 'deactivated', 'killed', 'pending_delete', 'deleted'];
let formats: Promise<{ disk: string[]; container: string[] }> | undefined;

/** The disk and container formats the server accepts ([image_format], from its image schema), asked once. */
export function imageFormats(): Promise<{ disk: string[]; container: string[] }> {
  formats ??= app.client.images.formats().catch((err: unknown) => {
    formats = undefined;
    throw err;
  });
  return formats;
}
export const VISIBILITIES = ['private', 'shared', 'community', 'public'];

/** The image's own fields, shown first and in this order; anything else is a custom property. */
export const BASE_FIELDS = [
  'id', 'name', 'status', 'visibility', 'protected', 'os_hidden', 'owner', 'size', 'virtual_size', 'disk_format', 'container_format',
  'min_disk', 'min_ram', 'checksum', 'os_hash_algo', 'os_hash_value', 'created_at', 'updated_at', 'stores', 'direct_url',
] as const;

/** Fields that are neither shown as properties nor editable as custom ones. */
export const NOT_PROPERTIES = new Set<string>([...BASE_FIELDS, 'tags', 'locations', 'self', 'file', 'schema']);

/** The custom (additional) properties of an image, sorted by name. */
export function customProperties(image: Record<string, unknown>): [string, unknown][] {
  return Object.entries(image)
    .filter(([k]) => !NOT_PROPERTIES.has(k))
    .sort(([a], [b]) => a.localeCompare(b));
}

/** The minimum disk and RAM and the protection of an image form (a new image's defaults without `image`). */
export function minimumsAndProtection(image?: Pick<Image, 'min_disk' | 'min_ram' | 'protected'>): HTMLElement[] {
  const number = (name: string, value: number) => h('input', { name, type: 'number', min: 0, step: 1, value: String(value), inputmode: 'numeric' });
  return [
    field('Minimum disk (GiB)', number('min_disk', image?.min_disk ?? 0)),
    field('Minimum RAM (MiB)', number('min_ram', image?.min_ram ?? 0)),
    checkbox('Protected (cannot be deleted)', { name: 'protected', checked: image?.protected ?? false }),
  ];
}
