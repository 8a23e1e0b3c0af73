import { policyCredentials, type PolicySubject } from '../policy/credentials.js';
import type { Credentials } from '../policy/rule-language.js';
import type { CatalogEntry } from './service-catalog.js';

export type { CatalogEntry, CatalogEndpoint } from './service-catalog.js';

/**
 * The request context: who is calling. Built by an authentication strategy (Keystone tokens,
 * a static token file, or trusted headers); the domain only ever sees this object. Its fields
 * (user, project or domain or system scope, lower-cased roles, service token) are PolicySubject's.
 */
export interface RequestContext extends PolicySubject {
  readonly requestId: string;
  /** The result of the `context_is_admin` policy rule: admins see every image. */
  readonly isAdmin: boolean;
  /**
   * Glance's anonymous context (`allow_anonymous_access`): may read what everyone may read and
   * change nothing; the API answers every other method 403 `Read-only access` before any rule runs.
   */
  readonly readOnly: boolean;
  /**
   * The caller's own token, for calls made on their behalf (glance-download reads another
   * region's image service with it). Never logged, never stored.
   */
  readonly authToken: string | null;
  /** The caller's Keystone service catalog (glance-download finds other regions in it); null when none came with the request. */
  readonly serviceCatalog: readonly CatalogEntry[] | null;
}

export interface ContextFields {
  requestId: string;
  userId?: string | null;
  userDomainId?: string | null;
  projectId?: string | null;
  projectDomainId?: string | null;
  domainId?: string | null;
  systemScope?: string | null;
  roles?: readonly string[];
  isAdminProject?: boolean;
  service?: { userId: string | null; projectId: string | null; roles: readonly string[] } | null;
  readOnly?: boolean;
  authToken?: string | null;
  serviceCatalog?: readonly CatalogEntry[] | null;
}

const lower = (roles: readonly string[]) => roles.map((r) => r.trim().toLowerCase()).filter((r) => r !== '');

/** Decides `context_is_admin` for new contexts; Glance's default rule is `role:admin`. */
export type AdminCheck = (creds: Credentials) => boolean;
export const defaultAdminCheck: AdminCheck = (creds) => (creds.roles ?? []).includes('admin');

export function makeContext(fields: ContextFields, isAdmin: AdminCheck = defaultAdminCheck): RequestContext {
  const base = {
    requestId: fields.requestId,
    userId: fields.userId ?? null,
    userDomainId: fields.userDomainId ?? null,
    projectId: fields.projectId ?? null,
    projectDomainId: fields.projectDomainId ?? null,
    domainId: fields.domainId ?? null,
    systemScope: fields.systemScope ?? null,
    roles: lower(fields.roles ?? []),
    isAdminProject: fields.isAdminProject ?? true,
    service: fields.service ? { ...fields.service, roles: lower(fields.service.roles) } : null,
  };
  // An anonymous caller is never an admin, whatever the operator's context_is_admin says.
  const readOnly = fields.readOnly ?? false;
  return {
    ...base,
    isAdmin: !readOnly && isAdmin(policyCredentials(base)),
    readOnly,
    authToken: fields.authToken ?? null,
    serviceCatalog: fields.serviceCatalog ?? null,
  };
}
