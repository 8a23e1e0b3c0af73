import fs from 'node:fs';
import path from 'node:path';
import { CONSOLE_SECTION } from './console-options.js';
import { checkImportPluginConfig, IMPORT_PLUGIN_SECTIONS } from './import-plugin-options.js';
import { parseIni, type IniEntry } from './ini.js';
import { KEY_MANAGER_SECTIONS } from './key-manager-options.js';
import { ConfigError, convertOption, type OptionSpec, type ValueOf } from './option-spec.js';
import { NOTIFICATION_DEFAULT_OPTIONS, NOTIFICATION_SECTIONS, notificationOptions } from './notification-options.js';
import { buildStoresConfig, isStoreEntry, RESERVED_STORES, type StoresConfig } from './store-options.js';
import { parseNetwork } from '../store/address-filter.js';
import type { DownloadLimits } from '../tasks/bounded-download.js';
import type { ImportFilterOptions } from '../tasks/import-uri-filter.js';

export { ConfigError } from './option-spec.js';
export { importPluginOptions } from './import-plugin-options.js';
export { notificationOptions } from './notification-options.js';

/**
 * Every configuration option Ocellus reads, with Glance's section and option names where Glance
 * has one, its type, default and meaning. This table is the one place options are declared;
 * the README's option table mirrors it.
 */
const DISK_FORMATS = ['ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop'];
const CONTAINER_FORMATS = ['ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', 'compressed'];

/** Glance's `caching` / `cachemanagement` flavors (download cache on) beside each authentication: `token+caching`, `noauth+cachemanagement`, … */
const CACHING_FLAVORS = ['', 'noauth', 'trusted-headers', 'token'].flatMap((auth) => ['caching', 'cachemanagement'].map((c) => (auth === '' ? c : `${auth}+${c}`)));

export const OPTIONS = {
  DEFAULT: {
    bind_host: { kind: 'string', default: '127.0.0.1', help: 'Address to listen on.' },
    bind_port: { kind: 'int', default: 9292, min: 0, max: 65535, help: 'Port to listen on.' },
    workers: { kind: 'int', default: 1, min: 1, max: 64, help: 'Number of API worker processes.' },
    public_endpoint: { kind: 'string', default: null, help: 'Base URL advertised in the versions document.' },
    image_size_cap: { kind: 'size', default: 1099511627776, min: 0, help: 'Largest image accepted, in bytes.' },
    user_storage_quota: { kind: 'size', default: 0, min: 0, help: 'Bytes of image data a project may store in all (0 = unlimited; units B, KB, MB, GB, TB).' },
    image_member_quota: { kind: 'int', default: 128, help: 'Members per image (negative = unlimited).' },
    image_property_quota: { kind: 'int', default: 128, help: 'Custom properties per image (negative = unlimited).' },
    image_tag_quota: { kind: 'int', default: 128, help: 'Tags per image (negative = unlimited).' },
    image_location_quota: { kind: 'int', default: 10, help: 'Locations per image (negative = unlimited).' },
    api_limit_max: { kind: 'int', default: 1000, min: 1, help: 'Largest page size of list calls.' },
    limit_param_default: { kind: 'int', default: 25, min: 1, help: 'Default page size of list calls.' },
    max_request_id_length: { kind: 'int', default: 64, min: 1, help: 'Longest X-Openstack-Request-ID accepted (431 beyond).' },
    hashing_algorithm: { kind: 'string', default: 'sha512', choices: ['sha1', 'sha224', 'sha256', 'sha384', 'sha512', 'sha3_256', 'sha3_512', 'blake2b512'], help: 'Algorithm of os_hash_value.' },
    max_json_body_size: { kind: 'size', default: 1048576, min: 1, help: 'Largest JSON request body, in bytes (413 beyond).' },
    upload_heartbeat_interval: { kind: 'int', default: 5, min: 1, help: 'Seconds between heartbeats of a lease (a running upload); a lease not renewed for 3 intervals has expired and its work is taken over by the cleanup sweep, which runs at this interval.' },
    property_protection_file: { kind: 'string', default: null, help: 'INI file of per-property create/read/update/delete rules (property protections); unset = off.' },
    property_protection_rule_format: { kind: 'string', default: 'roles', choices: ['roles', 'policies'], help: 'Whether property_protection_file names roles or policy rules.' },
    allow_anonymous_access: {
      kind: 'bool',
      default: false,
      help: 'A request that does not authenticate gets a read-only anonymous context (no user, no project, role reader; sees public and community images, changes nothing) instead of 401, as in Glance. Never an admin.',
    },
    enabled_backends: { kind: 'list', default: [], help: 'Multi-store: `id:type` pairs (e.g. `fast:file, objects:swift, web:http`); each id gets a section with its driver options, store_description and weight.' },
    show_image_direct_url: { kind: 'bool', default: false, help: "Show `direct_url` (the image's first location) in image responses." },
    show_multiple_locations: { kind: 'bool', default: false, help: 'Show `locations` in image responses and allow changing them with PATCH (deprecated in Glance; see OSSN-0065 before turning it on).' },
    do_secure_hash: {
      kind: 'bool',
      default: true,
      help: 'POST /v2/images/{id}/locations: compute checksum and os_hash_value by reading the data once (the image is `importing` meanwhile); false = trust the validation_data given, if any, and activate at once.',
    },
    http_retries: { kind: 'int', default: 3, min: 0, help: 'Times the hashing of a location added with POST /v2/images/{id}/locations is retried after a read failure.' },
    enabled_import_methods: {
      kind: 'list',
      default: ['glance-direct', 'web-download', 'copy-image'],
      choices: ['glance-direct', 'web-download', 'copy-image', 'glance-download'],
      help: 'Interoperable import methods offered (GET /v2/info/import); empty = no import (PUT /stage and POST /import are 404).',
    },
    node_staging_uri: { kind: 'string', default: null, help: 'Without multi-store: the `file://` directory where PUT /stage and imports keep data before it reaches a store; default file://<data dir>/staging. With multi-store: the os_glance_staging_store section says where.' },
    worker_self_reference_url: {
      kind: 'string',
      default: null,
      help: "This node's own URL as other nodes reach it (e.g. http://10.0.0.5:9292). With several nodes and a staging directory that is not shared, an import whose data was staged on another node is forwarded to that node.",
    },
    use_keystone_limits: {
      kind: 'bool',
      default: false,
      help: "Per-project limits from Keystone's unified limits (image_count_total, image_count_uploading, image_size_total, image_stage_total; see [oslo_limit]) instead of user_storage_quota.",
    },
    delayed_delete: {
      kind: 'bool',
      default: false,
      help: 'DELETE of an image with data makes it `pending_delete` (404 to the API) and keeps its bytes; `ocellus scrub` removes them after scrub_time, `ocellus scrub --restore ID` brings the image back.',
    },
    scrub_time: { kind: 'int', default: 0, min: 0, help: 'Seconds an image stays in `pending_delete` before the scrubber removes its data.' },
    scrub_pool_size: { kind: 'int', default: 1, min: 1, help: 'Images the scrubber removes the data of at once.' },
    wakeup_time: { kind: 'int', default: 300, min: 0, help: 'Seconds between two passes of `ocellus scrub --daemon`.' },
    daemon: { kind: 'bool', default: false, help: '`ocellus scrub` runs a pass every wakeup_time seconds instead of once (as --daemon).' },
    // `ocellus manage db load_metadefs / export_metadefs` (src/db/metadef-catalogue-io.ts).
    metadata_source_path: { kind: 'string', default: '/etc/glance/metadefs/', help: 'Directory of the metadefs definition files (Glance\'s JSON format) that `ocellus manage db load_metadefs` loads and `export_metadefs` writes, unless --path says otherwise.' },
    log_level: { kind: 'string', default: 'info', choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], help: 'Log level.' },
    // The node-local image cache (src/cache, src/domain/image-caching.ts; README "Image cache").
    image_cache_dir: { kind: 'string', default: null, help: "Directory of this node's image cache; set = the cache API (/v2/cache, v2.14/v2.16/v2.18) and its prefetcher are on. A caching flavor ([paste_deploy] flavor = keystone+caching, …) also serves and fills downloads from it (default with such a flavor: <data dir>/image-cache)." },
    image_cache_max_size: { kind: 'size', default: 10737418240, min: 0, help: 'Bytes the cache may hold (a soft limit): beyond it, the least recently used entries are pruned after each fill and by `ocellus cache prune`.' },
    image_cache_stall_time: { kind: 'int', default: 86400, min: 0, help: 'Seconds after which an incomplete cache entry counts as stalled: `ocellus cache clean` (and POST /v2/cache/clean) removes it, with the invalid entries.' },
    image_cache_driver: { kind: 'string', default: 'sqlite', choices: ['sqlite', 'centralized_db', 'xattr'], help: "How the cache keeps its index: sqlite (an SQLite file in the cache dir) only; Glance's centralized_db and xattr are read as sqlite, with a warning." },
    image_cache_sqlite_db: { kind: 'string', default: 'cache.db', help: 'File name, in image_cache_dir, of the SQLite index of cached images.' },
    cache_prefetcher_interval: { kind: 'int', default: 300, min: 1, help: 'Seconds between two runs of the in-server prefetcher, which caches the images queued with PUT /v2/cache/{image_id}.' },
    // transport_url, control_exchange, disabled_notifications, default_publisher_id: notification-options.ts.
    ...NOTIFICATION_DEFAULT_OPTIONS,
  },
  database: {
    connection: { kind: 'string', default: null, help: 'Database URL; default sqlite:///<data dir>/ocellus.db.' },
    max_pool_size: { kind: 'int', default: 5, min: 1, max: 1000, help: 'Database connections per process (PostgreSQL, MariaDB).' },
    pool_timeout: { kind: 'int', default: 30, min: 1, help: 'Seconds to wait for a database connection.' },
    auto_sync: { kind: 'string', default: '', choices: ['', 'true', 'false'], help: 'Apply pending migrations at start-up: empty = only for SQLite; with false (or a server database) the server refuses to start on an old schema.' },
  },
  glance_store: {
    stores: { kind: 'list', default: ['file', 'http'], help: "Enabled store types without multi-store: file (also filesystem), http (also https), swift, s3; Glance's rbd, cinder, vmware and sheepdog are warned about and ignored. Each driver's options go in this section (see the store options below)." },
    default_store: { kind: 'string', default: 'file', choices: ['file', 'filesystem', 'swift', 's3'], help: 'Store new image data goes to, without multi-store.' },
    default_backend: { kind: 'string', default: null, help: 'With [DEFAULT] enabled_backends: the store id new image data goes to (required).' },
  },
  image_format: {
    disk_formats: { kind: 'list', default: DISK_FORMATS, help: 'Allowed disk_format values.' },
    container_formats: { kind: 'list', default: CONTAINER_FORMATS, help: 'Allowed container_format values.' },
    // Disk-format inspection of uploads (src/formats, src/domain/format-check.ts).
    require_image_format_match: { kind: 'bool', default: true, help: 'Refuse (415) image data whose detected format is not the declared disk_format (bare containers only).' },
    vmdk_allowed_types: { kind: 'list', default: ['streamOptimized', 'monolithicSparse'], help: 'VMDK createTypes accepted in image data (empty = no VMDK).' },
    gpt_safety_checks_nonfatal: { kind: 'list', default: [], help: 'GPT/MBR safety checks (mbr) that only warn instead of refusing the image.' },
    inspect_uploads: { kind: 'bool', default: true, help: 'Not in Glance: false turns the inspection of uploaded data off entirely (no format check, no safety checks, no virtual_size); for measurements only.' },
  },
  task: {
    task_time_to_live: { kind: 'int', default: 48, min: 1, help: 'Hours an ended task (success or failure) stays listed; then it expires.' },
    work_dir: { kind: 'string', default: null, help: 'Local directory where import plugins (conversion, decompression) work on a copy of the data; default <data dir>/work.' },
  },
  wsgi: {
    task_pool_threads: { kind: 'int', default: 16, min: 1, help: 'Imports one process runs at once; more wait (pending) until one ends.' },
  },
  metrics: {
    enabled: { kind: 'bool', default: true, help: 'Ocellus: Prometheus metrics at GET /metrics, without authentication (false: no metrics, /metrics is 404).' },
    bind_host: { kind: 'string', default: null, help: 'Ocellus: address of a listener of its own for /metrics (with bind_port); unset = [DEFAULT] bind_host.' },
    bind_port: { kind: 'int', default: null, min: 0, max: 65535, help: 'Ocellus: port of a listener of its own for /metrics; unset = /metrics is served on the API port.' },
  },
  paste_deploy: {
    flavor: {
      kind: 'string',
      default: '',
      choices: ['', 'noauth', 'trusted-headers', 'keystone', 'keystone+caching', 'keystone+cachemanagement', 'keystone+cache', 'token', ...CACHING_FLAVORS],
      help: "Authentication: empty = the admin token in <data dir>/admin-token (plus [token_auth] token_file's tokens when set); keystone (also Glance's keystone+caching, keystone+cachemanagement: X-Auth-Token validated by Keystone, see [keystone_authtoken]); token (static tokens file, see [token_auth]); noauth or trusted-headers (identity headers set by a trusted front end, development only). A +caching or +cachemanagement suffix (alone: caching, cachemanagement = the default authentication) also serves and fills downloads through the image cache (see image_cache_dir).",
    },
    allow_noauth_on_network: { kind: 'bool', default: false, help: 'Serve trusted-header (noauth) requests on an address other than loopback; anyone who reaches the port can claim any identity.' },
    allow_anonymous_access: { kind: 'bool', default: false, help: 'Same as [DEFAULT] allow_anonymous_access (either one turns it on).' },
    config_file: { kind: 'string', default: null, help: 'Accepted for compatibility with glance-api.conf; ignored.' },
  },
  keystone_authtoken: {
    www_authenticate_uri: { kind: 'string', default: null, help: 'Identity endpoint named in WWW-Authenticate on 401; default auth_url.' },
    auth_uri: { kind: 'string', default: null, help: 'Deprecated name of www_authenticate_uri.' },
    auth_url: { kind: 'string', default: null, help: 'Keystone endpoint the service authenticates against and validates tokens with (e.g. http://keystone:5000/v3).' },
    auth_type: { kind: 'string', default: 'password', choices: ['password', 'v3password'], help: 'How the service authenticates to Keystone.' },
    username: { kind: 'string', default: null, help: "The service user (e.g. glance); needs Keystone's service role to validate tokens." },
    password: { kind: 'string', default: null, help: "The service user's password." },
    user_domain_name: { kind: 'string', default: 'Default', help: "The service user's domain." },
    project_name: { kind: 'string', default: null, help: "The service user's project (e.g. service)." },
    project_domain_name: { kind: 'string', default: 'Default', help: "The service project's domain." },
    token_cache_time: { kind: 'int', default: 300, min: 0, help: "Seconds a validated token is trusted without asking Keystone again (never beyond the token's expiry)." },
    include_service_catalog: { kind: 'bool', default: true, help: 'Ask Keystone for the catalog with each validation (false adds ?nocatalog).' },
    service_token_roles: { kind: 'list', default: ['service'], help: 'Roles a service token (X-Service-Token) needs to let an expired user token through.' },
    http_connect_timeout: { kind: 'int', default: 10, min: 1, help: 'Seconds to wait for Keystone.' },
    memcached_servers: { kind: 'list', default: [], help: 'Accepted for compatibility; Ocellus caches tokens in each process.' },
    region_name: { kind: 'string', default: null, help: 'Accepted for compatibility; unused.' },
    interface: { kind: 'string', default: null, help: 'Accepted for compatibility; unused.' },
  },
  // use_keystone_limits: where the limits are and who reads them (oslo.limit's names).
  oslo_limit: {
    auth_url: { kind: 'string', default: null, help: 'Keystone endpoint the limits are read from (e.g. http://keystone:5000/v3).' },
    auth_type: { kind: 'string', default: 'password', choices: ['password', 'v3password'], help: 'How the limits reader authenticates to Keystone.' },
    username: { kind: 'string', default: null, help: "The user that reads the limits; needs the reader role on the system (as Glance's docs say)." },
    password: { kind: 'string', default: null, help: "That user's password." },
    user_domain_id: { kind: 'string', default: null, help: "The user's domain by id (else user_domain_name)." },
    user_domain_name: { kind: 'string', default: 'Default', help: "The user's domain by name." },
    system_scope: { kind: 'string', default: null, help: 'Scope of the token: `all` for a system-scoped one (else project_id/project_name).' },
    project_id: { kind: 'string', default: null, help: 'Project scope of the token, by id.' },
    project_name: { kind: 'string', default: null, help: 'Project scope of the token, by name (in project_domain_id/name).' },
    project_domain_id: { kind: 'string', default: null, help: "The project's domain by id (else project_domain_name)." },
    project_domain_name: { kind: 'string', default: 'Default', help: "The project's domain by name." },
    endpoint_id: { kind: 'string', default: null, help: "This image service's endpoint id in Keystone: its service and region are those whose limits apply." },
    endpoint_service_type: { kind: 'string', default: null, help: 'Without endpoint_id: the service type to find the endpoint by (e.g. image).' },
    endpoint_service_name: { kind: 'string', default: null, help: 'Without endpoint_id: the service name to find the endpoint by (e.g. glance).' },
    endpoint_region_name: { kind: 'string', default: null, help: 'Without endpoint_id: the region of the endpoint.' },
    endpoint_interface: { kind: 'string', default: 'public', choices: ['public', 'publicURL', 'internal', 'internalURL', 'admin', 'adminURL'], help: 'Without endpoint_id: the interface of the endpoint.' },
    timeout: { kind: 'int', default: 10, min: 1, help: 'Seconds to wait for Keystone; beyond, the check fails (503), it never passes.' },
    cache_time: { kind: 'int', default: 5, min: 0, help: "Ocellus: seconds limits read from Keystone are used before they are read again (registered limits once, a project's per project); 0 = read on every check." },
  },
  token_auth: {
    token_file: { kind: 'string', default: null, help: 'With flavor = token, or empty (beside the admin token): YAML file of token → user_id, project_id, roles (see the README).' },
  },
  oslo_policy: {
    policy_file: { kind: 'string', default: null, help: "Policy rules (YAML or JSON) overriding Glance's defaults by name; re-read when it changes. Relative paths are relative to the configuration file." },
    enforce_scope: { kind: 'bool', default: true, help: 'Refuse system- and domain-scoped tokens on project-scoped rules (all of Glance\'s), as oslo.policy does.' },
  },
  // Import sources (web-download, glance-download): see importFilterOptions and the README's "Import sources".
  import_filtering_opts: {
    allowed_schemes: { kind: 'list', default: ['http', 'https'], help: 'URI schemes web-download may fetch (when set, disallowed_schemes is ignored). Ocellus fetches http and https only.' },
    disallowed_schemes: { kind: 'list', default: [], help: 'URI schemes web-download refuses (only when allowed_schemes is empty).' },
    allowed_hosts: { kind: 'list', default: [], help: 'Hosts (names or IP addresses) web-download may fetch from; empty = any (when set, disallowed_hosts is ignored).' },
    disallowed_hosts: { kind: 'list', default: [], help: 'Hosts web-download refuses (only when allowed_hosts is empty).' },
    allowed_ports: { kind: 'list', default: ['80', '443'], help: 'Ports a web-download URI may name explicitly (a URI without a port passes); when set, disallowed_ports is ignored.' },
    disallowed_ports: { kind: 'list', default: [], help: 'Ports a web-download URI may not name (only when allowed_ports is empty).' },
    allowed_networks: {
      kind: 'list',
      default: [],
      help: 'Ocellus: networks (CIDRs or addresses) web-download may fetch from although they are loopback, link-local, private or reserved; empty = none (such addresses are refused, by IP or by a name resolving to one, redirects included).',
    },
    web_download_idle_timeout: { kind: 'int', default: 60, min: 1, help: 'Ocellus: seconds without a byte from the server (or without an answer) after which a web-download or glance-download fails.' },
    web_download_max_redirects: { kind: 'int', default: 10, min: 0, max: 100, help: 'Ocellus: redirects a web-download or glance-download follows (each one checked like the URI).' },
  },
  glance_download_properties: {
    extra_properties: {
      kind: 'list',
      default: ['hw_', 'trait:', 'os_distro', 'os_secure_boot', 'os_type'],
      help: 'Prefixes of the properties glance-download copies from the remote image (besides disk_format and container_format); os_glance* is never copied.',
    },
  },
  // [image_import_opts], [image_conversion], [inject_metadata_properties]: the import plugins.
  ...IMPORT_PLUGIN_SECTIONS,
  // [oslo_messaging_notifications], [oslo_messaging_rabbit]: notifications.
  ...NOTIFICATION_SECTIONS,
  // [key_manager], [barbican], [image_signature]: signed images.
  ...KEY_MANAGER_SECTIONS,
  // [console]: the web console.
  ...CONSOLE_SECTION,
} as const satisfies Record<string, Record<string, OptionSpec>>;

type Options = typeof OPTIONS;
export type Config = { [S in keyof Options]: { [O in keyof Options[S]]: Options[S][O] extends OptionSpec ? ValueOf<Options[S][O]> : never } } & {
  /** Where the embedded database and store live unless configured otherwise. */
  dataDir: string;
  /** The store backends (legacy `stores` or multi-store `enabled_backends`), with their driver options. */
  stores: StoresConfig;
};

export interface LoadOptions {
  configFile?: string;
  dataDir?: string;
  /** Command-line overrides, by section and option name; they win over the file. */
  overrides?: { section: keyof Options | (string & {}); name: string; value: string }[];
  warn?: (message: string) => void;
}

/** Builds the typed configuration: defaults, then the INI file, then command-line flags. Throws ConfigError on bad values. */
export function loadConfig(opts: LoadOptions = {}): Config {
  const warn = opts.warn ?? ((m: string) => process.stderr.write(`warning: ${m}\n`));
  const entries: (IniEntry & { where: string })[] = [];
  if (opts.configFile) {
    let text: string;
    try {
      text = fs.readFileSync(opts.configFile, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${opts.configFile}: ${(err as Error).message}`);
    }
    try {
      for (const e of parseIni(text, opts.configFile)) entries.push({ ...e, where: `${opts.configFile}:${e.line} [${e.section}] ${e.name}` });
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
  }
  for (const o of opts.overrides ?? []) entries.push({ section: o.section, name: o.name, value: o.value, line: 0, where: `command line [${o.section}] ${o.name}` });

  const config: Record<string, Record<string, unknown>> = {};
  for (const [section, specs] of Object.entries(OPTIONS)) {
    config[section] = {};
    for (const [name, spec] of Object.entries(specs)) config[section]![name] = (spec as OptionSpec).default;
  }
  /** Where each option got its value (file:line or command line), for warnings about it. */
  const setAt = new Map<string, string>();
  const backendSections = new Set([
    ...RESERVED_STORES,
    ...entries.filter((e) => e.section === 'DEFAULT' && e.name === 'enabled_backends').flatMap((e) => e.value.split(',').map((p) => p.split(':')[0]!.trim())),
  ]);
  const storeEntries = [];
  for (const e of entries) {
    const spec = (OPTIONS as Record<string, Record<string, OptionSpec>>)[e.section]?.[e.name];
    if (!spec && isStoreEntry(e.section, e.name, backendSections)) {
      storeEntries.push(e);
      continue;
    }
    if (!spec) {
      warn(`${e.where}: unknown option, ignored`);
      continue;
    }
    config[e.section]![e.name] = convertOption(spec, e.value, e.where);
    setAt.set(`${e.section}.${e.name}`, e.where);
  }

  const dataDir = path.resolve(opts.dataDir ?? 'data');
  const result = { ...config, dataDir } as Config;
  if (result.DEFAULT.limit_param_default > result.DEFAULT.api_limit_max) {
    throw new ConfigError(`[DEFAULT] limit_param_default (${result.DEFAULT.limit_param_default}) is above api_limit_max (${result.DEFAULT.api_limit_max})`);
  }
  const flavor = authFlavor(result);
  if (result.paste_deploy.flavor === 'keystone+cache') {
    warn(`${setAt.get('paste_deploy.flavor') ?? '[paste_deploy] flavor'}: 'keystone+cache' is not one of Glance's flavors; write 'keystone+caching' (read as keystone)`);
  }
  if (flavor === 'noauth' && !isLoopback(result.DEFAULT.bind_host) && !result.paste_deploy.allow_noauth_on_network) {
    throw new ConfigError(
      `[DEFAULT] bind_host = ${result.DEFAULT.bind_host}: refusing to serve trusted-header (noauth) authentication beyond loopback, where anyone could claim any identity; bind to 127.0.0.1, or set [paste_deploy] allow_noauth_on_network = true behind a front end that sets the identity headers`,
    );
  }
  if (flavor === 'keystone') {
    const k = result.keystone_authtoken;
    const missing = (['auth_url', 'username', 'password', 'project_name'] as const).filter((o) => !k[o]);
    if (missing.length > 0) throw new ConfigError(`[paste_deploy] flavor = keystone needs [keystone_authtoken] ${missing.join(', ')}`);
  }
  if (result.DEFAULT.use_keystone_limits) {
    const l = result.oslo_limit;
    const missing: string[] = (['auth_url', 'username', 'password'] as const).filter((o) => !l[o]);
    if (!l.endpoint_id && !l.endpoint_service_type && !l.endpoint_service_name) missing.push('endpoint_id (or endpoint_service_type / endpoint_service_name)');
    if (missing.length > 0) throw new ConfigError(`[DEFAULT] use_keystone_limits = true needs [oslo_limit] ${missing.join(', ')}`);
  }
  if (flavor === 'token' && !result.token_auth.token_file) throw new ConfigError('[paste_deploy] flavor = token needs [token_auth] token_file');
  if (result.DEFAULT.image_cache_driver !== 'sqlite') {
    warn(`${setAt.get('DEFAULT.image_cache_driver') ?? '[DEFAULT] image_cache_driver'}: image_cache_driver = ${result.DEFAULT.image_cache_driver} is not supported; the cache keeps its index in SQLite (read as sqlite)`);
  }
  // Files named in the configuration are relative to it, as oslo.config finds them.
  const base = opts.configFile ? path.dirname(path.resolve(opts.configFile)) : process.cwd();
  for (const [section, name] of [['oslo_policy', 'policy_file'], ['token_auth', 'token_file'], ['DEFAULT', 'property_protection_file']] as const) {
    const record = result[section] as Record<string, unknown>;
    if (typeof record[name] === 'string' && record[name] !== '') record[name] = path.resolve(base, record[name] as string);
  }
  result.stores = buildStoresConfig({
    enabledBackends: result.DEFAULT.enabled_backends,
    enabledBackendsAt: setAt.get('DEFAULT.enabled_backends') ?? '[DEFAULT] enabled_backends',
    legacyStores: result.glance_store.stores,
    legacyStoresAt: setAt.get('glance_store.stores') ?? '[glance_store] stores',
    defaultStore: result.glance_store.default_store,
    defaultBackend: result.glance_store.default_backend,
    entries: storeEntries,
    dataDir,
    baseDir: base,
    nodeStagingUri: result.DEFAULT.node_staging_uri,
    warn,
  });
  for (const [name, list] of [['disk_formats', result.image_format.disk_formats], ['container_formats', result.image_format.container_formats]] as const) {
    if (list.length === 0) throw new ConfigError(`[image_format] ${name} must not be empty`);
  }
  importFilterOptions(result, setAt); // refuses malformed ports and networks at start
  checkImportPluginConfig(result);
  notificationOptions(result); // refuses a transport URL that cannot be used
  return result;
}

// ---- Import sources ([import_filtering_opts], [glance_download_properties]) -------------------

/** oslo.config's String(quotes=True): a list item may be written 'hw_' or "hw_". */
const unquote = (s: string) => s.replace(/^(['"])(.*)\1$/, '$2');

/**
 * What ImportUriFilter takes from `[import_filtering_opts]`; ConfigError on a port that is not
 * 1-65535 or a network that does not parse.
 */
export function importFilterOptions(config: Config, setAt?: ReadonlyMap<string, string>): ImportFilterOptions {
  const o = config.import_filtering_opts;
  const where = (name: string) => setAt?.get(`import_filtering_opts.${name}`) ?? `[import_filtering_opts] ${name}`;
  const ports = (name: 'allowed_ports' | 'disallowed_ports') =>
    o[name].map(unquote).map((p) => {
      if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) throw new ConfigError(`${where(name)}: '${p}' is not a port (1-65535)`);
      return Number(p);
    });
  for (const n of o.allowed_networks) {
    try {
      parseNetwork(n);
    } catch (err) {
      throw new ConfigError(`${where('allowed_networks')}: ${(err as Error).message}`);
    }
  }
  return {
    allowedSchemes: o.allowed_schemes.map(unquote),
    disallowedSchemes: o.disallowed_schemes.map(unquote),
    allowedHosts: o.allowed_hosts.map(unquote),
    disallowedHosts: o.disallowed_hosts.map(unquote),
    allowedPorts: ports('allowed_ports'),
    disallowedPorts: ports('disallowed_ports'),
    allowedNetworks: o.allowed_networks,
  };
}

/** Bounds of a web-download or glance-download: no more than image_size_cap bytes, no longer idle than web_download_idle_timeout. */
export function webDownloadLimits(config: Config): DownloadLimits {
  return {
    idleTimeoutMs: config.import_filtering_opts.web_download_idle_timeout * 1000,
    maxBytes: config.DEFAULT.image_size_cap,
    maxRedirects: config.import_filtering_opts.web_download_max_redirects,
  };
}

/** `[glance_download_properties] extra_properties`: the property prefixes glance-download copies. */
export function glanceDownloadProperties(config: Config): string[] {
  return config.glance_download_properties.extra_properties.map(unquote);
}

/**
 * The authentication strategy `[paste_deploy] flavor` selects: `default` (empty) = the admin
 * token from the data dir, `noauth` = trusted identity headers, `keystone`, `token`.
 */
export type AuthFlavor = 'default' | 'noauth' | 'keystone' | 'token';

export function authFlavor(config: Config): AuthFlavor {
  const f = config.paste_deploy.flavor.replace(/\+?(caching|cachemanagement)$/, '');
  if (f.startsWith('keystone')) return 'keystone';
  if (f === 'token') return 'token';
  return f === '' ? 'default' : 'noauth';
}

/**
 * The image cache's directory (null = no cache): `image_cache_dir`, or `<data dir>/image-cache`
 * when the flavor asks for caching without naming one; `serveDownloads` when the flavor is a
 * caching one (Glance's cache middleware), else only the cache API and its prefetcher run.
 */
export function imageCacheSetup(config: Config): { dir: string; serveDownloads: boolean } | null {
  const serveDownloads = /(^|\+)(caching|cachemanagement)$/.test(config.paste_deploy.flavor);
  const dir = config.DEFAULT.image_cache_dir ?? (serveDownloads ? path.join(config.dataDir, 'image-cache') : null);
  return dir === null ? null : { dir: path.resolve(dir), serveDownloads };
}

/** `allow_anonymous_access`, in Glance's section ([DEFAULT]) or beside the flavor ([paste_deploy]). */
export function anonymousAccess(config: Config): boolean {
  return config.DEFAULT.allow_anonymous_access || config.paste_deploy.allow_anonymous_access;
}

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine reaches. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1';
}

export function databaseUrl(config: Config): string {
  return config.database.connection ?? `sqlite:///${path.join(config.dataDir, 'ocellus.db')}`;
}
