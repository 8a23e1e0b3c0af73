/**
 * PUT /v2/images/{id}/stage (glance-direct's first half): queued → uploading, the bytes go to the
 * staging store, and the image waits in `uploading` with a `staged` location until POST /import.
 * Like an upload it runs under a lease (kind `stage`): if the process dies, any node's cleanup
 * sweep removes what it wrote and returns the image to queued. The data is inspected as it
 * arrives, so a hostile disk image is refused before it is ever imported.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { RequestContext } from '../auth/context.js';
import { FormatInspector } from '../formats/inspector.js';
import { deleteIfPresent } from '../store/blob-store.js';
import type { Backend } from '../store/registry.js';
import { intakeError, writeInto } from './data-intake.js';
import { abandonDataWrite, beginDataWrite, STAGE_LEASE, type UploadLeaseData } from './data-cleanup.js';
import { BadRequest, Conflict, DomainError, Gone, NotFound, TooLarge } from './errors.js';
import { checkStaged, type FormatCheckSettings } from './format-check.js';
import type { ImageAccess } from './image-access.js';
import { plan } from './image-lifecycle.js';
import type { Leases } from './leases.js';
import { countStoreError, type DomainMetrics } from './metrics-port.js';
import type { Notifier } from './notifications.js';
import type { UnitOfWork } from './ports.js';
import { mibDelta, type ProjectLimits } from './project-limits.js';

export interface ImageStagingDeps {
  uow: UnitOfWork;
  access: ImageAccess;
  leases: Leases;
  /** The staging store (os_glance_staging_store). */
  staging: Backend;
  /** Whether glance-direct is one of enabled_import_methods (else PUT /stage is 404). */
  enabled: boolean;
  imageSizeCap: number;
  formats: FormatCheckSettings;
  /** Import plugins are configured: the staged data's format is judged after them, when it reaches the stores. */
  pluginsChangeData: boolean;
  /** worker_self_reference_url: recorded as os_glance_stage_host so that imports reach this node. */
  selfUrl: string | null;
  /** use_keystone_limits: image_stage_total (declared size) before staging, image_count_uploading once the image is uploading. */
  limits?: ProjectLimits;
  now?: () => number;
  log?: (msg: string, err?: unknown) => void;
  /** image.update goes with the staging's start and end (Glance's two saves). */
  notifier?: Notifier;
  /** Staged bytes (by the staging store) and stagings in flight, counted as uploads (absent = not measured). */
  metrics?: DomainMetrics;
}

/** The staging lost its image (deleted meanwhile) or its lease. */
class StageLost extends Error {}

export class ImageStaging {
  private readonly now: () => number;
  private readonly log: (msg: string, err?: unknown) => void;

  constructor(private readonly deps: ImageStagingDeps) {
    this.now = deps.now ?? Date.now;
    this.log = deps.log ?? (() => undefined);
  }

  async stage(ctx: RequestContext, id: string, body: Readable, declaredSize: number | null): Promise<void> {
    const { uow, leases, staging } = this.deps;
    if (!this.deps.enabled) throw new NotFound('The glance-direct import method is not enabled: PUT /stage is not available.');
    await this.deps.limits?.enforce(ctx.projectId, { image_stage_total: mibDelta(declaredSize) });
    const { image } = await this.deps.access.require(ctx, id, 'modify_image');
    plan('stage', image); // Glance's refusal (409) before anything is read
    const cap = this.deps.imageSizeCap;
    if (declaredSize !== null && declaredSize > cap) throw tooLarge(cap);
    if ((await uow.repos.images.stagedLocations(id)).length > 0) throw new Conflict(`Image ${id} already has staged data.`);

    const attempt = randomUUID();
    const lease: UploadLeaseData = { attempt, backend: staging.id, project: image.owner ?? '' };
    const notifier = this.deps.notifier;
    await beginDataWrite(uow, leases, STAGE_LEASE, image, lease, this.now(), notifier && ((tx) => notifier.image(tx, id, 'image.update')));

    const held = leases.keep(STAGE_LEASE, id, { lost: gone(id), unwanted: gone(id) }, async (repos) => (await repos.images.find(id))?.image.status === 'uploading');
    this.deps.metrics?.inFlight('upload', 1);
    try {
      await this.deps.limits?.enforce(ctx.projectId, { image_count_uploading: 0 });
      const inspector = new FormatInspector();
      const target = { key: id, attempt, project: image.owner, sizeHint: declaredSize };
      // With import plugins, what the data is may still change (decompression, conversion): only its safety is judged now.
      const declared = this.deps.pluginsChangeData ? { disk_format: null, container_format: null } : image;
      const intake = await writeInto(staging.store, target, body, {
        cap,
        overCap: tooLarge,
        observe: (c) => inspector.feed(c),
        signal: held.signal,
        beforeCommit: (received) => {
          if (declaredSize !== null && received !== declaredSize) throw new BadRequest(`Staged ${received} bytes but the request declared ${declaredSize}; the data is discarded.`);
          checkStaged(inspector.finish(), declared, this.deps.formats, (msg) => this.log(`image ${id}: ${msg}`));
        },
      });
      this.deps.metrics?.bytesReceived(staging.id, intake.size);
      try {
        await uow.run(async (tx) => {
          const now = this.now();
          if (!(await tx.leases.release(STAGE_LEASE, id, leases.owner))) throw new StageLost();
          if ((await tx.images.find(id))?.image.status !== 'uploading') throw new StageLost();
          await tx.images.addLocation(id, { url: intake.stored.url, metadata: { store: staging.id, size: intake.size } }, now, 'staged');
          if (this.deps.selfUrl) await tx.images.setProperties(id, { os_glance_stage_host: this.deps.selfUrl }, now);
          await notifier?.image(tx, id, 'image.update');
        });
      } catch (err) {
        await deleteIfPresent(staging.store, intake.stored.url).catch((e: unknown) => this.log(`could not remove the staged data of image ${id}`, e));
        throw err;
      }
    } catch (err) {
      if (this.deps.metrics) countStoreError(this.deps.metrics, err, 'write');
      await abandonDataWrite(uow, leases, STAGE_LEASE, id, this.now()).catch((e: unknown) => this.log(`could not end the failed staging of image ${id}; the cleanup sweep will`, e));
      if (held.signal.aborted && held.signal.reason instanceof DomainError) throw held.signal.reason;
      if (err instanceof StageLost) throw gone(id);
      throw intakeError(err, id, this.log);
    } finally {
      held.stop();
      this.deps.metrics?.inFlight('upload', -1);
    }
  }

}

function tooLarge(cap: number): TooLarge {
  return new TooLarge(`Image exceeds the maximum size of ${cap} bytes (image_size_cap); nothing was staged.`);
}

function gone(id: string): Gone {
  return new Gone(`Image ${id} could not be found after staging. The image may have been deleted meanwhile.`);
}
