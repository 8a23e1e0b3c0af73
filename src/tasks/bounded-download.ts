/**
 * One HTTP(S) GET whose answer an import copies: every hop (the first request and each redirect)
 * approved by the caller's policy before it connects, the time without a byte and the number of
 * bytes bounded, and every failure an ImportSourceError that says whether trying again may help.
 * web-download and glance-download differ only in their policy (which URLs, which addresses,
 * which headers).
 */
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type { Readable } from 'node:stream';
import { AddressRefused } from '../store/address-filter.js';
import { contentLength, discard, IdleTimedBody } from '../store/response-body.js';
import { shownUrl } from '../store/shown-url.js';
import { ImportSourceError } from './import-sources.js';

export interface DownloadLimits {
  /** No byte (or no response) for this long → fail. */
  idleTimeoutMs: number;
  /** More bytes → fail (the image size cap). */
  maxBytes: number;
  maxRedirects: number;
}

/** What one kind of source allows: checked before each connection. */
export interface HopPolicy {
  /**
   * The URL to request for `written` (the source as given, or a redirect's Location as sent),
   * `from` the URL that redirected (null for the first request); throws ImportSourceError when
   * that hop is refused.
   */
  approve(written: string, from: URL | null): URL;
  /** Headers sent to `url` (credentials only ever to the origin they belong to). */
  headers(url: URL): http.OutgoingHttpHeaders;
  /** Address checks: a literal-IP host judged before connecting, a name in the socket's `lookup`. */
  addresses?: { hostRefusal(hostname: string): AddressRefused | null; lookup: net.LookupFunction };
}

export interface Download {
  stream: Readable;
  /** Content-Length of the answer; null when the server did not say. */
  size: number | null;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Answers another attempt may get past: timeouts, throttling, server trouble. */
const RETRYABLE_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504]);

/** GETs `source` following redirects as `policy` allows; resolves once a 2xx answer's headers are in. */
export async function openBoundedGet(source: string, policy: HopPolicy, limits: DownloadLimits, signal?: AbortSignal): Promise<Download> {
  let target = policy.approve(source, null);
  for (let redirects = 0; ; redirects++) {
    const { req, res } = await send(target, policy, limits, signal);
    const status = res.statusCode ?? 0;
    if (REDIRECT_STATUSES.has(status)) {
      discard(req, res);
      const location = res.headers.location;
      if (redirects >= limits.maxRedirects) throw new ImportSourceError(`${shownUrl(source)}: more than ${limits.maxRedirects} redirects`, false);
      if (!location) throw new ImportSourceError(`${shownUrl(target)}: redirect (${status}) without a Location`, false);
      target = policy.approve(location, target);
      continue;
    }
    if (status < 200 || status > 299) {
      discard(req, res);
      throw new ImportSourceError(`${shownUrl(target)}: the server answered ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`, RETRYABLE_STATUSES.has(status));
    }
    const length = contentLength(res.headers);
    if (length !== null && length > limits.maxBytes) {
      discard(req, res);
      throw new ImportSourceError(`${shownUrl(target)}: the data is ${length} bytes, more than the ${limits.maxBytes} allowed`, false);
    }
    return { stream: new BoundedBody(req, res, { expected: length, limits, where: shownUrl(target), signal }), size: length };
  }
}

/** One request; resolves when the response headers are in, within idleTimeoutMs. */
function send(target: URL, policy: HopPolicy, limits: DownloadLimits, signal?: AbortSignal): Promise<{ req: http.ClientRequest; res: http.IncomingMessage }> {
  if (signal?.aborted) return Promise.reject(cancelled(signal));
  const refused = policy.addresses?.hostRefusal(target.hostname);
  if (refused) return Promise.reject(new ImportSourceError(`${shownUrl(target)}: ${refused.message}`, false, { cause: refused }));
  const secure = target.protocol === 'https:';
  const headers: http.OutgoingHttpHeaders = { 'user-agent': 'ocellus', 'accept-encoding': 'identity', ...policy.headers(target) };
  const options: https.RequestOptions = {
    method: 'GET',
    hostname: target.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: target.port || (secure ? 443 : 80),
    path: `${target.pathname}${target.search}`,
    headers,
    // No pooled socket: a download holds its connection for its whole life anyway.
    agent: false,
    ...(policy.addresses ? { lookup: policy.addresses.lookup } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).request(options);
    const timer = setTimeout(() => req.destroy(new ImportSourceError(`${shownUrl(target)}: no answer within ${limits.idleTimeoutMs / 1000} s`, true)), limits.idleTimeoutMs);
    const onAbort = () => req.destroy(cancelled(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });
    const settled = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    req.on('response', (res) => {
      settled();
      resolve({ req, res });
    });
    // Stays after the response: later socket errors reach the response; this keeps them handled.
    req.on('error', (err) => {
      settled();
      reject(requestError(err, target));
    });
    req.end();
  });
}

function requestError(err: Error, target: URL): ImportSourceError {
  if (err instanceof ImportSourceError) return err;
  if (err instanceof AddressRefused) return new ImportSourceError(`${shownUrl(target)}: ${err.message}`, false, { cause: err });
  const code = (err as NodeJS.ErrnoException).code;
  // A name that does not resolve may resolve later; TLS failures will not fix themselves.
  const tls = typeof code === 'string' && /CERT|SSL|TLS/.test(code);
  return new ImportSourceError(`cannot reach ${shownUrl(target)}: ${code ?? err.message}`, !tls, { cause: err });
}

function cancelled(signal: AbortSignal): ImportSourceError {
  return new ImportSourceError('the download was cancelled', false, { cause: signal.reason });
}

/**
 * A response body as the importer reads it: at most maxBytes passed on, an abort signal obeyed,
 * and every failure an ImportSourceError (IdleTimedBody does the rest).
 */
class BoundedBody extends IdleTimedBody {
  private readonly onAbort: () => void;

  constructor(
    req: http.ClientRequest,
    res: http.IncomingMessage,
    private readonly opts: { expected: number | null; limits: DownloadLimits; where: string; signal: AbortSignal | undefined },
  ) {
    // A broken connection or a silent server may do better on another attempt: retryable.
    super(req, res, { expected: opts.expected, idleMs: opts.limits.idleTimeoutMs, where: opts.where, transient: (message, cause) => new ImportSourceError(message, true, { cause }) });
    this.onAbort = () => this.fail(cancelled(opts.signal!));
    opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  protected onChunk(chunk: Buffer): void {
    if (this.received > this.opts.limits.maxBytes) {
      return this.fail(new ImportSourceError(`${this.opts.where}: more than the ${this.opts.limits.maxBytes} bytes allowed`, false));
    }
    this.forward(chunk);
  }

  protected override settle(): void {
    super.settle();
    this.opts.signal?.removeEventListener('abort', this.onAbort);
  }
}
