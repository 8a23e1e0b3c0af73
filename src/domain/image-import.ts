/**
 * POST /v2/images/{id}/import: Glance's checks, in Glance's order, then — in one transaction —
 * the image's status change, its import lock (`os_glance_import_task`), the progress properties,
 * the task row and the lease of the process that runs it. The work itself is ImportRunner's.
 */
import { randomUUID } from 'node:crypto';
import type { RequestContext } from '../auth/context.js';
import type { StoreRegistry } from '../store/registry.js';
import { BadRequest, Conflict } from './errors.js';
import type { ImageAccess } from './image-access.js';
import type { ImageRecord } from './image-model.js';
import { plan, type Step } from './image-lifecycle.js';
import type { WebSource } from './import-ports.js';
import { IMPORT_TASK_LEASE, importInput, type ImportRunner, type ImportTaskInput, type RunnerCredentials } from './import-runner.js';
import type { Leases } from './leases.js';
import type { Notifier } from './notifications.js';
import type { Repositories, UnitOfWork } from './ports.js';
import type { ProjectLimits } from './project-limits.js';
import type { ImageCreation } from './image-creation.js';
import { assertStagedHere } from './stage-host.js';
import type { TaskRecord } from './task-model.js';

export const IMPORT_METHODS = ['glance-direct', 'web-download', 'copy-image', 'glance-download'] as const;
export type ImportMethod = (typeof IMPORT_METHODS)[number];

export interface ImageImportDeps {
  uow: UnitOfWork;
  access: ImageAccess;
  stores: StoreRegistry;
  leases: Leases;
  runner: ImportRunner;
  web: WebSource;
  /** enabled_import_methods. */
  methods: readonly ImportMethod[];
  /** worker_self_reference_url: staged data recorded under another URL is on another node. */
  selfUrl: string | null;
  /** Legacy import tasks make their image. */
  creation: ImageCreation;
  /** [task] task_time_to_live, in ms. */
  taskTimeToLiveMs: number;
  /** use_keystone_limits: image_size_total must not be over its limit already (the task checks the rest). */
  limits?: ProjectLimits;
  now?: () => number;
  /** task.create and image.update go with the start of an import. */
  notifier?: Notifier;
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export class ImageImport {
  private readonly now: () => number;

  constructor(private readonly deps: ImageImportDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** GET /v2/info/import. */
  get methods(): readonly ImportMethod[] {
    return this.deps.methods;
  }

  /**
   * Starts an import; returns when the task is recorded (the API answers 202). `headerStore` is
   * the X-Image-Meta-Store header. Throws StagedElsewhere when another node must take the call.
   */
  async start(ctx: RequestContext, id: string, body: unknown, headerStore: string | null): Promise<void> {
    const req = this.parseBody(body);
    await this.deps.limits?.enforce(ctx.projectId, { image_size_total: 0 });
    const method = req.method.name as ImportMethod;
    const visible = await this.deps.access.find(ctx, id);
    const image = visible.image;
    this.checkStatus(image, method, req.method);
    if (method === 'copy-image') this.deps.access.enforceOnImage(ctx, 'copy_image', visible);
    else this.deps.access.enforceOnImage(ctx, 'modify_image', visible);

    const staleLock = await this.staleLock(image);
    const stores = this.targetStores(req, headerStore, image, method);
    // copy-image with all_stores of an image every store holds: nothing to do (Glance answers 202 without a task).
    if (stores.length === 0) return;
    if (req.all_stores_must_succeed === false && !this.deps.stores.multiStore) {
      throw new BadRequest(`All_stores_must_succeed can only be set with enabled_backends ${req.method.uri ?? 'None'}`);
    }
    if (method === 'glance-direct') assertStagedHere(image, this.deps.selfUrl);
    if (method === 'web-download') {
      const uri = String(req.method.uri ?? '');
      if ((await this.deps.web.uriRefusal(uri)) !== null) throw new BadRequest(`URI for web-download does not pass filtering: ${uri}`);
    }
    if (method === 'glance-direct' && (await this.deps.uow.repos.images.stagedLocations(id)).length === 0) {
      throw new Conflict(`Image ${id} has no staged data: PUT /v2/images/${id}/stage first.`);
    }

    const now = this.now();
    const task: TaskRecord = {
      id: randomUUID(),
      type: 'api_image_import',
      status: 'pending',
      owner: ctx.projectId,
      input: { image_id: id, import_req: req, backend: stores } satisfies ImportTaskInput,
      result: null,
      message: '',
      image_id: id,
      request_id: ctx.requestId,
      user_id: ctx.userId,
      expires_at: null,
      created_at: now,
      updated_at: now,
    };
    const step = method === 'copy-image' ? plan('copy_image', image) : plan(method === 'glance-direct' ? 'import_staged' : 'import_remote', image);
    await this.begin(ctx, task, image, step, stores, staleLock, (tx) => tx.tasks.insert(task));
  }

  /**
   * A legacy `import` task (POST /v2/tasks), to record and start: the image it asks for is made
   * (its `image_properties`, owned by the caller's project), then — in one transaction with the
   * task's row — the image's import begins, and its `import_from` is fetched into it like a
   * web-download. A task whose image cannot be made is recorded failed, with the reason.
   */
  async startLegacy(ctx: RequestContext, task: TaskRecord): Promise<void> {
    let image: ImageRecord;
    try {
      const created = await this.deps.creation.create(ctx, { ...(task.input?.image_properties as Record<string, unknown>) });
      image = (await this.deps.uow.repos.images.find(created.id))!.image;
    } catch (err) {
      const now = this.now();
      const message = err instanceof Error ? err.message : String(err);
      await this.deps.uow.repos.tasks.insert({ ...task, status: 'failure', message, expires_at: now + this.deps.taskTimeToLiveMs, updated_at: now });
      return;
    }
    const running: TaskRecord = { ...task, image_id: image.id, status: 'processing' };
    await this.begin(ctx, running, image, plan('import_remote', image), [this.deps.stores.default.id], null, (tx) => tx.tasks.insert(running));
  }

  /**
   * One transaction: the image's status change (none for copy-image), its import lock, the
   * progress properties, the task's row (`record`) and the lease of this process on the task;
   * then the task runs here.
   */
  private async begin(ctx: RequestContext, task: TaskRecord, image: ImageRecord, step: Step | null, stores: string[], staleLock: string | null, record: (tx: Repositories) => Promise<void>): Promise<void> {
    const id = image.id;
    const now = this.now();
    const failed = (image.properties.os_glance_failed_import ?? '').split(',').filter((s) => s !== '' && !stores.includes(s));
    const leaseData = { ...this.deps.runner.leaseData(id, ctx), ...(await this.deps.runner.signingLease(ctx, image, importInput(task).import_req.method.name)) };
    await this.deps.uow.run(async (tx) => {
      if (step && !(await tx.images.transition(id, step.from, step.to, step.resets, now))) {
        throw new Conflict(`Image ${id} changed status meanwhile; retry the import.`);
      }
      if (!(await tx.images.lockForImport(id, task.id, staleLock, now))) {
        throw new Conflict(`New operation on image '${id}' is not permitted as prior operation is still in progress`);
      }
      await tx.images.setProperties(id, { os_glance_importing_to_stores: stores.join(','), os_glance_failed_import: failed.join(','), os_glance_stage_host: null }, now);
      await record(tx);
      await this.deps.notifier?.task(tx, 'task.create', task);
      await this.deps.notifier?.image(tx, id, 'image.update');
      if (!(await tx.leases.acquire(this.deps.leases.record(IMPORT_TASK_LEASE, task.id, leaseData)))) {
        throw new Conflict(`Task ${task.id} is already running.`);
      }
    });
    const credentials: RunnerCredentials | null = ctx.authToken && ctx.serviceCatalog ? { token: ctx.authToken, catalog: ctx.serviceCatalog } : null;
    this.deps.runner.start(task, leaseData, credentials);
  }

  private parseBody(body: unknown): ImportRequest {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequest('Import request requires a \'method\' field.');
    const b = body as Record<string, unknown>;
    const method = b.method;
    if (method === undefined) throw new BadRequest("Import request requires a 'method' field.");
    if (typeof method !== 'object' || method === null || Array.isArray(method)) throw new BadRequest("Import request 'method' must be an object.");
    const m = method as Record<string, unknown>;
    if (m.name === undefined) throw new BadRequest("Import request requires a 'name' field.");
    if (typeof m.name !== 'string' || !(this.deps.methods as readonly string[]).includes(m.name)) throw new BadRequest(`Unknown import method name '${String(m.name)}'.`);
    if (b.all_stores_must_succeed !== undefined && typeof b.all_stores_must_succeed !== 'boolean') throw new BadRequest("'all_stores_must_succeed' must be boolean value only");
    if (b.all_stores !== undefined && typeof b.all_stores !== 'boolean') throw new BadRequest("'all_stores' must be boolean value only");
    if (b.stores !== undefined && (!Array.isArray(b.stores) || b.stores.some((s) => typeof s !== 'string'))) throw new BadRequest("'stores' must be a list of store identifiers.");
    return b as unknown as ImportRequest;
  }

  private checkStatus(image: ImageRecord, method: ImportMethod, m: ImportRequest['method']): void {
    if (image.status === 'active' && method !== 'copy-image') throw new Conflict('Image with status active cannot be target for import');
    if (image.status !== 'active' && method === 'copy-image') throw new Conflict('Only images with status active can be targeted for copying');
    if (image.status !== 'queued' && (method === 'web-download' || method === 'glance-download')) throw new Conflict(`Image needs to be in 'queued' state to use '${method}' method`);
    if (image.status !== 'uploading' && method === 'glance-direct') throw new Conflict("Image needs to be staged before 'glance-direct' method can be used");
    if (!image.container_format) throw new Conflict("'container_format' needs to be set before import");
    if (!image.disk_format) throw new Conflict("'disk_format' needs to be set before import");
    if (method === 'glance-download') {
      if (m.glance_region === undefined) throw new BadRequest("'glance_region' needs to be set for glance-download import method");
      if (m.glance_image_id === undefined) throw new BadRequest("'glance_image_id' needs to be set for glance-download import method");
      if (typeof m.glance_image_id !== 'string' || !UUID.test(m.glance_image_id)) throw new BadRequest(`Remote image id does not look like a UUID: ${String(m.glance_image_id)}`);
      if (typeof m.glance_region !== 'string') throw new BadRequest("'glance_region' must be a string");
      m.glance_service_interface ??= 'public';
    }
    if (method === 'web-download' && typeof m.uri !== 'string') throw new BadRequest("'uri' needs to be set for web-download import method");
  }

  /**
   * The task holding the image's import lock, if that lock may be broken: its task is gone or has
   * ended. A task still pending or processing keeps its lock — if its process died, its lease
   * expires and another process finishes it, so the lock is never stale for long.
   */
  private async staleLock(image: ImageRecord): Promise<string | null> {
    const holder = image.properties.os_glance_import_task;
    if (!holder) return null;
    const task = await this.deps.uow.repos.tasks.find(holder);
    if (!task || task.status === 'success' || task.status === 'failure') return holder;
    throw new Conflict(`Image ${image.id} has active task ${holder} in status ${task.status}; retry when it has ended.`);
  }

  /** Glance's store selection: `stores`, else the header, else the default; `all_stores`: every writable store not reserved. */
  private targetStores(req: ImportRequest, headerStore: string | null, image: ImageRecord, method: ImportMethod): string[] {
    const { stores } = this.deps;
    if (!stores.multiStore) return [stores.default.id];
    let ids: string[];
    if (req.all_stores) {
      if (req.stores !== undefined || headerStore !== null) throw new BadRequest("All_stores parameter can't be used with x-image-meta-store header or stores parameter");
      ids = stores.listed().filter((b) => b.store.capabilities.write).map((b) => b.id);
    } else if (req.stores !== undefined) {
      if (headerStore !== null) throw new BadRequest("Stores parameter and x-image-meta-store header can't be both specified");
      ids = [...req.stores];
    } else {
      ids = [headerStore ?? stores.default.id];
    }
    for (const id of ids) {
      const b = stores.get(id);
      if (!b || b.reserved) throw new Conflict(`Unknown scheme '${id}' found in uri`);
      if (!b.store.capabilities.write) throw new Conflict(`Store ${id} is read-only: images cannot be imported into it.`);
    }
    if (method === 'copy-image') {
      const present = image.locations.map((l) => stores.forLocation(l)?.id).filter((s): s is string => s !== undefined);
      if (req.all_stores) return ids.filter((s) => !present.includes(s));
      const already = ids.find((s) => present.includes(s));
      if (already) throw new BadRequest(`Image is already present at store '${already}'`);
    }
    return [...new Set(ids)];
  }

}

/** The import request body, checked by parseBody. */
export interface ImportRequest {
  method: { name: string; uri?: string; glance_region?: string; glance_image_id?: string; glance_service_interface?: string; [k: string]: unknown };
  stores?: string[];
  all_stores?: boolean;
  all_stores_must_succeed?: boolean;
}

