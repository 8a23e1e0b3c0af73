/**
 * An HTTP response body read as a stream by someone who copies it elsewhere (the http store's
 * reader, an import's download): backpressure carried to the socket, a server that stops sending
 * timed out, and a broken connection or a body shorter than its Content-Length made an error,
 * never a clean end. What the bytes are for (a range, a size cap) and which error family reports
 * a failure stay with each user, in a subclass.
 */
import type http from 'node:http';
import { Readable } from 'node:stream';

/** Bytes buffered per body before the response is paused (backpressure). */
const BODY_BUFFER = 1 << 20;

export interface IdleTimedBodyOptions {
  /** The response's Content-Length; null when the server did not say. */
  expected: number | null;
  /** No byte for this long while the reader wants bytes → fail. */
  idleMs: number;
  /** The source as messages show it (no credentials). */
  where: string;
  /**
   * The error for a failure another attempt may get past (a broken connection, a silent server),
   * in the caller's error family.
   */
  transient: (message: string, cause?: Error) => Error;
}

/**
 * The idle timer runs only while this stream wants bytes (its buffer has room): a slow reader does
 * not time the server out, a server that stops sending does.
 *
 * Subclasses decide what each chunk becomes (`onChunk`) and how the complete body ends (`complete`);
 * every path that stops the body goes through `settle`, once.
 */
export abstract class IdleTimedBody extends Readable {
  /** Set once the body ended or failed: later response events change nothing. */
  protected done = false;
  /** Bytes the server sent so far, those a subclass dropped included. */
  protected received = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    protected readonly req: http.ClientRequest,
    protected readonly res: http.IncomingMessage,
    protected readonly body: IdleTimedBodyOptions,
  ) {
    super({ highWaterMark: BODY_BUFFER });
    res.on('data', (chunk: Buffer) => {
      if (this.done) return;
      this.received += chunk.length;
      this.onChunk(chunk);
    });
    res.on('end', () => this.onEnd());
    res.on('error', (err) => this.fail(this.broken(err)));
    // After 'end' this finds the body done; before it, the connection went away mid-body.
    res.on('close', () => this.fail(this.broken()));
    this.arm();
  }

  /** One chunk from the server, already counted in `received`: `forward` what the reader gets, or `fail`. */
  protected abstract onChunk(chunk: Buffer): void;

  /** The whole body arrived (as long as its Content-Length said): ends the stream. */
  protected complete(): void {
    this.settle();
    this.push(null);
  }

  /** How a failure reaches the reader: the stream errors. */
  protected report(err: Error): void {
    this.destroy(err);
  }

  /** Passes `piece` on; a full buffer pauses the response (and its timer) until `_read` asks again. */
  protected forward(piece: Buffer): void {
    if (this.push(piece)) this.arm();
    else {
      this.disarm();
      this.res.pause();
    }
  }

  /** Stops the body for good: no more timer, no more events acted on. Subclasses add their own clean-up. */
  protected settle(): void {
    this.done = true;
    this.disarm();
  }

  /** Ends the body with `err`, closing the connection. */
  protected fail(err: Error): void {
    if (this.done) return;
    this.settle();
    this.req.destroy();
    this.report(err);
  }

  /** Restarts the idle timer: for a chunk that was taken but not passed on (the reader still wants bytes). */
  protected arm(): void {
    if (this.timer) this.timer.refresh();
    else this.timer = setTimeout(() => this.fail(this.body.transient(`${this.body.where}: no data for ${this.body.idleMs / 1000} s`)), this.body.idleMs);
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private onEnd(): void {
    if (this.done) return;
    const { expected } = this.body;
    // Node's parser never delivers more than Content-Length, so only a short body is possible.
    if (expected !== null && this.received < expected) return this.fail(this.broken());
    this.complete();
  }

  private broken(cause?: Error): Error {
    const of = this.body.expected !== null ? ` of ${this.body.expected}` : '';
    return this.body.transient(`${this.body.where}: the connection broke after ${this.received} bytes${of}`, cause);
  }

  override _read(): void {
    if (this.done) return;
    this.arm();
    this.res.resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.settle();
    this.req.destroy();
    callback(err);
  }
}

/** Drops an exchange whose body nobody will read (a redirect, an error answer). */
export function discard(req: http.ClientRequest, res: http.IncomingMessage): void {
  res.destroy();
  req.destroy();
}

/** Content-Length as a number; null when absent or not a plain decimal. */
export function contentLength(headers: http.IncomingHttpHeaders): number | null {
  const value = headers['content-length'];
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : null;
}
