/**
 * Part sizes of S3 multipart uploads. S3 wants every part but the last to be at least 5 MiB;
 * Swift's s3api allows at most 1000 parts per upload (AWS 10000), so Ocellus plans for 1000.
 */

export const MIB = 1024 * 1024;
/** S3's smallest part (all but the last). */
export const MIN_PART_SIZE = 5 * MIB;
/** S3's largest part. */
export const MAX_PART_SIZE = 5 * 1024 * MIB;
/** Swift s3api's default `max_upload_part_num`; AWS allows 10000, but an image must fit in both. */
export const MAX_PARTS = 1000;

/** Parts of an upload of unknown size keep the configured size this long, then double every this many parts. */
const GROW_EVERY = 100;
/** Doublings at most (16 × the first part size): memory per part stays bounded. */
const MAX_DOUBLINGS = 4;

/** How an upload cuts its bytes into parts. */
export interface PartPlan {
  /** Size of the first part in bytes. */
  readonly firstPartSize: number;
  /** Whether later parts grow (the size was not known, so the plan must reach far with 1000 parts). */
  readonly grows: boolean;
}

/**
 * The plan for an upload: parts of `chunkMb` MiB (at least 5 MiB), raised so that `sizeHint`
 * bytes fit in 1000 parts. With no size hint, parts double every 100 parts up to 16× the first,
 * so 1000 parts carry 11100 first parts (111 GB at the default 10 MB) while one part stays ≤ 16×.
 */
export function planParts(chunkMb: number, sizeHint: number | null): PartPlan {
  let size = Math.max(chunkMb * MIB, MIN_PART_SIZE);
  if (sizeHint !== null && sizeHint > size * MAX_PARTS) size = Math.ceil(sizeHint / MAX_PARTS / MIB) * MIB;
  return { firstPartSize: Math.min(size, MAX_PART_SIZE), grows: sizeHint === null };
}

/** Size of part `n` (1-based). */
export function partSizeAt(plan: PartPlan, n: number): number {
  if (!plan.grows) return plan.firstPartSize;
  const doublings = Math.min(MAX_DOUBLINGS, Math.floor((n - 1) / GROW_EVERY));
  return Math.min(plan.firstPartSize * 2 ** doublings, MAX_PART_SIZE);
}

/** Bytes an upload following `plan` can carry in MAX_PARTS parts. */
export function planCapacity(plan: PartPlan): number {
  let total = 0;
  for (let n = 1; n <= MAX_PARTS; n++) total += partSizeAt(plan, n);
  return total;
}
