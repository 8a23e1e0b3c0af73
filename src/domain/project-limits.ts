/**
 * Per-project limits (Glance's unified limits, `use_keystone_limits`): the four resources a
 * project's images use, how much of each it uses now (counted in the database), and the check
 * Glance makes before an operation adds to one — current usage plus the operation's delta must
 * not exceed the project's limit, else 413 with oslo.limit's message. The limits themselves come
 * from a LimitSource (Keystone's registered limits and project limits, src/limits/). A source
 * that cannot answer fails the check (503): an outage never lets unlimited uploads through.
 */
import { TooLarge } from './errors.js';
import type { ImageRepository } from './ports.js';

/** The resources Glance registers limits for, in the order oslo.limit checks them (sorted). */
export const LIMIT_NAMES = ['image_count_total', 'image_count_uploading', 'image_size_total', 'image_stage_total'] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

const MIB = 1024 * 1024;

/** Where limits are read: the project's own limit of each resource, else the registered default, else 0; -1 = unlimited. */
export interface LimitSource {
  /**
   * The limits of `project` (null: the registered defaults only) for `names`. Throws a
   * DomainError (ServiceUnavailable) when it cannot tell — never a guess.
   */
  limits(project: string | null, names: readonly LimitName[]): Promise<Record<LimitName, number>>;
}

/** What a project uses now, per resource: counts, or whole MiB of data. */
export type ProjectUsage = Record<LimitName, number>;

/** A resource's limit and usage, as GET /v2/info/usage shows it. */
export interface UsageReport {
  limit: number;
  usage: number;
}

/** A data size (bytes, or null when unknown) as a limit delta: whole MiB, as Glance counts. */
export function mibDelta(bytes: number | null | undefined): number {
  return bytes ? Math.floor(bytes / MIB) : 0;
}

export class ProjectLimits {
  constructor(
    /** Null: use_keystone_limits is off, every check passes and usage is `{}`. */
    private readonly source: LimitSource | null,
    private readonly images: ImageRepository,
  ) {}

  get enabled(): boolean {
    return this.source !== null;
  }

  /**
   * Glance's enforce: for each resource in `deltas`, the project's usage plus the delta must not
   * exceed its limit (a delta of 0 checks that usage is not over it already). 413 naming every
   * resource over its limit.
   */
  async enforce(project: string | null, deltas: Partial<Record<LimitName, number>>): Promise<void> {
    if (!this.source) return;
    const names = LIMIT_NAMES.filter((n) => deltas[n] !== undefined);
    const limits = await this.source.limits(project, names);
    const usage = await this.usageOf(project, names);
    const over: string[] = [];
    for (const name of names) {
      const limit = limits[name];
      const delta = deltas[name]!;
      if (limit >= 0 && usage[name] + delta > limit) {
        over.push(`Resource ${name} is over limit of ${limit} due to current usage ${usage[name]} and delta ${delta}`);
      }
    }
    if (over.length > 0) {
      throw new TooLarge(
        'The request returned a 413 Request Entity Too Large. This generally means that rate limiting or a quota threshold was breached.\n\n' +
          `The response body:\nProject ${project ?? 'None'} is over a limit for [${over.join(', ')}]`,
      );
    }
  }

  /** GET /v2/info/usage: each resource's limit and the project's usage; `{}` when limits are off. */
  async usage(project: string | null): Promise<Partial<Record<LimitName, UsageReport>>> {
    if (!this.source) return {};
    const limits = await this.source.limits(project, LIMIT_NAMES);
    const usage = await this.usageOf(project, LIMIT_NAMES);
    const report: Partial<Record<LimitName, UsageReport>> = {};
    for (const name of LIMIT_NAMES) report[name] = { limit: limits[name], usage: usage[name] };
    return report;
  }

  private async usageOf(project: string | null, names: readonly LimitName[]): Promise<ProjectUsage> {
    const raw = await this.images.projectUsage(project, names);
    return {
      image_count_total: raw.image_count_total,
      image_count_uploading: raw.image_count_uploading,
      image_size_total: mibDelta(raw.image_size_total),
      image_stage_total: mibDelta(raw.image_stage_total),
    };
  }
}
