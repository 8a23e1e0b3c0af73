/**
 * Signing in to the console, as the API's authentication strategy allows: Keystone user name +
 * password + project (the token stays on the server, sealed in the cookie), a static token, or —
 * trusted headers, development on loopback only — a project and roles. Every way ends with the
 * API's own strategy confirming the identity, so the console never grants what the API would not.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { randomBytes } from 'node:crypto';
import { keystonePasswordLogin } from '../../auth/keystone-login.js';
import type { AuthStrategy } from '../../auth/strategy.js';
import type { RequestContext } from '../../auth/context.js';
import type { ConsoleSettings } from '../../config/console-options.js';
import { BadRequest, Forbidden, Unauthorized } from '../../domain/errors.js';
import type { ConsoleSession } from './session-cookie.js';

/** Whatever a sign-in form sent. */
type Form = Record<string, unknown>;

function field(form: Form, name: string, opts: { max?: number; fallback?: string } = {}): string {
  const value = form[name];
  if (value !== undefined && value !== null && typeof value !== 'string') throw new BadRequest(`${name} must be a string.`);
  if (value === undefined || value === null || value.trim() === '') {
    if (opts.fallback !== undefined) return opts.fallback;
    throw new BadRequest(`${name} is required.`);
  }
  if (value.length > (opts.max ?? 255)) throw new BadRequest(`${name} is longer than ${opts.max ?? 255} characters.`);
  return value;
}

/** Parses the sign-in body (JSON object). */
export function signInForm(body: unknown): Form {
  let form: unknown;
  try {
    form = typeof body === 'string' && body !== '' ? JSON.parse(body) : body;
  } catch {
    throw new BadRequest('The sign-in request is not valid JSON.');
  }
  if (form === null || typeof form !== 'object' || Array.isArray(form)) throw new BadRequest('The sign-in request must be a JSON object.');
  return form as Form;
}

export interface SignInRequest {
  form: Form;
  requestId: string;
  /** The TCP peer: trusted headers are for loopback only. */
  remoteAddress: string | undefined;
}

export async function signIn(settings: ConsoleSettings, auth: AuthStrategy, req: SignInRequest, now = Date.now()): Promise<ConsoleSession> {
  const cap = now + settings.maxAgeSeconds * 1000;
  const csrf = randomBytes(24).toString('base64url');
  const confirm = async (headers: IncomingHttpHeaders, refusal: string): Promise<RequestContext> => {
    try {
      return await auth.authenticate(headers, req.requestId);
    } catch (err) {
      if (err instanceof Unauthorized) throw new Unauthorized(refusal);
      throw err;
    }
  };
  switch (settings.strategy) {
    case 'keystone': {
      const login = await keystonePasswordLogin(settings.keystoneUrl!, {
        username: field(req.form, 'username'),
        password: field(req.form, 'password', { max: 4096 }),
        userDomain: field(req.form, 'userDomain', { fallback: 'Default' }),
        project: field(req.form, 'project'),
        projectDomain: field(req.form, 'projectDomain', { fallback: 'Default' }),
      });
      const ctx = await confirm({ 'x-auth-token': login.token }, 'Keystone issued a token that this service does not accept.');
      return { strategy: 'keystone', token: login.token, csrf, expiresAt: Math.min(login.expiresAt, cap), user: login.user, project: login.project, roles: login.roles, isAdmin: ctx.isAdmin };
    }
    case 'token': {
      const token = field(req.form, 'token', { max: 8192 }).trim();
      const ctx = await confirm({ 'x-auth-token': token }, 'The token is not valid, or it has expired.');
      if (ctx.readOnly) throw new Unauthorized('The token is not valid, or it has expired.');
      return { strategy: 'token', token, csrf, expiresAt: cap, ...identity(ctx) };
    }
    case 'headers': {
      if (!isLoopbackAddress(req.remoteAddress)) throw new Forbidden('Signing in with trusted headers is allowed from this machine (loopback) only.');
      const headers = {
        user: field(req.form, 'user', { fallback: 'developer' }),
        project: field(req.form, 'project'),
        roles: field(req.form, 'roles', { fallback: 'member,reader' }),
      };
      const ctx = await confirm(trustedHeaders(headers), 'The identity was refused.');
      return { strategy: 'headers', headers, csrf, expiresAt: cap, ...identity(ctx) };
    }
  }
}

/** The trusted headers a `headers` session sends. */
export function trustedHeaders(h: NonNullable<ConsoleSession['headers']>): Record<string, string> {
  return { 'x-user-id': h.user, 'x-project-id': h.project, 'x-roles': h.roles };
}

function identity(ctx: RequestContext): Pick<ConsoleSession, 'user' | 'project' | 'roles' | 'isAdmin'> {
  return {
    user: { id: ctx.userId ?? '', name: ctx.userId ?? '' },
    project: { id: ctx.projectId ?? '', name: ctx.projectId ?? '' },
    roles: [...ctx.roles],
    isAdmin: ctx.isAdmin,
  };
}

export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.replace(/^::ffff:/, '');
  return a === '::1' || /^127\./.test(a);
}
