/**
 * The checks every new location passes, whoever records it: a PATCH on `/locations`
 * (image-locations.ts) or the v2.17 `POST /v2/images/{id}/locations` (location-imports.ts).
 *
 * A location is where an image's bytes are; recording one lets whoever records it point an image
 * at any bytes a store can read — and removing one (or deleting the image) removes those bytes.
 * Glance's own safeguards are kept (file:// locations are never accepted, the http store refuses
 * internal addresses: OSSN-0065), and two more close what OSSN-0090 describes:
 * - only admins and services (`service_api`) may record a location in a store Ocellus writes to
 *   (file, swift, s3); other users may add only locations of read-only stores (http), whose
 *   bytes Ocellus never deletes;
 * - a location whose bytes belong to another image (or are being deleted) is never recorded, so
 *   deleting one image can never remove the bytes of another.
 * docs/stores/locations.md says the same for operators.
 */
import { createHash } from 'node:crypto';
import { BlobNotFound, StoreError } from '../store/blob-store.js';
import { shownUrl } from '../store/shown-url.js';
import type { Backend, StoreRegistry } from '../store/registry.js';
import { nodeAlgorithm } from './download-verification.js';
import { BadRequest, Forbidden, TooLarge } from './errors.js';
import type { ImageRecord } from './image-model.js';
import type { UnitOfWork } from './ports.js';

export interface LocationChecksDeps {
  uow: UnitOfWork;
  stores: StoreRegistry;
  /** user_storage_quota in bytes; 0 = unlimited. */
  userStorageQuota: number;
}

/** Schemes Glance never accepts as a location a user adds: they name the server's own files (LP #942118, #1400966, #1334196). */
const RESTRICTED_SCHEMES = new Set(['file', 'filesystem', 'swift+config']);

/** A location a caller may record: the store that holds it, its size, the metadata to record. */
export interface Admitted {
  backend: Backend;
  size: number;
  metadata: Record<string, unknown>;
}

/** The checks every new location passes, for the modules that record locations. */
export class LocationChecks {
  constructor(private readonly deps: LocationChecksDeps) {}

  /**
   * Whether `url` may become a location of the image, in this order: a store must hold it (400
   * `Invalid location`); a store Ocellus writes to (and deletes from) needs a privileged caller
   * (403, OSSN-0090) and bytes no other image has and none is deleting (400); schemes that name the
   * server's own files are never accepted, whoever asks (file://, 400, as in Glance); the http
   * store refuses internal addresses (400, OSSN-0065); the object must exist and not be empty
   * (400). Returns its store, size and the metadata to record.
   */
  async admit(url: string, metadata: Record<string, unknown>, opts: { privileged: () => boolean; sizes: Map<string, number> }): Promise<Admitted> {
    const { stores } = this.deps;
    let scheme: string;
    try {
      scheme = new URL(url).protocol.replace(/:$/, '').toLowerCase();
    } catch {
      throw invalidLocation(url, 'not a URL');
    }
    const backend = stores.forLocation({ url, metadata });
    if (!backend || backend.reserved) throw invalidLocation(url, 'no configured store holds it');
    if (backend.store.capabilities.write) {
      if (!opts.privileged()) {
        throw new Forbidden(`Only admins and services may add a location in the store '${backend.id}', whose data Ocellus deletes with the image; other users may add http(s) locations.`);
      }
      const holders = await this.deps.uow.repos.images.imagesAtLocation(url);
      if (holders.length > 0) throw invalidLocation(url, 'its data belongs to another image or is being deleted');
    }
    if (RESTRICTED_SCHEMES.has(scheme)) throw invalidLocation(url, `${scheme} locations are never accepted`);
    if (backend.store.checkLocation) {
      const why = await backend.store.checkLocation(url);
      if (why !== null) throw invalidLocation(url, why);
    }
    let size = opts.sizes.get(url);
    if (size === undefined) {
      try {
        size = await backend.store.size(url);
      } catch (err) {
        if (err instanceof BlobNotFound) throw invalidLocation(url, 'there is no data at it');
        if (err instanceof StoreError) throw invalidLocation(url, err.message);
        throw err;
      }
      opts.sizes.set(url, size);
    }
    if (size <= 0) throw invalidLocation(url, 'the data at it is empty');
    return { backend, size, metadata: stores.locationMetadata(backend, metadata) };
  }

  /** user_storage_quota, when an image without data gets `size` bytes. */
  async checkStorageQuota(image: ImageRecord, size: number): Promise<void> {
    const quota = this.deps.userStorageQuota;
    if (quota <= 0 || image.size !== null) return;
    const used = await this.deps.uow.repos.images.storageUsed(image.owner);
    if (used + size > quota) {
      throw new TooLarge(`Denying attempt to add a location because it exceeds the quota: the data (${size} bytes) would exceed the limit (user_storage_quota); ${Math.max(0, quota - used)} bytes remaining.`);
    }
  }
}

/** Bytes of a hex string, or null if it is not one. */
export function hexBytes(text: string): number | null {
  return /^(?:[0-9a-fA-F]{2})*$/.test(text) ? text.length / 2 : null;
}

/** Digest length in bytes of a hashing algorithm (Glance's name). */
export function digestBytes(algorithm: string): number {
  return createHash(nodeAlgorithm(algorithm)).digest().length;
}

function invalidLocation(url: string, why: string): BadRequest {
  return new BadRequest(`Invalid location ${shownUrl(url)}: ${why}.`);
}
