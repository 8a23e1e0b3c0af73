/**
 * The limits of Keystone's unified limits API, read as oslo.limit reads them (`[oslo_limit]`):
 * the service user's token (password auth, system- or project-scoped, renewed before it
 * expires); the image service's endpoint — by `endpoint_id`, or looked up by service
 * type/name, region and interface — resolved once, giving the service and region whose limits
 * apply; then `/v3/registered_limits` (the defaults) and `/v3/limits?project_id=` (a project's
 * overrides). Only Keystone's `flat` enforcement model is supported, as in oslo.limit.
 *
 * Limits are cached for `cache_time` seconds — the registered ones once, a project's per project
 * — so a busy node asks Keystone at most that often. Keystone slow (beyond `timeout`), down, or
 * refusing the service user: the check fails with 503 and a message saying so; nothing is let
 * through on a guess.
 */
import { DomainError, ServiceUnavailable } from '../domain/errors.js';
import type { LimitName, LimitSource } from '../domain/project-limits.js';

/** `[oslo_limit]`, the options Ocellus reads. */
export interface KeystoneLimitsOptions {
  authUrl: string;
  username: string;
  password: string;
  userDomainId: string | null;
  userDomainName: string | null;
  /** `all`: a system-scoped token (what Glance's docs ask of its service user: reader on the system). */
  systemScope: string | null;
  projectId: string | null;
  projectName: string | null;
  projectDomainId: string | null;
  projectDomainName: string | null;
  endpointId: string | null;
  endpointServiceType: string | null;
  endpointServiceName: string | null;
  endpointRegionName: string | null;
  endpointInterface: string;
  /** Seconds limits read from Keystone are used before they are read again. */
  cacheTime: number;
  /** Seconds to wait for each answer of Keystone. */
  timeout: number;
}

/** Where the service's limits live: the service and region of its endpoint. */
interface Scope {
  serviceId: string;
  regionId: string | null;
}

interface Cached<T> {
  value: T;
  staleAt: number;
}

/** A limit entity of Keystone (`registered_limits` and `limits` lists). */
interface LimitEntity {
  resource_name?: string;
  default_limit?: number;
  resource_limit?: number;
}

export class KeystoneLimits implements LimitSource {
  private readonly base: string;
  private token: { value: string; expiresAt: number } | undefined;
  private tokenPending: Promise<string> | undefined;
  private scope: Promise<Scope> | undefined;
  private registered: Cached<Map<string, number>> | undefined;
  private registeredPending: Promise<Map<string, number>> | undefined;
  private readonly projects = new Map<string, Cached<Map<string, number>>>();
  private readonly projectsPending = new Map<string, Promise<Map<string, number>>>();

  constructor(
    private readonly opts: KeystoneLimitsOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.base = opts.authUrl.replace(/\/+$/, '').replace(/\/v3$/, '');
  }

  async limits(project: string | null, names: readonly LimitName[]): Promise<Record<LimitName, number>> {
    try {
      const scope = await this.resolveScope();
      const [defaults, own] = await Promise.all([this.registeredLimits(scope), project === null ? undefined : this.projectLimits(scope, project)]);
      const out = {} as Record<LimitName, number>;
      // oslo.limit: the project's limit, else the registered default, else 0 (nothing allowed).
      for (const name of names) out[name] = own?.get(name) ?? defaults.get(name) ?? 0;
      return out;
    } catch (err) {
      if (err instanceof DomainError) throw err;
      throw new ServiceUnavailable(`Project limits cannot be checked: ${(err as Error).message}`);
    }
  }

  private registeredLimits(scope: Scope): Promise<Map<string, number>> {
    if (this.registered && this.registered.staleAt > this.now()) return Promise.resolve(this.registered.value);
    this.registeredPending ??= this.readLimits('registered_limits', scope, null)
      .then((value) => {
        this.registered = { value, staleAt: this.now() + this.opts.cacheTime * 1000 };
        return value;
      })
      .finally(() => (this.registeredPending = undefined));
    return this.registeredPending;
  }

  private projectLimits(scope: Scope, project: string): Promise<Map<string, number>> {
    const cached = this.projects.get(project);
    if (cached && cached.staleAt > this.now()) return Promise.resolve(cached.value);
    let pending = this.projectsPending.get(project);
    if (!pending) {
      pending = this.readLimits('limits', scope, project)
        .then((value) => {
          this.projects.set(project, { value, staleAt: this.now() + this.opts.cacheTime * 1000 });
          this.dropStale();
          return value;
        })
        .finally(() => this.projectsPending.delete(project));
      this.projectsPending.set(project, pending);
    }
    return pending;
  }

  /** Forgets projects whose limits went stale, so the cache holds only projects active lately. */
  private dropStale(): void {
    if (this.projects.size < 1000) return;
    const now = this.now();
    for (const [p, c] of this.projects) if (c.staleAt <= now) this.projects.delete(p);
  }

  /** GET /v3/registered_limits or /v3/limits for the service and region (and project), every page. */
  private async readLimits(kind: 'registered_limits' | 'limits', scope: Scope, project: string | null): Promise<Map<string, number>> {
    const query = new URLSearchParams({ service_id: scope.serviceId });
    if (scope.regionId !== null) query.set('region_id', scope.regionId);
    if (project !== null) query.set('project_id', project);
    const found = new Map<string, number>();
    let path: string | null = `/v3/${kind}?${query}`;
    while (path !== null) {
      const body: { links?: { next?: string | null } } & Record<string, unknown> = await this.get(path);
      for (const l of (body[kind] as LimitEntity[] | undefined) ?? []) {
        const value = kind === 'limits' ? l.resource_limit : l.default_limit;
        if (l.resource_name && typeof value === 'number' && !found.has(l.resource_name)) found.set(l.resource_name, value);
      }
      const next: string | null | undefined = body.links?.next;
      path = next ? new URL(next).pathname + new URL(next).search : null;
    }
    return found;
  }

  /** The service and region of the configured endpoint, and a check of the enforcement model; once, retried after a failure. */
  private resolveScope(): Promise<Scope> {
    this.scope ??= this.findScope().catch((err: unknown) => {
      this.scope = undefined;
      throw err;
    });
    return this.scope;
  }

  private async findScope(): Promise<Scope> {
    const model = ((await this.get('/v3/limits/model')) as { model?: { name?: string } }).model?.name;
    if (model !== 'flat') throw new ServiceUnavailable(`Project limits cannot be checked: Keystone's enforcement model is ${model ?? 'unknown'}; only flat is supported.`);
    const o = this.opts;
    if (o.endpointId) {
      const ep = ((await this.get(`/v3/endpoints/${encodeURIComponent(o.endpointId)}`, `[oslo_limit] endpoint_id ${o.endpointId} is not an endpoint of Keystone`)) as { endpoint: { service_id: string; region_id?: string | null } }).endpoint;
      return { serviceId: ep.service_id, regionId: ep.region_id ?? null };
    }
    const sq = new URLSearchParams();
    if (o.endpointServiceType) sq.set('type', o.endpointServiceType);
    if (o.endpointServiceName) sq.set('name', o.endpointServiceName);
    const services = ((await this.get(`/v3/services?${sq}`)) as { services: { id: string }[] }).services;
    if (services.length !== 1) throw new ServiceUnavailable(`Project limits cannot be checked: ${services.length === 0 ? 'no service' : 'several services'} in Keystone match [oslo_limit] endpoint_service_type/endpoint_service_name.`);
    const eq = new URLSearchParams({ service_id: services[0]!.id, interface: o.endpointInterface.replace(/URL$/, '') });
    let regionId: string | null = null;
    if (o.endpointRegionName) {
      regionId = ((await this.get(`/v3/regions/${encodeURIComponent(o.endpointRegionName)}`, `region ${o.endpointRegionName} ([oslo_limit] endpoint_region_name) is not known to Keystone`)) as { region: { id: string } }).region.id;
      eq.set('region_id', regionId);
    }
    const endpoints = ((await this.get(`/v3/endpoints?${eq}`)) as { endpoints: { service_id: string; region_id?: string | null }[] }).endpoints;
    if (endpoints.length !== 1) throw new ServiceUnavailable(`Project limits cannot be checked: ${endpoints.length === 0 ? 'no endpoint' : 'several endpoints'} of that service match [oslo_limit] endpoint_interface/endpoint_region_name.`);
    return { serviceId: endpoints[0]!.service_id, regionId: endpoints[0]!.region_id ?? null };
  }

  /** A GET with the service token (renewed once if Keystone no longer takes it); `notFound` names what a 404 means. */
  private async get(path: string, notFound?: string, retried = false): Promise<Record<string, unknown>> {
    const res = await this.request(path, { method: 'GET', headers: { 'x-auth-token': await this.ownToken(), accept: 'application/json' } });
    if (res.status === 200) return (await res.json()) as Record<string, unknown>;
    await res.body?.cancel();
    if (res.status === 401 && !retried) {
      this.token = undefined;
      return this.get(path, notFound, true);
    }
    if (res.status === 404 && notFound) throw new ServiceUnavailable(`Project limits cannot be checked: ${notFound}.`);
    if (res.status === 403) throw new ServiceUnavailable(`Project limits cannot be checked: Keystone refuses the [oslo_limit] user ${this.opts.username} (GET ${path.split('?')[0]}: 403); it needs the reader role on the system.`);
    throw new ServiceUnavailable(`Project limits cannot be checked: Keystone answered ${res.status} to GET ${path.split('?')[0]}.`);
  }

  /** The service user's token, renewed a minute before it expires. */
  private ownToken(): Promise<string> {
    if (this.token && this.token.expiresAt - 60_000 > this.now()) return Promise.resolve(this.token.value);
    this.tokenPending ??= this.issueToken().finally(() => (this.tokenPending = undefined));
    return this.tokenPending;
  }

  private async issueToken(): Promise<string> {
    const o = this.opts;
    const domain = (id: string | null, name: string | null) => (id ? { id } : { name: name ?? 'Default' });
    const scope = o.systemScope
      ? { system: { [o.systemScope]: true } }
      : o.projectId
        ? { project: { id: o.projectId } }
        : o.projectName
          ? { project: { name: o.projectName, domain: domain(o.projectDomainId, o.projectDomainName) } }
          : undefined;
    const res = await this.request('/v3/auth/tokens?nocatalog', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: { methods: ['password'], password: { user: { name: o.username, password: o.password, domain: domain(o.userDomainId, o.userDomainName) } } },
          ...(scope ? { scope } : {}),
        },
      }),
    });
    const token = res.headers.get('x-subject-token');
    const body = (await res.json().catch(() => ({}))) as { token?: { expires_at?: string } };
    if (res.status !== 201 || !token) {
      throw new ServiceUnavailable(`Project limits cannot be checked: the [oslo_limit] user ${o.username} could not authenticate to Keystone (${res.status}).`);
    }
    const expiresAt = Date.parse(body.token?.expires_at ?? '') || this.now() + 3_600_000;
    this.token = { value: token, expiresAt };
    return token;
  }

  private async request(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.base}${path}`, { ...init, signal: AbortSignal.timeout(this.opts.timeout * 1000) });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const why = e.name === 'TimeoutError' ? `no answer within ${this.opts.timeout} s` : (e.cause?.code ?? e.message);
      throw new ServiceUnavailable(`Project limits cannot be checked: Keystone (${this.base}) is unreachable (${why}); the request is refused until it answers.`);
    }
  }
}
