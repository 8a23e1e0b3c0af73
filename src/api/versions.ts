import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiDeps, ApiFeatures } from './app-deps.js';

export const NO_FEATURES: ApiFeatures = { multiStore: false, cache: false, locationsApi: false };

/**
 * Glance's v2 minor versions, newest first, with the features each needs (see the reference, §1).
 * Glance lists v2.18 only with the cache, and always has the locations API of v2.17; here v2.18
 * needs both, so that a listed v2.18 never promises a v2.17 API that is absent.
 */
const VERSIONS: { id: string; needs: (keyof ApiFeatures)[] }[] = [
  { id: 'v2.18', needs: ['cache', 'locationsApi'] },
  { id: 'v2.17', needs: ['locationsApi'] },
  { id: 'v2.16', needs: ['cache'] },
  { id: 'v2.15', needs: [] },
  { id: 'v2.14', needs: ['cache'] },
  { id: 'v2.13', needs: ['multiStore'] },
  { id: 'v2.12', needs: ['multiStore'] },
  { id: 'v2.11', needs: ['multiStore'] },
  { id: 'v2.10', needs: ['multiStore'] },
  { id: 'v2.9', needs: [] },
  { id: 'v2.8', needs: ['multiStore'] },
  ...['v2.7', 'v2.6', 'v2.5', 'v2.4', 'v2.3', 'v2.2', 'v2.1', 'v2.0'].map((id) => ({ id, needs: [] })),
];

/** The versions document's entries for these features, newest first; the newest is CURRENT. */
export function listedVersions(features: ApiFeatures): { id: string; status: 'CURRENT' | 'SUPPORTED' }[] {
  return VERSIONS.filter((v) => v.needs.every((f) => features[f])).map((v, i) => ({ id: v.id, status: i === 0 ? 'CURRENT' : 'SUPPORTED' }));
}

const VND = 'application/vnd.openstack.images-';
/** Internal path of the "pick a version" (300) answer. */
export const CHOICES_PATH = '/__version_choices';

/**
 * Glance's version negotiation, as a URL rewrite: `/v2.x/...` → `/v2/...` for a listed version
 * (or plain `v2`), `/images` with `Accept: application/vnd.openstack.images-v2.x` → `/v2/images`,
 * anything else (unlisted version, unknown first segment, `/`) → the versions document with 300.
 */
export function versionNegotiator(features: ApiFeatures): (url: string, accept: string | undefined) => string {
  const accepted = new Set(['v2', ...listedVersions(features).map((v) => v.id)]);
  return (url, accept) => {
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? '' : url.slice(q);
    const [, first = '', ...rest] = path.split('/');
    if (first === 'versions' && rest.length === 0) return url;
    if (first === 'healthcheck' && rest.length === 0) return url;
    // The Prometheus exposition (metrics-routes.ts), when served on the API port; else 404.
    if (first === 'metrics' && rest.length === 0) return url;
    // The OpenAPI document and its reference page (openapi.ts) are outside the versioned API.
    if ((first === 'openapi.json' && rest.length === 0) || (first === 'api-ref' && rest.length <= 1)) return url;
    if (first === '') return CHOICES_PATH + query;
    const tail = rest.length > 0 ? `/${rest.join('/')}` : '';
    if (accept?.startsWith(VND)) {
      const version = accept.slice(VND.length).split(/[;,\s]/)[0]!;
      if (!accepted.has(version)) return CHOICES_PATH + query;
      return accepted.has(first) ? `/v2${tail}${query}` : `/v2/${first}${tail}${query}`;
    }
    if (accepted.has(first)) return `/v2${tail}${query}`;
    return CHOICES_PATH + query;
  };
}

function versionsDocument(request: FastifyRequest, deps: ApiDeps) {
  const base = deps.publicEndpoint ? deps.publicEndpoint.replace(/\/+$/, '') : `${request.protocol}://${request.headers.host ?? request.hostname}`;
  const links = [{ rel: 'self', href: `${base}/v2/` }];
  return { versions: listedVersions(deps.features).map(({ id, status }) => ({ id, status, links })) };
}

export function versionRoutes(deps: ApiDeps) {
  return async (app: FastifyInstance) => {
    const config = { public: true };
    // HEAD too: Glance's version negotiation and oslo.middleware's healthcheck answer it (Node
    // sends the status and headers without the body).
    const method = ['GET', 'HEAD'];
    app.route({ method, url: CHOICES_PATH, config, handler: async (request, reply) => reply.code(300).send(versionsDocument(request, deps)) });
    app.route({ method, url: '/versions', config, handler: async (request) => versionsDocument(request, deps) });
    app.route({
      method,
      url: '/healthcheck',
      config,
      handler: async (_request, reply) => {
        try {
          await deps.healthcheck();
          return reply.type('text/plain').send('OK');
        } catch {
          return reply.code(503).type('text/plain').send('Service Unavailable: the metadata database does not answer');
        }
      },
    });
  };
}
