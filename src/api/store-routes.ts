import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from './app-deps.js';

type StoreImageParams = { Params: { store: string; id: string } };

/** Store discovery and removing an image's data from one store (multi-store only; 404 otherwise). */
export function storeRoutes(deps: ApiDeps) {
  return async (app: FastifyInstance) => {
    app.get('/v2/info/stores', { config: { rejectBody: true } }, async () => ({ stores: deps.stores.list() }));

    app.get('/v2/info/stores/detail', { config: { rejectBody: true } }, async (request) => ({ stores: deps.stores.detail(request.ctx) }));

    app.delete<StoreImageParams>('/v2/stores/:store/:id', { config: { rejectBody: true } }, async (request, reply) => {
      await deps.stores.deleteFromStore(request.ctx, request.params.store, request.params.id);
      return reply.code(204).send();
    });
  };
}
