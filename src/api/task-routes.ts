import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiDeps } from './app-deps.js';
import { absoluteUrl, jsonBody, queryPairs } from './request-helpers.js';
import { parseTaskListQuery } from './task-query.js';
import { taskRowView, taskStubView, taskView } from './task-view.js';

type TaskParams = { Params: { id: string } };

/** Whether the request carries a body (WebOb's `has_body`: a positive length, or chunked). */
function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return (length !== undefined && Number(length) > 0) || request.headers['transfer-encoding'] !== undefined;
}

/** Query pairs as Glance's `dict(request.params)` holds them: each key once, in first place, with its last value. */
function paramsDict(request: FastifyRequest): [string, string][] {
  return [...new Map(queryPairs(request)).entries()];
}

/**
 * Glance's legacy task API (/v2/tasks, admin-only by default through `tasks_api_access`) and
 * GET /v2/images/{id}/tasks. Every /v2/tasks call asks `tasks_api_access` before it reads its
 * parameters, as Glance's deserializer does.
 */
export function taskRoutes(deps: ApiDeps) {
  return async (app: FastifyInstance) => {
    app.post('/v2/tasks', async (request, reply) => {
      deps.tasks.assertApiAccess(request.ctx);
      const task = await deps.tasks.create(request.ctx, hasBody(request) ? jsonBody(request) : undefined);
      return reply.code(201).header('location', absoluteUrl(request, `/v2/tasks/${task.id}`, deps.publicEndpoint)).send(taskView(task));
    });

    app.get('/v2/tasks', async (request) => {
      deps.tasks.assertApiAccess(request.ctx);
      const params = paramsDict(request);
      const page = await deps.tasks.list(request.ctx, parseTaskListQuery(params));
      const withoutMarker = params.filter(([k]) => k !== 'marker');
      const qs = (p: [string, string][]) => new URLSearchParams(p).toString();
      const body: Record<string, unknown> = {
        tasks: page.tasks.map(taskStubView),
        first: withoutMarker.length > 0 ? `/v2/tasks?${qs(withoutMarker)}` : '/v2/tasks',
        schema: '/v2/schemas/tasks',
      };
      if (page.nextMarker) body.next = `/v2/tasks?${qs([...withoutMarker, ['marker', page.nextMarker]])}`;
      return body;
    });

    app.get<TaskParams>('/v2/tasks/:id', async (request) => taskView(await deps.tasks.get(request.ctx, request.params.id)));

    app.delete<TaskParams>('/v2/tasks/:id', async (request) => deps.tasks.refuseDeletion(request.ctx));

    app.get<TaskParams>('/v2/images/:id/tasks', { config: { rejectBody: true } }, async (request) => ({
      tasks: (await deps.tasks.forImage(request.ctx, request.params.id)).map(taskRowView),
    }));
  };
}
