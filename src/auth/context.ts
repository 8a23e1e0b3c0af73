/**
 * The request context: who is calling. Built by an authentication strategy (for now only trusted
 * headers, see trusted-headers.ts); the domain only ever sees this object.
 */
export interface RequestContext {
  readonly requestId: string;
  readonly userId: string | null;
  readonly projectId: string | null;
  /** Lower-cased role names, as Glance lower-cases them. */
  readonly roles: readonly string[];
  readonly isAdmin: boolean;
}

export function makeContext(fields: {
  requestId: string;
  userId?: string | null;
  projectId?: string | null;
  roles?: readonly string[];
}): RequestContext {
  const roles = (fields.roles ?? []).map((r) => r.trim().toLowerCase()).filter((r) => r !== '');
  return {
    requestId: fields.requestId,
    userId: fields.userId ?? null,
    projectId: fields.projectId ?? null,
    roles,
    // Glance's default `context_is_admin` rule is `role:admin`.
    isAdmin: roles.includes('admin'),
  };
}
