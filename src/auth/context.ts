import type { Credentials } from '../policy/rule-language.js';

/**
 * The request context: who is calling. Built by an authentication strategy (Keystone tokens,
 * a static token file, or trusted headers); the domain only ever sees this object.
 */
export interface RequestContext {
  readonly requestId: string;
  readonly userId: string | null;
  readonly userDomainId: string | null;
  readonly projectId: string | null;
  readonly projectDomainId: string | null;
  /** Set for domain-scoped tokens. */
  readonly domainId: string | null;
  /** `all` for system-scoped tokens. */
  readonly systemScope: string | null;
  /** Lower-cased role names, as Glance lower-cases them. */
  readonly roles: readonly string[];
  readonly isAdminProject: boolean;
  /** The service token's identity (`X-Service-Token`), when one came with the request. */
  readonly service: { userId: string | null; projectId: string | null; roles: readonly string[] } | null;
  /** The result of the `context_is_admin` policy rule: admins see every image. */
  readonly isAdmin: boolean;
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
}

const lower = (roles: readonly string[]) => roles.map((r) => r.trim().toLowerCase()).filter((r) => r !== '');

/** What oslo.context's `to_policy_values()` hands to policy checks. */
export function policyCredentials(ctx: Omit<RequestContext, 'isAdmin'>): Credentials {
  return {
    user_id: ctx.userId,
    user_domain_id: ctx.userDomainId,
    system_scope: ctx.systemScope,
    domain_id: ctx.domainId,
    project_id: ctx.projectId,
    project_domain_id: ctx.projectDomainId,
    roles: ctx.roles,
    is_admin_project: ctx.isAdminProject,
    service_user_id: ctx.service?.userId ?? null,
    service_project_id: ctx.service?.projectId ?? null,
    service_roles: ctx.service?.roles ?? [],
  };
}

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
  return { ...base, isAdmin: isAdmin(policyCredentials(base)) };
}
