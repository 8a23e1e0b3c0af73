import type { FastifyInstance } from 'fastify';
import { StagedElsewhere } from '../domain/stage-host.js';
import { forwardToNode } from './forward.js';
import type { ApiDeps } from './app-deps.js';
import { jsonBody } from './request-helpers.js';

type IdParams = { Params: { id: string } };

/** Interoperable import: the methods on offer and POST /import (PUT /stage is with the other data routes). */
export function importRoutes(deps: ApiDeps) {
  return async (app: FastifyInstance) => {
    app.get('/v2/info/import', { config: { rejectBody: true } }, async () => ({
      'import-methods': { description: 'Import methods available.', type: 'array', value: [...deps.imports.methods] },
    }));

    app.post<IdParams>('/v2/images/:id/import', async (request, reply) => {
      const body = jsonBody(request);
      const header = request.headers['x-image-meta-store'];
      const store = typeof header === 'string' && header.trim() !== '' ? header.trim() : null;
      try {
        await deps.imports.start(request.ctx, request.params.id, body, store);
      } catch (err) {
        if (err instanceof StagedElsewhere) return forwardToNode(request, reply, err.host);
        throw err;
      }
      return reply.code(202).send();
    });
  };
}

