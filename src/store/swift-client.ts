/**
 * Authenticated Swift calls: every request carries the current token; a 401 makes the token be
 * renewed and the request sent once more (a streamed PUT asks `Expect: 100-continue`, so that a
 * refusal comes before any body byte is sent and it can be retried too). HTTP statuses become the
 * typed store errors.
 */
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { BlobNotFound, InvalidRange, StoreError, StoreFull, StoreUnavailable, StoreWriteDenied } from './blob-store.js';
import type { SwiftAuth } from './swift-auth.js';
import { type BufferedResponse, type OpenRequest, type SwiftHttp } from './swift-http.js';

const DRIVER = 'swift';
/** How long a PUT waits for `100 Continue` before sending its body anyway (as curl does). */
const CONTINUE_WAIT_MS = 1000;

export type Intent = 'read' | 'write';

/** The typed error for a Swift status; `what` names the object or container for the message. */
export function statusError(status: number, what: string, intent: Intent, detail = ''): StoreError {
  const msg = `${what}: Swift answered ${status}${detail ? ` (${detail.slice(0, 200)})` : ''}`;
  // A write meets 404 only when its container went away (objects are created, not found).
  if (status === 404) return intent === 'write' ? new StoreError(DRIVER, `${what}: not found (was the container deleted?)`) : new BlobNotFound(DRIVER, `no object ${what}`);
  if (status === 416) return new InvalidRange(DRIVER, `range not satisfiable for ${what}`);
  if (status === 401) return new StoreUnavailable(DRIVER, `authentication failed: ${msg}`);
  if (status === 403) return intent === 'write' ? new StoreWriteDenied(DRIVER, `write refused: ${msg}`) : new StoreError(DRIVER, `access denied: ${msg}`);
  if (status === 413 || status === 507) return new StoreFull(DRIVER, `no room: ${msg}`);
  if (status >= 500 || status === 0) return new StoreUnavailable(DRIVER, msg);
  return new StoreError(DRIVER, msg);
}

/** An object (or container) path below the storage URL, each name part percent-encoded. */
export function objectPath(container: string, name?: string): string {
  const enc = (s: string) => s.split('/').map(encodeURIComponent).join('/');
  return name === undefined ? `/${encodeURIComponent(container)}` : `/${encodeURIComponent(container)}/${enc(name)}`;
}

export interface CallOptions {
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

export class SwiftClient {
  private maxObjectSizeValue: Promise<number | undefined> | undefined;

  constructor(
    private readonly http: SwiftHttp,
    private readonly auth: SwiftAuth,
  ) {}

  private async url(path: string, query?: Record<string, string>): Promise<{ url: URL; token: string }> {
    const s = await this.auth.current();
    const url = new URL(s.storageUrl + path);
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
    return { url, token: s.token };
  }

  /** A request with a small body; the response in memory. Statuses are the caller's to judge. */
  async call(method: string, path: string, opts: CallOptions = {}): Promise<BufferedResponse> {
    let renewed = false;
    let resent = false;
    for (;;) {
      const { url, token } = await this.url(path, opts.query);
      let res: BufferedResponse;
      try {
        res = await this.http.send(method, url, { ...opts.headers, 'X-Auth-Token': token }, opts.body);
      } catch (err) {
        // Once more on a broken connection (a kept-alive socket the server closed meanwhile): every
        // call here has its whole body at hand, and Swift's PUT, DELETE, HEAD, GET are idempotent.
        if (resent || !(err instanceof StoreUnavailable)) throw err;
        resent = true;
        continue;
      }
      if (res.status !== 401 || renewed) return res;
      renewed = true;
      this.auth.invalidate(token);
    }
  }

  /** A GET whose body the caller streams; rejects with the typed error unless 200/206. */
  async get(path: string, headers: Record<string, string>, what: string): Promise<IncomingMessage> {
    let renewed = false;
    let resent = false;
    for (;;) {
      const { url, token } = await this.url(path);
      const { req, response } = this.http.open('GET', url, { ...headers, 'X-Auth-Token': token });
      req.end();
      let res: IncomingMessage;
      try {
        res = await response;
      } catch (err) {
        // Once more when the connection broke before any answer (see call()).
        if (resent) throw err;
        resent = true;
        continue;
      }
      const status = res.statusCode ?? 0;
      if (status === 200 || status === 206) return res;
      const detail = await drain(res);
      if (status === 401 && !renewed) {
        renewed = true;
        this.auth.invalidate(token);
        continue;
      }
      throw statusError(status, what, 'read', status >= 500 ? detail : '');
    }
  }

  /**
   * Starts a PUT whose body the caller streams: resolves once Swift said `100 Continue` (or did not
   * answer within a second), so that refusals (401, 404 container, 403) come before the body. The
   * caller writes the body to `req`, ends it and awaits `response`.
   */
  async startPut(path: string, headers: Record<string, string>, what: string): Promise<OpenRequest> {
    for (let attempt = 0; ; attempt++) {
      const { url, token } = await this.url(path);
      const open = this.http.open('PUT', url, {
        ...headers,
        'X-Auth-Token': token,
        'Transfer-Encoding': 'chunked',
        Expect: '100-continue',
      });
      open.req.flushHeaders();
      let timer: NodeJS.Timeout | undefined;
      const early = await Promise.race([
        once(open.req, 'continue').then(() => undefined),
        new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), CONTINUE_WAIT_MS))),
        open.response,
      ]).finally(() => clearTimeout(timer));
      if (!early) return open;
      const status = early.statusCode ?? 0;
      const detail = await drain(early);
      open.req.destroy();
      if (status === 401 && attempt === 0) {
        this.auth.invalidate(token);
        continue;
      }
      throw statusError(status, what, 'write', detail);
    }
  }

  /**
   * The cluster's largest single object (`max_file_size` of GET /info), so that segments are never
   * bigger than Swift accepts; undefined when /info is off or unreachable. Asked once.
   */
  maxObjectSize(): Promise<number | undefined> {
    this.maxObjectSizeValue ??= (async () => {
      try {
        const storage = (await this.auth.current()).storageUrl;
        const info = new URL(storage.replace(/\/v1(?:\.0)?\/[^/]+\/?$/, '/info'));
        const res = await this.http.send('GET', info, { Accept: 'application/json' });
        if (res.status !== 200) return undefined;
        const size = (JSON.parse(res.body.toString('utf8')) as { swift?: { max_file_size?: unknown } }).swift?.max_file_size;
        return typeof size === 'number' && size > 0 ? size : undefined;
      } catch {
        return undefined;
      }
    })();
    return this.maxObjectSizeValue;
  }

  /**
   * The entries of a listing (`path`: '' for the account's containers, a container path for its
   * objects), page by page; none if the account or container is missing.
   */
  async *listEntries(path: string, prefix: string): AsyncIterable<SwiftListEntry> {
    let marker = '';
    for (;;) {
      const res = await this.call('GET', path, { query: { format: 'json', prefix, marker, limit: '10000' }, headers: { Accept: 'application/json' } });
      if (res.status === 404 || res.status === 204) return;
      if (res.status !== 200) throw statusError(res.status, path ? `container ${path.slice(1)}` : 'account', 'read', res.body.toString());
      const page = JSON.parse(res.body.toString('utf8')) as SwiftListEntry[];
      if (page.length === 0) return;
      yield* page;
      marker = page[page.length - 1]!.name ?? '';
      if (!marker) return;
    }
  }

  /** Every object name in `container` starting with `prefix` (paged listing). [] if the container is missing. */
  async list(container: string, prefix: string): Promise<string[]> {
    const names: string[] = [];
    let marker = '';
    for (;;) {
      const res = await this.call('GET', objectPath(container), { query: { format: 'json', prefix, marker, limit: '10000' }, headers: { Accept: 'application/json' } });
      if (res.status === 404) return names;
      if (res.status === 204) return names;
      if (res.status !== 200) throw statusError(res.status, `container ${container}`, 'read', res.body.toString());
      const page = JSON.parse(res.body.toString('utf8')) as { name?: string; subdir?: string }[];
      if (page.length === 0) return names;
      for (const e of page) if (e.name !== undefined) names.push(e.name);
      marker = page[page.length - 1]!.name ?? '';
      if (!marker) return names;
    }
  }

}

/** One entry of a JSON listing: a container (name, count, bytes) or an object (name, bytes, last_modified in UTC). */
export interface SwiftListEntry {
  name?: string;
  subdir?: string;
  bytes?: number;
  last_modified?: string;
}

/** Reads (and discards) an error response's body, keeping its start for the message. */
async function drain(res: IncomingMessage): Promise<string> {
  let text = '';
  try {
    for await (const c of res) if (text.length < 500) text += (c as Buffer).toString('utf8');
  } catch {
    // The body of an error is only for the message.
  }
  return text.trim();
}
