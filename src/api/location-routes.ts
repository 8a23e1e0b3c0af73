import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from './app-deps.js';
import { jsonBody } from './request-helpers.js';

type IdParams = { Params: { id: string } };

/** The locations API of v2.17: adding the location of a queued image's data, and listing an image's locations (services). */
export function locationRoutes(deps: ApiDeps) {
  return async (app: FastifyInstance) => {
    // 202 and no body, as Glance answers (its api-ref says 200).
    app.post<IdParams>('/v2/images/:id/locations', async (request, reply) => {
      await deps.locationImports.add(request.ctx, request.params.id, jsonBody(request));
      return reply.code(202).send();
    });

    app.get<IdParams>('/v2/images/:id/locations', { config: { rejectBody: true } }, async (request) => deps.locations.list(request.ctx, request.params.id));
  };
}
