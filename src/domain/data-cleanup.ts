/**
 * Removing image bytes, crash-proof: a deletion first records its intent (the image's locations
 * become `pending_delete` in the transaction that deletes the image), then removes the bytes,
 * then forgets each location. A process that dies in between leaves the intent on record, and
 * the sweep (at start-up and on an interval, on any node) finishes it. The same sweep takes
 * over uploads and stagings whose process died (expired `upload` and `stage` leases) and undoes
 * them; the two leased writes start and end here too (beginDataWrite, abandonDataWrite).
 * With delayed delete, a `pending_delete` image's locations stay `active` (restorable): only the
 * scrubber dooms them, after scrub_time.
 */
import { deleteIfPresent } from '../store/blob-store.js';
import type { StoreRegistry } from '../store/registry.js';
import { Conflict } from './errors.js';
import type { DoomedLocation, ImageRecord, LocationRecord } from './image-model.js';
import { plan } from './image-lifecycle.js';
import type { Leases } from './leases.js';
import { countStoreError, noMetrics, type DomainMetrics } from './metrics-port.js';
import type { Repositories, UnitOfWork } from './ports.js';

/** The lease kind of a running upload; its key is the image id. */
export const UPLOAD_LEASE = 'upload';
/** The lease kind of a running PUT /stage; its key is the image id. */
export const STAGE_LEASE = 'stage';
/**
 * The lease kind of a scrubber's work on one image (src/domain/scrubber.ts); its key is the image
 * id. The sweep leaves the doomed locations of such an image to the scrubber while the lease lives.
 */
export const SCRUB_LEASE = 'scrub';
/** What an upload's (or a staging's) lease records: enough for another process to find and remove what it wrote. */
export interface UploadLeaseData {
  attempt: string;
  /** The backend id the upload writes to. */
  backend: string;
  /** The image owner's project ('' for none): stores may keep objects per project. */
  project: string;
}

/**
 * The two leased writes of image data: PUT /file (`upload`: queued → saving) and PUT /stage
 * (`stage`: queued → uploading). Each starts with `beginDataWrite` and, if it fails or its
 * process dies, ends back in queued (`abandonDataWrite`, or the sweep).
 */
const DATA_WRITES = {
  [UPLOAD_LEASE]: { start: 'upload', status: 'saving', abandon: 'abandon_upload', what: 'uploaded' },
  [STAGE_LEASE]: { start: 'stage', status: 'uploading', abandon: 'abandon_stage', what: 'staged' },
} as const;
export type DataWriteKind = keyof typeof DATA_WRITES;

/**
 * Moves the image into the write's status and takes the write's lease, in one transaction (with
 * the events `emit` writes); Conflict (409) if the image is not queued any more or another
 * request holds the lease.
 */
export async function beginDataWrite(uow: UnitOfWork, leases: Leases, kind: DataWriteKind, image: Pick<ImageRecord, 'id' | 'status' | 'disk_format' | 'container_format'>, data: UploadLeaseData, now: number, emit?: (tx: Repositories) => Promise<void>): Promise<void> {
  const write = DATA_WRITES[kind];
  const step = plan(write.start, image)!;
  const began = await uow.run(async (tx) => {
    if (!(await tx.images.transition(image.id, step.from, step.to, step.resets, now))) return false;
    if (!(await tx.leases.acquire(leases.record(kind, image.id, { ...data })))) throw new Conflict(`Image ${image.id} is being ${write.what} by another request.`);
    await emit?.(tx);
    return true;
  });
  if (!began) {
    const current = await uow.repos.images.find(image.id);
    throw new Conflict(`Image status transition from ${current?.image.status ?? 'deleted'} to ${step.to} is not allowed`);
  }
}

/** A failed write: back to queued (if the image is still in the write's status), and its lease ends, with the events `emit` writes. */
export async function abandonDataWrite(uow: UnitOfWork, leases: Leases, kind: DataWriteKind, id: string, now: number, emit?: (tx: Repositories) => Promise<void>): Promise<void> {
  const write = DATA_WRITES[kind];
  const step = plan(write.abandon, { status: write.status })!;
  await uow.run(async (tx) => {
    if (!(await tx.leases.release(kind, id, leases.owner))) return;
    await tx.images.transition(id, step.from, step.to, step.resets, now);
    await emit?.(tx);
  });
}

/** How many doomed locations one sweep takes at a time. */
const SWEEP_BATCH = 100;

export class DataCleanup {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly stores: StoreRegistry,
    private readonly leases: Leases,
    private readonly log: (msg: string, err?: unknown) => void = () => undefined,
    private readonly now: () => number = Date.now,
    /** Counts the deletions a store failed. */
    private readonly metrics: DomainMetrics = noMetrics,
  ) {}

  /**
   * Removes the bytes of doomed locations and forgets them; a failure is logged and left to the
   * next sweep. Returns how many were forgotten.
   */
  async removeBytes(locations: readonly (LocationRecord | DoomedLocation)[]): Promise<number> {
    let forgotten = 0;
    for (const loc of locations) {
      try {
        await this.removeLocation(loc);
        forgotten++;
      } catch (err) {
        this.log(`could not remove the data at ${loc.url}; the next sweep tries again`, err);
      }
    }
    return forgotten;
  }

  /**
   * Removes the bytes of one doomed location and forgets it; rejects (leaving it doomed, for the
   * next sweep) when the store could not remove them.
   */
  async removeLocation(loc: LocationRecord | DoomedLocation): Promise<void> {
    const backend = this.stores.forLocation(loc);
    // A read-only store's bytes (an http location) are not ours to remove: only the record goes.
    if (backend?.store.capabilities.write) {
      await deleteIfPresent(backend.store, loc.url).catch((err: unknown) => {
        countStoreError(this.metrics, err, 'delete', backend.type);
        throw err;
      });
    } else if (!backend) this.log(`no configured store holds ${loc.url}; forgetting the location`);
    await this.uow.repos.images.forgetLocation(loc.id, this.now());
  }

  /** One pass: dead uploads undone, unfinished deletions finished. Returns the image ids it cleaned up. */
  async sweep(): Promise<{ uploads: string[]; deletions: string[] }> {
    const uploads = await this.sweepUploads();
    const deletions: string[] = [];
    for (;;) {
      const doomed = await this.uow.repos.images.doomedLocations(SWEEP_BATCH, { kind: SCRUB_LEASE, now: this.now() });
      if (doomed.length === 0) break;
      const forgotten = await this.removeBytes(doomed);
      deletions.push(...doomed.map((l) => l.imageId));
      // Another batch only if this one was all done: bytes that cannot be removed now (a store
      // that is down) wait for the next sweep instead of being retried here forever.
      if (doomed.length < SWEEP_BATCH || forgotten < doomed.length) break;
    }
    return { uploads, deletions };
  }

  /**
   * Uploads whose lease expired: their process died (or stalled for three heartbeats and lost
   * the lease). The partial bytes are removed, bytes that were committed but never recorded too,
   * and a `saving` image goes back to `queued`.
   */
  private async sweepUploads(): Promise<string[]> {
    const done: string[] = [];
    for (const kind of [UPLOAD_LEASE, STAGE_LEASE] as const) {
      const { status, abandon: action } = DATA_WRITES[kind];
      for (const lease of await this.leases.reclaim(kind)) {
        const imageId = lease.key;
        const data = lease.data as Partial<UploadLeaseData>;
        const backend = (data.backend !== undefined ? this.stores.get(data.backend) : undefined) ?? this.stores.default;
        const found = await this.uow.repos.images.find(imageId);
        const current = found?.image.status;
        // Data first, then the record: if we die in between, the lease expires again and the next sweep retries.
        // Not recorded from this attempt (the lease goes with its last commit), so an object it committed is nobody's.
        const target = { key: imageId, attempt: data.attempt ?? '', project: data.project || null, sizeHint: null };
        await backend.store.discardWrite(target, { committed: current === undefined || current === status });
        const requeued = await this.uow.run(async (tx) => {
          const step = current === status ? plan(action, { status: current }) : null;
          const moved = step !== null && (await tx.images.transition(imageId, step.from, step.to, step.resets, this.now()));
          await tx.leases.release(kind, imageId, this.leases.owner);
          return moved;
        });
        this.log(`removed the data of a dead ${kind === UPLOAD_LEASE ? 'upload' : 'staging'} of image ${imageId}${requeued ? '; image is queued again' : ''}`);
        done.push(imageId);
      }
    }
    return done;
  }
}
