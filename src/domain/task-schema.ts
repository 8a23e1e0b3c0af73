import { UUID_PATTERN } from './image-model.js';
import type { JsonSchema } from './image-schema.js';
import { TASK_STATUSES, TASK_TYPES } from './task-model.js';

/**
 * Glance's task schema (glance/api/v2/tasks.py `_TASK_SCHEMA`), key for key and in its order:
 * served at /v2/schemas/task(s) and, with `additionalProperties: false`, the validator of
 * POST /v2/tasks bodies — one object for both.
 */
const TASK_PROPERTIES: Record<string, JsonSchema> = {
  id: { description: 'An identifier for the task', pattern: UUID_PATTERN, type: 'string' },
  type: { description: 'The type of task represented by this content', enum: [...TASK_TYPES], type: 'string' },
  status: { description: 'The current status of this task', enum: [...TASK_STATUSES], type: 'string' },
  input: { description: 'The parameters required by task, JSON blob', type: ['null', 'object'] },
  result: { description: 'The result of current task, JSON blob', type: ['null', 'object'] },
  owner: { description: 'An identifier for the owner of this task', type: 'string' },
  message: { description: 'Human-readable informative message only included when appropriate (usually on failure)', type: 'string' },
  image_id: { description: 'Image associated with the task', type: 'string' },
  request_id: { description: 'Human-readable informative request-id', type: 'string' },
  user_id: { description: 'User associated with the task', type: 'string' },
  expires_at: { description: 'Datetime when this resource would be subject to removal', type: ['null', 'string'] },
  created_at: { description: 'Datetime when this resource was created', type: 'string' },
  updated_at: { description: 'Datetime when this resource was updated', type: 'string' },
  self: { readOnly: true, type: 'string' },
  schema: { readOnly: true, type: 'string' },
};

/** What a task stub (an item of GET /v2/tasks) leaves out. */
const STUB_HIDDEN = new Set(['input', 'result', 'message']);

const copy = <T>(v: T): T => structuredClone(v);

/** GET /v2/schemas/task: Glance serves the schema's minimal form (no additionalProperties). */
export function taskSchema(): JsonSchema {
  return { name: 'task', properties: copy(TASK_PROPERTIES) };
}

/** The schema POST /v2/tasks bodies are validated with (Glance's `raw()`: nothing else allowed). */
export function taskBodySchema(): JsonSchema {
  return { name: 'task', properties: copy(TASK_PROPERTIES), additionalProperties: false };
}

/** GET /v2/schemas/tasks: the minimal collection schema of task stubs. */
export function tasksSchema(): JsonSchema {
  const stub = Object.fromEntries(Object.entries(copy(TASK_PROPERTIES)).filter(([k]) => !STUB_HIDDEN.has(k)));
  return {
    name: 'tasks',
    properties: { tasks: { type: 'array', items: { name: 'task', properties: stub } }, schema: { type: 'string' } },
    links: [{ rel: 'describedby', href: '{schema}' }],
  };
}
