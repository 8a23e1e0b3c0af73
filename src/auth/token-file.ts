import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { WatchedFile } from '../config/watched-file.js';
import { Unauthorized } from '../domain/errors.js';
import { makeContext, type AdminCheck, type ContextFields, type RequestContext } from './context.js';
import { header, UNAUTHORIZED_MESSAGE, type AuthStrategy } from './strategy.js';

export class TokenFileError extends Error {}

interface Entry {
  fields: Omit<ContextFields, 'requestId'>;
  /** Epoch ms after which the token is refused; null = never. */
  expiresAt: number | null;
}

const KEYS = new Set(['user_id', 'user_domain_id', 'project_id', 'project_domain_id', 'domain_id', 'system_scope', 'roles', 'expires_at']);
const digest = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * Reads a tokens file: a YAML (or JSON) mapping of token → identity, e.g.
 *
 *     0c3a…f1:
 *       user_id: alice
 *       project_id: 6f0b…
 *       roles: [member, reader]
 *       expires_at: 2027-01-01T00:00:00Z   # optional
 */
function readTokenFile(file: string): Map<string, Entry> {
  let doc: unknown;
  try {
    doc = parseYaml(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new TokenFileError(`token file ${file}: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new TokenFileError(`token file ${file}: expected a mapping of token to identity`);
  const tokens = new Map<string, Entry>();
  for (const [token, value] of Object.entries(doc as Record<string, unknown>)) {
    const where = `token file ${file}: token ${token.slice(0, 4)}…`;
    if (token.length < 16) throw new TokenFileError(`${where}: tokens must be at least 16 characters long`);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new TokenFileError(`${where}: expected a mapping with user_id, project_id and roles`);
    const v = value as Record<string, unknown>;
    for (const k of Object.keys(v)) if (!KEYS.has(k)) throw new TokenFileError(`${where}: unknown key '${k}' (known: ${[...KEYS].join(', ')})`);
    const str = (k: string) => {
      if (v[k] === undefined || v[k] === null) return null;
      if (typeof v[k] !== 'string' && typeof v[k] !== 'number') throw new TokenFileError(`${where}: ${k} must be a string`);
      return String(v[k]);
    };
    const roles = typeof v.roles === 'string' ? v.roles.split(',') : v.roles;
    if (!Array.isArray(roles) || roles.some((r) => typeof r !== 'string')) throw new TokenFileError(`${where}: roles must be a list of role names`);
    const expires = v.expires_at instanceof Date ? v.expires_at.getTime() : v.expires_at === undefined ? null : Date.parse(String(v.expires_at));
    if (expires !== null && Number.isNaN(expires)) throw new TokenFileError(`${where}: expires_at is not a date`);
    const fields = {
      userId: str('user_id'),
      userDomainId: str('user_domain_id'),
      projectId: str('project_id'),
      projectDomainId: str('project_domain_id'),
      domainId: str('domain_id'),
      systemScope: str('system_scope'),
      roles: roles as string[],
    };
    if (!fields.userId) throw new TokenFileError(`${where}: user_id is required`);
    if (!fields.projectId && !fields.domainId && !fields.systemScope) throw new TokenFileError(`${where}: one of project_id, domain_id or system_scope is required`);
    tokens.set(digest(token), { fields, expiresAt: expires });
  }
  return tokens;
}

/**
 * `token`: standalone authentication from a static tokens file, no Keystone needed. The file is
 * re-read when it changes (checked at most once a second); a file that no longer parses is
 * reported and the tokens in force are kept. Tokens are kept only as sha256 digests.
 */
export class TokenFileAuth implements AuthStrategy {
  readonly challenge = {};
  private readonly tokens: WatchedFile<Map<string, Entry>>;

  constructor(
    file: string,
    private readonly isAdmin?: AdminCheck,
    log: (msg: string) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {
    if (!fs.existsSync(file)) throw new TokenFileError(`token file ${file} does not exist`);
    this.tokens = new WatchedFile(file, readTokenFile, log, now);
  }

  async authenticate(headers: IncomingHttpHeaders, requestId: string): Promise<RequestContext> {
    const token = header(headers, 'x-auth-token') ?? header(headers, 'x-storage-token');
    const entry = token === undefined ? undefined : this.tokens.current().get(digest(token));
    if (token === undefined || !entry || (entry.expiresAt !== null && entry.expiresAt <= this.now())) throw new Unauthorized(UNAUTHORIZED_MESSAGE);
    return makeContext({ requestId, ...entry.fields, authToken: token }, this.isAdmin);
  }
}
