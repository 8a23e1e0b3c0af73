import type { Credentials } from './rule-language.js';

/** Who is calling, as far as policy rules can tell: the fields of a request context they read. */
export interface PolicySubject {
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
}

/** What oslo.context's `to_policy_values()` hands to policy checks. */
export function policyCredentials(subject: PolicySubject): Credentials {
  return {
    user_id: subject.userId,
    user_domain_id: subject.userDomainId,
    system_scope: subject.systemScope,
    domain_id: subject.domainId,
    project_id: subject.projectId,
    project_domain_id: subject.projectDomainId,
    roles: subject.roles,
    is_admin_project: subject.isAdminProject,
    service_user_id: subject.service?.userId ?? null,
    service_project_id: subject.service?.projectId ?? null,
    service_roles: subject.service?.roles ?? [],
  };
}
