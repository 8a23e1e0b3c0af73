/**
 * Runs interoperable imports (tasks of type `api_image_import`), crash-proof. A task is run by
 * the process that holds its lease (kind `import_task`, key = task id), which renews it while it
 * works; if that process dies, the lease expires and the next cleanup sweep of any process on the
 * same database takes the task over: it removes what the dead run was writing and runs the task
 * again from what is on record — staged data already recorded is not fetched twice, stores that
 * already hold the image are not written twice. A task that cannot go on (taken over too often,
 * or a glance-download whose caller's token died with the process) fails cleanly: the image goes
 * back to a status from which the user can import again, and its staged data is removed.
 *
 * The steps (Glance's api_image_import flow): fetch the data into the staging store
 * (web-download, glance-download; glance-direct staged it already), inspected as it arrives; run
 * the import plugins on a local copy; write it to each target store, inspected and hashed as it
 * passes (and checked against img_signature when the image is signed: its certificate is fetched
 * when the import is asked for and kept in the task's lease), recording each location as it
 * commits; the last store (every store, with all_stores_must_succeed = false) activates the
 * image; the staged data is removed and the task succeeds. copy-image writes the image's existing data to more stores and checks its hashes.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RequestContext } from '../auth/context.js';
import { FormatInspector } from '../formats/inspector.js';
import { deleteIfPresent } from '../store/blob-store.js';
import type { Backend, StoreRegistry } from '../store/registry.js';
import type { DataCleanup } from './data-cleanup.js';
import { writeInto } from './data-intake.js';
import { nodeAlgorithm } from './download-verification.js';
import { TooLarge } from './errors.js';
import { checkStaged, judgeInspection, type FormatCheckSettings } from './format-check.js';
import type { ImageChanges, ImageRecord, LocationRecord } from './image-model.js';
import { noKeyManager, signatureProperties, type ImageSignatures } from './image-signature.js';
import type { KeyManagerCaller } from './key-manager.js';
import type { SignatureJob } from '../hashing/hash-ring.js';
import { plan } from './image-lifecycle.js';
import type { ImportRequest } from './image-import.js';
import type { ImportPlugin, RemoteGlanceSource, StagedFile, WebSource } from './import-ports.js';
import type { Leases } from './leases.js';
import type { Notifier } from './notifications.js';
import type { Repositories, UnitOfWork } from './ports.js';
import { mibDelta, type ProjectLimits } from './project-limits.js';
import type { TaskRecord } from './task-model.js';
import { countReadErrors, countStoreError, noMetrics, type DomainMetrics } from './metrics-port.js';

/** The lease kind of a running import task; its key is the task id. */
export const IMPORT_TASK_LEASE = 'import_task';
/** How often a task is taken over after its process died before it is failed instead (a task that kills its process must not loop). */
const MAX_TAKEOVERS = 3;

/** A task's `input` (Glance's): the image, the request body, the target stores. */
export interface ImportTaskInput {
  image_id: string;
  import_req: ImportRequest;
  backend: string[];
}

/**
 * What an import task does: an `api_image_import` task's own input; a legacy `import` task
 * (POST /v2/tasks) is a web-download of `import_from` into the image made for it, to the default store (no `backend`).
 */
export function importInput(task: TaskRecord): ImportTaskInput {
  if (task.type === 'api_image_import') return task.input as unknown as ImportTaskInput;
  const input = task.input ?? {};
  return { image_id: task.image_id ?? '', import_req: { method: { name: 'web-download', uri: String(input.import_from) } }, backend: [] };
}

/** What glance-download needs of its caller; only the process that took the request has it. */
export interface RunnerCredentials {
  token: string;
  catalog: readonly unknown[];
}

/** What the task's lease records for whoever takes it over. */
interface ImportLeaseData {
  image: string;
  /** Names this run's writes (staging and stores), so a takeover can remove them. */
  attempt: string;
  takeovers: string;
  /** The caller's roles, comma-separated (inject_image_metadata's ignore_user_roles). */
  roles: string;
  /** A signed image's certificate, fetched for the caller when the import was asked for: `<uuid> <base64 of its bytes>`. */
  signing_certificate?: string;
}

export interface ImportRunnerDeps {
  uow: UnitOfWork;
  stores: StoreRegistry;
  /** Where imports keep data before it reaches the stores. */
  staging: Backend;
  leases: Leases;
  cleanup: DataCleanup;
  web: WebSource;
  remote: RemoteGlanceSource;
  plugins: readonly ImportPlugin[];
  formats: FormatCheckSettings;
  /** Checks signed images' data; absent = no key manager (a signed image's import is refused). */
  signatures?: ImageSignatures | null;
  imageSizeCap: number;
  hashingAlgorithm: string;
  /** [task] task_time_to_live, in ms: how long an ended task stays listed. */
  taskTimeToLiveMs: number;
  /** Local directory for the plugins' copies. */
  workDir: string;
  /** [wsgi] task_pool_threads: imports run at once in this process. */
  concurrency: number;
  /** use_keystone_limits: checked when a task starts (not when taken over); over a limit, the task fails and the image goes back to queued (copy-image: stays active). */
  limits?: ProjectLimits;
  now?: () => number;
  log?: (msg: string, err?: unknown) => void;
  /** task.run, .processing, .success, .failure and the image's events go with the task's commits. */
  notifier?: Notifier;
  /** Imports in flight, the bytes they write by store (staging included) and the stores' failures (absent = not measured). */
  metrics?: DomainMetrics;
}

/** This run no longer owns the task (another process took it over, or the image's lock moved on). */
class TaskLost extends Error {}

/** Something to read the import's data from, as many times as there are stores. */
interface ImportData {
  open(): Promise<Readable>;
  size: number | null;
}

export class ImportRunner {
  private readonly now: () => number;
  private readonly log: (msg: string, err?: unknown) => void;
  private readonly metrics: DomainMetrics;
  private readonly running = new Map<string, { stop: AbortController; done: Promise<void> }>();
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly deps: ImportRunnerDeps) {
    this.now = deps.now ?? Date.now;
    this.log = deps.log ?? (() => undefined);
    this.metrics = deps.metrics ?? noMetrics;
  }

  /** The lease data of a new task started by `ctx`. */
  leaseData(imageId: string, ctx: RequestContext): Record<string, string> {
    const data: ImportLeaseData = { image: imageId, attempt: randomUUID(), takeovers: '0', roles: ctx.roles.join(',') };
    return { ...data };
  }

  /**
   * What the lease of a new import of `image` records for its signature: nothing when the image
   * is not signed (or the import copies data already verified); else the certificate, fetched and
   * checked now for the caller — bad properties or an unknown certificate are 400, an unreachable
   * key manager 503, before the task starts — so that the run, or a process taking it over, needs
   * no token of the caller's.
   */
  async signingLease(caller: KeyManagerCaller, image: ImageRecord, method: string): Promise<Record<string, string>> {
    if (method === 'copy-image') return {};
    const props = signatureProperties(image.properties);
    if (!props) return {};
    if (!this.deps.signatures) throw noKeyManager();
    const certificate = await this.deps.signatures.certificate(caller, props.certificateUuid);
    this.deps.signatures.checkWith(props, certificate);
    return { signing_certificate: `${props.certificateUuid} ${certificate.toString('base64')}` };
  }

  /** Runs a task whose lease (with `leaseData`) this process holds, in the background; at most `concurrency` at once. */
  start(task: TaskRecord, leaseData: Record<string, string>, credentials: RunnerCredentials | null): void {
    const stop = new AbortController();
    const done = this.run(task, leaseData as unknown as ImportLeaseData, credentials, stop.signal)
      .catch((err: unknown) => this.log(`import task ${task.id} stopped; its lease expires and another process takes it over`, err))
      .finally(() => {
        this.running.delete(task.id);
      });
    this.running.set(task.id, { stop, done });
  }

  /** Stops the tasks running here; their leases stay, so another process (or the next start) finishes them. */
  async close(): Promise<void> {
    const all = [...this.running.values()];
    for (const r of all) r.stop.abort();
    await Promise.all(all.map((r) => r.done));
  }

  /**
   * Import tasks whose process died (expired leases): what the dead run was writing is removed,
   * then the task runs again here — or fails cleanly when it cannot go on. Returns the task ids.
   */
  async resume(): Promise<string[]> {
    const { uow, leases } = this.deps;
    const taken: string[] = [];
    for (const lease of await leases.reclaim(IMPORT_TASK_LEASE)) {
      const data = lease.data as unknown as ImportLeaseData;
      const task = await uow.repos.tasks.find(lease.key);
      if (!task || task.status === 'success' || task.status === 'failure') {
        await uow.repos.leases.release(IMPORT_TASK_LEASE, lease.key, leases.owner);
        continue;
      }
      taken.push(task.id);
      try {
        await this.discardRun(task, data);
        const input = importInput(task);
        const staged = (await uow.repos.images.stagedLocations(input.image_id)).length > 0;
        const takeovers = Number(data.takeovers) + 1;
        if (takeovers > MAX_TAKEOVERS) throw new Error(`The import was interrupted ${MAX_TAKEOVERS} times (its process stopped); it is not tried again.`);
        if (input.import_req.method.name === 'glance-download' && !staged) {
          throw new Error("The process running this glance-download import stopped; the caller's token did not outlive it. Import again.");
        }
        const next: ImportLeaseData = { ...data, attempt: randomUUID(), takeovers: String(takeovers) };
        if (!(await uow.repos.leases.update(IMPORT_TASK_LEASE, task.id, leases.owner, { ...next }))) continue;
        this.log(`taking over import task ${task.id} of image ${input.image_id}, whose process stopped`);
        this.start(task, { ...next }, null);
      } catch (err) {
        await this.fail(task, err).catch((e: unknown) => this.log(`could not fail import task ${task.id}; the next sweep retries`, e));
      }
    }
    return taken;
  }

  private async run(task: TaskRecord, data: ImportLeaseData, credentials: RunnerCredentials | null, stop: AbortSignal): Promise<void> {
    const { uow, leases } = this.deps;
    const input = importInput(task);
    const imageId = input.image_id;
    const held = leases.keep(IMPORT_TASK_LEASE, task.id, { lost: 'lost', unwanted: 'unwanted' }, async (repos) => (await repos.images.find(imageId))?.image.properties.os_glance_import_task === task.id);
    const signal = AbortSignal.any([held.signal, stop]);
    const workDir = path.join(this.deps.workDir, task.id);
    let placed = false;
    try {
      await this.slot(signal);
      placed = true;
      // In flight while it holds one of the places: a task waiting for one is not running yet.
      this.metrics.inFlight('import', 1);
      const notifier = this.deps.notifier;
      if (notifier?.wants('task.run') || notifier?.wants('task.processing')) {
        await notifier.run(async (tx) => {
          await notifier.task(tx, 'task.run', task);
          if (await tx.tasks.transition(task.id, 'pending', 'processing', {}, this.now())) await notifier.task(tx, 'task.processing', task.id);
        });
      } else {
        await uow.repos.tasks.transition(task.id, 'pending', 'processing', {}, this.now());
      }
      if (data.takeovers === '0') await this.checkLimits(task, input);
      const source = await this.prepare(task, input, data, credentials, workDir, signal);
      const signature = await this.signature(input, data, credentials);
      await this.importToStores(task, input, data, source, signal, signature);
      await this.succeed(task);
    } catch (err) {
      // This process stops, or another one owns the task now: the lease (or its new owner) decides.
      if (stop.aborted || held.signal.reason === 'lost' || err instanceof TaskLost) return;
      this.log(`import task ${task.id} of image ${imageId} failed`, err);
      await this.fail(task, held.signal.reason === 'unwanted' ? new Error(`Image ${imageId} was deleted, or its import lock taken, during the import.`) : err);
    } finally {
      held.stop();
      if (placed) {
        this.release();
        this.metrics.inFlight('import', -1);
      }
      await fs.promises.rm(workDir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /**
   * The data to write to the stores: the staged data (fetched into staging first, for
   * web-download and glance-download), or the plugins' local result; for copy-image, the image's
   * own data.
   */
  private async prepare(task: TaskRecord, input: ImportTaskInput, lease: ImportLeaseData, credentials: RunnerCredentials | null, workDir: string, signal: AbortSignal): Promise<ImportData> {
    const { uow, staging } = this.deps;
    const image = await this.image(input.image_id);
    const method = input.import_req.method.name;
    if (method === 'copy-image') return this.existingData(image);

    let staged = (await uow.repos.images.stagedLocations(image.id)).at(-1);
    if (!staged) {
      if (method === 'glance-direct') throw new Error(`Image ${image.id} has no staged data any more.`);
      staged = await this.fetchIntoStaging(task, input, lease, image, credentials, signal);
    }
    const stagedUrl = staged.url;
    const data: ImportData = { open: () => this.readStore(staging, stagedUrl), size: await this.readCall(staging, () => staging.store.size(stagedUrl)) };
    if (this.deps.plugins.length === 0) return data;

    // The plugins work on a local file: a copy of the staged data in this task's work directory.
    await fs.promises.mkdir(workDir, { recursive: true });
    let file: StagedFile = { path: path.join(workDir, 'staged'), size: data.size ?? 0 };
    await pipeline(await data.open(), fs.createWriteStream(file.path), { signal });
    file.size = (await fs.promises.stat(file.path)).size;
    for (const plugin of this.deps.plugins) {
      const current = await this.image(image.id);
      const outcome = await plugin.run({
        staged: file,
        image: { id: current.id, disk_format: current.disk_format, container_format: current.container_format, properties: current.properties },
        roles: lease.roles.split(',').filter((r) => r !== ''),
        workDir,
        signal,
      });
      if (outcome.staged && outcome.staged.path !== file.path) {
        await fs.promises.rm(file.path, { force: true });
        file = outcome.staged;
      }
      await this.applyToImage(task, current, outcome.changes ?? {}, outcome.properties ?? {});
    }
    const final = file;
    return { open: async () => fs.createReadStream(final.path), size: final.size };
  }

  /** web-download or glance-download: the data into the staging store, inspected as it arrives, recorded as staged. */
  private async fetchIntoStaging(task: TaskRecord, input: ImportTaskInput, lease: ImportLeaseData, image: ImageRecord, credentials: RunnerCredentials | null, signal: AbortSignal): Promise<LocationRecord> {
    const { uow, staging } = this.deps;
    const m = input.import_req.method;
    let fetched;
    if (m.name === 'glance-download') {
      if (!credentials) throw new Error('glance-download needs the caller\'s token and service catalog (Keystone authentication).');
      const endpoint = this.deps.remote.endpoint(credentials.catalog, String(m.glance_region), String(m.glance_service_interface ?? 'public'));
      const remote = await this.deps.remote.metadata(endpoint, credentials.token, String(m.glance_image_id), signal);
      // Glance's metadata step: the remote image's formats and chosen properties onto this one.
      await this.applyToImage(task, image, { disk_format: remote.disk_format ?? undefined, container_format: remote.container_format ?? undefined }, remote.properties);
      image = await this.image(image.id);
      fetched = await this.deps.remote.open(endpoint, credentials.token, String(m.glance_image_id), signal);
    } else {
      fetched = await this.deps.web.open(String(m.uri), signal);
    }
    const inspector = new FormatInspector();
    const cap = this.deps.imageSizeCap;
    const target = { key: image.id, attempt: lease.attempt, project: image.owner, sizeHint: fetched.size };
    // Plugins may change what the data is (decompression, conversion): then only its safety is judged here, its format when it reaches the stores.
    const declared = this.deps.plugins.length > 0 ? { disk_format: null, container_format: null } : image;
    const intake = await writeInto(staging.store, target, fetched.stream, {
      cap,
      overCap: tooLarge,
      observe: (c) => inspector.feed(c),
      signal,
      beforeCommit: (received) => {
        if (fetched.size !== null && received !== fetched.size) throw new Error(`Fetched ${received} bytes but the source announced ${fetched.size}.`);
        checkStaged(inspector.finish(), declared, this.deps.formats, (msg) => this.log(`image ${image.id}: ${msg}`));
      },
    }).catch((err: unknown) => {
      countStoreError(this.metrics, err, 'write');
      throw err;
    });
    this.metrics.bytesReceived(staging.id, intake.size);
    try {
      const location = { url: intake.stored.url, metadata: { store: staging.id, size: intake.size } };
      await this.owned(task, async (tx, now) => {
        await this.lockedImage(tx, task, image.id);
        await tx.images.addLocation(image.id, location, now, 'staged');
      });
    } catch (err) {
      await deleteIfPresent(staging.store, intake.stored.url).catch((e: unknown) => this.log(`could not remove the staged data of image ${image.id}`, e));
      throw err;
    }
    return (await uow.repos.images.stagedLocations(image.id)).at(-1)!;
  }

  /** Writes the data to every target store that does not hold the image yet, recording each location as it commits. */
  private async importToStores(task: TaskRecord, input: ImportTaskInput, lease: ImportLeaseData, data: ImportData, signal: AbortSignal, signature: SignatureJob | null = null): Promise<void> {
    const { stores } = this.deps;
    const copy = input.import_req.method.name === 'copy-image';
    const mustSucceed = input.import_req.all_stores_must_succeed !== false;
    const initial = await this.image(input.image_id);
    const present = new Set(initial.locations.map((l) => stores.forLocation(l)?.id));
    const targets = this.targets(input).filter((id) => !present.has(id));
    let remaining = [...targets];
    let failures = 0;
    for (const storeId of targets) {
      const backend = stores.get(storeId);
      try {
        if (!backend) throw new Error(`Store ${storeId} is not configured any more.`);
        const image = await this.image(input.image_id);
        // Glance's set_data announces each store's write (image.prepare); no change goes with it, so it is written on its own.
        const notifier = this.deps.notifier;
        if (notifier?.wants('image.prepare')) await notifier.run((tx) => notifier.image(tx, image, ['image.prepare', stores.multiStore ? { backend: storeId } : {}]));
        const inspector = copy ? null : new FormatInspector();
        const target = { key: image.id, attempt: lease.attempt, project: image.owner, sizeHint: data.size };
        let virtualSize: number | null = null;
        const intake = await writeInto(backend.store, target, await data.open(), {
          cap: this.deps.imageSizeCap,
          overCap: tooLarge,
          hashAlgorithm: nodeAlgorithm(copy && image.os_hash_algo ? image.os_hash_algo : this.deps.hashingAlgorithm),
          observe: inspector ? (c) => inspector.feed(c) : undefined,
          signal,
          signature,
          beforeCommit: () => {
            if (inspector) virtualSize = judgeInspection(inspector.finish(), image, this.deps.formats, (msg) => this.log(`image ${image.id}: ${msg}`));
          },
        });
        this.metrics.bytesReceived(storeId, intake.size);
        try {
          const digests = intake.digests!;
          let facts: ImageChanges;
          if (copy) {
            if ((image.os_hash_value && digests.multihash !== image.os_hash_value) || (image.checksum && digests.md5 !== image.checksum)) {
              throw new Error(`The copy of image ${image.id} to store ${storeId} does not match the image's hashes; it is discarded.`);
            }
            facts = {};
          } else {
            facts = { size: intake.size, checksum: digests.md5, os_hash_algo: this.deps.hashingAlgorithm, os_hash_value: digests.multihash, virtual_size: virtualSize };
          }
          remaining = remaining.filter((s) => s !== storeId);
          const activate = !copy && (!mustSucceed || remaining.length === 0);
          await this.owned(task, async (tx, now) => {
            const current = await this.lockedImage(tx, task, image.id);
            await tx.images.addLocation(image.id, { url: intake.stored.url, metadata: stores.locationMetadata(backend, intake.stored.metadata) }, now);
            await tx.images.setProperties(image.id, { os_glance_importing_to_stores: remaining.join(',') }, now);
            const activated = activate && current.status === 'importing';
            if (activated) {
              const step = plan('finish_import', current)!;
              await tx.images.transition(image.id, step.from, step.to, facts, now);
            }
            await this.deps.notifier?.image(tx, image.id, 'image.upload', ...(activated ? ['image.activate'] : []), 'image.update');
          });
        } catch (err) {
          await deleteIfPresent(backend.store, intake.stored.url).catch((e: unknown) => this.log(`could not remove the data of image ${image.id} from store ${storeId}`, e));
          throw err;
        }
      } catch (err) {
        // The source's read errors were counted as it emitted them; a store error left is this store's write.
        countStoreError(this.metrics, err, 'write');
        if (signal.aborted || err instanceof TaskLost) throw err;
        failures++;
        remaining = remaining.filter((s) => s !== storeId);
        this.log(`import of image ${input.image_id} into store ${storeId} failed`, err);
        await this.owned(task, async (tx, now) => {
          const current = (await tx.images.find(input.image_id))?.image;
          const failed = new Set((current?.properties.os_glance_failed_import ?? '').split(',').filter((s) => s !== ''));
          failed.add(storeId);
          await tx.images.setProperties(input.image_id, { os_glance_failed_import: [...failed].join(','), os_glance_importing_to_stores: remaining.join(',') }, now);
        });
        if (mustSucceed || failures === targets.length) throw err;
      }
    }
  }

  /**
   * The signature check of the data the task stores (null: not signed, or copy-image): with the
   * certificate recorded in the lease, else (the properties changed, e.g. by glance-download's
   * metadata step) fetched now with the caller's token when this process has it.
   */
  private async signature(input: ImportTaskInput, lease: ImportLeaseData, credentials: RunnerCredentials | null): Promise<SignatureJob | null> {
    if (input.import_req.method.name === 'copy-image') return null;
    const props = signatureProperties((await this.image(input.image_id)).properties);
    if (!props) return null;
    const signatures = this.deps.signatures;
    if (!signatures) throw noKeyManager();
    const [uuid, recorded] = (lease.signing_certificate ?? '').split(' ');
    const certificate = uuid === props.certificateUuid && recorded
      ? Buffer.from(recorded, 'base64')
      : await signatures.certificate({ authToken: credentials?.token ?? null, serviceCatalog: (credentials?.catalog ?? null) as KeyManagerCaller['serviceCatalog'] }, props.certificateUuid);
    return signatures.checkWith(props, certificate);
  }

  /** The task succeeded: its lock and lease end, its staged data goes. */
  private async succeed(task: TaskRecord): Promise<void> {
    const imageId = task.image_id!;
    const doomed = await this.owned(task, async (tx, now) => {
      await tx.leases.release(IMPORT_TASK_LEASE, task.id, this.deps.leases.owner);
      await tx.tasks.transition(task.id, 'processing', 'success', { result: { image_id: imageId }, expires_at: now + this.deps.taskTimeToLiveMs }, now);
      await this.deps.notifier?.task(tx, 'task.success', task.id);
      await tx.images.setProperties(imageId, { os_glance_import_task: null, os_glance_importing_to_stores: '' }, now);
      return tx.images.doomStagedLocations(imageId, now);
    });
    await this.deps.cleanup.removeBytes(doomed);
  }

  /**
   * The task failed: it ends with the error's message; an image that was importing returns to
   * queued without the data this import stored or staged (copy-image leaves the image as it is);
   * the stores not reached are recorded in os_glance_failed_import.
   */
  private async fail(task: TaskRecord, err: unknown): Promise<void> {
    const input = importInput(task);
    const imageId = input.image_id;
    const message = err instanceof Error ? err.message : String(err);
    const doomed = await this.deps.uow.run(async (tx) => {
      const now = this.now();
      if (!(await tx.leases.release(IMPORT_TASK_LEASE, task.id, this.deps.leases.owner))) return [];
      const changes = { message, expires_at: now + this.deps.taskTimeToLiveMs };
      if (!(await tx.tasks.transition(task.id, 'processing', 'failure', changes, now))) await tx.tasks.transition(task.id, 'pending', 'failure', changes, now);
      await this.deps.notifier?.task(tx, 'task.failure', task.id);
      const image = (await tx.images.find(imageId))?.image;
      if (!image || image.properties.os_glance_import_task !== task.id) return [];
      const failed = new Set((image.properties.os_glance_failed_import ?? '').split(',').filter((s) => s !== ''));
      for (const s of (image.properties.os_glance_importing_to_stores ?? '').split(',')) if (s !== '') failed.add(s);
      await tx.images.setProperties(imageId, { os_glance_import_task: null, os_glance_importing_to_stores: '', os_glance_failed_import: [...failed].join(',') }, now);
      if (image.status !== 'importing') return tx.images.doomStagedLocations(imageId, now);
      const step = plan('fail_import', image)!;
      await tx.images.transition(imageId, step.from, step.to, step.resets, now);
      await this.deps.notifier?.image(tx, imageId, 'image.update');
      return tx.images.doomLocations(imageId, now);
    });
    await this.deps.cleanup.removeBytes(doomed);
  }

  /**
   * Glance's checks once the image is marked for import, for the task's project: glance-direct
   * stores the staged data (image_size_total, its size as the delta); the others stage data first
   * (image_stage_total with the image's size, if known) and count as uploading.
   */
  private async checkLimits(task: TaskRecord, input: ImportTaskInput): Promise<void> {
    const limits = this.deps.limits;
    if (!limits?.enabled) return;
    const image = await this.image(input.image_id);
    try {
      if (input.import_req.method.name === 'glance-direct') {
        const staged = (await this.deps.uow.repos.images.stagedLocations(image.id)).at(-1);
        const size = image.size ?? (staged ? Number(staged.metadata.size ?? 0) : 0);
        await limits.enforce(task.owner, { image_size_total: mibDelta(size) });
      } else {
        await limits.enforce(task.owner, { image_stage_total: mibDelta(image.size), image_count_uploading: 0 });
      }
    } catch (err) {
      // As Glance's assert_quota: the stores are no longer imported to, but none of them failed.
      await this.owned(task, async (tx, now) => {
        await this.lockedImage(tx, task, image.id);
        await tx.images.setProperties(image.id, { os_glance_importing_to_stores: '' }, now);
      });
      throw err;
    }
  }

  /** Removes what a dead run of `task` was writing: unrecorded staged data and unrecorded objects in its target stores. */
  private async discardRun(task: TaskRecord, lease: ImportLeaseData): Promise<void> {
    const { uow, stores, staging } = this.deps;
    const input = importInput(task);
    const found = await uow.repos.images.find(input.image_id);
    const project = found?.image.owner ?? null;
    const target = { key: input.image_id, attempt: lease.attempt, project, sizeHint: null };
    const staged = await uow.repos.images.stagedLocations(input.image_id);
    await staging.store.discardWrite(target, { committed: staged.length === 0 && input.import_req.method.name !== 'glance-direct' });
    const present = new Set((found?.image.locations ?? []).map((l) => stores.forLocation(l)?.id));
    for (const id of this.targets(input)) {
      const backend = stores.get(id);
      if (backend && !present.has(id)) await backend.store.discardWrite(target, { committed: true });
    }
    await fs.promises.rm(path.join(this.deps.workDir, task.id), { recursive: true, force: true });
  }

  /** The stores a task writes to: the ones it names, else the default one. */
  private targets(input: ImportTaskInput): string[] {
    return input.backend.length > 0 ? input.backend : [this.deps.stores.default.id];
  }

  /** copy-image reads the image's own data, from the first of its locations that answers. */
  private async existingData(image: ImageRecord): Promise<ImportData> {
    if (image.locations.length === 0) throw new Error(`Image ${image.id} has no data to copy.`);
    return {
      size: image.size,
      open: async () => {
        let last: unknown;
        const found = await this.deps.stores.readFirst(image.locations, undefined, (_loc, backend, err) => {
          if (backend && err !== undefined) countStoreError(this.metrics, err, 'read', backend.type);
          last = err ?? last;
        });
        if (found) return countReadErrors(this.metrics, found.stream);
        throw last instanceof Error ? last : new Error(`No store holding image ${image.id} can be read.`);
      },
    };
  }

  /** A store's object as a stream, its failures (to open, or while streaming) counted as the store's reads. */
  private async readStore(backend: Backend, url: string): Promise<Readable> {
    return countReadErrors(this.metrics, await this.readCall(backend, () => backend.store.read(url)));
  }

  /** One read call of a store (open, size): its failure is counted under the store's driver. */
  private async readCall<T>(backend: Backend, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      countStoreError(this.metrics, err, 'read', backend.type);
      throw err;
    }
  }

  /** Formats and properties a plugin (or glance-download's metadata step) gives the image; its virtual size comes from the inspection at the stores. */
  private async applyToImage(task: TaskRecord, image: ImageRecord, changes: { disk_format?: string; container_format?: string }, properties: Record<string, string>): Promise<void> {
    await this.owned(task, async (tx, now) => {
      if (changes.disk_format !== undefined || changes.container_format !== undefined) {
        const current = (await tx.images.find(image.id))?.image;
        if (!current) throw new TaskLost();
        const next = { ...current, disk_format: changes.disk_format ?? current.disk_format, container_format: changes.container_format ?? current.container_format, updated_at: now };
        if (!(await tx.images.save(next, { status: current.status, updatedAt: current.updated_at }))) throw new Error(`Image ${image.id} changed meanwhile.`);
      }
      if (Object.keys(properties).length > 0) await tx.images.setProperties(image.id, properties, now);
    });
  }

  /** Runs `work` in one transaction, only while this process still owns the task (its lease). */
  private owned<T>(task: TaskRecord, work: (tx: Repositories, now: number) => Promise<T>): Promise<T> {
    const { uow, leases } = this.deps;
    return uow.run(async (tx) => {
      const now = this.now();
      if (!(await tx.leases.renew(IMPORT_TASK_LEASE, task.id, leases.owner, now + leases.ttlMs))) throw new TaskLost();
      return work(tx, now);
    });
  }

  /**
   * The image, read in the transaction that records what the task wrote: still there and still
   * locked by this task — else the bytes just written are nobody's (the caller removes them).
   */
  private async lockedImage(tx: Repositories, task: TaskRecord, id: string): Promise<ImageRecord> {
    const image = (await tx.images.find(id))?.image;
    if (!image) throw new Error(`Image ${id} was deleted during the import.`);
    if (image.properties.os_glance_import_task !== task.id) throw new Error(`Image ${id}'s import lock was taken by another task during the import.`);
    return image;
  }

  private async image(id: string): Promise<ImageRecord> {
    const found = await this.deps.uow.repos.images.find(id);
    if (!found) throw new Error(`Image ${id} was deleted during the import.`);
    return found.image;
  }

  /** Waits for one of the `concurrency` places (or the signal). */
  private async slot(signal: AbortSignal): Promise<void> {
    if (this.active < this.deps.concurrency) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const go = () => {
        signal.removeEventListener('abort', onAbort);
        this.active++;
        resolve();
      };
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(go), 1);
        reject(signal.reason instanceof Error ? signal.reason : new Error('stopped'));
      };
      this.waiting.push(go);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private release(): void {
    this.active--;
    this.waiting.shift()?.();
  }
}

function tooLarge(cap: number): TooLarge {
  return new TooLarge(`Image exceeds the maximum size of ${cap} bytes (image_size_cap).`);
}
