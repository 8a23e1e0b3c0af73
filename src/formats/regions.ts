/**
 * Byte regions a format probe asks for while an image streams past. A probe never reads the
 * image again: it names the offsets it needs, and the bytes that fall inside them are copied as
 * they pass. Everything else is left alone, so what a probe keeps is bounded by the regions it
 * asked for, whatever the stream's size.
 */

const EMPTY = Buffer.alloc(0);

/** A fixed span of the stream, `length` bytes from `offset`, filled in order as it passes. */
export class Region {
  private data: Buffer | null = null;
  /** Bytes captured so far, from `offset` on. */
  filled = 0;

  constructor(
    readonly offset: number,
    readonly length: number,
    /** What the region holds, for messages ("qcow2 header"). */
    readonly label: string,
    readonly onComplete: (bytes: Buffer) => void,
    /** The probe can decide from a prefix when the stream ends early (no "truncated" failure). */
    readonly partialOk = false,
  ) {}

  get end(): number {
    return this.offset + this.length;
  }

  get complete(): boolean {
    return this.filled === this.length;
  }

  /** Bytes allocated for the region (allocation waits for its first byte). */
  get retained(): number {
    return this.data?.length ?? 0;
  }

  /** What has been captured: all of it once complete, a prefix when the stream ended early. */
  bytes(): Buffer {
    return this.data ? this.data.subarray(0, this.filled) : EMPTY;
  }

  /** Takes the part of `slice` (which starts at stream offset `sliceStart`) that falls inside the region. */
  capture(slice: Buffer, sliceStart: number): void {
    const want = this.offset + this.filled;
    const from = Math.max(sliceStart, want);
    const to = Math.min(sliceStart + slice.length, this.end);
    // A gap (the next byte wanted lies before this slice) cannot be filled any more; the probe
    // only creates regions at or after the stream position, so it does not happen.
    if (to <= from || from !== want) return;
    this.data ??= Buffer.alloc(this.length);
    slice.copy(this.data, this.filled, from - sliceStart, to - sliceStart);
    this.filled += to - from;
  }
}

/**
 * The last `length` bytes of the stream (a footer), kept in a ring so each chunk costs at most
 * `length` bytes of copying, whatever the chunk sizes.
 */
export class TailRegion {
  private readonly ring: Buffer;
  private at = 0;
  private seen = 0;

  constructor(readonly length: number) {
    this.ring = Buffer.alloc(length);
  }

  get retained(): number {
    return this.ring.length;
  }

  push(chunk: Buffer): void {
    const n = this.length;
    this.seen += chunk.length;
    let src = chunk.length > n ? chunk.subarray(chunk.length - n) : chunk;
    while (src.length > 0) {
      const k = Math.min(src.length, n - this.at);
      src.copy(this.ring, this.at, 0, k);
      this.at = (this.at + k) % n;
      src = src.subarray(k);
    }
  }

  /** The last `length` bytes in stream order, or null when the stream was shorter. */
  bytes(): Buffer | null {
    if (this.seen < this.length) return null;
    return Buffer.concat([this.ring.subarray(this.at), this.ring.subarray(0, this.at)]);
  }
}
