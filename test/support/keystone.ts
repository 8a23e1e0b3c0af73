import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';

/**
 * A real OpenStack Keystone for the tests: the private one `scripts/keystone/start.sh` runs on
 * loopback (Debian's keystone package under uwsgi, SQLite, Fernet tokens), found through
 * OCELLUS_TEST_KEYSTONE_URL (e.g. http://127.0.0.1:5050/v3; `npm test` starts it and sets it).
 * Passwords: OCELLUS_TEST_KEYSTONE_ADMIN_PASSWORD (default admin-secret) for `admin`, admin of
 * project `admin` and of the system; OCELLUS_TEST_KEYSTONE_SERVICE_PASSWORD (default
 * ocellus-secret) for `ocellus`, with role `service` on project `service` — the service user
 * Ocellus validates tokens as. Everything a test creates gets a unique name, so test files can
 * run in parallel against one Keystone. Only global fetch.
 */

export interface KeystoneEnv {
  /** The v3 root, without a trailing slash: `http://127.0.0.1:5050/v3`. */
  url: string;
  adminPassword: string;
  servicePassword: string;
}

export const KEYSTONE_HOW_TO =
  'run `bash scripts/keystone/start.sh` and export OCELLUS_TEST_KEYSTONE_URL=http://127.0.0.1:5050/v3, or run `npm test`, which starts it';

export function keystoneFromEnv(): KeystoneEnv | { skip: string } {
  const url = process.env.OCELLUS_TEST_KEYSTONE_URL?.trim();
  if (!url) return { skip: `OCELLUS_TEST_KEYSTONE_URL is not set; to test against a real Keystone, ${KEYSTONE_HOW_TO}` };
  return {
    url: url.replace(/\/+$/, ''),
    adminPassword: process.env.OCELLUS_TEST_KEYSTONE_ADMIN_PASSWORD ?? 'admin-secret',
    servicePassword: process.env.OCELLUS_TEST_KEYSTONE_SERVICE_PASSWORD ?? 'ocellus-secret',
  };
}

/**
 * For `describe(…, { skip: keystoneSkip() })`: undefined when OCELLUS_TEST_KEYSTONE_URL is set,
 * else the reason to skip, saying how to enable the tests. In CI (CI set) a missing Keystone is a
 * failure: it also registers a failing test, as requireTools does for missing CLIs.
 */
export function keystoneSkip(): string | undefined {
  const env = keystoneFromEnv();
  if (!('skip' in env)) return undefined;
  if (process.env.CI) {
    test('a Keystone for the Keystone tests', () => {
      assert.fail(`CI is set but ${env.skip}`);
    });
  }
  return env.skip;
}

function keystone(): KeystoneEnv {
  const env = keystoneFromEnv();
  if ('skip' in env) throw new Error(env.skip);
  return env;
}

export interface KeystoneResponse<T = unknown> {
  status: number;
  headers: Headers;
  /** The parsed JSON body; undefined when there is none. */
  body: T;
}

/** One call to the Keystone v3 API: `path` is below /v3 (`/auth/tokens`). Never throws on a status. */
export async function keystoneRequest<T = unknown>(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<KeystoneResponse<T>> {
  const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
  if (opts.token !== undefined) headers['X-Auth-Token'] = opts.token;
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(keystone().url + path, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  let body: unknown = undefined;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text; // not JSON: an error page of uwsgi, say
    }
  }
  return { status: res.status, headers: res.headers, body: body as T };
}

/** keystoneRequest, throwing unless the status is one of `expected`. */
async function ok<T = unknown>(
  method: string,
  path: string,
  expected: number[],
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<KeystoneResponse<T>> {
  const r = await keystoneRequest<T>(method, path, opts);
  if (!expected.includes(r.status)) {
    throw new Error(`Keystone ${method} ${path} answered ${r.status}, not ${expected.join(' or ')}: ${JSON.stringify(r.body)}`);
  }
  return r;
}

/** A role in a token body. */
export interface TokenRole {
  id: string;
  name: string;
  domain_id?: string | null;
}

/** The `token` of a Keystone v3 token body (POST or GET /v3/auth/tokens). */
export interface TokenBody {
  methods: string[];
  user: { id: string; name: string; domain: { id: string; name: string }; password_expires_at?: string | null };
  audit_ids: string[];
  expires_at: string;
  issued_at: string;
  project?: { id: string; name: string; domain: { id: string; name: string } };
  domain?: { id: string; name: string };
  system?: { all?: boolean };
  roles?: TokenRole[];
  is_domain?: boolean;
  catalog?: { id: string; type: string; name: string; endpoints: { id: string; interface: string; region_id: string; url: string }[] }[];
}

export interface IssuedToken {
  token: string;
  expiresAt: Date;
  /** The `token` object of Keystone's answer. */
  body: TokenBody;
}

export interface PasswordAuth {
  /** The user's name in `domain`. */
  user: string;
  password: string;
  /** Scope: a project by name in `domain`… */
  project?: string;
  /** …or by id. Neither: an unscoped token. */
  projectId?: string;
  /** The domain id of the user (and of `project`); default `default`. */
  domain?: string;
}

async function issue(identity: { user: string; password: string; domain?: string }, scope: unknown): Promise<IssuedToken> {
  const auth: Record<string, unknown> = {
    identity: {
      methods: ['password'],
      password: { user: { name: identity.user, domain: { id: identity.domain ?? 'default' }, password: identity.password } },
    },
  };
  if (scope !== undefined) auth.scope = scope;
  const r = await ok<{ token: TokenBody }>('POST', '/auth/tokens', [201], { body: { auth } });
  const token = r.headers.get('x-subject-token');
  if (!token) throw new Error('Keystone issued a token without X-Subject-Token');
  return { token, expiresAt: new Date(r.body.token.expires_at), body: r.body.token };
}

/** A token for a user's password: project-scoped (by name or id) or unscoped. */
export function passwordToken(a: PasswordAuth): Promise<IssuedToken> {
  const domain = a.domain ?? 'default';
  const scope =
    a.projectId !== undefined
      ? { project: { id: a.projectId } }
      : a.project !== undefined
        ? { project: { name: a.project, domain: { id: domain } } }
        : undefined;
  return issue({ user: a.user, password: a.password, domain }, scope);
}

/** A system-scoped token (`"system": {"all": true}`): only for users with a role on the system. */
export function systemToken(user: string, password: string): Promise<IssuedToken> {
  return issue({ user, password }, { system: { all: true } });
}

/** Tokens are re-issued this long before they expire. */
const MARGIN_MS = 5 * 60_000;
const cached = new Map<string, Promise<IssuedToken>>();

async function cachedToken(key: string, get: () => Promise<IssuedToken>): Promise<string> {
  const known = cached.get(key);
  if (known) {
    const t = await known.catch(() => undefined);
    if (t && t.expiresAt.getTime() - Date.now() > MARGIN_MS) return t.token;
  }
  const p = get();
  cached.set(key, p);
  p.catch(() => {
    if (cached.get(key) === p) cached.delete(key);
  });
  return (await p).token;
}

/** A token of `admin` scoped to project `admin` (admin everywhere under the default policy), cached until near expiry. */
export function adminToken(): Promise<string> {
  const { url, adminPassword } = keystone();
  return cachedToken(`admin ${url}`, () => passwordToken({ user: 'admin', password: adminPassword, project: 'admin' }));
}

/** A token of the service user `ocellus` scoped to project `service`, cached until near expiry. */
export function serviceToken(): Promise<string> {
  const { url, servicePassword } = keystone();
  return cachedToken(`ocellus ${url}`, () => passwordToken({ user: 'ocellus', password: servicePassword, project: 'service' }));
}

/**
 * GET /v3/auth/tokens for `subject` with `authToken` (default: the service user's token), as
 * keystonemiddleware validates: 200 and the token body, or Keystone's 404 (revoked, expired,
 * malformed) or 401/403.
 */
export async function validateToken(subject: string, authToken?: string): Promise<{ status: number; body?: TokenBody }> {
  const r = await keystoneRequest<{ token: TokenBody }>('GET', '/auth/tokens', {
    token: authToken ?? (await serviceToken()),
    headers: { 'X-Subject-Token': subject },
  });
  return { status: r.status, body: r.status === 200 ? r.body.token : undefined };
}

/** Revokes a token (DELETE /v3/auth/tokens, as admin). */
export async function revokeToken(token: string): Promise<void> {
  await ok('DELETE', '/auth/tokens', [204], { token: await adminToken(), headers: { 'X-Subject-Token': token } });
}

/** A name no other call (or test file) uses: `prefix-<12 hex>`. */
export function uniqueName(prefix = 'ocellus-test'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

/** Creates a project in the default domain; its id. */
export async function createProject(name: string = uniqueName('ocellus-test-project')): Promise<string> {
  const r = await ok<{ project: { id: string } }>('POST', '/projects', [201], {
    token: await adminToken(),
    body: { project: { name, domain_id: 'default', description: 'Created by an Ocellus test' } },
  });
  return r.body.project.id;
}

const roleIds = new Map<string, string>();

/** The id of a role by name (admin, member, reader, service, … — created by start.sh). */
export async function roleId(name: string): Promise<string> {
  const known = roleIds.get(name);
  if (known) return known;
  const r = await ok<{ roles: { id: string; name: string; domain_id?: string | null }[] }>('GET', `/roles?name=${encodeURIComponent(name)}`, [200], { token: await adminToken() });
  const role = r.body.roles.find((x) => x.name === name && !x.domain_id);
  if (!role) throw new Error(`Keystone has no role ${name}`);
  roleIds.set(name, role.id);
  return role.id;
}

export interface TestUser {
  id: string;
  name: string;
  password: string;
}

/** Creates a user in the default domain with `roles` on `projectId` (its default project). */
export async function createUser(u: { name?: string; password: string; projectId: string; roles: string[] }): Promise<TestUser> {
  const token = await adminToken();
  const name = u.name ?? uniqueName('ocellus-test-user');
  const r = await ok<{ user: { id: string } }>('POST', '/users', [201], {
    token,
    body: { user: { name, password: u.password, domain_id: 'default', default_project_id: u.projectId } },
  });
  const id = r.body.user.id;
  for (const role of u.roles) {
    await ok('PUT', `/projects/${u.projectId}/users/${id}/roles/${await roleId(role)}`, [204], { token });
  }
  return { id, name, password: u.password };
}

/** Deletes a project (gone already is fine). */
export async function deleteProject(id: string): Promise<void> {
  await ok('DELETE', `/projects/${id}`, [204, 404], { token: await adminToken() });
}

/** Deletes a user (gone already is fine). */
export async function deleteUser(id: string): Promise<void> {
  await ok('DELETE', `/users/${id}`, [204, 404], { token: await adminToken() });
}

async function findImageEndpoint(token: string): Promise<{ serviceId: string; endpoint?: { id: string; url: string } }> {
  const services = await ok<{ services: { id: string }[] }>('GET', '/services?type=image', [200], { token });
  const service = services.body.services[0];
  if (!service) throw new Error('Keystone has no image service: run scripts/keystone/start.sh');
  const r = await ok<{ endpoints: { id: string; url: string; region_id: string | null }[] }>(
    'GET',
    `/endpoints?service_id=${service.id}&interface=public`,
    [200],
    { token },
  );
  return { serviceId: service.id, endpoint: r.body.endpoints.find((e) => e.region_id === 'RegionOne') ?? r.body.endpoints[0] };
}

/** The URL of the public endpoint of the `image` service in RegionOne, if there is one. */
export async function imageEndpoint(): Promise<string | undefined> {
  return (await findImageEndpoint(await adminToken())).endpoint?.url;
}

/**
 * Points the public endpoint of the `image` service in RegionOne at `url` (creating it if
 * missing); the previous URL, to put back afterwards. It is shared by every test using this
 * Keystone: restore it, and don't change it from tests that may run in parallel with others
 * that read the catalogue. (scripts/keystone/start.sh sets it to OCELLUS_IMAGE_URL, default
 * http://127.0.0.1:9292, when it starts or provisions Keystone; not when Keystone is already
 * up with the same settings.)
 */
export async function setImageEndpoint(url: string): Promise<string | undefined> {
  const token = await adminToken();
  const { serviceId, endpoint } = await findImageEndpoint(token);
  if (!endpoint) {
    await ok('POST', '/endpoints', [201], { token, body: { endpoint: { service_id: serviceId, interface: 'public', region_id: 'RegionOne', url } } });
    return undefined;
  }
  if (endpoint.url !== url) await ok('PATCH', `/endpoints/${endpoint.id}`, [200], { token, body: { endpoint: { url } } });
  return endpoint.url;
}

/** The options of a test server behind this Keystone: flavor keystone, tokens validated with the service user `ocellus`. */
export function keystoneFlavorOverrides(): { section: 'paste_deploy' | 'keystone_authtoken'; name: string; value: string }[] {
  const env = keystone();
  return [
    { section: 'paste_deploy', name: 'flavor', value: 'keystone' },
    { section: 'keystone_authtoken', name: 'auth_url', value: env.url },
    { section: 'keystone_authtoken', name: 'www_authenticate_uri', value: env.url.replace(/\/v3$/, '') },
    { section: 'keystone_authtoken', name: 'username', value: 'ocellus' },
    { section: 'keystone_authtoken', name: 'password', value: env.servicePassword },
    { section: 'keystone_authtoken', name: 'project_name', value: 'service' },
  ];
}
