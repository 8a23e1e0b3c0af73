/**
 * The web console's own routes: its pages and scripts (web/static, and web/*.ts compiled into
 * dist/console by `npm run build`) and its session — who is signed in (GET), sign in (POST),
 * sign out (DELETE). All outside the API's authentication; the pages reach the API through
 * /console/api (console-gate.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { revokeKeystoneToken } from '../../auth/keystone-login.js';
import type { AuthStrategy } from '../../auth/strategy.js';
import type { ConsoleSettings } from '../../config/console-options.js';
import { DomainError } from '../../domain/errors.js';
import { sameOrigin } from './console-gate.js';
import { signIn, signInForm } from './console-sign-in.js';
import { cookieValue, seal, setCookie, unseal, type ConsoleSession } from './session-cookie.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const STATIC_DIR = path.join(ROOT, 'web', 'static');
const SCRIPTS_DIR = path.join(ROOT, 'dist', 'console');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
};

/** A file under `dir` named by URL path segments of safe characters only, or null. */
function safeFile(dir: string, relative: string): string | null {
  const segments = relative.split('/');
  if (segments.some((s) => !/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(s))) return null;
  return path.join(dir, ...segments);
}

async function sendFile(request: FastifyRequest, reply: FastifyReply, file: string | null): Promise<FastifyReply> {
  const stat = file === null ? null : await fs.promises.stat(file).catch(() => null);
  reply.headers(SECURITY_HEADERS);
  if (file === null || stat === null || !stat.isFile()) return reply.code(404).type('text/plain; charset=utf-8').send('Not found.');
  const etag = `W/"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
  reply.header('etag', etag).header('cache-control', 'no-cache');
  if (request.headers['if-none-match'] === etag) return reply.code(304).send();
  return reply.type(CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream').header('content-length', stat.size).send(fs.createReadStream(file));
}

/** What the pages may know of a session: never its token. */
function sessionView(settings: ConsoleSettings, session: ConsoleSession | null): Record<string, unknown> {
  if (!session) return { signedIn: false, strategy: settings.strategy, defaults: { userDomain: 'Default', projectDomain: 'Default' } };
  const { strategy, csrf, user, project, roles, isAdmin, expiresAt } = session;
  return { signedIn: true, strategy, csrfToken: csrf, user, project, roles, isAdmin, expiresAt: new Date(expiresAt).toISOString() };
}

/** The cookie's Secure flag: over HTTPS, directly or behind a proxy that says so. */
function overTls(request: FastifyRequest): boolean {
  return request.protocol === 'https' || request.headers['x-forwarded-proto'] === 'https';
}

export function consoleRoutes(settings: ConsoleSettings, auth: AuthStrategy, log: (msg: string) => void) {
  const current = (request: FastifyRequest): ConsoleSession | null => {
    const value = cookieValue(request.headers.cookie);
    return value === undefined ? null : unseal(value, settings.key);
  };
  const answer = (reply: FastifyReply, status: number, body: unknown) => reply.code(status).headers(SECURITY_HEADERS).header('cache-control', 'no-store').type('application/json').send(JSON.stringify(body));
  const config = { public: true };

  return async (app: FastifyInstance) => {
    app.get('/console', { config }, async (_request, reply) => reply.redirect('/console/', 302));
    app.get('/console/', { config }, async (request, reply) => sendFile(request, reply, path.join(STATIC_DIR, 'index.html')));
    // static/<file>: web/static; js/<path>: the compiled scripts.
    app.get<{ Params: { '*': string } }>('/console/*', { config }, async (request, reply) => {
      const [top, ...rest] = request.params['*'].split('/');
      const dir = top === 'static' ? STATIC_DIR : top === 'js' ? SCRIPTS_DIR : null;
      return sendFile(request, reply, dir === null ? null : safeFile(dir, rest.join('/')));
    });

    app.get('/console/session', { config }, async (request, reply) => answer(reply, 200, sessionView(settings, current(request))));

    app.post('/console/session', { config }, async (request, reply) => {
      // JSON only, and from this origin: a form on another site cannot sign a browser in as someone else.
      const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/json') return answer(reply, 415, { message: 'Sign in with a JSON body (Content-Type: application/json).' });
      const origin = request.headers.origin;
      if (origin !== undefined && !sameOrigin(origin, request.headers.host)) return answer(reply, 403, { message: 'A sign-in from another site is refused.' });
      try {
        const session = await signIn(settings, auth, { form: signInForm(request.body), requestId: request.id, remoteAddress: request.socket.remoteAddress });
        reply.header('set-cookie', setCookie(seal(session, settings.key), (session.expiresAt - Date.now()) / 1000, overTls(request)));
        return answer(reply, 201, sessionView(settings, session));
      } catch (err) {
        if (err instanceof DomainError) return answer(reply, err.status, { message: err.message });
        throw err;
      }
    });

    app.delete('/console/session', { config }, async (request, reply) => {
      const session = current(request);
      if (session && request.headers['x-csrf-token'] !== session.csrf) return answer(reply, 403, { message: "The console's CSRF token is missing or wrong; reload the page." });
      if (session?.strategy === 'keystone' && session.token) {
        const failed = await revokeKeystoneToken(settings.keystoneUrl!, session.token);
        if (failed) log(`console sign-out: the Keystone token of user ${session.user.id} could not be revoked: ${failed.message}`);
      }
      return reply.code(204).headers(SECURITY_HEADERS).header('set-cookie', setCookie(null, 0, overTls(request))).send();
    });
  };
}
