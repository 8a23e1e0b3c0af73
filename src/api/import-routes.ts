import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { StagedElsewhere } from '../domain/image-import.js';
import { ServiceUnavailable } from '../domain/errors.js';
import type { ApiDeps } from './app-deps.js';
import { jsonBody } from './request-helpers.js';

type IdParams = { Params: { id: string } };

/** Headers a forwarded import keeps: who is calling and how (the caller's token acts on the other node). */
const FORWARDED = ['x-auth-token', 'x-service-token', 'x-openstack-request-id', 'x-image-meta-store', 'content-type', 'x-user-id', 'x-tenant-id', 'x-project-id', 'x-roles', 'x-identity-status'];

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
        if (err instanceof StagedElsewhere) return forwardToStageHost(request, reply, err.host, 'POST', 'import');
        throw err;
      }
      return reply.code(202).send();
    });
  };
}

/**
 * The data of a glance-direct import is staged on another node (its own staging directory):
 * the call (POST …/import, or DELETE of the image) goes to that node, with the caller's
 * credentials, and its answer comes back — as Glance proxies it to `os_glance_stage_host`.
 */
export async function forwardToStageHost(request: FastifyRequest<IdParams>, reply: FastifyReply, host: string, method: 'POST' | 'DELETE', suffix: 'import' | ''): Promise<FastifyReply> {
  const headers: Record<string, string> = {};
  for (const name of FORWARDED) {
    const v = request.headers[name];
    if (typeof v === 'string') headers[name] = v;
  }
  let answer: Response;
  try {
    const path = `/v2/images/${encodeURIComponent(request.params.id)}${suffix === '' ? '' : `/${suffix}`}`;
    answer = await fetch(`${host.replace(/\/+$/, '')}${path}`, {
      method,
      headers,
      body: method === 'POST' ? (request.body as string) : undefined,
      signal: AbortSignal.timeout(60_000),
    });
  } catch (err) {
    throw new ServiceUnavailable(`The node holding the staged data (${host}) cannot be reached: ${(err as Error).message}`);
  }
  const text = await answer.text();
  reply.code(answer.status);
  const type = answer.headers.get('content-type');
  if (type) reply.type(type);
  return reply.send(text === '' ? undefined : text);
}
