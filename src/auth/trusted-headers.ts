import type { IncomingHttpHeaders } from 'node:http';
import { makeContext, type RequestContext } from './context.js';

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s.trim() === '' ? undefined : s.trim();
}

/**
 * Builds the context from identity headers set by a trusted front end (keystonemiddleware's
 * names: `X-User-Id`, `X-Project-Id` or the deprecated `X-Tenant-Id`, `X-Roles`). Development
 * only: anyone who can reach the port can claim any identity.
 */
export function contextFromTrustedHeaders(headers: IncomingHttpHeaders, requestId: string): RequestContext {
  const roles = header(headers, 'x-roles') ?? header(headers, 'x-role') ?? '';
  return makeContext({
    requestId,
    userId: header(headers, 'x-user-id') ?? header(headers, 'x-user') ?? null,
    projectId:
      header(headers, 'x-project-id') ?? header(headers, 'x-tenant-id') ?? header(headers, 'x-tenant') ?? null,
    roles: roles.split(','),
  });
}
