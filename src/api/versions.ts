import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiDeps } from './app-deps.js';

/** URL prefixes Glance routes to its v2 app without multi-store or cache (see the reference). */
const ACCEPTED = new Set(['v2', 'v2.0', 'v2.1', 'v2.2', 'v2.3', 'v2.4', 'v2.5', 'v2.6', 'v2.7', 'v2.9', 'v2.15', 'v2.17']);
const LISTED: [string, string][] = [
  ['v2.17', 'CURRENT'], ['v2.15', 'SUPPORTED'], ['v2.9', 'SUPPORTED'], ['v2.7', 'SUPPORTED'], ['v2.6', 'SUPPORTED'],
  ['v2.5', 'SUPPORTED'], ['v2.4', 'SUPPORTED'], ['v2.3', 'SUPPORTED'], ['v2.2', 'SUPPORTED'], ['v2.1', 'SUPPORTED'], ['v2.0', 'SUPPORTED'],
];
const VND = 'application/vnd.openstack.images-';
/** Internal path of the "pick a version" (300) answer. */
export const CHOICES_PATH = '/__version_choices';

/**
 * Glance's version negotiation, as a URL rewrite: `/v2.x/...` → `/v2/...` for accepted versions,
 * `/images` with `Accept: application/vnd.openstack.images-v2.x` → `/v2/images`, anything
 * else (unknown version, unknown first segment, `/`) → the versions document with 300.
 */
export function negotiateVersion(url: string, accept: string | undefined): string {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q);
  const [, first = '', ...rest] = path.split('/');
  if (first === 'versions' && rest.length === 0) return url;
  if (first === 'healthcheck' && rest.length === 0) return url;
  if (first === '') return CHOICES_PATH + query;
  const tail = rest.length > 0 ? `/${rest.join('/')}` : '';
  if (accept?.startsWith(VND)) {
    const version = accept.slice(VND.length).split(/[;,\s]/)[0]!;
    if (!ACCEPTED.has(version)) return CHOICES_PATH + query;
    return ACCEPTED.has(first) ? `/v2${tail}${query}` : `/v2/${first}${tail}${query}`;
  }
  if (ACCEPTED.has(first)) return `/v2${tail}${query}`;
  return CHOICES_PATH + query;
}

function versionsDocument(request: FastifyRequest, publicEndpoint: string | null) {
  const base = publicEndpoint ? publicEndpoint.replace(/\/+$/, '') : `${request.protocol}://${request.headers.host ?? request.hostname}`;
  return {
    versions: LISTED.map(([id, status]) => ({ id, status, links: [{ rel: 'self', href: `${base}/v2/` }] })),
  };
}

export function versionRoutes(deps: ApiDeps) {
  return async (app: FastifyInstance) => {
    const config = { public: true };
    // HEAD too: Glance's version negotiation and oslo.middleware's healthcheck answer it (Node
    // sends the status and headers without the body).
    const method = ['GET', 'HEAD'];
    app.route({ method, url: CHOICES_PATH, config, handler: async (request, reply) => reply.code(300).send(versionsDocument(request, deps.publicEndpoint)) });
    app.route({ method, url: '/versions', config, handler: async (request) => versionsDocument(request, deps.publicEndpoint) });
    app.route({ method, url: '/healthcheck', config, handler: async (_request, reply) => {
      try {
        await deps.healthcheck();
        return reply.type('text/plain').send('OK');
      } catch {
        return reply.code(503).type('text/plain').send('Service Unavailable: the metadata database does not answer');
      }
    } });
  };
}
