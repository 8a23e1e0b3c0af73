/**
 * The console's session, sealed into its cookie (AES-256-GCM with `[console] secret_key`): no
 * session table, any node with the same key reads it, and neither page scripts (HttpOnly) nor the
 * user can read or alter the token inside. Whatever fails to open — tampered, another key, expired —
 * is no session.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { ConsoleStrategy } from '../../config/console-options.js';

export const COOKIE_NAME = 'ocellus_console';
const COOKIE_PATH = '/console';
/** Bound into every seal, so a cookie sealed for something else with the same key never opens here. */
const PURPOSE = Buffer.from('ocellus-console-session-v1');

export interface ConsoleSession {
  strategy: ConsoleStrategy;
  /** The token sent as X-Auth-Token (keystone, token). */
  token?: string;
  /** The identity sent as trusted headers (headers). */
  headers?: { user: string; project: string; roles: string };
  /** Required as X-CSRF-Token on every write. */
  csrf: string;
  /** Epoch ms when the session ends. */
  expiresAt: number;
  user: { id: string; name: string };
  project: { id: string; name: string };
  roles: string[];
  isAdmin: boolean;
}

export function seal(session: ConsoleSession, key: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(PURPOSE);
  const sealed = Buffer.concat([cipher.update(JSON.stringify(session), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64url');
}

/** The session a cookie value holds, or null (tampered, sealed with another key, or expired). */
export function unseal(value: string, key: Buffer, now = Date.now()): ConsoleSession | null {
  const raw = Buffer.from(value, 'base64url');
  if (raw.length < 29) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAAD(PURPOSE);
    decipher.setAuthTag(raw.subarray(12, 28));
    const session = JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')) as ConsoleSession;
    return session.expiresAt > now ? session : null;
  } catch {
    return null;
  }
}

/** The console cookie's value in a Cookie header, if any. */
export function cookieValue(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === COOKIE_NAME) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Set-Cookie for a session (or, with null, one that removes it). */
export function setCookie(value: string | null, maxAgeSeconds: number, secure: boolean): string {
  const attrs = [`${COOKIE_NAME}=${value ?? ''}`, `Path=${COOKIE_PATH}`, 'HttpOnly', 'SameSite=Strict', `Max-Age=${value === null ? 0 : Math.max(0, Math.floor(maxAgeSeconds))}`];
  if (secure) attrs.push('Secure');
  return attrs.join('; ');
}
