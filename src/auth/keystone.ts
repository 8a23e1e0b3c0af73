import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ServiceUnavailable, Unauthorized } from '../domain/errors.js';
import { makeContext, type AdminCheck, type ContextFields, type RequestContext } from './context.js';
import { parseServiceCatalog } from './service-catalog.js';
import { header, UNAUTHORIZED_MESSAGE, type AuthStrategy } from './strategy.js';

/** `[keystone_authtoken]`: where Keystone is and the service's own credentials, as keystonemiddleware reads them. */
export interface KeystoneOptions {
  authUrl: string;
  /** Advertised in `WWW-Authenticate` on every 401. */
  wwwAuthenticateUri: string;
  username: string;
  password: string;
  userDomainName: string;
  projectName: string;
  projectDomainName: string;
  /** Seconds a validated token is trusted without asking Keystone again (never past its expiry). */
  tokenCacheTime: number;
  includeServiceCatalog: boolean;
  /** Roles a service token needs to let an expired user token through (`allow_expired`). */
  serviceTokenRoles: string[];
  /** Seconds to wait for Keystone. */
  timeout: number;
}

/** A Keystone v3 token body (`GET /v3/auth/tokens` → `{"token": …}`), the parts Ocellus reads. */
interface TokenBody {
  expires_at?: string;
  user?: { id?: string; name?: string; domain?: { id?: string; name?: string } };
  project?: { id?: string; name?: string; domain?: { id?: string; name?: string } };
  domain?: { id?: string; name?: string };
  system?: Record<string, unknown>;
  roles?: { id?: string; name?: string }[];
  is_admin_project?: boolean;
  /** Present unless validated with ?nocatalog (include_service_catalog = false). */
  catalog?: unknown;
}

/** A token Keystone confirmed: the identity it carries and until when it may be believed. */
interface Identity {
  fields: Omit<ContextFields, 'requestId'>;
  expiresAt: number;
}

type Validation = { ok: true; identity: Identity } | { ok: false };

/** Largest number of tokens kept in the cache; the oldest go first. */
const CACHE_ENTRIES = 10_000;

function identityOf(token: TokenBody): Identity | undefined {
  const expiresAt = token.expires_at ? Date.parse(token.expires_at) : NaN;
  // Unscoped tokens carry no project, domain or system: keystonemiddleware's context would have
  // no scope, and Glance refuses them.
  const system = token.system && Object.keys(token.system).length > 0 ? Object.keys(token.system)[0]! : null;
  if (Number.isNaN(expiresAt) || !token.user?.id || (!token.project?.id && !token.domain?.id && system === null)) return undefined;
  return {
    expiresAt,
    fields: {
      userId: token.user.id,
      userDomainId: token.user.domain?.id ?? null,
      projectId: token.project?.id ?? null,
      projectDomainId: token.project?.domain?.id ?? null,
      domainId: token.domain?.id ?? null,
      systemScope: system,
      roles: (token.roles ?? []).map((r) => r.name ?? '').filter((r) => r !== ''),
      isAdminProject: token.is_admin_project ?? true,
      serviceCatalog: parseServiceCatalog(token.catalog),
    },
  };
}

/**
 * `keystone`: every request carries `X-Auth-Token`, validated against Keystone v3 the way
 * keystonemiddleware does — with the service's own token, `GET /v3/auth/tokens` and
 * `X-Subject-Token` — and cached for `token_cache_time`, never beyond the token's expiry.
 * `X-Service-Token` is validated the same way; its roles reach policy as service roles, and a
 * service token with one of `service_token_roles` lets an expired user token through, as
 * keystonemiddleware's `allow_expired` does for long operations.
 */
export class KeystoneAuth implements AuthStrategy {
  readonly challenge: Record<string, string>;
  private readonly base: string;
  private serviceToken: { token: string; expiresAt: number } | undefined;
  private serviceTokenPending: Promise<string> | undefined;
  /** sha256(token) + mode → confirmed identity or refusal, and when the entry goes stale. */
  private readonly cache = new Map<string, { result: Validation; staleAt: number }>();
  private readonly pending = new Map<string, Promise<Validation>>();

  constructor(
    private readonly opts: KeystoneOptions,
    private readonly isAdmin?: AdminCheck,
    private readonly now: () => number = Date.now,
  ) {
    this.base = opts.authUrl.replace(/\/+$/, '').replace(/\/v3$/, '');
    this.challenge = { 'www-authenticate': `Keystone uri="${opts.wwwAuthenticateUri}"` };
  }

  async authenticate(headers: IncomingHttpHeaders, requestId: string): Promise<RequestContext> {
    const userToken = header(headers, 'x-auth-token') ?? header(headers, 'x-storage-token');
    if (userToken === undefined) throw new Unauthorized(UNAUTHORIZED_MESSAGE);
    const service = await this.serviceIdentity(header(headers, 'x-service-token'));
    const allowExpired = service !== null && this.opts.serviceTokenRoles.some((r) => service.roles.some((s) => s.toLowerCase() === r.toLowerCase()));
    const user = await this.validate(userToken, allowExpired);
    if (!user.ok || (!allowExpired && user.identity.expiresAt <= this.now())) throw new Unauthorized(UNAUTHORIZED_MESSAGE);
    return makeContext({ requestId, ...user.identity.fields, service, authToken: userToken }, this.isAdmin);
  }

  /** The identity of a valid, unexpired `X-Service-Token`; null without one (an invalid one is ignored, as Glance ignores it). */
  private async serviceIdentity(token: string | undefined): Promise<RequestContext['service']> {
    if (token === undefined) return null;
    const result = await this.validate(token, false);
    if (!result.ok || result.identity.expiresAt <= this.now()) return null;
    const { userId, projectId, roles } = result.identity.fields;
    return { userId: userId ?? null, projectId: projectId ?? null, roles: roles ?? [] };
  }

  /** Keystone's verdict on a token, from the cache or asked once however many requests wait for it. */
  private async validate(token: string, allowExpired: boolean): Promise<Validation> {
    const key = `${allowExpired ? 'x' : 'v'}:${createHash('sha256').update(token).digest('hex')}`;
    const cached = this.cache.get(key);
    if (cached && cached.staleAt > this.now()) return cached.result;
    let inflight = this.pending.get(key);
    if (!inflight) {
      inflight = this.ask(token, allowExpired).finally(() => this.pending.delete(key));
      this.pending.set(key, inflight);
    }
    const result = await inflight;
    const staleAt = this.now() + this.opts.tokenCacheTime * 1000;
    this.cache.delete(key);
    this.cache.set(key, { result, staleAt: result.ok && !allowExpired ? Math.min(staleAt, result.identity.expiresAt) : staleAt });
    if (this.cache.size > CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    return result;
  }

  private async ask(token: string, allowExpired: boolean, retried = false): Promise<Validation> {
    const query = [this.opts.includeServiceCatalog ? '' : 'nocatalog', allowExpired ? 'allow_expired=1' : ''].filter((q) => q !== '').join('&');
    const res = await this.request(`/v3/auth/tokens${query ? `?${query}` : ''}`, {
      method: 'GET',
      headers: { 'x-auth-token': await this.ownToken(), 'x-subject-token': token },
    });
    if (res.status === 200) {
      const body = (await res.json()) as { token?: TokenBody };
      const identity = body.token && identityOf(body.token);
      return identity ? { ok: true, identity } : { ok: false };
    }
    await res.body?.cancel();
    if (res.status === 404) return { ok: false };
    // Our own token expired or was revoked: get a new one, once.
    if ((res.status === 401 || res.status === 403) && !retried) {
      this.serviceToken = undefined;
      return this.ask(token, allowExpired, true);
    }
    throw new ServiceUnavailable(`The Keystone service is temporarily unavailable (token validation answered ${res.status}).`);
  }

  /** The service's own token, renewed a minute before it expires. */
  private async ownToken(): Promise<string> {
    if (this.serviceToken && this.serviceToken.expiresAt - 60_000 > this.now()) return this.serviceToken.token;
    this.serviceTokenPending ??= this.issueOwnToken().finally(() => (this.serviceTokenPending = undefined));
    return this.serviceTokenPending;
  }

  private async issueOwnToken(): Promise<string> {
    const { username, password, userDomainName, projectName, projectDomainName } = this.opts;
    const res = await this.request('/v3/auth/tokens?nocatalog', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: { methods: ['password'], password: { user: { name: username, password, domain: { name: userDomainName } } } },
          scope: { project: { name: projectName, domain: { name: projectDomainName } } },
        },
      }),
    });
    const token = res.headers.get('x-subject-token');
    const body = (await res.json().catch(() => ({}))) as { token?: TokenBody };
    if (res.status !== 201 || !token) {
      throw new ServiceUnavailable(`The Keystone service is temporarily unavailable (the service user ${username} could not authenticate: ${res.status}).`);
    }
    const expiresAt = Date.parse(body.token?.expires_at ?? '') || this.now() + 3_600_000;
    this.serviceToken = { token, expiresAt };
    return token;
  }

  private async request(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.base}${path}`, { ...init, signal: AbortSignal.timeout(this.opts.timeout * 1000) });
    } catch (err) {
      throw new ServiceUnavailable(`The Keystone service is temporarily unavailable: ${(err as Error).message}`);
    }
  }
}
