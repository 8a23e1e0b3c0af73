/**
 * Image locations as the image view and PATCH show and change them, in one place: what the image
 * view shows of them (`direct_url`, `locations`, `stores`), the PATCH operations on `/locations`,
 * and the v2.17 `GET /v2/images/{id}/locations`. A location a PATCH adds passes the checks every
 * new location passes (location-checks.ts, where the safeguards are told); the v2.17
 * `POST /v2/images/{id}/locations` and its background hashing are location-imports.ts's.
 * docs/stores/locations.md says the same for operators.
 */
import type { RequestContext } from '../auth/context.js';
import type { StoreRegistry } from '../store/registry.js';
import type { DataCleanup } from './data-cleanup.js';
import { BadRequest, Conflict, DomainError, Forbidden, TooLarge } from './errors.js';
import type { ImageAccess, VisibleImage } from './image-access.js';
import { plan, type Step } from './image-lifecycle.js';
import type { ImageChanges, ImageRecord, ImageStatus, LocationRecord } from './image-model.js';
import { shownUrl } from '../store/shown-url.js';
import { digestBytes, hexBytes, type LocationChecks } from './location-checks.js';
import type { UnitOfWork } from './ports.js';
import type { Notifier } from './notifications.js';

/** The operator's settings that concern locations in views and PATCH ([DEFAULT] options). */
export interface LocationSettings {
  showMultipleLocations: boolean;
  showImageDirectUrl: boolean;
  /** image_location_quota; negative = unlimited. */
  locationQuota: number;
  /** hashing_algorithm: what os_hash_value is computed with. */
  hashingAlgorithm: string;
}

export interface ImageLocationsDeps {
  uow: UnitOfWork;
  access: ImageAccess;
  stores: StoreRegistry;
  cleanup: DataCleanup;
  /** The checks every new location passes. */
  checks: LocationChecks;
  settings: LocationSettings;
  /** image.update goes with a PATCH of the locations. */
  notifier?: Notifier;
}

/** What the image view adds for locations; each key only when Glance shows it. */
export interface LocationView {
  direct_url?: string;
  locations?: { url: string; metadata: Record<string, unknown> }[];
  stores?: string;
}

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

export class ImageLocations {
  private readonly settings: LocationSettings;

  constructor(private readonly deps: ImageLocationsDeps) {
    this.settings = deps.settings;
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
    if (image.locations.length === 0 || !this.shownInViews || this.deps.access.allows(ctx, 'get_image_location', visible)) return image;
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
   * Asks the stores about the locations a PATCH adds (ownership, address, size: see `LocationChecks.admit`) and
   * works out what to write. `sizes` remembers the sizes read, for another attempt of the PATCH.
   */
  async prepare(ctx: RequestContext, visible: VisibleImage, edit: LocationEdit, sizes: Map<string, number>): Promise<LocationChange> {
    const image = edit.image;
    const adds: LocationChange['adds'] = [];
    let size = image.size;
    for (const w of edit.working) {
      if (w.id !== null) continue;
      const admitted = await this.deps.checks.admit(w.url, w.metadata, { privileged: () => this.deps.access.allows(ctx, 'service_api', visible), sizes });
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
    if (edit.step && size !== null) await this.deps.checks.checkStorageQuota(image, size);
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
      await this.deps.notifier?.image(tx, id, 'image.update');
      return true;
    });
  }

  /** After the commit: the bytes of removed locations go (the sweep retries what fails). */
  async finish(change: LocationChange): Promise<void> {
    if (change.removed.length > 0) await this.deps.cleanup.removeBytes(change.removed);
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

function locationsChanged(id: string): DomainError {
  return new Conflict(`The locations of image ${id} were changed by another request; retry.`);
}
