import { INSPECTABLE_FORMATS, type DetectedFormat, type Inspection } from '../formats/inspector.js';
import { UnsupportedMediaType } from './errors.js';

/** The `[image_format]` options that decide what an inspected upload may be. */
export interface FormatCheckSettings {
  /** Refuse content whose format is not the declared disk_format (Glance's require_image_format_match). */
  requireImageFormatMatch: boolean;
  /** VMDK createTypes accepted (exact names); empty = no VMDK at all. */
  vmdkAllowedTypes: string[];
  /** GPT/MBR safety checks (`mbr`) that only warn when they are the only failures. */
  gptSafetyChecksNonfatal: string[];
}

const INSPECTABLE = new Set<string>(INSPECTABLE_FORMATS);

/**
 * Glance's decision on an upload (or import) of an image whose bytes were inspected: returns the
 * virtual_size to record (null when unknown) or throws UnsupportedMediaType (415).
 *
 * Only `bare` containers are inspected (an `ova` or `docker` payload is not a disk). Then, as
 * Glance's ImageProxy.set_data decides:
 * - content valid as several formats is refused, except ISO + GPT (a bootable ISO with a
 *   partition table in its system area), which counts as ISO;
 * - detected = disk_format: the format's virtual size;
 * - detected raw, disk_format not an inspectable format (ami, aki, ari, ploop, …): accepted,
 *   virtual size unknown;
 * - disk_format raw but the content is another format: accepted with a warning, virtual size =
 *   the stream's length (as if unrecognised) — but the detected format's safety checks still
 *   run, so a qcow2 with a backing file cannot pass as "raw" (the 2024 fixes);
 * - any other mismatch: refused when require_image_format_match, else a warning and no size.
 * Finally the safety checks of the detected format (also after a tolerated mismatch, where
 * Glance skips them: the safe reading), the VMDK createType against vmdk_allowed_types, and GPT
 * checks listed in gpt_safety_checks_nonfatal only warn.
 */
export function judgeInspection(
  i: Inspection,
  image: { disk_format: string | null; container_format: string | null },
  s: FormatCheckSettings,
  warn: (m: string) => void = () => undefined,
): number | null {
  if (image.container_format !== 'bare') return null;
  const declared = image.disk_format;
  const detected: DetectedFormat = i.format;
  const others = detected === 'iso' ? i.alsoMatched.filter((f) => f !== 'gpt') : i.alsoMatched;
  if (others.length > 0) {
    throw new UnsupportedMediaType(`Image content matches several formats (${[detected, ...others].join(', ')}); such images are refused.`);
  }

  let virtualSize: number | null;
  if (detected === declared) {
    virtualSize = i.virtualSize;
  } else if (detected === 'raw' && (declared === null || !INSPECTABLE.has(declared))) {
    virtualSize = null;
  } else if (declared === 'raw') {
    warn(`Image claims raw disk_format but is actually ${detected}`);
    virtualSize = i.size;
  } else if (s.requireImageFormatMatch) {
    throw new UnsupportedMediaType(`Image disk_format ${declared ?? 'null'} does not match stream data ${detected}.`);
  } else {
    warn(`Image disk_format ${declared ?? 'null'} does not match stream data ${detected}; virtual size unknown`);
    virtualSize = null;
  }

  let failures = i.failures.map((f) => ({ ...f }));
  if (detected === 'vmdk' && i.subformat !== null && !s.vmdkAllowedTypes.includes(i.subformat)) {
    failures.push({ check: 'vmdk_type', reason: `VMDK createType ${i.subformat} is not allowed (vmdk_allowed_types: ${s.vmdkAllowedTypes.join(', ') || 'none'})` });
  }
  if (detected === 'gpt' && failures.length > 0 && failures.every((f) => s.gptSafetyChecksNonfatal.includes(f.check))) {
    warn(`Non-fatal gpt safety check failures: ${failures.map((f) => `${f.check}: ${f.reason}`).join('; ')}`);
    failures = [];
  }
  if (failures.length > 0) {
    throw new UnsupportedMediaType(`Image failed safety checks (${detected}): ${failures.map((f) => `${f.check}: ${f.reason}`).join('; ')}`);
  }
  return virtualSize;
}

/**
 * Staged data (PUT /stage, an import's download), whose formats may not be set yet: with both
 * formats set, the decision an upload gets; without them, what the content is must still be
 * safe — one format, passing its safety checks — so that nothing hostile is ever kept.
 */
export function checkStaged(
  i: Inspection,
  image: { disk_format: string | null; container_format: string | null },
  s: FormatCheckSettings,
  warn: (m: string) => void = () => undefined,
): void {
  if (image.disk_format && image.container_format) judgeInspection(i, image, s, warn);
  else judgeInspection(i, { disk_format: i.format, container_format: 'bare' }, s, warn);
}
