/**
 * Who may see and do what in the metadefs catalogue: Glance's namespace visibility (admins see
 * every namespace, others the public ones and their own project's; the rest is 404) and the
 * `metadef_*` policy rules on Glance's metadef target (`project_id` = the namespace's owner,
 * `visibility`), with Glance's outcomes: a refusal is 404 when the caller may not even
 * `get_metadef_namespace`, 403 otherwise.
 */
import type { RequestContext } from '../auth/context.js';
import type { Target } from '../policy/rule-language.js';
import { Forbidden, NotFound } from './errors.js';
import type { AccessPolicy } from './image-policy.js';
import type { NamespaceRecord } from './metadef-model.js';
import type { MetadefRepository } from './ports.js';

export function namespaceNotFound(name: string): NotFound {
  return new NotFound(`Metadata definition namespace=${name} was not found.`);
}

/** Glance's `_is_namespace_visible` (its SQL twin is the list query's viewer filter). */
export function namespaceVisibleTo(ctx: RequestContext, ns: NamespaceRecord): boolean {
  return ctx.isAdmin || ns.visibility === 'public' || (ctx.projectId !== null && ns.owner === ctx.projectId);
}

export class MetadefAccess {
  constructor(private readonly policy: AccessPolicy) {}

  /** The policy target: the namespace's, or (no namespace: lists and creation) the caller's project. */
  private target(ctx: RequestContext, ns: NamespaceRecord | undefined): Target {
    return ns ? { project_id: ns.owner, visibility: ns.visibility } : { project_id: ctx.projectId };
  }

  allows(ctx: RequestContext, rule: string, ns?: NamespaceRecord): boolean {
    return this.policy.allows(ctx, rule, this.target(ctx, ns));
  }

  /** `rule` (on `ns`, if given): 404 when the caller may not even get_metadef_namespace, else 403. */
  enforce(ctx: RequestContext, rule: string, ns?: NamespaceRecord): void {
    if (this.allows(ctx, rule, ns)) return;
    if (rule === 'get_metadef_namespace' || !this.allows(ctx, 'get_metadef_namespace', ns)) throw new NotFound('The resource could not be found.');
    throw new Forbidden(`You are not authorized to complete ${rule} action.`);
  }

  /** The namespace by name if the caller sees it (404 otherwise), then `rule` on it. */
  async namespace(repo: MetadefRepository, ctx: RequestContext, name: string, rule: string): Promise<NamespaceRecord> {
    const ns = await repo.findNamespace(name);
    if (!ns || !namespaceVisibleTo(ctx, ns)) throw namespaceNotFound(name);
    this.enforce(ctx, rule, ns);
    return ns;
  }
}
