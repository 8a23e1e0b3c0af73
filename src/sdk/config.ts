/**
 * Where the SDK finds its cloud, the usual OpenStack ways: a `clouds.yaml` entry (named by the
 * `cloud` option or OS_CLOUD; searched in ./, ~/.config/openstack/, /etc/openstack/, or
 * OS_CLIENT_CONFIG_FILE; `secure.yaml` beside it merged in), else the OS_* environment variables.
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
  /** A token: used as is with `endpoint`, or exchanged at Keystone for a catalog. */
  token?: string;
  /** The image endpoint (skips the catalog lookup). */
  endpoint?: string;
  regionName?: string;
  /** Catalog interface: public (default), internal or admin. */
  interface?: string;
}

export interface LoadCloudOptions {
  /** A clouds.yaml entry; default OS_CLOUD. */
  cloud?: string;
  /** The environment to read; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** clouds.yaml files to search, first found wins; default the usual paths. */
  files?: string[];
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
    token: str(auth.token),
    endpoint: str(entry.image_endpoint_override) ?? str(auth.endpoint),
    regionName: str(entry.region_name),
    interface: str(entry.interface) ?? str(entry.endpoint_type),
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
    token: str(env.OS_TOKEN) ?? str(env.OS_AUTH_TOKEN),
    endpoint: str(env.OS_IMAGE_URL) ?? str(env.OS_ENDPOINT),
    regionName: str(env.OS_REGION_NAME),
    interface: str(env.OS_INTERFACE) ?? str(env.OS_ENDPOINT_TYPE),
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
  if (!name) return fromEnv;
  const files = opts.files ?? cloudsYamlPaths(env);
  for (const file of files) {
    const clouds = readYaml(file);
    if (!clouds) continue;
    const secure = readYaml(path.join(path.dirname(file), 'secure.yaml'));
    const entry = ((clouds.clouds ?? {}) as Yaml)[name];
    const secret = ((secure?.clouds ?? {}) as Yaml)[name];
    if (!entry) throw new ConfigurationError(`cloud ${name} is not in ${file}`);
    return { ...fromEnv, ...cloudFromYaml(merge(entry as Yaml, (secret ?? {}) as Yaml)) };
  }
  throw new ConfigurationError(`cloud ${name} asked for, but no clouds.yaml found (looked in ${files.join(', ')})`);
}
