import { BadRequest } from '../domain/errors.js';
import { TASK_SORT_KEYS, type TaskSortKey, type TaskStatus } from '../domain/task-model.js';
import { isUuidLike, type TaskListParams } from '../domain/task-service.js';

const STATUSES: readonly string[] = ['pending', 'processing', 'success', 'failure'];

/**
 * GET /v2/tasks's query, checked in Glance's order and with its messages (glance/api/v2/tasks.py
 * RequestDeserializer.index): sort_dir, the status and type filters (only `import` tasks are
 * listed by type), the marker's form, limit; an unknown sort key is Glance's InvalidSortKey. Other
 * parameters are ignored. Repeated parameters: the last one counts, as WebOb's `params` dict.
 */
export function parseTaskListQuery(pairs: [string, string][]): TaskListParams {
  const params = new Map(pairs);
  const sortDir = params.get('sort_dir') ?? 'desc';
  if (sortDir !== 'asc' && sortDir !== 'desc') throw new BadRequest(`Invalid sort direction: ${sortDir}`);
  const status = params.get('status');
  if (status && !STATUSES.includes(status)) throw new BadRequest(`Invalid status value: ${status}`);
  const type = params.get('type');
  if (type && type !== 'import') throw new BadRequest(`Invalid type value: ${type}`);
  const marker = params.get('marker');
  if (marker && !isUuidLike(marker)) throw new BadRequest('Invalid marker format');
  const limitText = params.get('limit');
  let limit: number | undefined;
  if (limitText !== undefined) {
    // Python's int(): surrounding blanks and one sign allowed, nothing else.
    if (!/^\s*[+-]?\d+\s*$/.test(limitText)) throw new BadRequest('limit param must be an integer');
    limit = Number(limitText.trim());
    if (limit < 0) throw new BadRequest('limit param must be positive');
  }
  const sortKey = params.get('sort_key') ?? 'created_at';
  if (!(TASK_SORT_KEYS as readonly string[]).includes(sortKey)) throw new BadRequest('Sort key supplied was not valid.');
  return {
    sortKey: sortKey as TaskSortKey,
    sortDir,
    ...(status ? { status: status as TaskStatus } : {}),
    ...(type ? { type: 'import' as const } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(marker ? { marker } : {}),
  };
}
