import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from './app-deps.js';

/**
 * GET /v2/info/usage: the caller's project's usage and limit of each unified-limits resource
 * (`{"usage": {}}` when use_keystone_limits is off). No policy rule guards it, as in Glance, and
 * a body is not refused.
 */
export function usageRoutes(deps: ApiDeps) {
  return async (app: FastifyInstance) => {
    app.get('/v2/info/usage', async (request) => ({ usage: await deps.projectLimits.usage(request.ctx.projectId) }));
  };
}
