/**
 * Image locations, as Glance exposes them, in one place: what the image view shows of them
 * (`direct_url`, `locations`, `stores`), the PATCH operations on `/locations`, and the v2.17
 * locations API (`POST` and `GET /v2/images/{id}/locations`).
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
import { setTimeout as sleep } from 'node:timers/promises';
import type { RequestContext } from '../auth/context.js';
import { ImageHasher } from '../hashing/image-hasher.js';
import { BlobNotFound, StoreError } from '../store/blob-store.js';
import type { Backend, StoreRegistry } from '../store/registry.js';
import type { DataCleanup } from './data-cleanup.js';
import { nodeAlgorithm } from './download-verification.js';
import { BadRequest, Conflict, DomainError, Forbidden, TooLarge } from './errors.js';
import type { ImageAccess, VisibleImage } from './image-access.js';
import { plan, type Step } from './image-lifecycle.js';
import type { ImageChanges, ImageRecord, ImageStatus, LocationRecord } from './image-model.js';
import { SchemaValidator } from './image-schema.js';
import type { Leases } from './leases.js';
import type { Repositories, UnitOfWork } from './ports.js';

/** The operator's settings that concern locations ([DEFAULT] options). */
export interface LocationSettings {
  showMultipleLocations: boolean;
  showImageDirectUrl: boolean;
  /** image_location_quota; negative = unlimited. */
  locationQuota: number;
  /** user_storage_quota in bytes; 0 = unlimited. */
  userStorageQuota: number;
  /** hashing_algorithm: what os_hash_value is computed with. */
  hashingAlgorithm: string;
  /** do_secure_hash: POST /locations reads the data to compute its hashes. */
  doSecureHash: boolean;
  /** http_retries: further attempts at hashing after a read failure. */
  httpRetries: number;
}

export interface ImageLocationsDeps {
  uow: UnitOfWork;
  access: ImageAccess;
  stores: StoreRegistry;
  leases: Leases;
  cleanup: DataCleanup;
  settings: LocationSettings;
  now?: () => number;
  log?: (msg: string, err?: unknown) => void;
  /** Pause between hashing attempts (tests shorten it). */
  retryDelayMs?: number;
}

/** What the image view adds for locations; each key only when Glance shows it. */
export interface LocationView {
  direct_url?: string;
  locations?: { url: string; metadata: Record<string, unknown> }[];
  stores?: string;
}

/** Schemes Glance never accepts as a location a user adds: they name the server's own files (LP #942118, #1400966, #1334196). */
const RESTRICTED_SCHEMES = new Set(['file', 'filesystem', 'swift+config']);

/** The lease kind of a POST /locations import that hashes the data; its key is the image id. */
export const LOCATION_IMPORT_LEASE = 'location_import';
/** What that lease records: enough for any process to do the hashing again after a crash. */
interface ImportJob {
  url: string;
  /** The backend id holding the location. */
  backend: string;
  algorithm: string;
  /** The os_hash_value the caller gave in validation_data ('' for none). */
  expected: string;
  size: string;
}

/** The body of POST /v2/images/{id}/locations (Glance's `add_location` schema). */
const ADD_LOCATION_SCHEMA = {
  name: 'location',
  type: 'object',
  properties: {
    add_location: {
      type: 'object',
      properties: {
        url: { type: 'string' },
        validation_data: {
          type: 'object',
          additionalProperties: false,
          properties: {
            os_hash_algo: { type: 'string', maxLength: 64, enum: ['sha1', 'sha256', 'sha512', 'md5'] },
            os_hash_value: { type: 'string', maxLength: 128 },
          },
          dependencies: { os_hash_value: ['os_hash_algo'], os_hash_algo: ['os_hash_value'] },
        },
      },
      required: ['url'],
    },
  },
};
const addLocationBody = new SchemaValidator(ADD_LOCATION_SCHEMA);

/** A location as a PATCH leaves it: an existing one keeps its id, a new one has none. */
interface WorkingLocation {
  id: string | null;
  url: string;
  metadata: Record<string, unknown>;
}

type ValidationKey = 'checksum' | 'os_hash_algo' | 'os_hash_value';
const VALIDATION_KEYS: readonly ValidationKey[] = ['checksum', 'os_hash_algo', 'os_hash_value'];

/** The location operations of one PATCH, applied in order to a working copy of the image's locations. */
export interface LocationEdit {
  readonly image: ImageRecord;
  /** The status the operations so far leave the image in. */
  status: ImageStatus;
  working: WorkingLocation[];
  /** validation_data values that become the image's (only while it is queued). */
  validation: Partial<Record<ValidationKey, string>>;
  /** queued → active, when a location is added to a queued image. */
  step: Step | null;
}

/** A PATCH's location changes, checked against the stores and ready to commit with the image. */
export interface LocationChange {
  readonly adds: { url: string; metadata: Record<string, unknown> }[];
  readonly updates: { id: string; metadata: Record<string, unknown> }[];
  readonly removed: LocationRecord[];
  readonly step: Step | null;
  /** What the image becomes with the step: its size and the validation_data values. */
  readonly facts: ImageChanges;
}

/** A location a caller may record: the store that holds it, its size, the metadata to record. */
interface Admitted {
  backend: Backend;
  size: number;
  metadata: Record<string, unknown>;
}

/** The hashing of a location failed for a reason another attempt would not change. */
class HashMismatch extends Error {}

export class ImageLocations {
  private readonly settings: LocationSettings;
  private readonly now: () => number;
  private readonly log: (msg: string, err?: unknown) => void;
  /** Imports hashing in this process, to stop at close (their leases stay, for the next process). */
  private readonly running = new Map<string, { stop: AbortController; done: Promise<void> }>();

  constructor(private readonly deps: ImageLocationsDeps) {
    this.settings = deps.settings;
    this.now = deps.now ?? Date.now;
    this.log = deps.log ?? (() => undefined);
  }

  // ---- What the image view shows ------------------------------------------------------------

  /** Whether the view shows anything read from locations (lists then read them along). */
  get shownInViews(): boolean {
    return this.settings.showMultipleLocations || this.settings.showImageDirectUrl || this.deps.stores.multiStore;
  }

  /**
   * The image with the locations the caller may see: none unless `get_image_location` allows
   * (then `locations` shows `[]` and there is no `direct_url` or `stores`, as Glance shows an
   * image whose locations the policy hides).
   */
  shown(ctx: RequestContext, visible: VisibleImage, image: ImageRecord = visible.image): ImageRecord {
    if (image.locations.length === 0 || !this.shownInViews || this.mayRead(ctx, visible)) return image;
    return { ...image, locations: [] };
  }

  /** An image of a list: members reach shared images as members (the list query checked visibility). */
  shownInList(ctx: RequestContext, image: ImageRecord): ImageRecord {
    const memberId = image.visibility === 'shared' && image.owner !== ctx.projectId ? ctx.projectId : null;
    return this.shown(ctx, { image, memberId });
  }

  /**
   * The keys the image view adds: `locations` (show_multiple_locations; `[]` when none),
   * `direct_url` (show_image_direct_url: the location downloads try first) and, with multi-store,
   * `stores` (the store ids the locations record, when any do).
   */
  view(image: ImageRecord): LocationView {
    const view: LocationView = {};
    const { locations } = image;
    if (this.settings.showMultipleLocations) view.locations = locations.map((l) => ({ url: l.url, metadata: l.metadata }));
    if (this.settings.showImageDirectUrl && locations.length > 0) view.direct_url = this.deps.stores.ordered(locations)[0]!.url;
    if (this.deps.stores.multiStore) {
      const stores = locations.map((l) => l.metadata.store).filter((s): s is string => typeof s === 'string' && s !== '');
      if (stores.length > 0) view.stores = stores.join(',');
    }
    return view;
  }

  private mayRead(ctx: RequestContext, visible: VisibleImage): boolean {
    try {
      this.deps.access.authorize(ctx, 'get_image_location', visible);
      return true;
    } catch (err) {
      if (err instanceof Forbidden) return false;
      throw err;
    }
  }

  // ---- GET /v2/images/{id}/locations --------------------------------------------------------

  /** The image's locations, for services (`fetch_image_location`). */
  async list(ctx: RequestContext, id: string): Promise<{ url: string; metadata: Record<string, unknown> }[]> {
    const visible = await this.deps.access.find(ctx, id);
    this.deps.access.enforceOnImage(ctx, 'fetch_image_location', visible);
    return visible.image.locations.map((l) => ({ url: l.url, metadata: l.metadata }));
  }

  // ---- PATCH add / replace / remove on /locations ------------------------------------------

  /** A working copy of the image's locations for one PATCH. */
  begin(image: ImageRecord): LocationEdit {
    return { image, status: image.status, working: image.locations.map((l) => ({ id: l.id, url: l.url, metadata: l.metadata })), validation: {}, step: null };
  }

  /**
   * One PATCH operation on `/locations` (`position` is the second pointer segment of add and
   * remove), checked in Glance's order: the policy rule, show_multiple_locations, the status,
   * validation_data, the position, the quota. The stores are asked later, by `prepare`.
   */
  applyOp(ctx: RequestContext, visible: VisibleImage, edit: LocationEdit, op: 'add' | 'replace' | 'remove', position: string | undefined, value: unknown): void {
    const { access } = this.deps;
    if (op === 'remove') {
      access.enforceOnImage(ctx, 'delete_image_location', visible);
      this.assertVisible('remove');
      if (edit.status !== 'active') throw new Conflict(`It's not allowed to remove locations if image status is ${edit.status}.`);
      if (edit.working.length === 1) throw new Forbidden('Cannot remove last location in the image.');
      const pos = locationPosition(position, edit.working.length, false);
      if (pos === null) throw new BadRequest('Invalid position for removing a location.');
      edit.working.splice(pos, 1);
      return;
    }

    const values = (op === 'add' ? [value] : value) as { url: string; metadata: Record<string, unknown>; validation_data?: Record<string, string> }[];
    if (op === 'replace' && values.length === 0) throw new Forbidden('Cannot set locations to empty list.');
    access.enforceOnImage(ctx, 'set_image_location', visible);
    this.assertVisible(op === 'add' ? 'add' : 'update');
    const step = plan('add_location', { ...edit.image, status: edit.status });
    this.takeValidationData(edit, values);
    const quota = this.settings.locationQuota;
    const attempted = op === 'add' ? edit.working.length + 1 : values.length;
    if (quota >= 0 && attempted > quota) {
      throw new TooLarge(`The limit has been exceeded on the number of allowed image locations. Attempted: ${attempted}, Maximum: ${quota}`);
    }

    if (op === 'add') {
      const pos = locationPosition(position, edit.working.length, true);
      if (pos === null) throw new BadRequest('Invalid position for adding a location.');
      const loc = values[0]!;
      if (edit.working.some((w) => w.url === loc.url)) throw new BadRequest(`The location ${shownUrl(loc.url)} already exists`);
      edit.working.splice(pos, 0, { id: null, url: loc.url, metadata: loc.metadata });
    } else {
      const before = edit.working.map((w) => w.url).sort();
      const after = values.map((v) => v.url).sort();
      const same = before.length === after.length && before.every((u, i) => u === after[i]);
      // Glance replaces locations only on an image without any; with the same URLs, only their metadata changes.
      if (!same && before.length > 0) throw new BadRequest(`Original locations is not empty: ${edit.working.map((w) => shownUrl(w.url)).join(', ')}`);
      const duplicate = after.find((u, i) => after[i + 1] === u);
      if (duplicate !== undefined) throw new BadRequest(`The location ${shownUrl(duplicate)} already exists`);
      const ids = new Map(edit.working.map((w) => [w.url, w.id]));
      edit.working = values.map((v) => ({ id: ids.get(v.url) ?? null, url: v.url, metadata: v.metadata }));
    }
    if (step) {
      edit.step ??= step;
      edit.status = step.to;
    }
  }

  private assertVisible(verb: 'add' | 'update' | 'remove'): void {
    if (!this.settings.showMultipleLocations) throw new Forbidden(`It's not allowed to ${verb} locations if locations are invisible.`);
  }

  /**
   * Glance's validation_data rules: values must agree with each other and with what the image
   * has; new values only while it is queued, in the configured algorithm, well-formed (409).
   */
  private takeValidationData(edit: LocationEdit, values: readonly { validation_data?: Record<string, string> }[]): void {
    const given: Partial<Record<ValidationKey, string>> = {};
    for (const v of values) {
      for (const [k, val] of Object.entries(v.validation_data ?? {}) as [ValidationKey, string][]) {
        if (given[k] !== undefined && given[k] !== val) throw new Conflict(`Conflicting values for ${k}`);
        given[k] = val;
      }
    }
    const fresh: Partial<Record<ValidationKey, string>> = {};
    for (const k of VALIDATION_KEYS) {
      const val = given[k];
      if (val === undefined) continue;
      const current = edit.validation[k] ?? edit.image[k];
      if (val === current) continue;
      if (current) throw new Conflict(`${k} is already set with a different value`);
      fresh[k] = val;
    }
    const keys = Object.keys(fresh);
    if (keys.length === 0) return;
    if (edit.status !== 'queued') throw new Conflict(`New value(s) for ${keys.join(', ')} may only be provided when image status is 'queued'`);
    if (fresh.checksum !== undefined && hexBytes(fresh.checksum) !== 16) {
      throw new Conflict(`checksum (${fresh.checksum}) is not a valid hexadecimal md5 value (16 bytes)`);
    }
    if (fresh.os_hash_algo !== undefined && fresh.os_hash_algo !== this.settings.hashingAlgorithm) {
      throw new Conflict(`os_hash_algo must be ${this.settings.hashingAlgorithm}, not ${fresh.os_hash_algo}`);
    }
    if (fresh.os_hash_value !== undefined) {
      const want = digestBytes(this.settings.hashingAlgorithm);
      if (hexBytes(fresh.os_hash_value) !== want) {
        throw new Conflict(`os_hash_value (${fresh.os_hash_value}) is not a valid hexadecimal ${this.settings.hashingAlgorithm} value (${want} bytes)`);
      }
    }
    Object.assign(edit.validation, fresh);
  }

  /**
   * Asks the stores about the locations a PATCH adds (ownership, address, size: see `admit`) and
   * works out what to write. `sizes` remembers the sizes read, for another attempt of the PATCH.
   */
  async prepare(ctx: RequestContext, visible: VisibleImage, edit: LocationEdit, sizes: Map<string, number>): Promise<LocationChange> {
    const image = edit.image;
    const adds: LocationChange['adds'] = [];
    let size = image.size;
    for (const w of edit.working) {
      if (w.id !== null) continue;
      const admitted = await this.admit(w.url, w.metadata, { privileged: () => this.isServiceApi(ctx, visible), sizes });
      if (size !== null && admitted.size !== size) {
        throw new BadRequest(`Invalid location: ${shownUrl(w.url)} holds ${admitted.size} bytes, the image ${size}.`);
      }
      size = admitted.size;
      adds.push({ url: w.url, metadata: admitted.metadata });
    }
    const original = new Map(image.locations.map((l) => [l.id, l]));
    const updates: LocationChange['updates'] = [];
    for (const w of edit.working) {
      const before = w.id === null ? undefined : original.get(w.id);
      if (!before) continue;
      const backend = this.deps.stores.forLocation({ url: w.url, metadata: w.metadata });
      const metadata = backend ? this.deps.stores.locationMetadata(backend, w.metadata) : w.metadata;
      if (JSON.stringify(metadata) !== JSON.stringify(before.metadata)) updates.push({ id: before.id, metadata });
    }
    const kept = new Set(edit.working.map((w) => w.id));
    const removed = image.locations.filter((l) => !kept.has(l.id));
    const facts: ImageChanges = edit.step ? { size, ...edit.validation } : {};
    if (edit.step && size !== null) await this.checkStorageQuota(image, size);
    return { adds, updates, removed, step: edit.step, facts };
  }

  /**
   * Saves the PATCHed image and its location changes in one transaction, guarded by the status
   * and updated_at read (false: the image changed meanwhile). Removed locations become
   * `pending_delete`; `finish` then removes their bytes.
   */
  async save(next: ImageRecord, expected: { status: ImageStatus; updatedAt: number }, change: LocationChange): Promise<boolean> {
    Object.assign(next, change.facts);
    return this.deps.uow.run(async (tx) => {
      if (!(await tx.images.save(next, expected))) return false;
      const id = next.id;
      const now = next.updated_at;
      // One millisecond apart: locations are listed in the order they were recorded.
      for (const [i, loc] of change.adds.entries()) await tx.images.addLocation(id, loc, now + i);
      for (const u of change.updates) {
        if (!(await tx.images.setLocationMetadata(id, u.id, u.metadata, now))) throw locationsChanged(id);
      }
      for (const loc of change.removed) {
        const outcome = await tx.images.doomLocation(id, loc.id, now);
        if (outcome === 'last') throw new Forbidden('Cannot remove last location in the image.');
        if (outcome === 'absent') throw locationsChanged(id);
      }
      if (change.step && !(await tx.images.transition(id, change.step.from, change.step.to, change.step.resets, now))) throw locationsChanged(id);
      return true;
    });
  }

  /** After the commit: the bytes of removed locations go (the sweep retries what fails). */
  async finish(change: LocationChange): Promise<void> {
    if (change.removed.length > 0) await this.deps.cleanup.removeBytes(change.removed);
  }

  // ---- POST /v2/images/{id}/locations --------------------------------------------------------

  /**
   * Adds the location of a queued image's data (v2.17, for services such as Nova and Cinder).
   * Everything that can be checked is checked before answering: the body, the status, the policy,
   * who may add what, the location itself and its size. Then, in one transaction, the location is
   * recorded and the image becomes `active` — or, when do_secure_hash is on, `importing` while
   * this process reads the data once to compute checksum and os_hash_value (and compare them with
   * validation_data), under a lease so that any process finishes the work if this one dies.
   * Failure returns the image to `queued` without the location.
   */
  async add(ctx: RequestContext, id: string, body: unknown): Promise<void> {
    addLocationBody.validate({ add_location: body });
    const { url, validation_data: validation = {} } = body as { url: string; validation_data?: { os_hash_algo?: string; os_hash_value?: string } };
    const { access, stores, uow, leases } = this.deps;
    const visible = await access.find(ctx, id);
    const image = visible.image;
    if (image.status !== 'queued') throw new Conflict(`It's not allowed to add locations if image status is ${image.status}.`);
    access.enforceOnImage(ctx, 'add_image_location', visible);
    const service = [...ctx.roles, ...(ctx.service?.roles ?? [])].includes('service');
    if (!service && !(/^https?:\/\//i.test(url) && stores.listed().some((b) => b.type === 'http'))) {
      throw new Forbidden('http store must be enabled to use location API by normal user.');
    }
    if (validation.os_hash_value !== undefined) {
      const algorithm = validation.os_hash_algo!;
      const bytes = hexBytes(validation.os_hash_value);
      if (bytes === null) throw new BadRequest(`os_hash_value (${validation.os_hash_value}) is not a valid hexadecimal value`);
      if (bytes !== digestBytes(algorithm)) {
        throw new BadRequest(`os_hash_value: (${validation.os_hash_value}) is not the correct size for (${algorithm}) (should be (${digestBytes(algorithm)}) bytes)`);
      }
    }
    const admitted = await this.admit(url, {}, { privileged: () => service, sizes: new Map() });
    await this.checkStorageQuota(image, admitted.size);
    const location = { url, metadata: admitted.metadata };
    const now = this.now();

    if (!this.settings.doSecureHash) {
      // Nothing to compute: validation_data, if given, is the caller's word (as in Glance).
      const step = plan('add_location', image)!;
      const facts: ImageChanges = { size: admitted.size, os_hash_algo: validation.os_hash_algo ?? null, os_hash_value: validation.os_hash_value?.toLowerCase() ?? null };
      await uow.run(async (tx) => {
        if (!(await tx.images.transition(id, step.from, step.to, facts, now))) throw statusChanged(id);
        await tx.images.addLocation(id, location, now);
      });
      return;
    }

    const step = plan('import_remote', image)!;
    const job: ImportJob = {
      url,
      backend: admitted.backend.id,
      algorithm: validation.os_hash_algo ?? this.settings.hashingAlgorithm,
      expected: validation.os_hash_value?.toLowerCase() ?? '',
      size: String(admitted.size),
    };
    await uow.run(async (tx) => {
      if (!(await tx.images.transition(id, step.from, step.to, { size: admitted.size }, now))) throw statusChanged(id);
      if (!(await tx.leases.acquire(leases.record(LOCATION_IMPORT_LEASE, id, { ...job })))) {
        throw new Conflict(`New operation on image '${id}' is not permitted as prior operation is still in progress`);
      }
      await tx.images.addLocation(id, location, now);
    });
    this.start(id, job);
  }

  /** Location imports whose process died (expired leases): this process takes them over and hashes again. */
  async resumeImports(): Promise<string[]> {
    const resumed: string[] = [];
    for (const lease of await this.deps.leases.reclaim(LOCATION_IMPORT_LEASE)) {
      const job = lease.data as unknown as ImportJob;
      const found = await this.deps.uow.repos.images.find(lease.key);
      if (found?.image.status !== 'importing' || typeof job.url !== 'string') {
        await this.deps.uow.repos.leases.release(LOCATION_IMPORT_LEASE, lease.key, this.deps.leases.owner);
        continue;
      }
      this.log(`taking over the location import of image ${lease.key}, whose process died`);
      this.start(lease.key, job);
      resumed.push(lease.key);
    }
    return resumed;
  }

  /** Stops the imports running here; their leases stay, so another process (or the next start) finishes them. */
  async close(): Promise<void> {
    const all = [...this.running.values()];
    for (const r of all) r.stop.abort();
    await Promise.all(all.map((r) => r.done));
  }

  /** Waits for the import of `id` running in this process, if any (tests). */
  async settled(id: string): Promise<void> {
    await this.running.get(id)?.done;
  }

  private start(id: string, job: ImportJob): void {
    const stop = new AbortController();
    const done = this.runImport(id, job, stop.signal)
      .catch((err: unknown) => this.log(`location import of image ${id} failed; its lease expires and the sweep retries it`, err))
      .finally(() => this.running.delete(id));
    this.running.set(id, { stop, done });
  }

  /**
   * Hashes the location's data (retrying read failures http_retries times), then, in one
   * transaction with the end of the lease: importing → active with the hashes — or, when the data
   * cannot be read or does not match validation_data, importing → queued and the location doomed.
   */
  private async runImport(id: string, job: ImportJob, stop: AbortSignal): Promise<void> {
    const { uow, leases } = this.deps;
    const held = leases.keep(LOCATION_IMPORT_LEASE, id, { lost: 'lost', unwanted: 'unwanted' }, async (repos) => (await repos.images.find(id))?.image.status === 'importing');
    const signal = AbortSignal.any([held.signal, stop]);
    try {
      let digests: { md5: string; multihash: string } | undefined;
      let failure: unknown;
      for (let attempt = 0; attempt <= this.settings.httpRetries && !signal.aborted; attempt++) {
        if (attempt > 0) await sleep(this.deps.retryDelayMs ?? 1000 * attempt, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) break;
        try {
          digests = await this.hash(job, signal);
          failure = undefined;
          break;
        } catch (err) {
          failure = err;
          if (err instanceof HashMismatch || err instanceof BlobNotFound) break;
          this.log(`hashing the location of image ${id} failed (attempt ${attempt + 1} of ${this.settings.httpRetries + 1})`, err);
        }
      }
      if (stop.aborted || held.signal.reason === 'lost') return; // this process stops, or another took over
      if (held.signal.reason === 'unwanted') {
        await uow.repos.leases.release(LOCATION_IMPORT_LEASE, id, leases.owner);
        return;
      }
      if (digests && job.expected !== '' && digests.multihash !== job.expected) {
        failure = new HashMismatch(`os_hash_value: (${job.expected}) not matched with actual os_hash_value: (${digests.multihash})`);
      }
      const now = this.now();
      if (digests && failure === undefined) {
        const facts: ImageChanges = { checksum: digests.md5, os_hash_algo: job.algorithm, os_hash_value: digests.multihash };
        const step = plan('finish_import', { status: 'importing' })!;
        await uow.run(async (tx) => {
          if (await tx.leases.release(LOCATION_IMPORT_LEASE, id, leases.owner)) await tx.images.transition(id, step.from, step.to, facts, now);
        });
        return;
      }
      this.log(`location import of image ${id} failed; the image is queued again without the location`, failure);
      const step = plan('fail_import', { status: 'importing' })!;
      const doomed = await uow.run(async (tx: Repositories) => {
        if (!(await tx.leases.release(LOCATION_IMPORT_LEASE, id, leases.owner))) return [];
        if (!(await tx.images.transition(id, step.from, step.to, step.resets, now))) return [];
        return tx.images.doomLocations(id, now);
      });
      await this.deps.cleanup.removeBytes(doomed);
    } finally {
      held.stop();
    }
  }

  /** Reads the whole object once, computing md5 and the multihash as the bytes pass. */
  private async hash(job: ImportJob, signal: AbortSignal): Promise<{ md5: string; multihash: string }> {
    const backend = this.deps.stores.get(job.backend) ?? this.deps.stores.forLocation({ url: job.url, metadata: {} });
    if (!backend) throw new HashMismatch(`no configured store holds ${shownUrl(job.url)} any more`);
    const data = await backend.store.read(job.url);
    // A stalled source must not hold up a stop (close, lost lease): the read ends with the signal.
    const stop = () => data.destroy(new Error('location import stopped'));
    signal.addEventListener('abort', stop, { once: true });
    if (signal.aborted) stop();
    const hasher = await ImageHasher.create(nodeAlgorithm(job.algorithm));
    let seen = 0;
    try {
      for await (const chunk of data) {
        seen += (chunk as Buffer).length;
        await hasher.update(chunk as Buffer);
      }
    } catch (err) {
      hasher.abort();
      data.destroy();
      throw err;
    } finally {
      signal.removeEventListener('abort', stop);
    }
    const digests = await hasher.digest();
    if (String(seen) !== job.size) throw new Error(`read ${seen} bytes of ${shownUrl(job.url)}, expected ${job.size}`);
    return digests;
  }

  // ---- Checks every new location passes -----------------------------------------------------

  /**
   * Whether `url` may become a location of the image, in this order: a store must hold it (400
   * `Invalid location`); a store Ocellus writes to (and deletes from) needs a privileged caller
   * (403, OSSN-0090) and bytes no other image has and none is deleting (400); schemes that name the
   * server's own files are never accepted, whoever asks (file://, 400, as in Glance); the http
   * store refuses internal addresses (400, OSSN-0065); the object must exist and not be empty
   * (400). Returns its store, size and the metadata to record.
   */
  private async admit(url: string, metadata: Record<string, unknown>, opts: { privileged: () => boolean; sizes: Map<string, number> }): Promise<Admitted> {
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

  /** `service_api` (role service or admin): who may point an image at bytes Ocellus would delete. */
  private isServiceApi(ctx: RequestContext, visible: VisibleImage): boolean {
    try {
      this.deps.access.authorize(ctx, 'service_api', visible);
      return true;
    } catch (err) {
      if (err instanceof Forbidden) return false;
      throw err;
    }
  }

  /** user_storage_quota, when an image without data gets `size` bytes. */
  private async checkStorageQuota(image: ImageRecord, size: number): Promise<void> {
    const quota = this.settings.userStorageQuota;
    if (quota <= 0 || image.size !== null) return;
    const used = await this.deps.uow.repos.images.storageUsed(image.owner);
    if (used + size > quota) {
      throw new TooLarge(`Denying attempt to add a location because it exceeds the quota: the data (${size} bytes) would exceed the limit (user_storage_quota); ${Math.max(0, quota - used)} bytes remaining.`);
    }
  }
}

/** Glance's position of a location operation: a digit, or `-` (the end; the last one for remove); null if invalid. */
function locationPosition(segment: string | undefined, length: number, adding: boolean): number | null {
  if (segment === undefined) return null;
  if (segment === '-') return adding ? length : length - 1 >= 0 ? length - 1 : null;
  if (!/^\d+$/.test(segment)) return null;
  const pos = Number(segment);
  if (adding) return Math.min(pos, length); // Glance inserts past the end as an append
  return pos < length ? pos : null;
}

/** Bytes of a hex string, or null if it is not one. */
function hexBytes(text: string): number | null {
  return /^(?:[0-9a-fA-F]{2})*$/.test(text) ? text.length / 2 : null;
}

/** Digest length in bytes of a hashing algorithm (Glance's name). */
function digestBytes(algorithm: string): number {
  return createHash(nodeAlgorithm(algorithm)).digest().length;
}

/** A URL for messages: no user info (credentials), no query (signatures). */
function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return url.length > 80 ? `${url.slice(0, 80)}…` : url;
  }
}

function invalidLocation(url: string, why: string): BadRequest {
  return new BadRequest(`Invalid location ${shownUrl(url)}: ${why}.`);
}

function locationsChanged(id: string): DomainError {
  return new Conflict(`The locations of image ${id} were changed by another request; retry.`);
}

function statusChanged(id: string): DomainError {
  return new Conflict(`Image ${id} changed status meanwhile; it is no longer queued.`);
}
