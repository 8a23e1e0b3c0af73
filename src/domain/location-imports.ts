/**
 * The v2.17 `POST /v2/images/{id}/locations`: a service (Nova, Cinder) records where a queued
 * image's data is. With do_secure_hash the data is then read once, in the background, to compute
 * checksum and os_hash_value, under a `location_import` lease so that any process finishes the
 * work if this one dies. The location passes the checks every new location passes
 * (location-checks.ts), as one a PATCH adds does.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RequestContext } from '../auth/context.js';
import { ImageHasher } from '../hashing/image-hasher.js';
import { BlobNotFound } from '../store/blob-store.js';
import type { StoreRegistry } from '../store/registry.js';
import type { DataCleanup } from './data-cleanup.js';
import { nodeAlgorithm } from './download-verification.js';
import { BadRequest, Conflict, DomainError, Forbidden } from './errors.js';
import type { ImageAccess } from './image-access.js';
import { plan } from './image-lifecycle.js';
import type { ImageChanges } from './image-model.js';
import { SchemaValidator } from './image-schema.js';
import type { Leases } from './leases.js';
import { countReadErrors, countStoreError, noMetrics, type DomainMetrics } from './metrics-port.js';
import { shownUrl } from '../store/shown-url.js';
import { digestBytes, hexBytes, type LocationChecks } from './location-checks.js';
import type { Notifier } from './notifications.js';
import type { Repositories, UnitOfWork } from './ports.js';

/** The operator's settings that concern location imports ([DEFAULT] options). */
export interface LocationImportSettings {
  /** hashing_algorithm: what os_hash_value is computed with. */
  hashingAlgorithm: string;
  /** do_secure_hash: POST /locations reads the data to compute its hashes. */
  doSecureHash: boolean;
  /** http_retries: further attempts at hashing after a read failure. */
  httpRetries: number;
}

export interface LocationImportsDeps {
  uow: UnitOfWork;
  access: ImageAccess;
  stores: StoreRegistry;
  leases: Leases;
  cleanup: DataCleanup;
  /** The checks every new location passes. */
  checks: LocationChecks;
  settings: LocationImportSettings;
  now?: () => number;
  log?: (msg: string, err?: unknown) => void;
  /** Pause between hashing attempts (tests shorten it). */
  retryDelayMs?: number;
  /** image.update goes with each status change of a location import. */
  notifier?: Notifier;
  /** Location imports in flight (as `import`) and the store reads that failed (absent = not measured). */
  metrics?: DomainMetrics;
}

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

/** The hashing of a location failed for a reason another attempt would not change. */
class HashMismatch extends Error {}

export class LocationImports {
  private readonly settings: LocationImportSettings;
  private readonly now: () => number;
  private readonly log: (msg: string, err?: unknown) => void;
  /** Imports hashing in this process, to stop at close (their leases stay, for the next process). */
  private readonly running = new Map<string, { stop: AbortController; done: Promise<void> }>();

  constructor(private readonly deps: LocationImportsDeps) {
    this.settings = deps.settings;
    this.now = deps.now ?? Date.now;
    this.log = deps.log ?? (() => undefined);
  }

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
    const admitted = await this.deps.checks.admit(url, {}, { privileged: () => service, sizes: new Map() });
    await this.deps.checks.checkStorageQuota(image, admitted.size);
    const location = { url, metadata: admitted.metadata };
    const now = this.now();

    if (!this.settings.doSecureHash) {
      // Nothing to compute: validation_data, if given, is the caller's word (as in Glance).
      const step = plan('add_location', image)!;
      const facts: ImageChanges = { size: admitted.size, os_hash_algo: validation.os_hash_algo ?? null, os_hash_value: validation.os_hash_value?.toLowerCase() ?? null };
      await uow.run(async (tx) => {
        if (!(await tx.images.transition(id, step.from, step.to, facts, now))) throw statusChanged(id);
        await tx.images.addLocation(id, location, now);
        await this.deps.notifier?.image(tx, id, 'image.update');
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
      await this.deps.notifier?.image(tx, id, 'image.update');
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
    const metrics = this.deps.metrics ?? noMetrics;
    metrics.inFlight('import', 1);
    const done = this.runImport(id, job, stop.signal)
      .catch((err: unknown) => this.log(`location import of image ${id} failed; its lease expires and the sweep retries it`, err))
      .finally(() => {
        this.running.delete(id);
        metrics.inFlight('import', -1);
      });
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
          if (!(await tx.leases.release(LOCATION_IMPORT_LEASE, id, leases.owner))) return;
          if (await tx.images.transition(id, step.from, step.to, facts, now)) await this.deps.notifier?.image(tx, id, 'image.update');
        });
        return;
      }
      this.log(`location import of image ${id} failed; the image is queued again without the location`, failure);
      const step = plan('fail_import', { status: 'importing' })!;
      const doomed = await uow.run(async (tx: Repositories) => {
        if (!(await tx.leases.release(LOCATION_IMPORT_LEASE, id, leases.owner))) return [];
        if (!(await tx.images.transition(id, step.from, step.to, step.resets, now))) return [];
        const doomed = await tx.images.doomLocations(id, now);
        await this.deps.notifier?.image(tx, id, 'image.update');
        return doomed;
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
    const metrics = this.deps.metrics ?? noMetrics;
    const data = countReadErrors(
      metrics,
      await backend.store.read(job.url).catch((err: unknown) => {
        countStoreError(metrics, err, 'read', backend.type);
        throw err;
      }),
    );
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
}

function statusChanged(id: string): DomainError {
  return new Conflict(`Image ${id} changed status meanwhile; it is no longer queued.`);
}
