import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { ensureSecretFile } from '../config/secret-file.js';
import { Unauthorized } from '../domain/errors.js';
import { makeContext, type AdminCheck, type RequestContext } from './context.js';
import { header, UNAUTHORIZED_MESSAGE, type AuthStrategy } from './strategy.js';

/** Who the admin token speaks for: an admin of a project named `admin`, with the roles Keystone's admin implies. */
export const ADMIN_TOKEN_IDENTITY = { userId: 'admin', projectId: 'admin', roles: ['admin', 'member', 'reader'] } as const;

/** The admin token of the default flavor lives in the data dir. */
export function adminTokenPath(dataDir: string): string {
  return path.join(dataDir, 'admin-token');
}

/** Reads the admin token, creating it on first start (see ensureSecretFile). */
export function ensureAdminToken(file: string): { token: string; created: boolean } {
  const { secret, created } = ensureSecretFile(file, 'admin token');
  return { token: secret, created };
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
