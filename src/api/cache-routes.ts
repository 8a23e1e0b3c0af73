/**
 * The image cache API (v2.14+; Glance's cached_images controller): GET/DELETE /v2/cache,
 * PUT/DELETE /v2/cache/{image_id}, POST /v2/cache/clean and /v2/cache/prune, and
 * GET /v2/cache/nodes/{image_id}. The routes exist whether or not this node has a cache; without
 * one they answer 404 after their policy check, as Glance does.
 */
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from './app-deps.js';

type IdParams = { Params: { id: string } };

export function cacheRoutes(deps: ApiDeps) {
  return async (app: FastifyInstance) => {
    const { caching } = deps;

    app.get('/v2/cache', { config: { rejectBody: true } }, async (request) => caching.state(request.ctx));

    app.delete('/v2/cache', async (request, reply) => {
      const target = request.headers['x-image-cache-clear-target'];
      await caching.clear(request.ctx, (Array.isArray(target) ? target[0] : target) ?? '');
      return reply.code(204).send();
    });

    app.put<IdParams>('/v2/cache/:id', async (request, reply) => {
      await caching.queue(request.ctx, request.params.id);
      return reply.code(202).send();
    });

    app.delete<IdParams>('/v2/cache/:id', async (request, reply) => {
      await caching.remove(request.ctx, request.params.id);
      return reply.code(204).send();
    });

    app.post('/v2/cache/clean', async (request, reply) => {
      await caching.clean(request.ctx);
      return reply.code(200).send();
    });

    app.post('/v2/cache/prune', async (request) => caching.prune(request.ctx));

    app.get<IdParams>('/v2/cache/nodes/:id', { config: { rejectBody: true } }, async (request) => caching.nodes(request.ctx));
  };
}
