import type { IncomingHttpHeaders } from 'node:http';
import { Unauthorized } from '../domain/errors.js';
import { makeContext, type AdminCheck, type RequestContext } from './context.js';
import { parseServiceCatalog, type CatalogEntry } from './service-catalog.js';
import { header, UNAUTHORIZED_MESSAGE, type AuthStrategy } from './strategy.js';

const IDENTITY_HEADERS = ['x-roles', 'x-role', 'x-project-id', 'x-tenant-id', 'x-tenant', 'x-user-id', 'x-user'];

/**
 * `noauth`: the context comes from identity headers set by a trusted front end
 * (keystonemiddleware's names: `X-User-Id`, `X-Project-Id` or the deprecated `X-Tenant-Id`,
 * `X-Roles`, `OpenStack-System-Scope`…). A request without any is 401, as Glance's context
 * middleware answers a request that is not `X-Identity-Status: Confirmed` (with
 * `allow_anonymous_access`, AnonymousAccess turns that into a read-only anonymous caller); it is
 * never an admin by default. Development only: anyone who can reach the port can claim any
 * identity, which is why the server keeps it on loopback unless told otherwise. The front end's
 * `X-Auth-Token` and `X-Service-Catalog` (JSON, v2 or v3 shape) are kept for calls made on the
 * caller's behalf (glance-download).
 */
export class TrustedHeaderAuth implements AuthStrategy {
  readonly challenge = {};

  constructor(private readonly isAdmin?: AdminCheck) {}

  async authenticate(headers: IncomingHttpHeaders, requestId: string): Promise<RequestContext> {
    if (!IDENTITY_HEADERS.some((h) => header(headers, h) !== undefined)) throw new Unauthorized(UNAUTHORIZED_MESSAGE);
    const roles = header(headers, 'x-roles') ?? header(headers, 'x-role') ?? '';
    const serviceRoles = header(headers, 'x-service-roles');
    return makeContext(
      {
        requestId,
        userId: header(headers, 'x-user-id') ?? header(headers, 'x-user') ?? null,
        userDomainId: header(headers, 'x-user-domain-id') ?? null,
        projectId: header(headers, 'x-project-id') ?? header(headers, 'x-tenant-id') ?? header(headers, 'x-tenant') ?? null,
        projectDomainId: header(headers, 'x-project-domain-id') ?? null,
        domainId: header(headers, 'x-domain-id') ?? null,
        systemScope: header(headers, 'openstack-system-scope') ?? null,
        roles: roles.split(','),
        isAdminProject: (header(headers, 'x-is-admin-project') ?? 'True').toLowerCase() === 'true',
        service:
          serviceRoles === undefined
            ? null
            : { userId: header(headers, 'x-service-user-id') ?? null, projectId: header(headers, 'x-service-project-id') ?? null, roles: serviceRoles.split(',') },
        authToken: header(headers, 'x-auth-token') ?? null,
        serviceCatalog: serviceCatalog(header(headers, 'x-service-catalog')),
      },
      this.isAdmin,
    );
  }
}

/** A catalog header that is not JSON: Glance's context middleware answers 500 with this text. */
export class InvalidServiceCatalog extends Error {
  constructor() {
    super('Invalid service catalog json.');
    this.name = 'InvalidServiceCatalog';
  }
}

function serviceCatalog(value: string | undefined): CatalogEntry[] | null {
  if (value === undefined) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new InvalidServiceCatalog();
  }
  return parseServiceCatalog(parsed);
}
