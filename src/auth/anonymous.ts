import type { IncomingHttpHeaders } from 'node:http';
import { Unauthorized } from '../domain/errors.js';
import { makeContext, type RequestContext } from './context.js';
import type { AuthStrategy } from './strategy.js';

/**
 * `allow_anonymous_access`: Glance's context middleware gives a request it cannot authenticate
 * an anonymous, read-only context instead of 401. Ocellus does the same around any strategy: what
 * the wrapped one refuses becomes a caller with no user, no project, never admin, that may only
 * read. Its one role, `reader`, is what Glance's secure-RBAC defaults (`get_images`, `get_image`)
 * ask of anyone listing or showing public and community images; every method but GET and HEAD is
 * refused with 403 `Read-only access` whatever the policy says.
 */
export class AnonymousAccess implements AuthStrategy {
  readonly challenge: Record<string, string>;

  constructor(private readonly inner: AuthStrategy) {
    this.challenge = inner.challenge;
  }

  async authenticate(headers: IncomingHttpHeaders, requestId: string): Promise<RequestContext> {
    try {
      return await this.inner.authenticate(headers, requestId);
    } catch (err) {
      if (!(err instanceof Unauthorized)) throw err;
      return anonymousContext(requestId);
    }
  }

  close(): void {
    this.inner.close?.();
  }
}

export function anonymousContext(requestId: string): RequestContext {
  return makeContext({ requestId, roles: ['reader'], isAdminProject: false, readOnly: true });
}
