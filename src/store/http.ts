/**
 * The http store (glance_store's `http`): read-only, its objects are http:// and https:// URLs
 * an operator or user recorded as image locations. Every connection — the location's and every
 * redirect's — goes through the AddressFilter, so a location cannot make the service fetch
 * internal addresses (OSSN-0065).
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { StoreOptions } from '../config/store-options.js';
import { AddressFilter, AddressRefused, checkLocation, checkUrl } from './address-filter.js';
import { contentLength, discard, IdleTimedBody } from './response-body.js';
import { shownUrl } from './shown-url.js';
import { basicAuthorization } from './url-credentials.js';
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
    // glance_store (python-requests) sends a location's user:password@ as Basic credentials.
    const authorization = basicAuthorization(target);
    if (authorization) sent.authorization = authorization;
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

function contentRange(value: string | undefined): { start: number; end: number } | null {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/i.exec(value?.trim() ?? '');
  return m ? { start: Number(m[1]), end: Number(m[2]) } : null;
}

/**
 * A response body as the store's reader sees it: `skip` bytes dropped, at most `limit` passed on
 * (for servers that ignore Range), and failures StoreUnavailable (IdleTimedBody does the rest).
 */
class ResponseBody extends IdleTimedBody {
  /**
   * Settles once the reader can start: at once for a whole object; for a range, at its first byte
   * (InvalidRange if the body ends before it), so that read() can still reject.
   */
  readonly positioned: Promise<void>;
  private position!: (err?: Error) => void;
  private isPositioned = false;
  private skip: number;
  private left: number;

  constructor(req: http.ClientRequest, res: http.IncomingMessage, opts: { skip: number; limit: number; awaitFirstByte: boolean; expected: number | null; stallMs: number; where: string }) {
    super(req, res, { expected: opts.expected, idleMs: opts.stallMs, where: opts.where, transient: (message, cause) => new StoreUnavailable(DRIVER, message, { cause }) });
    this.skip = opts.skip;
    this.left = opts.limit;
    this.positioned = new Promise<void>((resolve, reject) => {
      this.position = (err) => {
        if (this.isPositioned) return;
        this.isPositioned = true;
        if (err) reject(err);
        else resolve();
      };
    });
    if (!opts.awaitFirstByte) this.position();
  }

  protected onChunk(chunk: Buffer): void {
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
    this.position();
    this.forward(piece);
    if (this.left === 0) this.finish();
  }

  protected override complete(): void {
    // Ended before the first byte of the range (its start is at or past the end).
    if (!this.isPositioned) return this.fail(new InvalidRange(DRIVER, `${this.body.where}: range starts past the end of the object (${this.received} bytes)`));
    this.finish();
  }

  /** Ends the stream; the connection is closed (the rest of an ignored-Range body is never downloaded). */
  private finish(): void {
    this.position();
    super.complete();
    this.req.destroy();
  }

  protected override report(err: Error): void {
    if (this.isPositioned) this.destroy(err);
    else {
      // Nobody holds the stream yet: read() rejects instead of handing out a failed stream.
      this.position(err);
      this.destroy();
    }
  }
}
