/**
 * How the SDK gets a token and the image endpoint: a static token with an endpoint as given, or
 * Keystone v3 (password, application credential, or token re-scoped for its catalog), the image
 * endpoint then read from the catalog by interface and region. Keystone tokens are renewed a
 * minute before they expire. Calls go through the `fetch` given (the Node client's carries its
 * TLS settings), so this file imports nothing of Node's either.
 */
import type { Session } from './api.js';
import type { CloudConfig } from './config.js';
import { ConfigurationError, apiError } from './errors.js';

export type { Session } from './api.js';

/** The image endpoint as the catalog or the user gives it, without its trailing /v2 or slash. */
export function imageEndpointBase(url: string): string {
  return url.replace(/\/+$/, '').replace(/\/v2(\.\d+)?$/, '');
}

/** A token and an endpoint used as given (OS_TOKEN + OS_IMAGE_URL, or an admin token). */
export function staticSession(token: string, endpoint: string): Session {
  const base = imageEndpointBase(endpoint);
  return { current: async () => ({ token, endpoint: base }), invalidate: () => undefined };
}

interface CatalogEntry {
  type: string;
  endpoints: { interface: string; region?: string; region_id?: string; url: string }[];
}

/** keystoneauth's name of the application credential plugin (`auth_type`, OS_AUTH_TYPE). */
export const APPLICATION_CREDENTIAL_AUTH_TYPE = 'v3applicationcredential';

const usesApplicationCredential = (cfg: CloudConfig) => cfg.authType === APPLICATION_CREDENTIAL_AUTH_TYPE;

/**
 * The `application_credential` of a Keystone v3 identity: by id, or by name with its user. No scope
 * goes with it: the credential is bound to its project, and Keystone refuses any other scope.
 */
function applicationCredential(cfg: CloudConfig): Record<string, unknown> {
  const what = `auth_type ${APPLICATION_CREDENTIAL_AUTH_TYPE}`;
  const secret = cfg.applicationCredentialSecret;
  if (!secret) throw new ConfigurationError(`${what} needs application_credential_secret (OS_APPLICATION_CREDENTIAL_SECRET)`);
  if (cfg.applicationCredentialId) return { id: cfg.applicationCredentialId, secret };
  if (!cfg.applicationCredentialName) {
    throw new ConfigurationError(`${what} needs application_credential_id (OS_APPLICATION_CREDENTIAL_ID), or application_credential_name (OS_APPLICATION_CREDENTIAL_NAME) with its user`);
  }
  let user: Record<string, unknown>;
  if (cfg.userId) user = { id: cfg.userId };
  else if (!cfg.username) {
    throw new ConfigurationError(`${what}: application_credential_name needs the credential's user: username (OS_USERNAME) or user_id (OS_USER_ID)`);
  } else if (cfg.userDomainId) user = { name: cfg.username, domain: { id: cfg.userDomainId } };
  else if (cfg.userDomainName) user = { name: cfg.username, domain: { name: cfg.userDomainName } };
  else throw new ConfigurationError(`${what}: a user given by name (${cfg.username}) needs user_domain_name (OS_USER_DOMAIN_NAME) or user_domain_id (OS_USER_DOMAIN_ID)`);
  return { name: cfg.applicationCredentialName, secret, user };
}

/** The Keystone v3 request body for this configuration. */
export function authBody(cfg: CloudConfig): Record<string, unknown> {
  if (usesApplicationCredential(cfg)) {
    return { auth: { identity: { methods: ['application_credential'], application_credential: applicationCredential(cfg) } } };
  }
  const domain = (id?: string, name?: string) => (id ? { id } : { name: name ?? 'Default' });
  let identity: Record<string, unknown>;
  if (cfg.password !== undefined) {
    if (!cfg.username && !cfg.userId) throw new ConfigurationError('password authentication needs a username (OS_USERNAME) or user id');
    const user = cfg.userId ? { id: cfg.userId, password: cfg.password } : { name: cfg.username, domain: domain(cfg.userDomainId, cfg.userDomainName), password: cfg.password };
    identity = { methods: ['password'], password: { user } };
  } else if (cfg.token) {
    identity = { methods: ['token'], token: { id: cfg.token } };
  } else {
    throw new ConfigurationError('no credentials: set a password (OS_PASSWORD) or a token (OS_TOKEN)');
  }
  const auth: Record<string, unknown> = { identity };
  if (cfg.projectId) auth.scope = { project: { id: cfg.projectId } };
  else if (cfg.projectName) auth.scope = { project: { name: cfg.projectName, domain: domain(cfg.projectDomainId, cfg.projectDomainName) } };
  return { auth };
}

export interface SessionOptions {
  /** The fetch to call Keystone with (default: the global one). */
  fetch?: typeof fetch;
}

/** Keystone v3: a token for the configuration, and the image endpoint from its catalog (or cfg.endpoint). */
export function keystoneSession(cfg: CloudConfig, opts: SessionOptions = {}): Session {
  if (!cfg.authUrl) throw new ConfigurationError('no Keystone URL (OS_AUTH_URL or auth.auth_url)');
  // A configuration missing a part fails here, when the client is made, not at its first call.
  const request = JSON.stringify(authBody(cfg));
  const call = opts.fetch ?? fetch;
  const base = cfg.authUrl.replace(/\/+$/, '');
  const url = `${/\/v3$/.test(base) ? base : `${base}/v3`}/auth/tokens`;
  let cached: { token: string; endpoint: string; renewAt: number } | null = null;
  return {
    async current() {
      if (cached && Date.now() < cached.renewAt) return cached;
      const res = await call(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: request });
      const text = await res.text();
      if (res.status !== 201) throw apiError(res.status, text, 'POST', url, res.headers.get('x-openstack-request-id'));
      const token = res.headers.get('x-subject-token');
      if (!token) throw new ConfigurationError(`Keystone at ${url} answered without X-Subject-Token`);
      const body = JSON.parse(text) as { token: { expires_at?: string; catalog?: CatalogEntry[] } };
      const endpoint = cfg.endpoint ? imageEndpointBase(cfg.endpoint) : catalogImageEndpoint(body.token.catalog ?? [], cfg);
      const expires = body.token.expires_at ? Date.parse(body.token.expires_at) : Date.now() + 3_600_000;
      cached = { token, endpoint, renewAt: expires - 60_000 };
      return cached;
    },
    invalidate() {
      cached = null;
    },
  };
}

/** The image service's endpoint in a Keystone catalog, for the configured interface and region. */
export function catalogImageEndpoint(catalog: CatalogEntry[], cfg: Pick<CloudConfig, 'interface' | 'regionName'>): string {
  const wanted = (cfg.interface ?? 'public').replace(/URL$/, '');
  const service = catalog.find((s) => s.type === 'image');
  if (!service) throw new ConfigurationError('the Keystone catalog has no image service');
  const endpoint = service.endpoints.find((e) => e.interface === wanted && (!cfg.regionName || e.region_id === cfg.regionName || e.region === cfg.regionName));
  if (!endpoint) throw new ConfigurationError(`the Keystone catalog has no ${wanted} image endpoint${cfg.regionName ? ` in region ${cfg.regionName}` : ''}`);
  return imageEndpointBase(endpoint.url);
}

/** The session a configuration calls for: static when it has a token and an endpoint (and no other credential), else Keystone. */
export function sessionFor(cfg: CloudConfig, opts: SessionOptions = {}): Session {
  if (cfg.token && cfg.endpoint && cfg.password === undefined && !usesApplicationCredential(cfg)) return staticSession(cfg.token, cfg.endpoint);
  return keystoneSession(cfg, opts);
}
