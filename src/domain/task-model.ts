/**
 * Tasks: Glance's record of asynchronous work (reference image-model.md §3). An interoperable
 * import (`api_image_import`), a legacy `import` task (POST /v2/tasks) and a location import
 * each have one. A task row is what the API shows; the process running it holds a lease of kind
 * `task` on its id (leases.ts), so another process takes it over if this one dies.
 */

/** pending → processing → success | failure (pending → failure too); success and failure are terminal. */
export const TASK_STATUSES = ['pending', 'processing', 'success', 'failure'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** The task status graph: from → statuses that may follow. */
export const TASK_TRANSITIONS: Readonly<Record<TaskStatus, readonly TaskStatus[]>> = {
  pending: ['processing', 'failure'],
  processing: ['success', 'failure'],
  success: [],
  failure: [],
};

/** The task types Glance records: `import` (POST /v2/tasks), `api_image_import` (POST /import), `location_import`. */
export const TASK_TYPES = ['import', 'api_image_import', 'location_import'] as const;
export type TaskType = (typeof TASK_TYPES)[number];

export interface TaskRecord {
  id: string;
  type: TaskType;
  status: TaskStatus;
  /** The project the task belongs to. */
  owner: string | null;
  input: Record<string, unknown> | null;
  result: Record<string, unknown> | null;
  /** '' when there is none. */
  message: string;
  image_id: string | null;
  request_id: string | null;
  user_id: string | null;
  /** Epoch ms: set when the task ends (now + task_time_to_live); an expired task is no longer shown. */
  expires_at: number | null;
  created_at: number;
  updated_at: number;
}

/** What a task's status change may set along with it. */
export type TaskChanges = Partial<Pick<TaskRecord, 'result' | 'message' | 'expires_at' | 'image_id' | 'input'>>;

export const TASK_SORT_KEYS = ['created_at', 'updated_at', 'id', 'type', 'status', 'owner', 'expires_at'] as const;
export type TaskSortKey = (typeof TASK_SORT_KEYS)[number];

/** One page of GET /v2/tasks. */
export interface TaskListQuery {
  /** Only this project's tasks; null: every project's (admins). */
  owner: string | null;
  status?: TaskStatus;
  type?: TaskType;
  sortKey: TaskSortKey;
  sortDir: 'asc' | 'desc';
  limit: number;
  /** The last task of the previous page. */
  marker: TaskRecord | null;
  /** Tasks that expired before this instant (epoch ms) are left out. */
  now: number;
}
