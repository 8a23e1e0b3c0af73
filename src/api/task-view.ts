import type { TaskRecord } from '../domain/task-model.js';
import { isoSeconds } from './image-view.js';

/** A task as GET/POST /v2/tasks show it (Glance's `_format_task`): optional ids and expiry only when set. */
export function taskView(task: TaskRecord): Record<string, unknown> {
  const view: Record<string, unknown> = {
    id: task.id,
    input: task.input,
    type: task.type,
    status: task.status,
    owner: task.owner,
    message: task.message,
    result: task.result,
    created_at: isoSeconds(task.created_at),
    updated_at: isoSeconds(task.updated_at),
    self: `/v2/tasks/${task.id}`,
    schema: '/v2/schemas/task',
  };
  if (task.image_id) view.image_id = task.image_id;
  if (task.request_id) view.request_id = task.request_id;
  if (task.user_id) view.user_id = task.user_id;
  if (task.expires_at !== null) view.expires_at = isoSeconds(task.expires_at);
  return view;
}

/** An item of GET /v2/tasks (Glance's `_format_task_stub`): no input, result or message. */
export function taskStubView(task: TaskRecord): Record<string, unknown> {
  const view: Record<string, unknown> = {
    id: task.id,
    type: task.type,
    status: task.status,
    owner: task.owner,
    created_at: isoSeconds(task.created_at),
    updated_at: isoSeconds(task.updated_at),
    self: `/v2/tasks/${task.id}`,
    schema: '/v2/schemas/task',
  };
  if (task.expires_at !== null) view.expires_at = isoSeconds(task.expires_at);
  return view;
}

/** Python's `datetime.strftime('%Y-%m-%dT%H:%M:%S.%f')`, which oslo's JSON serializer writes: microseconds, no zone. */
export function isoMicros(ms: number): string {
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDThh:mm:ss.sssZ
  return `${iso.slice(0, 23)}000`;
}

/**
 * A task as GET /v2/images/{id}/tasks shows it: Glance returns its database rows there (every
 * column, `deleted` a boolean, timestamps with microseconds), not the task view.
 */
export function taskRowView(task: TaskRecord): Record<string, unknown> {
  return {
    id: task.id,
    type: task.type,
    status: task.status,
    owner: task.owner,
    expires_at: task.expires_at === null ? null : isoMicros(task.expires_at),
    created_at: isoMicros(task.created_at),
    updated_at: isoMicros(task.updated_at),
    deleted_at: null,
    deleted: false,
    image_id: task.image_id,
    request_id: task.request_id,
    user_id: task.user_id,
    input: task.input,
    result: task.result,
    message: task.message,
  };
}
