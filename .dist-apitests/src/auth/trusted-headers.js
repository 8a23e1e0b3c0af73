import { makeContext } from './context.js';
function header(headers, name) {
    const v = headers[name];
    const s = Array.isArray(v) ? v[0] : v;
    return s === undefined || s.trim() === '' ? undefined : s.trim();
}
/**
 * Builds the context from identity headers set by a trusted front end (keystonemiddleware's
 * names: `X-User-Id`, `X-Project-Id` or the deprecated `X-Tenant-Id`, `X-Roles`). Development
 * only: anyone who can reach the port can claim any identity.
 */
export function contextFromTrustedHeaders(headers, requestId) {
    const roles = header(headers, 'x-roles') ?? header(headers, 'x-role') ?? '';
    return makeContext({
        requestId,
        userId: header(headers, 'x-user-id') ?? header(headers, 'x-user') ?? null,
        projectId: header(headers, 'x-project-id') ?? header(headers, 'x-tenant-id') ?? header(headers, 'x-tenant') ?? null,
        roles: roles.split(','),
    });
}
//# sourceMappingURL=trusted-headers.js.map