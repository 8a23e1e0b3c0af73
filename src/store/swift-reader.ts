/**
 * A download from Swift as a Readable that keeps backpressure (the response is paused while the
 * consumer does not read) and, with swift_store_retry_get_count, resumes a broken download with a
 * Range from the byte it reached — guarded by If-Match on the object's ETag, so a resumed read
 * never splices the bytes of an object that was replaced meanwhile.
 */
import type { IncomingMessage } from 'node:http';
import { Readable, finished } from 'node:stream';
import { StoreUnavailable } from './blob-store.js';

const DRIVER = 'swift';

/** Opens the object again from byte `from` (to the same end), requiring the same ETag. */
export type Reopen = (from: number, end: number, etag: string | undefined) => Promise<IncomingMessage>;

export class SwiftReadStream extends Readable {
  private res: IncomingMessage | undefined;
  /** Absolute offset of the next byte to deliver. */
  private pos: number;
  /** Absolute offset of the last byte to deliver. */
  private readonly last: number;
  private readonly etag: string | undefined;
  private retriesLeft: number;

  constructor(
    first: IncomingMessage,
    start: number,
    private readonly reopen: Reopen,
    retries: number,
    private readonly what: string,
  ) {
    super({ highWaterMark: 1 << 20 });
    this.pos = start;
    this.last = start + bodyLength(first) - 1;
    this.etag = first.headers.etag;
    this.retriesLeft = retries;
    this.attach(first);
  }

  private attach(res: IncomingMessage): void {
    this.res = res;
    res.on('data', (chunk: Buffer) => {
      if (this.res !== res) return;
      this.pos += chunk.length;
      if (!this.push(chunk)) res.pause();
    });
    finished(res, (err) => {
      if (this.res !== res || this.destroyed) return;
      if (!err && this.pos > this.last) {
        this.push(null);
        return;
      }
      this.broken(err ?? new Error(`the response ended after ${this.pos} of ${this.last + 1} bytes`));
    });
  }

  private broken(err: Error): void {
    this.res = undefined;
    if (this.retriesLeft <= 0) {
      this.destroy(new StoreUnavailable(DRIVER, `download of ${this.what} broke at byte ${this.pos}: ${err.message}`, { cause: err }));
      return;
    }
    this.retriesLeft--;
    this.reopen(this.pos, this.last, this.etag).then(
      (res) => {
        if (this.destroyed) {
          res.destroy();
          return;
        }
        this.attach(res);
        if (this.readableFlowing !== false && this.readableLength < this.readableHighWaterMark) res.resume();
      },
      (e: Error) => this.destroy(e),
    );
  }

  override _read(): void {
    this.res?.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const res = this.res;
    this.res = undefined;
    res?.destroy();
    cb(err);
  }
}

/** Bytes in a 200 or 206 response body, from Content-Length (Swift always sends it on GET). */
function bodyLength(res: IncomingMessage): number {
  const n = Number(res.headers['content-length']);
  if (!Number.isFinite(n) || n < 0) throw new StoreUnavailable(DRIVER, 'Swift answered a GET without Content-Length');
  return n;
}
