import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ImportSourceError } from '../src/tasks/import-sources.js';
import { ImportUriFilter, type ImportFilterOptions } from '../src/tasks/import-uri-filter.js';
import { openWebDownload, type DownloadLimits } from '../src/tasks/web-download.js';

/** 3 MiB: more than the download's buffer, so backpressure reaches the socket. */
const DATA = randomBytes(3 << 20);
const LIMITS: DownloadLimits = { idleTimeoutMs: 2_000, maxBytes: 64 << 20, maxRedirects: 5 };

/** Loopback servers are internal addresses: they are reached only through allowed_networks. */
function filterFor(over: Partial<ImportFilterOptions> = {}): ImportUriFilter {
  return new ImportUriFilter({
    allowedSchemes: ['http', 'https'],
    disallowedSchemes: [],
    allowedHosts: [],
    disallowedHosts: [],
    // The test servers listen on random ports; Glance's default (80, 443) would refuse them.
    allowedPorts: [],
    disallowedPorts: [],
    allowedNetworks: ['127.0.0.0/8'],
    ...over,
  });
}

/** A real HTTP server on a loopback address; each test's routes, and what it was asked. */
class Origin {
  readonly server: http.Server;
  base = '';
  port = 0;
  requests: { path: string; headers: http.IncomingHttpHeaders }[] = [];
  routes = new Map<string, (req: http.IncomingMessage, res: http.ServerResponse) => void>();
  private sockets = new Set<Socket>();

  constructor(readonly host = '127.0.0.1') {
    this.server = http.createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      this.requests.push({ path, headers: req.headers });
      const route = this.routes.get(path);
      if (route) route(req, res);
      else res.writeHead(404).end('not here');
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async start(): Promise<this> {
    this.server.listen(0, this.host);
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    this.base = `http://${this.host}:${this.port}`;
    return this;
  }

  asked(path: string): number {
    return this.requests.filter((r) => r.path === path).length;
  }

  stop(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function isSourceError(retryable: boolean, message: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof ImportSourceError, `expected ImportSourceError, got ${String(err)}`);
    assert.match(err.message, message);
    assert.equal(err.retryable, retryable, `retryable of: ${err.message}`);
    return true;
  };
}

describe('web-download', () => {
  let origin: Origin;
  /** A second loopback address: lets a test allow one address and see the other refused. */
  let other: Origin | null = null;

  before(async () => {
    origin = await new Origin().start();
    origin.routes.set('/image', (_req, res) => res.writeHead(200, { 'content-length': DATA.length }).end(DATA));
    origin.routes.set('/chunked', (_req, res) => {
      res.writeHead(200);
      res.write(DATA.subarray(0, 1000));
      setTimeout(() => res.end(DATA.subarray(1000)), 20);
    });
    origin.routes.set('/redirect', (req, res) => {
      const to = new URL(req.url ?? '/', 'http://x').searchParams.get('to') ?? '/image';
      res.writeHead(302, { location: to }).end();
    });
    origin.routes.set('/loop', (_req, res) => res.writeHead(301, { location: '/loop' }).end());
    origin.routes.set('/stall-headers', () => undefined);
    origin.routes.set('/stall-body', (_req, res) => {
      res.writeHead(200, { 'content-length': DATA.length });
      res.write(DATA.subarray(0, 4096));
    });
    origin.routes.set('/short', (req, res) => {
      res.writeHead(200, { 'content-length': DATA.length });
      res.write(DATA.subarray(0, 1 << 16), () => req.socket.destroy());
    });
    origin.routes.set('/slow', (_req, res) => {
      res.writeHead(200, { 'content-length': DATA.length });
      res.write(DATA.subarray(0, 1 << 16));
      const t = setInterval(() => res.write(DATA.subarray(0, 1024)), 50);
      res.on('close', () => clearInterval(t));
    });
    origin.routes.set('/unavailable', (_req, res) => res.writeHead(503).end());
    origin.routes.set('/auth', (req, res) => {
      if (req.headers.authorization !== `Basic ${Buffer.from('user:p@ss').toString('base64')}`) return void res.writeHead(401).end();
      res.writeHead(200, { 'content-length': 5 }).end('hello');
    });
    try {
      other = await new Origin('127.0.0.2').start();
      other.routes.set('/image', (_req, res) => res.writeHead(200, { 'content-length': DATA.length }).end(DATA));
      other.routes.set('/redirect', (req, res) => res.writeHead(302, { location: new URL(req.url ?? '/', 'http://x').searchParams.get('to') ?? '/' }).end());
    } catch {
      other = null; // no 127.0.0.2 on this system: the tests that need it say so
    }
  });
  after(() => {
    origin.stop();
    other?.stop();
  });

  test('downloads byte for byte, with the size the server gave', async () => {
    const { stream, size } = await openWebDownload(`${origin.base}/image`, filterFor(), LIMITS);
    assert.equal(size, DATA.length);
    assert.equal(sha(await readAll(stream)), sha(DATA));
  });

  test('a chunked answer has no size and arrives whole', async () => {
    const { stream, size } = await openWebDownload(`${origin.base}/chunked`, filterFor(), LIMITS);
    assert.equal(size, null);
    assert.equal(sha(await readAll(stream)), sha(DATA));
  });

  test('follows a redirect to an allowed place', async () => {
    const { stream, size } = await openWebDownload(`${origin.base}/redirect?to=/image`, filterFor(), LIMITS);
    assert.equal(size, DATA.length);
    assert.equal(sha(await readAll(stream)), sha(DATA));
  });

  test('more than maxBytes: refused from the Content-Length, or failed when the bytes pass the limit', async () => {
    const limits = { ...LIMITS, maxBytes: DATA.length - 1 };
    await assert.rejects(openWebDownload(`${origin.base}/image`, filterFor(), limits), isSourceError(false, new RegExp(`is ${DATA.length} bytes, more than the ${DATA.length - 1} allowed`)));
    const { stream } = await openWebDownload(`${origin.base}/chunked`, filterFor(), limits);
    await assert.rejects(readAll(stream), isSourceError(false, new RegExp(`more than the ${DATA.length - 1} bytes allowed`)));
    // Exactly the limit is fine.
    const exact = await openWebDownload(`${origin.base}/chunked`, filterFor(), { ...LIMITS, maxBytes: DATA.length });
    assert.equal((await readAll(exact.stream)).length, DATA.length);
  });

  test('idle timeout: no answer, or no more bytes, within idleTimeoutMs', async () => {
    const limits = { ...LIMITS, idleTimeoutMs: 300 };
    const started = Date.now();
    await assert.rejects(openWebDownload(`${origin.base}/stall-headers`, filterFor(), limits), isSourceError(true, /no answer within 0\.3 s/));
    assert.ok(Date.now() - started < 2_000);
    const { stream } = await openWebDownload(`${origin.base}/stall-body`, filterFor(), limits);
    await assert.rejects(readAll(stream), isSourceError(true, /no data for 0\.3 s/));
  });

  test('a server that trickles bytes is not timed out, nor is a slow reader', async () => {
    const limits = { ...LIMITS, idleTimeoutMs: 300 };
    const { stream } = await openWebDownload(`${origin.base}/image`, filterFor(), limits);
    // The reader takes its time: longer than the idle timeout before reading anything.
    await sleep(700);
    assert.equal(sha(await readAll(stream)), sha(DATA));
    const slow = await openWebDownload(`${origin.base}/slow`, filterFor(), limits);
    const got = await new Promise<number>((resolve, reject) => {
      let n = 0;
      slow.stream.on('data', (c: Buffer) => (n += c.length));
      slow.stream.on('error', reject);
      setTimeout(() => {
        slow.stream.destroy();
        resolve(n);
      }, 900);
    });
    assert.ok(got > (1 << 16), `received ${got}`);
  });

  test('a connection that breaks before Content-Length is an error, never a clean end', async () => {
    const { stream } = await openWebDownload(`${origin.base}/short`, filterFor(), LIMITS);
    await assert.rejects(readAll(stream), isSourceError(true, /connection broke after \d+ bytes of \d+/));
  });

  test('answers other than 2xx: 404 is final, 503 may be retried', async () => {
    await assert.rejects(openWebDownload(`${origin.base}/missing`, filterFor(), LIMITS), isSourceError(false, /answered 404/));
    await assert.rejects(openWebDownload(`${origin.base}/unavailable`, filterFor(), LIMITS), isSourceError(true, /answered 503/));
  });

  test('too many redirects', async () => {
    await assert.rejects(openWebDownload(`${origin.base}/loop`, filterFor(), LIMITS), isSourceError(false, /more than 5 redirects/));
    assert.equal(origin.asked('/loop') >= 6, true);
  });

  test('the URI itself is judged before anything connects', async () => {
    const before = origin.requests.length;
    await assert.rejects(openWebDownload(`${origin.base}/image`, filterFor({ disallowedHosts: ['127.0.0.1'] }), LIMITS), isSourceError(false, /host 127\.0\.0\.1 is not allowed/));
    await assert.rejects(openWebDownload(`${origin.base}/image`, filterFor({ allowedPorts: [80, 443] }), LIMITS), isSourceError(false, new RegExp(`port ${origin.port} is not one of the allowed ports`)));
    await assert.rejects(openWebDownload(`http://2130706433:${origin.port}/image`, filterFor(), LIMITS), isSourceError(false, /usual notation/));
    await assert.rejects(openWebDownload(`${origin.base}/image`, filterFor({ allowedNetworks: [] }), LIMITS), isSourceError(false, /127\.0\.0\.1: loopback/));
    assert.equal(origin.requests.length, before);
  });

  test('a redirect to a refused host, scheme or port is refused at that hop', async () => {
    const filter = filterFor({ disallowedHosts: ['localhost'] });
    await assert.rejects(
      openWebDownload(`${origin.base}/redirect?to=${encodeURIComponent(`http://localhost:${origin.port}/image`)}`, filter, LIMITS),
      isSourceError(false, /redirects to http:\/\/localhost:\d+\/image: host localhost is not allowed/),
    );
    await assert.rejects(openWebDownload(`${origin.base}/redirect?to=${encodeURIComponent('ftp://example.com/x')}`, filterFor(), LIMITS), isSourceError(false, /scheme 'ftp' is not one of the allowed schemes/));
    await assert.rejects(openWebDownload(`${origin.base}/redirect?to=${encodeURIComponent('file:///etc/passwd')}`, filterFor(), LIMITS), isSourceError(false, /scheme 'file'/));
    const ports = filterFor({ allowedPorts: [origin.port] });
    await assert.rejects(
      openWebDownload(`${origin.base}/redirect?to=${encodeURIComponent(`http://127.0.0.1:${origin.port + 1}/image`)}`, ports, LIMITS),
      isSourceError(false, new RegExp(`port ${origin.port + 1} is not one of the allowed ports`)),
    );
    await assert.rejects(openWebDownload(`${origin.base}/redirect?to=${encodeURIComponent(`http://0x7f.1:${origin.port}/image`)}`, filterFor(), LIMITS), isSourceError(false, /unusual notation/));
  });

  test('a redirect to an internal address is refused, and that address is never contacted', async (t) => {
    if (!other) return t.skip('this system has no 127.0.0.2');
    const onlyOther = filterFor({ allowedNetworks: ['127.0.0.2/32'] });
    const seen = origin.requests.length;
    // The literal address, and a name (localhost) that resolves to it: refused before and at the connection.
    for (const to of [`${origin.base}/image`, `http://localhost:${origin.port}/image`, `http://[::ffff:127.0.0.1]:${origin.port}/image`]) {
      await assert.rejects(openWebDownload(`${other.base}/redirect?to=${encodeURIComponent(to)}`, onlyOther, LIMITS), isSourceError(false, /loopback/));
    }
    assert.equal(origin.requests.length, seen);
    // The allowed address itself is served.
    const { stream } = await openWebDownload(`${other.base}/image`, onlyOther, LIMITS);
    assert.equal(sha(await readAll(stream)), sha(DATA));
  });

  test('a DNS name that resolves to loopback is refused by default, served when allowed_networks holds loopback', async () => {
    const seen = origin.requests.length;
    await assert.rejects(openWebDownload(`http://localhost:${origin.port}/image`, filterFor({ allowedNetworks: [] }), LIMITS), isSourceError(false, /localhost \((127\.0\.0\.1|::1)\): loopback/));
    assert.equal(origin.requests.length, seen);
    const { stream } = await openWebDownload(`http://localhost:${origin.port}/image`, filterFor({ allowedNetworks: ['127.0.0.0/8', '::1'] }), LIMITS);
    assert.equal(sha(await readAll(stream)), sha(DATA));
  });

  test('credentials in the URL go to its host as Basic auth, and not on to a redirect elsewhere', async () => {
    const { stream } = await openWebDownload(`http://user:p%40ss@127.0.0.1:${origin.port}/auth`, filterFor(), LIMITS);
    assert.equal((await readAll(stream)).toString(), 'hello');
    const elsewhere = encodeURIComponent(`http://localhost:${origin.port}/auth`);
    const filter = filterFor({ allowedNetworks: ['127.0.0.0/8', '::1'] });
    await assert.rejects(openWebDownload(`http://user:p%40ss@127.0.0.1:${origin.port}/redirect?to=${elsewhere}`, filter, LIMITS), isSourceError(false, /answered 401/));
    const last = origin.requests.at(-1)!;
    assert.equal(last.path, '/auth');
    assert.equal(last.headers.authorization, undefined);
  });

  test('abort signal: before the answer, and midway through the body', async () => {
    const early = new AbortController();
    const pending = openWebDownload(`${origin.base}/stall-headers`, filterFor(), LIMITS, early.signal);
    setTimeout(() => early.abort(new Error('task cancelled')), 50);
    await assert.rejects(pending, isSourceError(false, /cancelled/));

    const already = new AbortController();
    already.abort();
    await assert.rejects(openWebDownload(`${origin.base}/image`, filterFor(), LIMITS, already.signal), isSourceError(false, /cancelled/));

    const midway = new AbortController();
    const { stream } = await openWebDownload(`${origin.base}/stall-body`, filterFor(), LIMITS, midway.signal);
    const reading = readAll(stream);
    setTimeout(() => midway.abort(), 50);
    await assert.rejects(reading, (err) => isSourceError(false, /cancelled/)(err) && (err as Error).cause === midway.signal.reason);
  });
});
