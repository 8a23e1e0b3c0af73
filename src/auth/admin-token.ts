import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { Unauthorized } from '../domain/errors.js';
import { makeContext, type AdminCheck, type RequestContext } from './context.js';
import { header, UNAUTHORIZED_MESSAGE, type AuthStrategy } from './strategy.js';

export class AdminTokenError extends Error {}

/** Who the admin token speaks for: an admin of a project named `admin`, with the roles Keystone's admin implies. */
export const ADMIN_TOKEN_IDENTITY = { userId: 'admin', projectId: 'admin', roles: ['admin', 'member', 'reader'] } as const;

/** The admin token of the default flavor lives in the data dir. */
export function adminTokenPath(dataDir: string): string {
  return path.join(dataDir, 'admin-token');
}

/** Printable ASCII without spaces, at least 32 characters: what Ocellus writes (64 hex) or an operator's own. */
const TOKEN = /^[\x21-\x7e]{32,}$/;

/**
 * Reads the admin token, creating it on first start: 32 random bytes as hex, written to a private
 * temporary file (`wx`, mode 0600) that is then hard-linked into place, so concurrent starts (or
 * workers) never see a half-written file and all agree on the first one linked. A file that is
 * not a regular file, belongs to another user, is open to group or others, or does not hold a
 * token is refused: the server does not start on a secret it cannot trust.
 */
export function ensureAdminToken(file: string): { token: string; created: boolean } {
  let created = false;
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      fs.fchmodSync(fd, 0o600);
      fs.writeSync(fd, `${randomBytes(32).toString('hex')}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.linkSync(tmp, file);
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new AdminTokenError(`admin token file ${file}: cannot create it: ${(err as Error).message}`);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
  return { token: readAdminToken(file), created };
}

function readAdminToken(file: string): string {
  const st = fs.lstatSync(file);
  if (!st.isFile()) throw new AdminTokenError(`admin token file ${file} is not a regular file; remove it and start again to get a new token`);
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
    throw new AdminTokenError(`admin token file ${file} belongs to uid ${st.uid}, not to this user (${process.getuid()})`);
  }
  if ((st.mode & 0o077) !== 0) {
    throw new AdminTokenError(`admin token file ${file} is open to other users (mode 0${(st.mode & 0o777).toString(8)}); run chmod 600 ${file}, or remove it to get a new token`);
  }
  const token = fs.readFileSync(file, 'utf8').trim();
  if (!TOKEN.test(token)) {
    throw new AdminTokenError(`admin token file ${file} does not hold a token (one line of at least 32 printable characters); remove it to get a new token`);
  }
  return token;
}

const digest = (token: string) => createHash('sha256').update(token).digest();

/**
 * The default flavor (empty): `X-Auth-Token` must be the admin token from the data dir — an admin
 * context (ADMIN_TOKEN_IDENTITY) — or, when `[token_auth] token_file` is set, one of that file's
 * tokens; anything else is 401. Safe to start with no configuration at all: nobody is trusted on
 * their word, and the operator finds the token in a file only they can read.
 */
export class AdminTokenAuth implements AuthStrategy {
  readonly challenge = {};
  private readonly adminDigest: Buffer;

  constructor(
    adminToken: string,
    private readonly tokenFile?: AuthStrategy,
    private readonly isAdmin?: AdminCheck,
  ) {
    this.adminDigest = digest(adminToken);
  }

  async authenticate(headers: IncomingHttpHeaders, requestId: string): Promise<RequestContext> {
    const token = header(headers, 'x-auth-token') ?? header(headers, 'x-storage-token');
    if (token === undefined) throw new Unauthorized(UNAUTHORIZED_MESSAGE);
    if (timingSafeEqual(digest(token), this.adminDigest)) {
      return makeContext({ requestId, ...ADMIN_TOKEN_IDENTITY, roles: [...ADMIN_TOKEN_IDENTITY.roles], authToken: token }, this.isAdmin);
    }
    if (this.tokenFile) return this.tokenFile.authenticate(headers, requestId);
    throw new Unauthorized(UNAUTHORIZED_MESSAGE);
  }

  close(): void {
    this.tokenFile?.close?.();
  }
}
