/**
 * The HTTP transport of the Swift driver: Node's http/https with one keep-alive agent per store,
 * TLS settings from the options, and transport failures mapped to StoreUnavailable. Knows nothing
 * of tokens (swift-client.ts) or of images (swift.ts).
 */
import http from 'node:http';
import https from 'node:https';
import { StoreUnavailable } from './blob-store.js';

const DRIVER = 'swift';
/** Requests without a streamed body (auth, HEAD, listings, manifests, deletes) give up after this. */
const SHORT_TIMEOUT_MS = 120_000;

export interface BufferedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface TlsSettings {
  /** Skip certificate verification (swift_store_auth_insecure). */
  insecure: boolean;
  /** PEM CA bundle (swift_store_cacert). */
  ca?: Buffer;
}

/** A request whose body the caller streams, and its response when it comes. */
export interface OpenRequest {
  req: http.ClientRequest;
  response: Promise<http.IncomingMessage>;
}

export class SwiftHttp {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  private readonly httpsAgent: https.Agent;

  constructor(tls: TlsSettings) {
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 32, rejectUnauthorized: !tls.insecure, ca: tls.ca });
  }

  /**
   * Starts a request; the caller writes (or ends) the body. The response promise rejects with
   * StoreUnavailable on a transport failure (refused, reset) before a response arrived.
   */
  open(method: string, url: URL, headers: Record<string, string>): OpenRequest {
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, { method, headers, agent: url.protocol === 'https:' ? this.httpsAgent : this.httpAgent });
    const response = new Promise<http.IncomingMessage>((resolve, reject) => {
      req.once('response', resolve);
      req.once('error', (err) => reject(unavailable(method, url, err)));
    });
    // Nobody may be waiting on the response yet (a body is being written): don't crash on a rejection.
    response.catch(() => undefined);
    return { req, response };
  }

  /** A whole request with a small (or no) body, the response read into memory. */
  async send(method: string, url: URL, headers: Record<string, string>, body?: Buffer | string): Promise<BufferedResponse> {
    const { req, response } = this.open(method, url, body === undefined ? headers : { ...headers, 'Content-Length': String(Buffer.byteLength(body)) });
    req.setTimeout(SHORT_TIMEOUT_MS, () => req.destroy(new Error(`no answer in ${SHORT_TIMEOUT_MS / 1000} s`)));
    req.end(body);
    const res = await response;
    const chunks: Buffer[] = [];
    try {
      for await (const c of res) chunks.push(c as Buffer);
    } catch (err) {
      throw unavailable(method, url, err);
    }
    return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) };
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/** A URL for messages: no query (it may carry nothing secret, but keeps messages short). */
export function shortUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

export function unavailable(method: string, url: URL, err: unknown): StoreUnavailable {
  const why = err instanceof Error ? err.message : String(err);
  return new StoreUnavailable(DRIVER, `${method} ${shortUrl(url)} failed: ${why}`, { cause: err });
}
