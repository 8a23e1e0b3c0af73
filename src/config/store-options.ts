/**
 * The options of each store driver, with glance_store's names and defaults, and how the store
 * backends are configured: the legacy single-store way (`[glance_store] stores`, `default_store`,
 * driver options in `[glance_store]`) or multi-store (`[DEFAULT] enabled_backends = id:type,…`,
 * `[glance_store] default_backend`, a section per backend id with its driver's options).
 */
import path from 'node:path';
import { ConfigError, convertOption, type OptionSpec, type ValueOf } from './option-spec.js';

/** Store types Ocellus implements; the first spelling is the canonical type. */
export const STORE_TYPES = ['file', 'http', 'swift', 's3'] as const;
export type StoreType = (typeof STORE_TYPES)[number];
const TYPE_ALIASES: Record<string, StoreType> = { file: 'file', filesystem: 'file', http: 'http', https: 'http', swift: 'swift', s3: 's3' };
/** glance_store's other types: accepted in a legacy `stores` list with a warning, refused in enabled_backends. */
const UNIMPLEMENTED_TYPES = ['rbd', 'cinder', 'vmware', 'sheepdog'];
/** The reserved stores Glance adds in multi-store mode (file stores for import staging and tasks). */
export const RESERVED_STORES = ['os_glance_staging_store', 'os_glance_tasks_store'] as const;
/** The store where PUT /stage and imports keep data before it reaches its stores. */
export const STAGING_STORE = 'os_glance_staging_store';

/** node_staging_uri as a directory: Glance accepts only `file://` there. */
function stagingDir(uri: string | null, dataDir: string): string {
  if (uri === null) return path.join(dataDir, 'staging');
  const m = /^file:\/\/(\/.*)$/.exec(uri.trim());
  if (!m) throw new ConfigError(`[DEFAULT] node_staging_uri = ${uri}: must be a file:// URL of a directory (e.g. file:///var/lib/ocellus/staging)`);
  return m[1]!.replace(/\/+$/, '') || '/';
}

export const STORE_OPTIONS = {
  /** Options every backend section may have (multi-store). */
  common: {
    store_description: { kind: 'string', default: null, help: 'Description shown by GET /v2/info/stores (multi-store).' },
    weight: { kind: 'int', default: 0, help: 'Order of locations for downloads and direct_url: higher first (multi-store).' },
  },
  file: {
    filesystem_store_datadir: { kind: 'string', default: null, help: 'Directory of the file store; default <data dir>/images (multi-store: <data dir>/<store id>).' },
    filesystem_store_datadirs: {
      kind: 'multi',
      default: [],
      help: 'Several directories, one `path:priority` per line (repeat the option): new images go to the directory with most free space among those of the highest priority; instead of filesystem_store_datadir.',
    },
    filesystem_store_file_perm: { kind: 'string', default: '0', help: 'Octal permissions of image files (e.g. 640); 0 = leave them to the umask (0640).' },
    filesystem_store_chunk_size: { kind: 'size', default: 65536, min: 1, help: 'Accepted for compatibility; Ocellus reads in 1 MiB pieces.' },
    filesystem_store_metadata_file: { kind: 'string', default: null, help: 'JSON file of metadata to record with each location (a dict, or a list of dicts with `id` and `mountpoint` for datadirs).' },
    filesystem_thin_provisioning: { kind: 'bool', default: false, help: 'Accepted for compatibility; ignored.' },
  },
  http: {
    https_insecure: { kind: 'bool', default: true, help: 'Skip verification of https servers’ certificates (glance_store default).' },
    https_ca_certificates_file: { kind: 'string', default: null, help: 'CA bundle for https locations.' },
    http_proxy_information: { kind: 'string', default: null, help: 'Accepted for compatibility (scheme:proxy pairs); ignored.' },
    http_store_allowed_networks: {
      kind: 'list',
      default: [],
      help: 'Addresses (CIDRs like 10.0.0.0/8, or single addresses) that http locations and their redirects may point to although they are loopback, link-local or private; by default all such targets are refused (OSSN-0065).',
    },
  },
  swift: {
    swift_store_auth_address: { kind: 'string', default: null, help: 'Identity endpoint (tempauth …/auth/v1.0 or Keystone …/v3); deprecated in Glance in favour of swift_store_config_file.' },
    swift_store_user: { kind: 'string', default: null, help: 'User: `account:user` (tempauth) or `project:user` (Keystone).' },
    swift_store_key: { kind: 'string', default: null, help: 'Password or tempauth key.' },
    swift_store_auth_version: { kind: 'string', default: '3', choices: ['1', '2', '3'], help: 'Auth protocol: 1 = tempauth/swauth, 3 = Keystone v3 (2 is read as 3).' },
    swift_store_config_file: { kind: 'string', default: null, help: 'glance-swift.conf: credential references (sections with user, key, auth_address, auth_version, user_domain_name, project_domain_name).' },
    default_swift_reference: { kind: 'string', default: 'ref1', help: 'Section of swift_store_config_file to use.' },
    swift_store_container: { kind: 'string', default: 'glance', help: 'Container of the images (multi-tenant: prefix of the per-project container).' },
    swift_store_large_object_size: { kind: 'int', default: 5120, min: 1, help: 'MB above which an image is written as segments with a static large object manifest.' },
    swift_store_large_object_chunk_size: { kind: 'int', default: 200, min: 1, help: 'Segment size in MB.' },
    swift_store_create_container_on_put: { kind: 'bool', default: false, help: 'Create the container when it is missing.' },
    swift_store_multi_tenant: { kind: 'bool', default: false, help: "Keep each image in a container of its owner's project (`<container>_<project id>`)." },
    swift_store_multiple_containers_seed: { kind: 'int', default: 0, min: 0, max: 32, help: 'Spread images over containers named by the first N characters of their id.' },
    swift_store_admin_tenants: { kind: 'list', default: [], help: 'Accepted for compatibility (multi-tenant ACLs); ignored.' },
    swift_store_region: { kind: 'string', default: null, help: 'Region of the object-store endpoint in the Keystone catalog.' },
    swift_store_endpoint_type: { kind: 'string', default: 'publicURL', choices: ['publicURL', 'adminURL', 'internalURL'], help: 'Interface of the object-store endpoint in the catalog.' },
    swift_store_service_type: { kind: 'string', default: 'object-store', help: 'Service type of Swift in the catalog.' },
    swift_store_endpoint: { kind: 'string', default: null, help: 'Storage URL to use instead of the one from authentication (…/v1/AUTH_<account>).' },
    swift_store_auth_insecure: { kind: 'bool', default: false, help: 'Skip certificate verification towards Swift and its identity service.' },
    swift_store_cacert: { kind: 'string', default: null, help: 'CA bundle for Swift and its identity service.' },
    swift_store_retry_get_count: { kind: 'int', default: 0, min: 0, help: 'Times a download resumes after the connection to Swift broke.' },
    swift_store_expire_soon_interval: { kind: 'int', default: 60, min: 0, help: 'Seconds before expiry at which a token is renewed.' },
    swift_store_use_trusts: { kind: 'bool', default: true, help: 'Accepted for compatibility; ignored.' },
    swift_buffer_on_upload: { kind: 'bool', default: false, help: 'Accepted for compatibility; segments stream without buffering.' },
    swift_upload_buffer_dir: { kind: 'string', default: null, help: 'Accepted for compatibility; ignored.' },
  },
  s3: {
    s3_store_host: { kind: 'string', default: null, help: 'S3 endpoint, e.g. http://rgw:8080 or https://s3.amazonaws.com.' },
    s3_store_region_name: { kind: 'string', default: '', help: 'Region (SigV4); empty = us-east-1.' },
    s3_store_access_key: { kind: 'string', default: null, help: 'Access key.' },
    s3_store_secret_key: { kind: 'string', default: null, help: 'Secret key.' },
    s3_store_bucket: { kind: 'string', default: null, help: 'Bucket of the images.' },
    s3_store_create_bucket_on_put: { kind: 'bool', default: false, help: 'Create the bucket when it is missing.' },
    s3_store_bucket_url_format: { kind: 'string', default: 'auto', choices: ['auto', 'virtual', 'path'], help: 'Addressing: path (host/bucket/key), virtual (bucket.host/key) or auto (virtual for AWS hosts, path otherwise).' },
    s3_store_large_object_size: { kind: 'int', default: 100, min: 1, help: 'MB above which an image is written as a multipart upload.' },
    s3_store_large_object_chunk_size: { kind: 'int', default: 10, min: 5, help: 'Part size in MB (at least 5; raised so that an image fits in 1000 parts).' },
    s3_store_thread_pools: { kind: 'int', default: 10, min: 1, help: 'Parts uploaded at once (each buffers one part).' },
    s3_store_cacert: { kind: 'string', default: null, help: 'CA bundle for the S3 endpoint.' },
  },
} as const satisfies Record<string, Record<string, OptionSpec>>;

type Table<T extends 'common' | StoreType> = (typeof STORE_OPTIONS)[T];
export type StoreOptions<T extends StoreType> = { -readonly [O in keyof Table<T>]: Table<T>[O] extends OptionSpec ? ValueOf<Table<T>[O]> : never };

export type BackendConfig = {
  [T in StoreType]: {
    id: string;
    type: T;
    description: string | null;
    weight: number;
    /** os_glance_staging_store and os_glance_tasks_store: internal, never listed or an import target. */
    reserved: boolean;
    options: StoreOptions<T>;
  };
}[StoreType];

export interface StoresConfig {
  /** True with `enabled_backends`: locations record their store id, the stores API is on. */
  multiStore: boolean;
  /** The backend new image data goes to. */
  defaultBackend: string;
  backends: BackendConfig[];
}

/** One `name = value` the store configuration reads, with where it was set for messages. */
export interface StoreEntry {
  section: string;
  name: string;
  value: string;
  where: string;
}

/** Whether an option name belongs to some store driver (so `[glance_store]` and backend sections accept it). */
export function storeOptionSpec(type: StoreType | 'common', name: string): OptionSpec | undefined {
  return (STORE_OPTIONS[type] as Record<string, OptionSpec>)[name];
}

function anyDriverSpec(name: string): OptionSpec | undefined {
  for (const table of Object.values(STORE_OPTIONS)) {
    const spec = (table as Record<string, OptionSpec>)[name];
    if (spec) return spec;
  }
  return undefined;
}

/** Whether `[section] name` is read by the store configuration (so loadConfig does not warn about it). */
export function isStoreEntry(section: string, name: string, backendSections: ReadonlySet<string>): boolean {
  if (section === 'glance_store') return anyDriverSpec(name) !== undefined;
  return backendSections.has(section);
}

/** Parses `id:type, …`; throws ConfigError on a malformed or unknown entry. */
export function parseEnabledBackends(list: readonly string[], where: string): { id: string; type: StoreType }[] {
  const seen = new Set<string>();
  return list.map((item) => {
    const m = /^([A-Za-z0-9_.-]+)\s*:\s*([A-Za-z0-9_]+)$/.exec(item);
    if (!m) throw new ConfigError(`${where}: '${item}' is not id:type (e.g. fast:file)`);
    const [, id, rawType] = m as unknown as [string, string, string];
    const type = TYPE_ALIASES[rawType];
    if (!type) {
      const known = UNIMPLEMENTED_TYPES.includes(rawType) ? `store type '${rawType}' is not implemented by Ocellus` : `unknown store type '${rawType}'`;
      throw new ConfigError(`${where}: ${known} (Ocellus implements ${STORE_TYPES.join(', ')})`);
    }
    if ((RESERVED_STORES as readonly string[]).includes(id)) throw new ConfigError(`${where}: '${id}' is a reserved store id`);
    if (seen.has(id)) throw new ConfigError(`${where}: store id '${id}' is listed twice`);
    seen.add(id);
    return { id, type };
  });
}

/**
 * Builds the backends from `[DEFAULT] enabled_backends` (multi-store) or `[glance_store] stores`
 * (legacy), reading each backend's options from its section (or `[glance_store]`), with defaults.
 */
export function buildStoresConfig(input: {
  enabledBackends: readonly string[];
  enabledBackendsAt: string;
  legacyStores: readonly string[];
  legacyStoresAt: string;
  defaultStore: string;
  defaultBackend: string | null;
  entries: readonly StoreEntry[];
  dataDir: string;
  /** Directory relative paths are resolved against (the configuration file's). */
  baseDir: string;
  /** `[DEFAULT] node_staging_uri` (file://…): the staging store without multi-store. */
  nodeStagingUri?: string | null;
  warn: (message: string) => void;
}): StoresConfig {
  const multiStore = input.enabledBackends.length > 0;
  const declared: { id: string; type: StoreType; section: string; reserved: boolean }[] = [];
  if (multiStore) {
    for (const b of parseEnabledBackends(input.enabledBackends, input.enabledBackendsAt)) declared.push({ ...b, section: b.id, reserved: false });
    for (const id of RESERVED_STORES) declared.push({ id, type: 'file', section: id, reserved: true });
  } else {
    for (const s of input.legacyStores) {
      const type = TYPE_ALIASES[s];
      if (type) {
        if (!declared.some((d) => d.type === type)) declared.push({ id: type, type, section: 'glance_store', reserved: false });
        continue;
      }
      if (!UNIMPLEMENTED_TYPES.includes(s)) {
        throw new ConfigError(`${input.legacyStoresAt}: unknown store type '${s}' (Glance's are ${[...Object.keys(TYPE_ALIASES), ...UNIMPLEMENTED_TYPES].join(', ')}; Ocellus implements ${STORE_TYPES.join(', ')})`);
      }
      input.warn(`${input.legacyStoresAt}: store type '${s}' is not implemented by Ocellus; ignored`);
    }
    if (declared.length === 0) declared.push({ id: 'file', type: 'file', section: 'glance_store', reserved: false });
    // Import staging needs a store in single-store mode too: a file store at node_staging_uri.
    declared.push({ id: STAGING_STORE, type: 'file', section: STAGING_STORE, reserved: true });
  }

  const backends = declared.map((d): BackendConfig => {
    const options: Record<string, unknown> = {};
    for (const [name, spec] of Object.entries(STORE_OPTIONS[d.type])) options[name] = (spec as OptionSpec).default;
    let description: string | null = null;
    let weight = 0;
    for (const e of input.entries) {
      if (e.section !== d.section) continue;
      const common = storeOptionSpec('common', e.name);
      const spec = storeOptionSpec(d.type, e.name);
      if (common && d.section !== 'glance_store') {
        const v = convertOption(common, e.value, e.where);
        if (e.name === 'weight') weight = v as number;
        else description = v as string;
        continue;
      }
      if (!spec) {
        // [glance_store] holds every driver's options in legacy mode; a backend section only its own.
        if (d.section !== 'glance_store') input.warn(`${e.where}: not an option of the ${d.type} store, ignored`);
        continue;
      }
      const value = convertOption(spec, e.value, e.where);
      options[e.name] = spec.kind === 'multi' ? [...(options[e.name] as string[]), ...(value as string[])] : value;
    }
    if (!multiStore && d.id === STAGING_STORE) options.filesystem_store_datadir = stagingDir(input.nodeStagingUri ?? null, input.dataDir);
    finishDriverOptions(d, options, input);
    return { id: d.id, type: d.type, description, weight, reserved: d.reserved, options } as BackendConfig;
  });

  const defaultBackend = multiStore ? input.defaultBackend : (TYPE_ALIASES[input.defaultStore] ?? input.defaultStore);
  if (multiStore && !defaultBackend) throw new ConfigError('[DEFAULT] enabled_backends is set: [glance_store] default_backend must name one of its stores');
  const chosen = backends.find((b) => b.id === defaultBackend && !b.reserved);
  if (!chosen) {
    const what = multiStore ? '[glance_store] default_backend' : '[glance_store] default_store';
    throw new ConfigError(`${what} = ${defaultBackend}: not one of the enabled stores (${backends.filter((b) => !b.reserved).map((b) => b.id).join(', ')})`);
  }
  if (!multiStore && chosen.type === 'http') throw new ConfigError('[glance_store] default_store = http: the http store is read-only');
  return { multiStore, defaultBackend: chosen.id, backends };
}

function finishDriverOptions(d: { id: string; type: StoreType; section: string }, options: Record<string, unknown>, input: { dataDir: string; baseDir: string }): void {
  const resolve = (p: string) => path.resolve(input.baseDir, p);
  const where = `[${d.section}]`;
  switch (d.type) {
    case 'file': {
      const dirs = options.filesystem_store_datadirs as string[];
      if (dirs.length > 0 && options.filesystem_store_datadir) {
        throw new ConfigError(`${where} filesystem_store_datadir and filesystem_store_datadirs are both set: use one`);
      }
      options.filesystem_store_datadirs = dirs.map((entry) => {
        const m = /^(.*?)(?::(\d+))?$/.exec(entry.trim())!;
        return `${resolve(m[1]!)}:${m[2] ?? '0'}`;
      });
      const fallback = d.section === 'glance_store' ? 'images' : d.id;
      options.filesystem_store_datadir = resolve((options.filesystem_store_datadir as string | null) ?? path.join(input.dataDir, fallback));
      const perm = options.filesystem_store_file_perm as string;
      if (!/^[0-7]{1,4}$/.test(perm)) throw new ConfigError(`${where} filesystem_store_file_perm = ${perm}: not an octal mode (e.g. 640)`);
      if (options.filesystem_store_metadata_file) options.filesystem_store_metadata_file = resolve(options.filesystem_store_metadata_file as string);
      break;
    }
    case 'http':
      if (options.https_ca_certificates_file) options.https_ca_certificates_file = resolve(options.https_ca_certificates_file as string);
      break;
    case 'swift': {
      if (options.swift_store_config_file) options.swift_store_config_file = resolve(options.swift_store_config_file as string);
      else if (!options.swift_store_auth_address || !options.swift_store_user || options.swift_store_key === null) {
        throw new ConfigError(`${where} the swift store needs swift_store_config_file (with default_swift_reference), or swift_store_auth_address, swift_store_user and swift_store_key`);
      }
      if (options.swift_store_cacert) options.swift_store_cacert = resolve(options.swift_store_cacert as string);
      break;
    }
    case 's3': {
      const missing = ['s3_store_host', 's3_store_access_key', 's3_store_secret_key', 's3_store_bucket'].filter((o) => !options[o]);
      if (missing.length > 0) throw new ConfigError(`${where} the s3 store needs ${missing.join(', ')}`);
      if (options.s3_store_cacert) options.s3_store_cacert = resolve(options.s3_store_cacert as string);
      break;
    }
  }
}
