import type { FastifyInstance } from 'fastify';
import { metadefSchemas } from '../domain/metadef-schemas.js';
import { taskSchema, tasksSchema } from '../domain/task-schema.js';
import type { ApiDeps } from './app-deps.js';

const TASK_SCHEMA = taskSchema();
const TASKS_SCHEMA = tasksSchema();
const METADEF_SCHEMAS = metadefSchemas();

export function schemaRoutes(deps: ApiDeps) {
  return async (app: FastifyInstance) => {
    app.get('/v2/schemas/image', { config: { rejectBody: true } }, async () => deps.imageSchema);
    app.get('/v2/schemas/images', { config: { rejectBody: true } }, async () => deps.imagesSchema);
    // Glance does not refuse a body on these two.
    app.get('/v2/schemas/task', async () => TASK_SCHEMA);
    app.get('/v2/schemas/tasks', async () => TASKS_SCHEMA);
    for (const [name, schema] of Object.entries(METADEF_SCHEMAS)) app.get(`/v2/schemas/metadefs/${name}`, { config: { rejectBody: true } }, async () => schema);
  };
}
