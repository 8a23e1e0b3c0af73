import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import type { RequestContext } from '../auth/context.js';
import { DomainError, Forbidden, Unauthorized } from '../domain/errors.js';
import type { ApiDeps } from './app-deps.js';
import { sendError } from './error-render.js';
import { cacheRoutes } from './cache-routes.js';
import { addConsoleCsrfCheck, consoleRewrite, isConsolePage } from './console/console-gate.js';
import { consoleRoutes } from './console/console-routes.js';
import { imageDataRoutes } from './image-data-routes.js';
import { imageRoutes } from './image-routes.js';
import { registerMetrics } from './metrics-routes.js';
import { importRoutes } from './import-routes.js';
import { locationRoutes } from './location-routes.js';
import { memberRoutes } from './member-routes.js';
import { metadefContentRoutes } from './metadef-content-routes.js';
import { metadefNamespaceRoutes } from './metadef-namespace-routes.js';
import { openApiRoutes, RouteRegistry } from './openapi.js';
import { schemaRoutes } from './schema-routes.js';
import { storeRoutes } from './store-routes.js';
import { taskRoutes } from './task-routes.js';
import { usageRoutes } from './usage-routes.js';
import { versionNegotiator, versionRoutes } from './versions.js';

declare module 'fastify' {
  interface FastifyRequest {
    ctx: RequestContext;
  }
  interface FastifyContextConfig {
    /** Glance's `body_reject`: a body on this route is 400. */
    rejectBody?: boolean;
    /** Served without authentication (versions, healthcheck), as Glance serves them outside its auth pipeline. */
    public?: boolean;
  }
}

const METHODS: HTTPMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];
/** Longest path parameter routed (a 255-character tag, every character percent-encoded UTF-8). */
const MAX_PARAM_LENGTH = 255 * 12;

/** Messages for Fastify's own errors, in Glance's words where Glance has them. */
function frameworkError(err: FastifyError): { status: number; message: string } {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, message: 'Request body is too large.' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, message: `Unsupported Content-Type.` };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, message: 'Request body size did not match Content-Length.' };
    default:
      if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return { status: err.statusCode, message: err.message };
      return { status: 500, message: 'The server has either erred or is incapable of performing the requested operation.' };
  }
}

/** pino's level numbers, to check a level before building a log line. */
const LEVEL_VALUES: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

export interface ServerOptions {
  logger: FastifyServerOptions['logger'];
}

export async function buildServer(deps: ApiDeps, opts: ServerOptions): Promise<FastifyInstance> {
  const negotiateVersion = versionNegotiator(deps.features);
  const app = Fastify({
    logger: opts.logger,
    // Fastify's two lines per request are replaced by one, written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    // Image uploads can take hours: no overall request deadline, but idle sockets are closed.
    requestTimeout: 0,
    connectionTimeout: 900_000,
    keepAliveTimeout: 65_000,
    bodyLimit: deps.limits.maxJsonBodySize,
    rewriteUrl: (req) => {
      let url = req.url ?? '/';
      if (deps.console) {
        if (isConsolePage(url)) return url;
        url = consoleRewrite(deps.console.settings, url, req);
      }
      return negotiateVersion(url, req.headers.accept);
    },
    genReqId: () => `req-${randomUUID()}`,
    return503OnClosing: true,
    // Glance answers HEAD only where a route says so (healthcheck, versions); elsewhere HEAD is a
    // method like any other: 405 with the path's Allow list, not Fastify's automatic HEAD route.
    exposeHeadRoutes: false,
    // Tags and member ids may be 255 characters, percent-encoded up to 12 bytes each (Fastify's
    // default of 100 answered 414).
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
  });

  app.decorateRequest('ctx', null as unknown as RequestContext);

  // One line per request, when its response is done: writes and errors at info; successful reads,
  // most of the traffic, at debug (an operator sees them with log_level = debug). The level is
  // checked before the line is built, so a read costs nothing at the default level.
  app.addHook('onResponse', (request, reply, done) => {
    const status = reply.statusCode;
    const level = status < 400 && (request.method === 'GET' || request.method === 'HEAD') ? 'debug' : 'info';
    if ((LEVEL_VALUES[request.log.level] ?? Infinity) <= LEVEL_VALUES[level]!) {
      request.log[level](
        {
          method: request.method,
          url: request.originalUrl,
          status,
          durationMs: Math.round(reply.elapsedTime * 10) / 10,
          requestId: reply.getHeader('x-openstack-request-id'),
        },
        'request',
      );
    }
    done();
  });

  // Console writes carry the session's CSRF token (checked before the identity is).
  if (deps.console) addConsoleCsrfCheck(app);

  // Request id (reusing the client's, as Glance does), then the caller's identity.
  app.addHook('onRequest', async (request, reply) => {
    const given = request.headers['x-openstack-request-id'];
    const incoming = Array.isArray(given) ? given[0] : given;
    let requestId = request.id;
    if (incoming) {
      if (incoming.length > deps.limits.maxRequestIdLength) {
        return sendError(request, reply, 431, `x-openstack-request-id is too long, max size ${deps.limits.maxRequestIdLength}`);
      }
      requestId = incoming.startsWith('req-') ? incoming : `req-${incoming}`;
    }
    reply.header('x-openstack-request-id', requestId);
    if (request.routeOptions.config.public) return;
    try {
      request.ctx = await deps.auth.authenticate(request.headers, requestId);
    } catch (err) {
      if (err instanceof Unauthorized) reply.headers(deps.auth.challenge);
      throw err;
    }
    // An anonymous caller (allow_anonymous_access) reads and never writes, whatever the policy says (Glance: 403).
    if (request.ctx.readOnly && request.method !== 'GET' && request.method !== 'HEAD') throw new Forbidden('Read-only access');
  });

  app.addHook('preValidation', async (request, reply) => {
    if (!request.routeOptions.config.rejectBody) return;
    const length = request.headers['content-length'];
    if ((length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined) {
      reply.header('connection', 'close');
      return sendError(request, reply, 400, 'A body is not expected with this request.');
    }
  });

  // JSON bodies are read as text and parsed by the handlers, whatever the declared type, as Glance does.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  app.setErrorHandler((err: FastifyError | DomainError, request, reply) => {
    if (err instanceof DomainError) return sendError(request, reply, err.status, err.message, err.headers);
    const { status, message } = frameworkError(err as FastifyError);
    if (status >= 500) request.log.error({ err }, 'request failed');
    return sendError(request, reply, status, message);
  });

  // Known paths answer 405 (with Allow) for other methods; unknown paths 404.
  const known = FindMyWay({ maxParamLength: MAX_PARAM_LENGTH });
  app.addHook('onRoute', (route) => {
    for (const m of [route.method].flat()) if (METHODS.includes(m as HTTPMethod)) known.on(m as HTTPMethod, route.url, () => undefined);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const allowed = METHODS.filter((m) => known.find(m, path) !== null);
    if (allowed.length > 0) return sendError(request, reply, 405, 'The method specified is not allowed for this resource.', { allow: allowed.join(', ') });
    return sendError(request, reply, 404, 'The resource could not be found.');
  });

  // Every route, for the OpenAPI document (/openapi.json, /api-ref/).
  const routes = new RouteRegistry();
  routes.attach(app);
  if (deps.metrics) registerMetrics(app, deps.metrics.http, deps.metrics.serveOnApiPort);
  await app.register(versionRoutes(deps));
  await app.register(schemaRoutes(deps));
  await app.register(imageRoutes(deps));
  await app.register(imageDataRoutes(deps));
  await app.register(memberRoutes(deps));
  await app.register(storeRoutes(deps));
  await app.register(locationRoutes(deps));
  await app.register(importRoutes(deps));
  await app.register(taskRoutes(deps));
  await app.register(cacheRoutes(deps));
  await app.register(usageRoutes(deps));
  await app.register(metadefNamespaceRoutes(deps));
  await app.register(metadefContentRoutes(deps));
  await app.register(openApiRoutes(deps, routes));
  if (deps.console) await app.register(consoleRoutes(deps.console.settings, deps.auth, deps.console.log));
  return app;
}
