import { Region, TailRegion } from './regions.js';

/** The formats the inspector recognises; `raw` is what nothing else matched. */
export type DetectedFormat = 'raw' | 'qcow2' | 'qed' | 'vmdk' | 'vhd' | 'vhdx' | 'vdi' | 'iso' | 'gpt' | 'luks';

/** A failed safety check: its name (as oslo.utils names it, e.g. `backing_file`, `mbr`) and why. */
export interface SafetyFailure {
  check: string;
  reason: string;
}

export interface ProbeResult {
  matched: boolean;
  virtualSize: number | null;
  failures: SafetyFailure[];
  /** The variant inside the format where it matters to the judgement (VMDK's createType). */
  subformat: string | null;
}

/**
 * One format's detector. A subclass asks for regions (`want`) and decides from their bytes in
 * the callbacks; the base class feeds it the stream in order. Callbacks run at the byte where
 * their region ends, whatever the chunking, so the result never depends on how the stream was
 * cut. A region asked for behind the stream position can no longer be captured: `want` says so
 * and the probe treats that as a malformed image. A callback that throws (a hostile header with
 * offsets past its own buffers) does not escape: the probe records the header as malformed.
 */
export abstract class Probe {
  abstract readonly format: DetectedFormat;
  /** Set once the format's signature is seen; a malformed image of the format still matched. */
  protected matched = false;
  protected virtualSize: number | null = null;
  protected subformat: string | null = null;
  protected readonly failures: SafetyFailure[] = [];
  private tail: TailRegion | null = null;
  /** Where the tail started: a tail asked for mid-chunk takes the rest of that chunk. */
  private tailFrom = 0;
  private pending: Region[] = [];
  /** The stream offset up to which this probe has seen the bytes. */
  private position = 0;
  /** No more bytes needed: decided, rejected, or given up. */
  private settled = false;

  /** True while the probe still wants bytes of the stream. */
  get active(): boolean {
    return !this.settled && (this.pending.length > 0 || this.tail !== null);
  }

  get retained(): number {
    let n = this.tail?.retained ?? 0;
    for (const r of this.pending) n += r.retained;
    return n;
  }

  /**
   * Asks for `length` bytes at `offset`; `then` gets them once they have passed. An offset behind
   * the stream position (or a length that is not a positive safe integer) means the image points
   * somewhere it cannot be read from in one pass: the probe stops, and a matched image is
   * malformed. Returns whether the region was taken.
   */
  protected want(offset: number, length: number, label: string, then: (bytes: Buffer) => void, partialOk = false): boolean {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || length <= 0 || offset < this.position) {
      if (this.matched) this.fail('header', `the ${label} lies behind data already read (offset ${offset}, ${length} bytes)`);
      this.stop();
      return false;
    }
    this.pending.push(new Region(offset, length, label, then, partialOk));
    return true;
  }

  /** Drops a region asked for earlier (another path of the format was taken). */
  protected forget(label: string): void {
    this.pending = this.pending.filter((r) => r.label !== label);
  }

  /** Keeps the last `length` bytes of the stream from here on, for `conclude` (`tailBytes`). */
  protected keepTail(length: number): void {
    this.tail = new TailRegion(length);
    this.tailFrom = this.position;
  }

  /** The kept tail: the stream's last bytes, or null when fewer passed (or no tail was kept). */
  protected tailBytes(): Buffer | null {
    return this.tail?.bytes() ?? null;
  }

  /** The format is not this one: stop looking. */
  protected reject(): void {
    this.matched = false;
    this.stop();
  }

  protected fail(check: string, reason: string): void {
    this.failures.push({ check, reason });
  }

  /** Nothing more to read (a decision is made, or the structure is too broken to go on). */
  protected stop(): void {
    this.settled = true;
    this.pending = [];
    this.tail = null;
  }

  feed(chunk: Buffer, start: number): void {
    const end = start + chunk.length;
    try {
      while (!this.settled && this.pending.length > 0 && this.position < end) {
        // Up to the nearest end of a region still being filled, so its callback runs at that
        // byte and any region it adds starts from there.
        let stop = end;
        for (const r of this.pending) if (r.end > this.position && r.end < stop) stop = r.end;
        const slice = chunk.subarray(this.position - start, stop - start);
        for (const r of this.pending) r.capture(slice, this.position);
        this.position = stop;
        const done = this.pending.filter((r) => r.complete);
        if (done.length === 0) continue;
        this.pending = this.pending.filter((r) => !r.complete);
        for (const r of done) {
          if (this.settled) break;
          r.onComplete(r.bytes());
        }
      }
    } catch (err) {
      this.malformed(err);
    }
    this.tail?.push(this.tailFrom > start ? chunk.subarray(this.tailFrom - start) : chunk);
    this.position = end;
  }

  /** The verdict at the end of the stream (`size` bytes in all). */
  finish(size: number): ProbeResult {
    try {
      const missing = this.pending;
      this.conclude(size, missing);
      if (this.matched) for (const r of missing) if (!r.partialOk) this.fail('header', `the image ends inside its ${r.label} (${r.filled} of ${r.length} bytes at offset ${r.offset})`);
    } catch (err) {
      this.malformed(err);
    }
    this.settled = true;
    this.pending = [];
    return { matched: this.matched, virtualSize: this.matched ? this.virtualSize : null, failures: this.failures, subformat: this.subformat };
  }

  /**
   * End-of-stream work of the format (sizes taken from the stream length, footers), called once
   * whether or not the probe matched or settled early; `missing` = regions never completed.
   */
  protected conclude(_size: number, _missing: readonly Region[]): void {}

  private malformed(err: unknown): void {
    if (this.matched) this.fail('header', `malformed ${this.format} structure (${err instanceof Error ? err.message : String(err)})`);
    this.stop();
  }
}

/** A u64 as a number, or null beyond 2^53 (no real disk is that large; a hostile header may say so). */
export function safeU64(v: bigint): number | null {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : null;
}
