/**
 * The BlobWriter of the Swift driver: streams the bytes into segment objects (one streaming PUT
 * each, chunked, waiting on the socket's drain so a slow Swift slows the writer down), checks each
 * segment's ETag against the MD5 computed on the way, and leaves making them an object (the SLO
 * manifest) to commit. See swift.ts for why segments.
 */
import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { StoreError, type BlobWriter, type StoredObject } from './blob-store.js';
import { statusError, type SwiftClient } from './swift-client.js';
import type { OpenRequest } from './swift-http.js';

const DRIVER = 'swift';
/** Bytes the writer buffers before write() says stop; the socket buffers a little more. */
const HIGH_WATER_MARK = 4 << 20;

/** One uploaded segment, as the SLO manifest lists it. */
export interface Segment {
  name: string;
  etag: string;
  size: number;
}

export interface WriterPlan {
  client: SwiftClient;
  container: string;
  /** Object-name prefix of this attempt's segments (`<key>/<attempt>/`). */
  segmentPrefix: string;
  /** Size of segment number `index` (0-based); segments may grow so that any image fits in the manifest limit. */
  segmentSize: (index: number) => number;
  /** Makes the uploaded segments the object; returns its location. */
  commit: (segments: Segment[]) => Promise<StoredObject>;
  /** Removes every segment of this attempt. */
  discard: () => Promise<void>;
}

interface OpenSegment {
  name: string;
  open: OpenRequest;
  bytes: number;
  md5: Hash;
}

export class SwiftWriter extends Writable implements BlobWriter {
  private state: 'open' | 'committing' | 'committed' | 'cancelled' = 'open';
  private readonly segments: Segment[] = [];
  private current: OpenSegment | undefined;
  /** The segment work in flight (a write or the closing of a segment), awaited before cleaning up. */
  private busy: Promise<void> = Promise.resolve();
  private cleanup: Promise<void> | undefined;

  constructor(private readonly plan: WriterPlan) {
    super({ highWaterMark: HIGH_WATER_MARK });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.track(this.append(chunk)).then(() => cb(), (err: Error) => cb(err));
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.track(this.closeSegment()).then(() => cb(), (err: Error) => cb(err));
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // Aborting an unfinished chunked PUT makes Swift drop that segment.
    this.current?.open.req.destroy();
    this.current = undefined;
    // A stream that failed (or was destroyed before finishing) removes its segments at once;
    // cancel() waits for that. (After a normal finish, autoDestroy lands here too: keep them.)
    if (!this.writableFinished && this.state === 'open') void this.startCleanup().catch(() => undefined);
    cb(err);
  }

  private track(p: Promise<void>): Promise<void> {
    this.busy = p.catch(() => undefined);
    return p;
  }

  private async append(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      if (this.state !== 'open' || this.destroyed) throw new StoreError(DRIVER, `write to a ${this.state === 'open' ? 'failed' : this.state} writer`);
      const seg = this.current ?? (await this.openSegment());
      const room = this.plan.segmentSize(this.segments.length) - seg.bytes;
      const piece = chunk.subarray(off, off + Math.min(room, chunk.length - off));
      seg.md5.update(piece);
      seg.bytes += piece.length;
      off += piece.length;
      if (!seg.open.req.write(piece)) await drained(seg, this.plan.container);
      if (seg.bytes >= this.plan.segmentSize(this.segments.length)) await this.closeSegment();
    }
  }

  private async openSegment(): Promise<OpenSegment> {
    const name = `${this.plan.segmentPrefix}${String(this.segments.length + 1).padStart(8, '0')}`;
    const what = `segment ${this.plan.container}/${name}`;
    const open = await this.plan.client.startPut(pathOf(this.plan.container, name), { 'Content-Type': 'application/octet-stream' }, what);
    if (this.destroyed || this.state !== 'open') {
      open.req.destroy();
      throw new StoreError(DRIVER, 'write to a cancelled writer');
    }
    // Errors surface through the response promise; don't let the request's own 'error' go unhandled.
    open.req.on('error', () => undefined);
    this.current = { name, open, bytes: 0, md5: createHash('md5') };
    return this.current;
  }

  private async closeSegment(): Promise<void> {
    const seg = this.current;
    if (!seg) return;
    this.current = undefined;
    seg.open.req.end();
    const res = await seg.open.response;
    let body = '';
    for await (const c of res) body += (c as Buffer).toString('utf8');
    const status = res.statusCode ?? 0;
    if (status !== 201) throw statusError(status, `segment ${this.plan.container}/${seg.name}`, 'write', body);
    const md5 = seg.md5.digest('hex');
    const etag = String(res.headers.etag ?? '').replace(/"/g, '');
    if (etag !== md5) throw new StoreError(DRIVER, `segment ${this.plan.container}/${seg.name}: Swift stored ETag ${etag}, the bytes sent have MD5 ${md5}`);
    this.segments.push({ name: seg.name, etag, size: seg.bytes });
  }

  async commit(): Promise<StoredObject> {
    if (this.state !== 'open') throw new StoreError(DRIVER, `commit of a ${this.state} write`);
    if (!this.writableFinished || this.errored) throw new StoreError(DRIVER, 'commit of a write whose stream did not finish');
    this.state = 'committing';
    try {
      const stored = await this.plan.commit([...this.segments]);
      this.state = 'committed';
      return stored;
    } catch (err) {
      this.state = 'open';
      await this.cancel().catch(() => undefined);
      throw err;
    }
  }

  async cancel(): Promise<void> {
    if (this.state === 'committed' || this.state === 'committing') return;
    this.state = 'cancelled';
    if (!this.destroyed) this.destroy();
    await this.startCleanup();
  }

  private startCleanup(): Promise<void> {
    this.cleanup ??= (async () => {
      // A segment being closed right now may still appear: let it settle, then list and delete.
      await this.busy;
      await this.plan.discard();
    })();
    return this.cleanup;
  }
}

function pathOf(container: string, name: string): string {
  const enc = (s: string) => s.split('/').map(encodeURIComponent).join('/');
  return `/${encodeURIComponent(container)}/${enc(name)}`;
}

/** Waits for the segment request's drain, or fails if Swift answered (an error) or the connection broke first. */
async function drained(seg: OpenSegment, container: string): Promise<void> {
  const outcome = await Promise.race([
    once(seg.open.req, 'drain').then(
      () => 'drained' as const,
      () => 'broken' as const,
    ),
    seg.open.response.then(() => 'answered' as const),
  ]);
  if (outcome === 'drained') return;
  // The response promise rejects with StoreUnavailable when the connection broke.
  const res = await seg.open.response;
  let body = '';
  for await (const c of res) body += (c as Buffer).toString('utf8');
  throw statusError(res.statusCode ?? 0, `segment ${container}/${seg.name}`, 'write', body || 'answered before the body was sent');
}
