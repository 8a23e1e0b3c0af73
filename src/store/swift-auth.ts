/**
 * Who the Swift driver is and how it gets a token and a storage URL: credentials from
 * glance-swift.conf (swift_store_config_file + default_swift_reference) or from the
 * swift_store_auth_address/user/key options, and the two auth protocols Glance speaks —
 * tempauth/swauth v1 (GET …/auth/v1.0) and Keystone v3 password auth scoped to the project.
 */
import fs from 'node:fs/promises';
import type { StoreOptions } from '../config/store-options.js';
import { parseIni } from '../config/ini.js';
import { StoreError, StoreUnavailable } from './blob-store.js';
import { shortUrl, type SwiftHttp } from './swift-http.js';

const DRIVER = 'swift';

export interface SwiftCredentials {
  /** The glance-swift.conf section they came from (locations are then `swift+config://<reference>/…`); null from options. */
  reference: string | null;
  authAddress: string;
  /** `account:user` (v1) or `project:user` (v3). */
  user: string;
  key: string;
  /** '1' (tempauth/swauth) or '3' (Keystone; '2' is read as '3' as nobody runs Keystone v2 any more). */
  authVersion: '1' | '3';
  userDomainId: string | null;
  userDomainName: string | null;
  projectDomainId: string | null;
  projectDomainName: string | null;
}

/** Reads the credentials the options point at (the config file is local: reading it is part of init). */
export async function loadCredentials(options: StoreOptions<'swift'>): Promise<SwiftCredentials> {
  if (options.swift_store_config_file) {
    const file = options.swift_store_config_file;
    const ref = options.default_swift_reference;
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      throw new StoreError(DRIVER, `cannot read swift_store_config_file ${file}: ${(err as Error).message}`, { cause: err });
    }
    const values = new Map<string, string>();
    for (const e of parseIni(text, file)) if (e.section === ref) values.set(e.name, e.value);
    if (values.size === 0) throw new StoreError(DRIVER, `${file} has no section [${ref}] (default_swift_reference)`);
    const need = (name: string): string => {
      const v = values.get(name);
      if (v === undefined || v === '') throw new StoreError(DRIVER, `${file} [${ref}] has no ${name}`);
      return v;
    };
    return {
      reference: ref,
      authAddress: need('auth_address'),
      user: need('user'),
      key: need('key'),
      authVersion: version(values.get('auth_version') ?? options.swift_store_auth_version),
      userDomainId: values.get('user_domain_id') ?? null,
      userDomainName: values.get('user_domain_name') ?? null,
      projectDomainId: values.get('project_domain_id') ?? null,
      projectDomainName: values.get('project_domain_name') ?? null,
    };
  }
  if (!options.swift_store_auth_address || !options.swift_store_user || options.swift_store_key === null) {
    throw new StoreError(DRIVER, 'needs swift_store_config_file, or swift_store_auth_address, swift_store_user and swift_store_key');
  }
  return {
    reference: null,
    authAddress: options.swift_store_auth_address,
    user: options.swift_store_user,
    key: options.swift_store_key,
    authVersion: version(options.swift_store_auth_version),
    userDomainId: null,
    userDomainName: null,
    projectDomainId: null,
    projectDomainName: null,
  };
}

function version(v: string): '1' | '3' {
  if (v === '1') return '1';
  if (v === '2' || v === '3') return '3';
  throw new StoreError(DRIVER, `auth_version ${v} is not 1, 2 or 3`);
}

/** What authentication gave: the token, where the account lives, and until when. */
export interface SwiftSession {
  token: string;
  storageUrl: string;
  expiresAt: number;
}

export interface CatalogChoice {
  serviceType: string;
  /** Keystone interface: public, internal or admin. */
  interface: string;
  region: string | null;
}

/** Tokens are assumed to last this long when the server does not say. */
const DEFAULT_LIFETIME_MS = 3600_000;

/**
 * Hands out a valid token and storage URL: authenticates once, reuses the session until it is
 * within `renewBeforeMs` of expiry or `invalidate()` is called (after a 401), and lets
 * concurrent callers share one authentication.
 */
export class SwiftAuth {
  private session: SwiftSession | undefined;
  private pending: Promise<SwiftSession> | undefined;

  constructor(
    private readonly http: SwiftHttp,
    private readonly creds: SwiftCredentials,
    private readonly catalog: CatalogChoice,
    /** swift_store_endpoint: used instead of the storage URL authentication gives. */
    private readonly endpointOverride: string | null,
    private readonly renewBeforeMs: number,
  ) {}

  current(): Promise<SwiftSession> {
    const s = this.session;
    if (s && s.expiresAt - Date.now() > this.renewBeforeMs) return Promise.resolve(s);
    this.pending ??= this.authenticate().then(
      (fresh) => {
        this.session = fresh;
        this.pending = undefined;
        return fresh;
      },
      (err: unknown) => {
        this.pending = undefined;
        throw err;
      },
    );
    return this.pending;
  }

  /** Forgets `token` (a request with it got 401), so that the next call authenticates again. */
  invalidate(token: string): void {
    if (this.session?.token === token) this.session = undefined;
  }

  private async authenticate(): Promise<SwiftSession> {
    const s = this.creds.authVersion === '1' ? await this.v1() : await this.v3();
    return this.endpointOverride ? { ...s, storageUrl: this.endpointOverride.replace(/\/+$/, '') } : s;
  }

  private async v1(): Promise<SwiftSession> {
    const url = new URL(this.creds.authAddress);
    const res = await this.http.send('GET', url, { 'X-Auth-User': this.creds.user, 'X-Auth-Key': this.creds.key });
    if (res.status === 401 || res.status === 403) throw new StoreUnavailable(DRIVER, `authentication failed at ${shortUrl(url)} (${res.status}) for user ${this.creds.user}`);
    if (res.status < 200 || res.status > 299) throw new StoreUnavailable(DRIVER, `authentication at ${shortUrl(url)} answered ${res.status}`);
    const token = header(res.headers['x-auth-token'] ?? res.headers['x-storage-token']);
    const storageUrl = header(res.headers['x-storage-url']);
    if (!token || (!storageUrl && !this.endpointOverride)) throw new StoreUnavailable(DRIVER, `authentication at ${shortUrl(url)} gave no token or storage URL`);
    const expires = Number(header(res.headers['x-auth-token-expires']));
    const lifetime = Number.isFinite(expires) && expires > 0 ? expires * 1000 : DEFAULT_LIFETIME_MS;
    return { token, storageUrl: (storageUrl ?? '').replace(/\/+$/, ''), expiresAt: Date.now() + lifetime };
  }

  private async v3(): Promise<SwiftSession> {
    const base = this.creds.authAddress.replace(/\/+$/, '').replace(/\/v2\.0$/, '');
    const url = new URL(`${/\/v3$/.test(base) ? base : `${base}/v3`}/auth/tokens`);
    const colon = this.creds.user.indexOf(':');
    if (colon < 0) throw new StoreError(DRIVER, `user '${this.creds.user}' must be project:user for Keystone authentication`);
    const project = this.creds.user.slice(0, colon);
    const user = this.creds.user.slice(colon + 1);
    const domain = (id: string | null, name: string | null) => (id ? { id } : name ? { name } : { id: 'default' });
    const body = {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: user, domain: domain(this.creds.userDomainId, this.creds.userDomainName), password: this.creds.key } },
        },
        scope: { project: { name: project, domain: domain(this.creds.projectDomainId, this.creds.projectDomainName) } },
      },
    };
    const res = await this.http.send('POST', url, { 'Content-Type': 'application/json', Accept: 'application/json' }, JSON.stringify(body));
    if (res.status === 401 || res.status === 403) throw new StoreUnavailable(DRIVER, `authentication failed at ${shortUrl(url)} (${res.status}) for user ${this.creds.user}`);
    if (res.status !== 201 && res.status !== 200) throw new StoreUnavailable(DRIVER, `authentication at ${shortUrl(url)} answered ${res.status}`);
    const token = header(res.headers['x-subject-token']);
    if (!token) throw new StoreUnavailable(DRIVER, `Keystone at ${shortUrl(url)} issued no X-Subject-Token`);
    const parsed = JSON.parse(res.body.toString('utf8')) as KeystoneTokenBody;
    const expiresAt = Date.parse(parsed.token?.expires_at ?? '') || Date.now() + DEFAULT_LIFETIME_MS;
    let storageUrl = '';
    if (!this.endpointOverride) {
      const found = pickEndpoint(parsed.token?.catalog ?? [], this.catalog);
      if (!found) {
        const region = this.catalog.region ? ` in region ${this.catalog.region}` : '';
        throw new StoreUnavailable(DRIVER, `the Keystone catalog has no ${this.catalog.interface} endpoint of service type ${this.catalog.serviceType}${region} (set swift_store_endpoint to bypass it)`);
      }
      storageUrl = found.replace(/\/+$/, '');
    }
    return { token, storageUrl, expiresAt };
  }
}

interface KeystoneTokenBody {
  token?: {
    expires_at?: string;
    catalog?: { type: string; endpoints: { interface: string; region?: string; region_id?: string; url: string }[] }[];
  };
}

function pickEndpoint(catalog: NonNullable<NonNullable<KeystoneTokenBody['token']>['catalog']>, choice: CatalogChoice): string | undefined {
  for (const service of catalog) {
    if (service.type !== choice.serviceType) continue;
    for (const e of service.endpoints) {
      if (e.interface !== choice.interface) continue;
      if (choice.region && e.region_id !== choice.region && e.region !== choice.region) continue;
      return e.url;
    }
  }
  return undefined;
}

/** glance_store's endpoint types (publicURL, …) as Keystone v3 interfaces. */
export function keystoneInterface(endpointType: string): string {
  return endpointType.replace(/URL$/, '');
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
