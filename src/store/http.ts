/**
 * The http store (glance_store's `http`): read-only, its objects are http:// and https:// URLs
 * an operator or user recorded as image locations. Every connection — the location's and every
 * redirect's — goes through the AddressFilter, so a location cannot make the service fetch
 * internal addresses (OSSN-0065).
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import type { StoreOptions } from '../config/store-options.js';
import { AddressFilter, AddressRefused, checkLocation, checkUrl } from './address-filter.js';
import { shownUrl } from './shown-url.js';
import {
  BlobNotFound,
  InvalidRange,
  StoreError,
  StoreUnavailable,
  StoreWriteDenied,
  type BlobStore,
  type BlobWriter,
  type ByteRange,
  type StoreCapabilities,
  type WriteTarget,
} from './blob-store.js';
import type { StoreEnv } from './store-env.js';

const DRIVER = 'http';
/** Redirects followed per request (glance_store stops at 5 too). */
const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Connect + response headers, and any wait for body bytes the reader is ready for. */
const DEFAULT_TIMEOUT_MS = 30_000;
/** Bytes buffered per download before the socket is paused (backpressure). */
const BODY_BUFFER = 1 << 20;

/** A location (or one of its redirects) pointing at an address the filter refuses. */
export class LocationRefused extends StoreError {}

/** Tuning that glance_store has no option for; tests shorten it. */
export interface HttpStoreLimits {
  timeoutMs?: number;
  maxRedirects?: number;
}

type Method = 'GET' | 'HEAD';

interface Exchange {
  req: http.ClientRequest;
  res: http.IncomingMessage;
  url: URL;
}

export class HttpStore implements BlobStore {
  readonly type = DRIVER;
  readonly capabilities: StoreCapabilities = { write: false, rangedReads: true, multipart: false };
  /** Decides which addresses may be contacted (http_store_allowed_networks). */
  readonly filter: AddressFilter;
  private readonly timeoutMs: number;
  private readonly maxRedirects: number;
  private tls: https.RequestOptions;

  constructor(
    private readonly options: StoreOptions<'http'>,
    private readonly env: StoreEnv,
    limits: HttpStoreLimits = {},
  ) {
    try {
      this.filter = new AddressFilter(options.http_store_allowed_networks);
    } catch (err) {
      throw new StoreError(DRIVER, `http_store_allowed_networks: ${(err as Error).message}`);
    }
    this.timeoutMs = limits.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxRedirects = limits.maxRedirects ?? MAX_REDIRECTS;
    // As glance_store: a CA file means verify against it, whatever https_insecure says.
    this.tls = { rejectUnauthorized: options.https_ca_certificates_file !== null || !options.https_insecure };
  }

  /** Reads the CA bundle, if one is configured: a start-up error when it cannot be read. */
  async init(): Promise<void> {
    const file = this.options.https_ca_certificates_file;
    if (file === null) return;
    try {
      this.tls = { rejectUnauthorized: true, ca: await fs.readFile(file) };
    } catch (err) {
      throw new StoreError(DRIVER, `cannot read https_ca_certificates_file ${file}: ${(err as Error).message}`, { cause: err });
    }
  }

  owns(url: string): boolean {
    return /^https?:\/\//i.test(url) && checkUrl(url) === null;
  }

  async createWriter(_target: WriteTarget): Promise<BlobWriter> {
    throw new StoreWriteDenied(DRIVER, 'read-only store');
  }

  async delete(_url: string): Promise<void> {
    throw new StoreWriteDenied(DRIVER, 'read-only store');
  }

  /** Nothing is ever written, so nothing is left behind. */
  async discardWrite(_target: WriteTarget, _opts: { committed: boolean }): Promise<void> {}

  describe(): Record<string, unknown> {
    return {};
  }

  /** Why a user may not add `url` as a location, or null: see checkLocation in address-filter.ts. */
  checkLocation(url: string): Promise<string | null> {
    return checkLocation(url, this.filter);
  }

  async size(url: string): Promise<number> {
    const { req, res, url: final } = await this.follow(url, 'HEAD', {});
    try {
      const status = res.statusCode ?? 0;
      if (status >= 300) throw statusError(status, final);
      const length = contentLength(res.headers);
      if (length === null) throw new StoreError(DRIVER, `${shownUrl(final)}: the server did not say the size (no Content-Length)`);
      return length;
    } finally {
      discard(req, res);
    }
  }

  async read(url: string, range?: ByteRange): Promise<Readable> {
    if (range && !(Number.isSafeInteger(range.start) && Number.isSafeInteger(range.end) && range.start >= 0 && range.end >= range.start)) {
      throw new InvalidRange(DRIVER, `unusable range ${range.start}-${range.end}`);
    }
    const headers: http.OutgoingHttpHeaders = range ? { range: `bytes=${range.start}-${range.end}` } : {};
    const { req, res, url: final } = await this.follow(url, 'GET', headers);
    const where = shownUrl(final);
    const status = res.statusCode ?? 0;
    const length = contentLength(res.headers);
    let skip = 0;
    let limit = Infinity;
    try {
      if (range && status === 416) throw new InvalidRange(DRIVER, `${where}: range starts past the end of the object`);
      if (status >= 300) throw statusError(status, final);
      if (status === 206) {
        if (!range) throw new StoreError(DRIVER, `${where}: partial content for a whole-object request`);
        const served = contentRange(res.headers['content-range']);
        if (!served || served.start > range.start) throw new StoreError(DRIVER, `${where}: unexpected Content-Range '${res.headers['content-range'] ?? ''}'`);
        skip = range.start - served.start;
        limit = range.end - range.start + 1;
      } else if (range) {
        // The server ignored Range and sends the whole object: skip to the start, stop after the end.
        if (length !== null && range.start >= length) throw new InvalidRange(DRIVER, `${where}: range starts past the end of the object (${length} bytes)`);
        skip = range.start;
        limit = range.end - range.start + 1;
      }
    } catch (err) {
      discard(req, res);
      throw err;
    }
    const body = new ResponseBody(req, res, { skip, limit, awaitFirstByte: range !== undefined, expected: length, stallMs: this.timeoutMs, where });
    await body.positioned;
    return body;
  }

  /** Sends `method` to `url`, following redirects (each target checked again); the final exchange. */
  private async follow(url: string, method: Method, headers: http.OutgoingHttpHeaders): Promise<Exchange> {
    const syntax = checkUrl(url);
    if (syntax !== null) throw new StoreError(DRIVER, `${shownUrl(url)}: ${syntax}`);
    let target = new URL(url);
    for (let redirects = 0; ; redirects++) {
      const { req, res } = await this.send(target, method, headers);
      const status = res.statusCode ?? 0;
      if (!REDIRECT_STATUSES.has(status)) return { req, res, url: target };
      discard(req, res);
      const location = res.headers.location;
      if (redirects >= this.maxRedirects) throw new StoreError(DRIVER, `${shownUrl(url)}: more than ${this.maxRedirects} redirects`);
      if (!location) throw new StoreError(DRIVER, `${shownUrl(target)}: redirect (${status}) without a Location`);
      let next: URL;
      try {
        next = new URL(location, target);
      } catch {
        throw new StoreError(DRIVER, `${shownUrl(target)}: redirect to an invalid URL`);
      }
      const why = checkUrl(next.href);
      if (why !== null) throw this.refused(`${shownUrl(target)} redirects to ${shownUrl(next)}: ${why}`);
      target = next;
    }
  }

  /** One request; resolves when the response headers are in. Literal-IP hosts are checked here, names in the filter's lookup. */
  private send(target: URL, method: Method, headers: http.OutgoingHttpHeaders): Promise<{ req: http.ClientRequest; res: http.IncomingMessage }> {
    const refused = this.filter.hostRefusal(target.hostname);
    if (refused) return Promise.reject(this.refused(`${shownUrl(target)}: ${refused.message}`, refused));
    const secure = target.protocol === 'https:';
    // identity: the bytes are the image as stored; a compressed transfer would break ranges and sizes.
    const sent: http.OutgoingHttpHeaders = { 'user-agent': 'ocellus', 'accept-encoding': 'identity', ...headers };
    if (target.username || target.password) {
      // glance_store (python-requests) sends a location's user:password@ as Basic credentials.
      sent.authorization = `Basic ${Buffer.from(`${percentDecode(target.username)}:${percentDecode(target.password)}`).toString('base64')}`;
    }
    const options: https.RequestOptions = {
      method,
      hostname: target.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: target.port || (secure ? 443 : 80),
      path: `${target.pathname}${target.search}`,
      headers: sent,
      // One connection per request: a download holds its socket for as long as the reader is
      // slow anyway, and no pooled socket outlives the request.
      agent: false,
      lookup: this.filter.lookup,
      ...(secure ? this.tls : {}),
    };
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(options);
      const timer = setTimeout(() => {
        req.destroy(new StoreUnavailable(DRIVER, `${shownUrl(target)}: no answer within ${this.timeoutMs / 1000} s`));
      }, this.timeoutMs);
      req.on('response', (res) => {
        clearTimeout(timer);
        resolve({ req, res });
      });
      // Kept after the response too: later socket errors reach the response, this only keeps them from being unhandled.
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(this.mapRequestError(err, target));
      });
      req.end();
    });
  }

  private mapRequestError(err: Error, target: URL): StoreError {
    if (err instanceof StoreError) return err;
    if (err instanceof AddressRefused) return this.refused(`${shownUrl(target)}: ${err.message}`, err);
    const code = (err as NodeJS.ErrnoException).code;
    return new StoreUnavailable(DRIVER, `cannot reach ${shownUrl(target)}: ${code ?? err.message}`, { cause: err });
  }

  /** A refusal is worth a log line of its own: it may be someone probing the internal network. */
  private refused(message: string, cause?: unknown): LocationRefused {
    this.env.log(`http store: ${message}`);
    return new LocationRefused(DRIVER, message, { cause });
  }
}

function statusError(status: number, url: URL): StoreError {
  const where = shownUrl(url);
  if (status === 404 || status === 410) return new BlobNotFound(DRIVER, `${where}: no such object (${status})`);
  if (status >= 400) return new StoreUnavailable(DRIVER, `${where}: the server answered ${status}`);
  return new StoreError(DRIVER, `${where}: unexpected answer ${status}`);
}

function percentDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // a stray '%' is meant literally
  }
}

function discard(req: http.ClientRequest, res: http.IncomingMessage): void {
  res.destroy();
  req.destroy();
}

function contentLength(headers: http.IncomingHttpHeaders): number | null {
  const value = headers['content-length'];
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : null;
}

function contentRange(value: string | undefined): { start: number; end: number } | null {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/i.exec(value?.trim() ?? '');
  return m ? { start: Number(m[1]), end: Number(m[2]) } : null;
}

/**
 * A response body as the store's reader sees it: `skip` bytes dropped, at most `limit` passed on
 * (for servers that ignore Range), backpressure carried to the socket (the response is paused
 * while the reader's buffer is full), and failures made StoreErrors: a connection that breaks or
 * a body shorter than its Content-Length is an error, never a clean end.
 *
 * The stall timer runs only while this stream wants bytes (its buffer has room): a reader that is
 * slow does not time the server out, a server that stops sending does.
 */
class ResponseBody extends Readable {
  /**
   * Settles once the reader can start: at once for a whole object; for a range, at its first byte
   * (InvalidRange if the body ends before it), so that read() can still reject.
   */
  readonly positioned: Promise<void>;
  private settle!: (err?: Error) => void;
  private isPositioned = false;
  private done = false;
  private received = 0;
  private skip: number;
  private left: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly req: http.ClientRequest,
    private readonly res: http.IncomingMessage,
    private readonly opts: { skip: number; limit: number; awaitFirstByte: boolean; expected: number | null; stallMs: number; where: string },
  ) {
    super({ highWaterMark: BODY_BUFFER });
    this.skip = opts.skip;
    this.left = opts.limit;
    this.positioned = new Promise<void>((resolve, reject) => {
      this.settle = (err) => {
        if (this.isPositioned) return;
        this.isPositioned = true;
        if (err) reject(err);
        else resolve();
      };
    });
    if (!opts.awaitFirstByte) this.settle();
    res.on('data', (chunk: Buffer) => this.onData(chunk));
    res.on('end', () => this.onEnd());
    res.on('error', (err) => this.fail(this.broken(err)));
    res.on('close', () => this.fail(this.broken()));
    this.arm();
  }

  private onData(chunk: Buffer): void {
    if (this.done) return;
    this.received += chunk.length;
    let piece = chunk;
    if (this.skip > 0) {
      if (piece.length <= this.skip) {
        this.skip -= piece.length;
        this.arm();
        return;
      }
      piece = piece.subarray(this.skip);
      this.skip = 0;
    }
    if (piece.length > this.left) piece = piece.subarray(0, this.left);
    this.left -= piece.length;
    this.settle();
    const more = this.push(piece);
    if (this.left === 0) return this.finish();
    if (more) this.arm();
    else {
      this.disarm();
      this.res.pause();
    }
  }

  override _read(): void {
    if (this.done) return;
    this.arm();
    this.res.resume();
  }

  private onEnd(): void {
    if (this.done) return;
    const { expected } = this.opts;
    if (expected !== null && this.received < expected) return this.fail(this.broken());
    // Ended before the first byte of the range (its start is at or past the end).
    if (!this.isPositioned) return this.fail(new InvalidRange(DRIVER, `${this.opts.where}: range starts past the end of the object (${this.received} bytes)`));
    this.finish();
  }

  /** Ends the stream; the connection is closed (the rest of an ignored-Range body is never downloaded). */
  private finish(): void {
    this.done = true;
    this.disarm();
    this.settle();
    this.push(null);
    this.req.destroy();
  }

  private fail(err: StoreError): void {
    if (this.done) return;
    this.done = true;
    this.disarm();
    this.req.destroy();
    if (!this.isPositioned) {
      // Nobody holds the stream yet: read() rejects instead of handing out a failed stream.
      this.settle(err);
      this.destroy();
    } else this.destroy(err);
  }

  private broken(cause?: Error): StoreError {
    return new StoreUnavailable(DRIVER, `${this.opts.where}: the connection broke after ${this.received} bytes${this.opts.expected !== null ? ` of ${this.opts.expected}` : ''}`, { cause });
  }

  private arm(): void {
    if (this.timer) this.timer.refresh();
    else this.timer = setTimeout(() => this.fail(new StoreUnavailable(DRIVER, `${this.opts.where}: no data for ${this.opts.stallMs / 1000} s`)), this.opts.stallMs);
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.done = true;
    this.disarm();
    this.req.destroy();
    callback(err);
  }
}
