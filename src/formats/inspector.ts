import { IsoProbe } from './iso.js';
import { LuksProbe } from './luks.js';
import { MbrGptProbe } from './mbr-gpt.js';
import type { DetectedFormat, Probe, SafetyFailure } from './probe.js';
import { Qcow2Probe } from './qcow2.js';
import { QedProbe } from './qed.js';
import { VdiProbe } from './vdi.js';
import { VhdProbe } from './vhd.js';
import { VhdxProbe } from './vhdx.js';
import { VmdkProbe } from './vmdk.js';

export type { DetectedFormat, SafetyFailure } from './probe.js';

/** Every format the inspector can name — Glance's "inspectable" formats (format_inspector.ALL_FORMATS). */
export const INSPECTABLE_FORMATS: readonly DetectedFormat[] = ['raw', 'qcow2', 'qed', 'vmdk', 'vhd', 'vhdx', 'vdi', 'iso', 'gpt', 'luks'];

export interface Inspection {
  /** What the content is; `raw` when no format's signature matched. */
  format: DetectedFormat;
  /** The disk size the format declares, in bytes (raw: the stream's length); null when unknown. */
  virtualSize: number | null;
  /** Bytes in the stream. */
  size: number;
  /** Safety-check failures of the detected format, as "check: reason" (empty = safe). */
  unsafe: string[];
  /** The same failures with their check names apart (`mbr`, `backing_file`, …), for rules that treat some as non-fatal. */
  failures: SafetyFailure[];
  /** Formats that matched besides `format` (a polyglot: content valid as several formats). */
  alsoMatched: DetectedFormat[];
  /** VMDK: the descriptor's createType (to judge against vmdk_allowed_types); else null. */
  subformat: string | null;
}

/**
 * Learns a disk image's format from its bytes as they stream past, the way Glance's
 * format_inspector does, without a second read and without running a tool on untrusted input.
 * Every format's probe looks at the same stream; each asks only for the byte regions it needs
 * (headers, a descriptor, a table an offset points to, the last 1.5 KiB for a VMDK footer), so
 * memory stays under `MAX_RETAINED` however large or hostile the image. Once every probe has
 * decided, `feed` only counts bytes.
 *
 * When several formats match, `format` is the first in this order — qcow2, qed, vmdk, vhd, vhdx,
 * vdi, luks, iso, gpt — so a bootable ISO with a partition table is `iso` with `gpt` also matched.
 */
export class FormatInspector {
  /** The most bytes the inspector keeps at once: a VMDK descriptor (< 1 MiB), VHDX tables (64 KiB each) and small headers. */
  static readonly MAX_RETAINED = 1024 * 1024 + 256 * 1024;

  private readonly probes: Probe[] = [new Qcow2Probe(), new QedProbe(), new VmdkProbe(), new VhdProbe(), new VhdxProbe(), new VdiProbe(), new LuksProbe(), new IsoProbe(), new MbrGptProbe()];
  private active: Probe[] = this.probes.slice();
  private size = 0;
  private result: Inspection | null = null;

  /** Takes the next chunk of the stream (called in order, synchronously, while the bytes pass). */
  feed(chunk: Buffer): void {
    if (this.result) throw new Error('FormatInspector: feed after finish');
    const start = this.size;
    this.size += chunk.length;
    if (this.active.length === 0 || chunk.length === 0) return;
    let settled = false;
    for (const p of this.active) {
      p.feed(chunk, start);
      if (!p.active) settled = true;
    }
    if (settled) this.active = this.active.filter((p) => p.active);
  }

  /** Bytes held for the probes now (always ≤ MAX_RETAINED). */
  get retainedBytes(): number {
    let n = 0;
    for (const p of this.active) n += p.retained;
    return n;
  }

  /** The verdict, once the whole stream has been fed. Calling it again returns the same verdict. */
  finish(): Inspection {
    if (this.result) return this.result;
    const matches = this.probes.map((p) => ({ format: p.format, ...p.finish(this.size) })).filter((r) => r.matched);
    this.active = [];
    const first = matches[0];
    this.result = first
      ? {
          format: first.format,
          virtualSize: first.virtualSize,
          size: this.size,
          unsafe: first.failures.map((f) => `${f.check}: ${f.reason}`),
          failures: first.failures,
          alsoMatched: matches.slice(1).map((m) => m.format),
          subformat: first.subformat,
        }
      : { format: 'raw', virtualSize: this.size, size: this.size, unsafe: [], failures: [], alsoMatched: [], subformat: null };
    return this.result;
  }
}
