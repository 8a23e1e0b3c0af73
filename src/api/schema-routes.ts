import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from './app-deps.js';

export function schemaRoutes(deps: ApiDeps) {
  return async (app: FastifyInstance) => {
    app.get('/v2/schemas/image', { config: { rejectBody: true } }, async () => deps.imageSchema);
    app.get('/v2/schemas/images', { config: { rejectBody: true } }, async () => deps.imagesSchema);
  };
}
