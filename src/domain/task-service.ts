import { randomUUID } from 'node:crypto';
import type { RequestContext } from '../auth/context.js';
import { BadRequest, DomainError, Forbidden, NotFound } from './errors.js';
import type { ImageAccess } from './image-access.js';
import { SchemaValidator } from './image-schema.js';
import type { WebSource } from './import-ports.js';
import type { TaskRepository } from './ports.js';
import { taskVisibleTo, type TaskPolicy } from './task-policy.js';
import { taskBodySchema } from './task-schema.js';
import { type TaskRecord, type TaskSortKey, type TaskStatus, type TaskType } from './task-model.js';

/** DELETE /v2/tasks/{id}: Glance answers 405, `Allow: GET`, whatever the task. */
export class TaskDeletionNotAllowed extends DomainError {
  readonly status = 405;
  constructor() {
    super('This operation is currently not permitted on Glance Tasks. They are auto deleted after reaching the time based on their expires_at property.');
    this.headers = { allow: 'GET' };
  }
}

/** Glance's TaskNotFound. */
export function taskNotFound(id: string): NotFound {
  return new NotFound(`Task with the given id ${id} was not found`);
}

/** GET /v2/tasks, its parameters checked (api/task-query.ts). */
export interface TaskListParams {
  status?: TaskStatus;
  type?: TaskType;
  sortKey: TaskSortKey;
  sortDir: 'asc' | 'desc';
  /** Absent: `limit_param_default`; never more than `api_limit_max`. */
  limit?: number;
  /** The id of the last task of the previous page. */
  marker?: string;
}

export interface TaskPage {
  tasks: TaskRecord[];
  /** The last task's id when the page is full: there may be more. */
  nextMarker: string | null;
}

export interface TaskServiceDeps {
  tasks: TaskRepository;
  access: ImageAccess;
  policy: TaskPolicy;
  limits: { apiLimitMax: number; limitParamDefault: number };
  /** Where a legacy import may fetch from: web-download's filters. */
  web: WebSource;
  /**
   * Records a new legacy `import` task and starts it, in the transaction that gives it to a
   * process (so no task is ever left that nobody runs); without it, the task is only recorded.
   */
  launch?: (task: TaskRecord, ctx: RequestContext) => Promise<void>;
  clock?: () => number;
}

/** The fields a legacy `import` task's input must have (glance/common/scripts/utils.py unpack_task_input). */
const LEGACY_IMPORT_FIELDS = ['import_from', 'import_from_format', 'image_properties'] as const;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Python's `%s` of a JSON value, for Glance's messages. */
function pythonStr(v: unknown): string {
  if (v === undefined || v === null) return 'None';
  if (typeof v === 'string') return v;
  if (v === true) return 'True';
  if (v === false) return 'False';
  return JSON.stringify(v);
}

/** oslo.utils `is_uuid_like`: 32 hex digits, hyphens, braces and a `urn:uuid:` prefix aside. */
export function isUuidLike(v: string): boolean {
  return /^[0-9a-f]{32}$/i.test(v.replace(/^urn:/i, '').replace(/^uuid:/i, '').replace(/[{}-]/g, ''));
}

/**
 * Tasks as the API sees them (Glance's legacy task API and GET /v2/images/{id}/tasks): create a
 * legacy `import` task, show, list, and the bookkeeping of a task's life (start, end, expiry).
 * Running a task is not done here: `launch` hands new tasks to whoever runs them.
 */
export class TaskService {
  private readonly validator = new SchemaValidator(taskBodySchema());
  private readonly clock: () => number;

  constructor(private readonly deps: TaskServiceDeps) {
    this.clock = deps.clock ?? Date.now;
  }

  /** `tasks_api_access`, the first check of every /v2/tasks call (before its parameters are read). */
  assertApiAccess(ctx: RequestContext): void {
    this.deps.policy.assertApiAccess(ctx);
  }

  /**
   * POST /v2/tasks: records a legacy `import` task, pending. `body` is the parsed request body,
   * undefined when there was none. Checks in Glance's order: policy, body, required keys,
   * schema, type, then the import source and the input's fields.
   */
  async create(ctx: RequestContext, body: unknown): Promise<TaskRecord> {
    this.deps.policy.assertApiAccess(ctx);
    if (body === undefined) throw new BadRequest('Body expected in request.');
    for (const key of ['type', 'input']) {
      if (!isObject(body) || !(key in body)) throw new BadRequest(`Task '${key}' is required`);
    }
    this.validator.validate(body);
    const { type, input } = body as { type: TaskType; input: Record<string, unknown> | null };
    // The other types are Glance's own bookkeeping (image import, location import), not requests.
    if (type !== 'import') throw new BadRequest(`Provided type of task is unsupported: ${type}`);
    await this.checkLegacyImportInput(input ?? {});
    this.deps.policy.enforce(ctx, 'add_task');
    const now = this.clock();
    const task: TaskRecord = {
      id: randomUUID(),
      type,
      status: 'pending',
      owner: ctx.projectId,
      input,
      result: null,
      message: '',
      image_id: null,
      request_id: ctx.requestId,
      user_id: ctx.userId,
      expires_at: null,
      created_at: now,
      updated_at: now,
    };
    if (this.deps.launch) await this.deps.launch(task, ctx);
    else await this.deps.tasks.insert(task);
    return task;
  }

  /**
   * Glance's validate_legacy_import_from_uri at creation, and (where Glance fails the task once it
   * runs) the fields the import needs: here a 400, since a task that cannot run is no use.
   */
  private async checkLegacyImportInput(input: Record<string, unknown>): Promise<void> {
    const from = input.import_from;
    if (from === undefined || from === null || from === '' || from === false || from === 0) throw new BadRequest(`Invalid location: ${pythonStr(from)}`);
    const uri = typeof from === 'string' ? from : '';
    if (uri.startsWith('http://') || uri.startsWith('https://')) {
      if ((await this.deps.web.uriRefusal(uri)) !== null) throw new BadRequest(`URI for legacy import task does not pass filtering: ${uri}`);
    } else if (uri.startsWith('file:///') || uri.startsWith('filesystem:///')) {
      throw new BadRequest('File based imports are not allowed. Please use a non-local source of image data.');
    } else {
      throw new BadRequest("The given uri is not valid. Please specify a valid uri from the following list of supported uri ['http']");
    }
    for (const key of LEGACY_IMPORT_FIELDS) {
      if (!(key in input)) throw new BadRequest(`Input does not contain '${key}' field`);
    }
  }

  /** GET /v2/tasks/{id}: 404 if the task is absent, expired or another project's (admins see all). */
  async get(ctx: RequestContext, id: string): Promise<TaskRecord> {
    this.deps.policy.assertApiAccess(ctx);
    const task = await this.findVisible(ctx, id);
    if (!task) throw taskNotFound(id);
    this.deps.policy.enforce(ctx, 'get_task', task);
    return task;
  }

  private async findVisible(ctx: RequestContext, id: string): Promise<TaskRecord | undefined> {
    const task = await this.deps.tasks.find(id);
    if (!task || (task.expires_at !== null && task.expires_at < this.clock()) || !taskVisibleTo(ctx, task)) return undefined;
    return task;
  }

  /** GET /v2/tasks: one page of the caller's project's tasks (every project's for admins). */
  async list(ctx: RequestContext, params: TaskListParams): Promise<TaskPage> {
    this.deps.policy.assertApiAccess(ctx);
    this.deps.policy.enforce(ctx, 'get_tasks');
    const { apiLimitMax, limitParamDefault } = this.deps.limits;
    const limit = Math.min(apiLimitMax, params.limit ?? limitParamDefault);
    let marker: TaskRecord | null = null;
    if (params.marker !== undefined) {
      // Glance looks the marker up as a task the caller may see; a missing one is a 400.
      marker = (await this.findVisible(ctx, params.marker)) ?? null;
      if (!marker) throw new BadRequest(taskNotFound(params.marker).message);
    }
    // A project-less caller who is no admin owns no tasks (Glance would show every project's).
    if (!ctx.isAdmin && ctx.projectId === null) return { tasks: [], nextMarker: null };
    if (limit === 0) return { tasks: [], nextMarker: null };
    const tasks = await this.deps.tasks.list({
      owner: ctx.isAdmin ? null : ctx.projectId,
      status: params.status,
      type: params.type,
      sortKey: params.sortKey,
      sortDir: params.sortDir,
      limit,
      marker,
      now: this.clock(),
    });
    return { tasks, nextMarker: tasks.length === limit ? tasks[tasks.length - 1]!.id : null };
  }

  /** DELETE /v2/tasks/{id}: `tasks_api_access`, then always 405 (tasks go when they expire). */
  refuseDeletion(ctx: RequestContext): never {
    this.deps.policy.assertApiAccess(ctx);
    throw new TaskDeletionNotAllowed();
  }

  /**
   * GET /v2/images/{id}/tasks: the image's live tasks the caller may see, newest first. The image
   * must be one the caller may `get_image`; otherwise a bare 404, as Glance answers.
   */
  async forImage(ctx: RequestContext, imageId: string): Promise<TaskRecord[]> {
    try {
      await this.deps.access.find(ctx, imageId);
    } catch (err) {
      if (err instanceof NotFound || err instanceof Forbidden) throw new NotFound('The resource could not be found.');
      throw err;
    }
    const tasks = await this.deps.tasks.listForImage(imageId, this.clock());
    return tasks.filter((t) => taskVisibleTo(ctx, t));
  }

  /** Soft-deletes the tasks that have expired; the cleanup sweep calls it. Returns how many. */
  deleteExpired(): Promise<number> {
    return this.deps.tasks.deleteExpired(this.clock());
  }
}
