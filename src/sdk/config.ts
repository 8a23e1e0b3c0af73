/**
 * Where the SDK finds its cloud, the usual OpenStack ways: a `clouds.yaml` entry (named by the
 * `cloud` option or OS_CLOUD; searched in ./, ~/.config/openstack/, /etc/openstack/, or
 * OS_CLIENT_CONFIG_FILE; `secure.yaml` beside it merged in), else the OS_* environment variables.
 * The names are openstacksdk's and keystoneauth's: `auth_type` (OS_AUTH_TYPE), the
 * `application_credential_*` auth keys, and the TLS keys `cacert`, `verify`, `cert`, `key`
 * (OS_CACERT, OS_INSECURE, OS_CERT, OS_KEY).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { ConfigurationError } from './errors.js';

/** The settings the client needs: an endpoint and a token, or what Keystone needs to give them. */
export interface CloudConfig {
  /** Keystone's URL (with or without /v3). */
  authUrl?: string;
  username?: string;
  userId?: string;
  password?: string;
  projectName?: string;
  projectId?: string;
  userDomainName?: string;
  userDomainId?: string;
  projectDomainName?: string;
  projectDomainId?: string;
  /**
   * keystoneauth's plugin name (`auth_type`, OS_AUTH_TYPE): `v3applicationcredential` selects the
   * application credential; otherwise a password if one is given, else the token.
   */
  authType?: string;
  /** An application credential: by id, or by name with its user (username or user id, and the user's domain). */
  applicationCredentialId?: string;
  applicationCredentialName?: string;
  applicationCredentialSecret?: string;
  /** A token: used as is with `endpoint`, or exchanged at Keystone for a catalog. */
  token?: string;
  /** The image endpoint (skips the catalog lookup). */
  endpoint?: string;
  regionName?: string;
  /** Catalog interface: public (default), internal or admin. */
  interface?: string;
  /** A PEM file of the CAs to trust for https (instead of the system's): `cacert`, OS_CACERT. */
  cacert?: string;
  /** Do not verify the servers' certificates (`verify: false`, `insecure: true`, OS_INSECURE=true). */
  insecure?: boolean;
  /** A client certificate (PEM file) to present, and its private key (`key`; else taken from the cert file). */
  cert?: string;
  key?: string;
}

export interface LoadCloudOptions {
  /** A clouds.yaml entry; default OS_CLOUD. */
  cloud?: string;
  /** The environment to read; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** clouds.yaml files to search, first found wins; default the usual paths. */
  files?: string[];
  /** Settings that win over clouds.yaml and the environment (command-line options such as --os-cacert). */
  overrides?: CloudConfig;
}

/** The clouds.yaml search path of os-client-config. */
export function cloudsYamlPaths(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.OS_CLIENT_CONFIG_FILE) return [env.OS_CLIENT_CONFIG_FILE];
  return [path.join(process.cwd(), 'clouds.yaml'), path.join(os.homedir(), '.config', 'openstack', 'clouds.yaml'), '/etc/openstack/clouds.yaml'];
}

type Yaml = Record<string, unknown>;

function readYaml(file: string): Yaml | null {
  if (!fs.existsSync(file)) return null;
  const doc = parse(fs.readFileSync(file, 'utf8')) as unknown;
  if (doc === null || typeof doc !== 'object') throw new ConfigurationError(`${file} is not a YAML mapping`);
  return doc as Yaml;
}

function merge(a: Yaml, b: Yaml): Yaml {
  const out: Yaml = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = prev && typeof prev === 'object' && v && typeof v === 'object' && !Array.isArray(v) ? merge(prev as Yaml, v as Yaml) : v;
  }
  return out;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined);

/** A yes/no setting, from YAML (a boolean) or a variable ("true", "1", "yes", "on" — any case). */
function bool(v: unknown, name: string): boolean | undefined {
  if (typeof v === 'boolean') return v;
  const s = str(v)?.trim().toLowerCase();
  if (s === undefined) return undefined;
  if (['true', '1', 'yes', 'on'].includes(s)) return true;
  if (['false', '0', 'no', 'off'].includes(s)) return false;
  throw new ConfigurationError(`${name}: expected true or false, not '${String(v)}'`);
}

/** `verify` of clouds.yaml as openstacksdk reads it: false turns checks off; a string is a CA file; `insecure` is its old inverse. */
function tlsFromYaml(entry: Yaml): Pick<CloudConfig, 'cacert' | 'insecure' | 'cert' | 'key'> {
  const verify = entry.verify;
  const verifyFile = typeof verify === 'string' && !/^(true|false|yes|no|on|off|0|1)$/i.test(verify) ? verify : undefined;
  const verifies = verifyFile === undefined ? bool(verify, 'verify') : true;
  const insecure = verifies === undefined ? bool(entry.insecure, 'insecure') : !verifies;
  return { cacert: str(entry.cacert) ?? verifyFile, insecure, cert: str(entry.cert), key: str(entry.key) };
}

/** One clouds.yaml entry as a CloudConfig. */
export function cloudFromYaml(entry: Yaml): CloudConfig {
  const auth = (entry.auth ?? {}) as Yaml;
  return prune({
    authUrl: str(auth.auth_url),
    username: str(auth.username),
    userId: str(auth.user_id),
    password: str(auth.password),
    projectName: str(auth.project_name) ?? str(auth.tenant_name),
    projectId: str(auth.project_id) ?? str(auth.tenant_id),
    userDomainName: str(auth.user_domain_name) ?? str(auth.domain_name),
    userDomainId: str(auth.user_domain_id) ?? str(auth.domain_id),
    projectDomainName: str(auth.project_domain_name) ?? str(auth.domain_name),
    projectDomainId: str(auth.project_domain_id) ?? str(auth.domain_id),
    authType: str(entry.auth_type),
    applicationCredentialId: str(auth.application_credential_id),
    applicationCredentialName: str(auth.application_credential_name),
    applicationCredentialSecret: str(auth.application_credential_secret),
    token: str(auth.token),
    endpoint: str(entry.image_endpoint_override) ?? str(auth.endpoint),
    regionName: str(entry.region_name),
    interface: str(entry.interface) ?? str(entry.endpoint_type),
    ...tlsFromYaml(entry),
  });
}

/** The OS_* variables as a CloudConfig (OS_IMAGE_URL as glanceclient reads it; OS_ENDPOINT too). */
export function cloudFromEnvironment(env: NodeJS.ProcessEnv = process.env): CloudConfig {
  return prune({
    authUrl: str(env.OS_AUTH_URL),
    username: str(env.OS_USERNAME),
    userId: str(env.OS_USER_ID),
    password: str(env.OS_PASSWORD),
    projectName: str(env.OS_PROJECT_NAME) ?? str(env.OS_TENANT_NAME),
    projectId: str(env.OS_PROJECT_ID) ?? str(env.OS_TENANT_ID),
    userDomainName: str(env.OS_USER_DOMAIN_NAME),
    userDomainId: str(env.OS_USER_DOMAIN_ID),
    projectDomainName: str(env.OS_PROJECT_DOMAIN_NAME),
    projectDomainId: str(env.OS_PROJECT_DOMAIN_ID),
    authType: str(env.OS_AUTH_TYPE),
    applicationCredentialId: str(env.OS_APPLICATION_CREDENTIAL_ID),
    applicationCredentialName: str(env.OS_APPLICATION_CREDENTIAL_NAME),
    applicationCredentialSecret: str(env.OS_APPLICATION_CREDENTIAL_SECRET),
    token: str(env.OS_TOKEN) ?? str(env.OS_AUTH_TOKEN),
    endpoint: str(env.OS_IMAGE_URL) ?? str(env.OS_ENDPOINT),
    regionName: str(env.OS_REGION_NAME),
    interface: str(env.OS_INTERFACE) ?? str(env.OS_ENDPOINT_TYPE),
    cacert: str(env.OS_CACERT),
    insecure: bool(env.OS_INSECURE, 'OS_INSECURE'),
    cert: str(env.OS_CERT),
    key: str(env.OS_KEY),
  });
}

function prune(c: CloudConfig): CloudConfig {
  return Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)) as CloudConfig;
}

/**
 * The cloud to use: the clouds.yaml entry named by `cloud` (or OS_CLOUD), with OS_* variables
 * filling what it leaves out — or, with no cloud named, the OS_* variables alone.
 */
export function loadCloudConfig(opts: LoadCloudOptions = {}): CloudConfig {
  const env = opts.env ?? process.env;
  const fromEnv = cloudFromEnvironment(env);
  const name = opts.cloud ?? str(env.OS_CLOUD);
  const overrides = prune(opts.overrides ?? {});
  if (!name) return { ...fromEnv, ...overrides };
  const files = opts.files ?? cloudsYamlPaths(env);
  for (const file of files) {
    const clouds = readYaml(file);
    if (!clouds) continue;
    const secure = readYaml(path.join(path.dirname(file), 'secure.yaml'));
    const entry = ((clouds.clouds ?? {}) as Yaml)[name];
    const secret = ((secure?.clouds ?? {}) as Yaml)[name];
    if (!entry) throw new ConfigurationError(`cloud ${name} is not in ${file}`);
    return { ...fromEnv, ...cloudFromYaml(merge(entry as Yaml, (secret ?? {}) as Yaml)), ...overrides };
  }
  throw new ConfigurationError(`cloud ${name} asked for, but no clouds.yaml found (looked in ${files.join(', ')})`);
}
