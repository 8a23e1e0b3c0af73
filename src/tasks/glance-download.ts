/**
 * glance-download: the image comes from the image service of another region of the same cloud
 * (Glance's glance_download plugin and _ImportMetadata task). Its endpoint is found in the
 * caller's service catalog, and both the image record and its data are read with the caller's
 * token.
 *
 * The endpoint comes from Keystone (or from the trusted front end's X-Service-Catalog), not from
 * the user, so it is not put through the import URI filter (an image service in the catalog is
 * usually on an internal network). Redirects are followed only within the endpoint's origin:
 * the caller's token never travels to another host.
 */
import type { Readable } from 'node:stream';
import type { CatalogEntry } from '../auth/service-catalog.js';
import { shownUrl } from '../store/shown-url.js';
import { openBoundedGet, type DownloadLimits, type HopPolicy } from './bounded-download.js';
import { ImportSourceError } from './import-sources.js';

export type { CatalogEntry } from '../auth/service-catalog.js';

const INTERFACES = new Set(['public', 'internal', 'admin']);
/** The image record is JSON of a few KB; more than this is not an image record. */
const RECORD_LIMITS: DownloadLimits = { idleTimeoutMs: 60_000, maxBytes: 4 << 20, maxRedirects: 5 };

/** The image endpoint of `region` (interface public/internal/admin) in the caller's Keystone catalog. */
export function glanceEndpoint(catalog: readonly CatalogEntry[], region: string, iface: string): string {
  if (!INTERFACES.has(iface)) throw new ImportSourceError(`'${iface}' is not an endpoint interface (public, internal or admin)`, false);
  const wanted = region.toLowerCase();
  for (const entry of catalog) {
    if (entry.type !== 'image') continue;
    for (const ep of entry.endpoints) {
      // Glance compares the region name without case; Keystone v3 also names it region_id.
      const inRegion = ep.region?.toLowerCase() === wanted || ep.region_id?.toLowerCase() === wanted;
      if (inRegion && ep.interface === iface) return ep.url.replace(/\/+$/, '');
    }
  }
  throw new ImportSourceError(`no ${iface} image service endpoint in region ${region} in the service catalog`, false);
}

/** GET {endpoint}/v2/images/{id} with the caller's token. */
export async function fetchRemoteImage(endpoint: string, token: string, imageId: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
  const { stream } = await openBoundedGet(imageUrl(endpoint, imageId), sameOrigin({ 'x-auth-token': token, accept: 'application/json' }), RECORD_LIMITS, signal);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  let record: unknown;
  try {
    record = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ImportSourceError(`${shownUrl(imageUrl(endpoint, imageId))}: the answer is not JSON`, false);
  }
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    throw new ImportSourceError(`${shownUrl(imageUrl(endpoint, imageId))}: the answer is not an image record`, false);
  }
  return record as Record<string, unknown>;
}

/** GET {endpoint}/v2/images/{id}/file, bounded like openWebDownload. */
export function openRemoteImageData(
  endpoint: string,
  token: string,
  imageId: string,
  limits: DownloadLimits,
  signal?: AbortSignal,
): Promise<{ stream: Readable; size: number | null }> {
  return openBoundedGet(`${imageUrl(endpoint, imageId)}/file`, sameOrigin({ 'x-auth-token': token }), limits, signal);
}

/** Image attributes of Glance's own: never copied as properties, whatever prefix they match. */
const CORE_ATTRIBUTES = new Set([
  'id', 'name', 'status', 'visibility', 'protected', 'os_hidden', 'checksum', 'os_hash_algo', 'os_hash_value', 'owner', 'size',
  'virtual_size', 'min_ram', 'min_disk', 'container_format', 'disk_format', 'created_at', 'updated_at', 'tags', 'direct_url',
  'locations', 'self', 'file', 'schema', 'stores',
]);

/**
 * What glance-download copies from the remote image: disk_format, container_format, and the
 * properties whose key starts with one of extraProperties (Glance's _ImportMetadata). `os_glance*`
 * properties are reserved to the service and never copied, as Glance's option help says.
 */
export function importedMetadata(
  remote: Record<string, unknown>,
  extraProperties: readonly string[],
): { disk_format: string | null; container_format: string | null; properties: Record<string, string> } {
  const properties: Record<string, string> = {};
  for (const [key, value] of Object.entries(remote)) {
    if (typeof value !== 'string' || CORE_ATTRIBUTES.has(key) || key.startsWith('os_glance')) continue;
    if (extraProperties.some((prefix) => prefix !== '' && key.startsWith(prefix))) properties[key] = value;
  }
  const format = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);
  return { disk_format: format(remote.disk_format), container_format: format(remote.container_format), properties };
}

function imageUrl(endpoint: string, imageId: string): string {
  return `${endpoint.replace(/\/+$/, '')}/v2/images/${encodeURIComponent(imageId)}`;
}

/** The catalog's endpoint and redirects within its origin only; the headers (the token) go with each. */
function sameOrigin(headers: Record<string, string>): HopPolicy {
  return {
    approve(written, from) {
      let url: URL;
      try {
        url = from === null ? new URL(written) : new URL(written, from);
      } catch {
        throw new ImportSourceError(`${shownUrl(written)}: not a valid URL`, false);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ImportSourceError(`${shownUrl(url)}: not an http or https URL`, false);
      if (from !== null && url.origin !== from.origin) {
        throw new ImportSourceError(`${shownUrl(from)} redirects to another host (${url.host}); the caller's token is not sent there`, false);
      }
      return url;
    },
    headers: () => headers,
  };
}
