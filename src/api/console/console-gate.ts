/**
 * The console's way into the Image API: `/console/api/v2/...` is the API itself, with the caller
 * proved by the session cookie instead of a token the page would have to hold. Before routing,
 * the prefix is dropped, every credential the browser sent is removed and the session's (token or
 * trusted headers) put in; before authentication, a write must carry the session's CSRF token and,
 * when the browser names it, come from this origin.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { ConsoleSettings } from '../../config/console-options.js';
import { sendError } from '../error-render.js';
import { trustedHeaders } from './console-sign-in.js';
import { cookieValue, unseal, type ConsoleSession } from './session-cookie.js';

export const CONSOLE_API_PREFIX = '/console/api';

/** Marks a raw request that came through the console (its session, null without one). */
const CONSOLE_CALL = Symbol('ocellus.consoleCall');
type ConsoleCall = IncomingMessage & { [CONSOLE_CALL]?: { session: ConsoleSession | null } };

/** Headers that say who calls: only the session may say it on a console call. */
const CREDENTIAL_HEADER = /^(x-auth-token|x-storage-token|x-service-token|x-user|x-project|x-tenant|x-role|x-service-|x-domain|x-identity-status|x-is-admin-project|openstack-system-scope)/;

const isConsoleApi = (url: string) => url === CONSOLE_API_PREFIX || url.startsWith(`${CONSOLE_API_PREFIX}/`) || url.startsWith(`${CONSOLE_API_PREFIX}?`);

/** The console's own pages, scripts and session: routed as they are, outside the versioned API. */
export const isConsolePage = (url: string) => /^\/console(?:[/?]|$)/.test(url) && !isConsoleApi(url);

/** The URL to route a request by: a console call loses its prefix and takes the session's credentials. */
export function consoleRewrite(settings: ConsoleSettings, url: string, req: IncomingMessage): string {
  if (!isConsoleApi(url)) return url;
  for (const name of Object.keys(req.headers)) if (CREDENTIAL_HEADER.test(name)) delete req.headers[name];
  const value = cookieValue(req.headers.cookie);
  const session = value === undefined ? null : unseal(value, settings.key);
  if (session?.token) req.headers['x-auth-token'] = session.token;
  if (session?.headers) Object.assign(req.headers, trustedHeaders(session.headers));
  (req as ConsoleCall)[CONSOLE_CALL] = { session };
  const rest = url.slice(CONSOLE_API_PREFIX.length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Whether an Origin header names the host the request was sent to. */
export function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** Refuses console writes without the session's CSRF token or from another origin (add before authentication). */
export function addConsoleCsrfCheck(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    const call = (request.raw as ConsoleCall)[CONSOLE_CALL];
    if (!call || SAFE_METHODS.has(request.method) || !call.session) return;
    const origin = request.headers.origin;
    if (origin !== undefined && !sameOrigin(origin, request.headers.host)) return sendError(request, reply, 403, 'A console request from another site is refused.');
    if (request.headers['x-csrf-token'] !== call.session.csrf) return sendError(request, reply, 403, "The console's CSRF token is missing or wrong; reload the page.");
  });
}
