import type { IncomingHttpHeaders } from 'node:http';
import type { RequestContext } from './context.js';

/** Turns a request's headers into the caller's context, or refuses it. */
export interface AuthStrategy {
  /** Throws Unauthorized (401) when the request does not prove who it comes from. */
  authenticate(headers: IncomingHttpHeaders, requestId: string): Promise<RequestContext>;
  /** Headers every 401 carries (Keystone's `WWW-Authenticate`). */
  readonly challenge: Record<string, string>;
  close?(): void;
}

/** WebOb's HTTPUnauthorized text, which Glance sends for a missing or invalid token. */
export const UNAUTHORIZED_MESSAGE =
  'This server could not verify that you are authorized to access the document you requested. Either you supplied the wrong credentials (e.g., bad password), or your browser does not understand how to supply the credentials required.';

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s.trim() === '' ? undefined : s.trim();
}
