import type { RequestContext } from '../auth/context.js';
import type { ImageRecord } from './image-model.js';
import { policyCredentials } from '../policy/credentials.js';
import type { Credentials, Target } from '../policy/rule-language.js';
import { Forbidden, imageNotFound } from './errors.js';

/** Decides a named policy rule (the operator's policy file over Glance's defaults). */
export interface PolicyRules {
  enforce(rule: string, target: Target, creds: Credentials): boolean;
}

/** An image the caller can see, with how it reached it: as a member project, or not. */
export interface VisibleImage {
  image: ImageRecord;
  /** The caller's project when it sees the image as a member of it (Glance's `member_id`). */
  memberId: string | null;
}

/**
 * The policy target of an image, as Glance's ImageTarget builds it: every attribute and custom
 * property, `project_id` = owner, `member_id` = the caller's project when it is a member. A key
 * the image lacks reads as None, not as missing.
 */
export function imageTarget({ image, memberId }: VisibleImage): Target {
  // Looked up on demand, nothing copied: a rule reads a few keys of a target built per image listed.
  const attributes = image as unknown as Record<string, unknown>;
  const lookup = (key: string): unknown => {
    if (key === 'project_id') return image.owner;
    if (key === 'member_id') return memberId;
    if (key === 'properties' || key === 'locations') return image.properties[key] ?? null;
    return (Object.hasOwn(attributes, key) ? attributes[key] : image.properties[key]) ?? null;
  };
  return new Proxy({} as Record<string, unknown>, {
    has: () => true,
    get: (_obj, key) => (typeof key === 'string' ? lookup(key) : undefined),
  });
}

/**
 * Policy checks with Glance's outcomes. Every Glance rule is registered for project scope, and
 * oslo.policy refuses system- and domain-scoped tokens on them.
 */
export class AccessPolicy {
  constructor(
    private readonly rules: PolicyRules,
    /** `[oslo_policy] enforce_scope`. */
    private readonly enforceScope = true,
  ) {}

  allows(ctx: RequestContext, rule: string, target: Target): boolean {
    if (this.enforceScope && (ctx.systemScope !== null || (ctx.domainId !== null && ctx.projectId === null))) return false;
    return this.rules.enforce(rule, target, policyCredentials(ctx));
  }

  /** A rule outside Glance's registered set (property protections' `rule:<name>`): no scope check, empty target. */
  allowsRule(ctx: RequestContext, rule: string): boolean {
    return this.rules.enforce(rule, {}, policyCredentials(ctx));
  }

  /** 403 with oslo.policy's message (or `message`) unless `rule` allows. */
  enforce(ctx: RequestContext, rule: string, target: Target, message?: string): void {
    if (!this.allows(ctx, rule, target)) throw new Forbidden(message ?? `You are not authorized to complete ${rule} action.`);
  }

  /**
   * `rule` on an image. A refusal is 404 when the caller may not even `get_image` it, so that
   * images stay hidden from whoever cannot see them; 403 otherwise.
   */
  enforceOnImage(ctx: RequestContext, rule: string, visible: VisibleImage): void {
    const target = imageTarget(visible);
    if (this.allows(ctx, rule, target)) return;
    if (rule === 'get_image' || !this.allows(ctx, 'get_image', target)) throw imageNotFound(visible.image.id);
    throw new Forbidden(`You are not authorized to complete ${rule} action.`);
  }
}
