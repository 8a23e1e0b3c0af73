import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StoreOptions } from '../src/config/store-options.js';
import { BlobNotFound, InvalidRange, StoreError, StoreUnavailable, StoreWriteDenied } from '../src/store/blob-store.js';
import { HttpStore, LocationRefused, type HttpStoreLimits } from '../src/store/http.js';

const DATA = randomBytes(100_000);
const MiB = 1 << 20;

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function options(over: Partial<StoreOptions<'http'>> = {}): StoreOptions<'http'> {
  return { https_insecure: true, https_ca_certificates_file: null, http_proxy_information: null, http_store_allowed_networks: ['127.0.0.1/32'], ...over };
}

const logs: string[] = [];
async function makeStore(over: Partial<StoreOptions<'http'>> = {}, limits: HttpStoreLimits = {}): Promise<HttpStore> {
  const store = new HttpStore(options(over), { id: 'http', log: (m) => logs.push(m) }, limits);
  await store.init();
  return store;
}

/** Serves `body` honouring a single `Range: bytes=a-b` as a real web server does (416 past the end). */
function serveRanged(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
  const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  if (!m) {
    res.writeHead(200, { 'content-length': body.length, 'accept-ranges': 'bytes' });
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  const start = Number(m[1]);
  const end = Math.min(m[2] ? Number(m[2]) : body.length - 1, body.length - 1);
  if (start >= body.length) {
    res.writeHead(416, { 'content-range': `bytes */${body.length}` });
    res.end();
    return;
  }
  res.writeHead(206, { 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${body.length}` });
  res.end(req.method === 'HEAD' ? undefined : body.subarray(start, end + 1));
}

/** What the big-body route saw: how far it got, and whether the client made it wait. */
interface BigStats {
  written: number;
  waitedForDrain: boolean;
  closedEarly: boolean;
}

class TestServer {
  readonly server: http.Server;
  base = '';
  port = 0;
  connections = 0;
  requests: string[] = [];
  big: BigStats = { written: 0, waitedForDrain: false, closedEarly: false };
  private sockets = new Set<import('node:net').Socket>();

  constructor() {
    this.server = http.createServer((req, res) => this.route(req, res));
    this.server.on('connection', (s) => {
      this.connections++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async start(host = '127.0.0.1'): Promise<this> {
    this.server.listen(0, host);
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    this.base = `http://${host}:${this.port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }

  private route(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(url.pathname);
    const p = url.pathname;
    if (p === '/obj') return serveRanged(req, res, DATA);
    if (p === '/empty') return serveRanged(req, res, Buffer.alloc(0));
    if (p === '/auth') {
      if (req.headers.authorization !== `Basic ${Buffer.from('user:p@ss').toString('base64')}`) {
        res.writeHead(401).end();
        return;
      }
      return serveRanged(req, res, DATA);
    }
    if (p === '/norange') {
      res.writeHead(200, { 'content-length': DATA.length });
      res.end(req.method === 'HEAD' ? undefined : DATA);
      return;
    }
    if (p === '/norange-chunked') {
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      if (req.method === 'HEAD') return void res.end();
      // In pieces, so skipping crosses chunk boundaries.
      for (let i = 0; i < DATA.length; i += 7_000) res.write(DATA.subarray(i, i + 7_000));
      res.end();
      return;
    }
    if (p === '/empty-norange') return void res.writeHead(200, { 'content-length': 0 }).end();
    if (p === '/empty-chunked') return void res.writeHead(200, { 'transfer-encoding': 'chunked' }).end();
    if (p === '/missing') return void res.writeHead(404).end('no');
    if (p === '/gone') return void res.writeHead(410).end();
    if (p === '/forbidden') return void res.writeHead(403).end();
    if (p === '/broken') return void res.writeHead(503).end('down');
    if (p === '/odd') return void res.writeHead(304).end();
    if (p.startsWith('/hops/')) {
      const n = Number(p.slice('/hops/'.length));
      res.writeHead(302, { location: n === 0 ? '/obj' : `/hops/${n - 1}` }).end();
      return;
    }
    if (p === '/abs') return void res.writeHead(301, { location: `${this.base}/obj` }).end();
    if (p === '/see-other') return void res.writeHead(303, { location: 'obj' }).end();
    if (p === '/temporary') return void res.writeHead(307, { location: '/obj' }).end();
    if (p === '/permanent') return void res.writeHead(308, { location: '/norange' }).end();
    if (p === '/loop') return void res.writeHead(302, { location: '/loop' }).end();
    if (p === '/nowhere') return void res.writeHead(302).end();
    if (p === '/redirect') return void res.writeHead(302, { location: url.searchParams.get('to') ?? '/' }).end();
    if (p === '/nolength') {
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      res.end(req.method === 'HEAD' ? undefined : 'abc');
      return;
    }
    if (p === '/big' || p === '/big-norange') return this.serveBig(req, res, Number(url.searchParams.get('mib') ?? '256'));
    if (p === '/die' || p === '/die-chunked') {
      res.writeHead(200, p === '/die' ? { 'content-length': MiB } : { 'transfer-encoding': 'chunked' });
      res.write(DATA.subarray(0, 50_000), () => setTimeout(() => res.socket?.destroy(), 50));
      return;
    }
    if (p === '/hang') return; // never answers
    if (p === '/stall') {
      res.writeHead(200, { 'content-length': DATA.length });
      res.write(DATA.subarray(0, 10)); // and then nothing
      return;
    }
    res.writeHead(500).end();
  }

  /** Streams `mib` MiB of a repeated block as fast as the client takes it, waiting on drain. */
  private serveBig(req: http.IncomingMessage, res: http.ServerResponse, mib: number): void {
    const stats: BigStats = { written: 0, waitedForDrain: false, closedEarly: false };
    this.big = stats;
    const block = Buffer.alloc(MiB, 7);
    const total = mib * MiB;
    res.writeHead(200, { 'content-length': total });
    res.on('close', () => {
      if (stats.written < total) stats.closedEarly = true;
    });
    const pump = (): void => {
      while (stats.written < total && !res.destroyed) {
        stats.written += block.length;
        if (!res.write(block)) {
          stats.waitedForDrain = true;
          res.once('drain', pump);
          return;
        }
      }
      if (!res.destroyed) res.end();
    };
    pump();
  }
}

let srv: TestServer;
before(async () => {
  srv = await new TestServer().start();
});
after(async () => {
  await srv.stop();
});

describe('http store: reading', () => {
  test('reads a whole object, and its size with HEAD', async () => {
    const store = await makeStore();
    assert.deepEqual(await readAll(await store.read(`${srv.base}/obj`)), DATA);
    assert.equal(await store.size(`${srv.base}/obj`), DATA.length);
    assert.equal(await store.size(`${srv.base}/empty`), 0);
    assert.equal((await readAll(await store.read(`${srv.base}/empty`))).length, 0);
  });

  for (const route of ['/obj', '/norange', '/norange-chunked']) {
    test(`ranged reads are inclusive, the end clamped, a start past the end InvalidRange (${route})`, async () => {
      const store = await makeStore();
      const url = `${srv.base}${route}`;
      assert.deepEqual(await readAll(await store.read(url, { start: 0, end: 0 })), DATA.subarray(0, 1));
      assert.deepEqual(await readAll(await store.read(url, { start: 10, end: 99 })), DATA.subarray(10, 100));
      assert.deepEqual(await readAll(await store.read(url, { start: 7_000, end: 13_999 })), DATA.subarray(7_000, 14_000));
      assert.deepEqual(await readAll(await store.read(url, { start: 99_990, end: 99_999 })), DATA.subarray(99_990));
      assert.deepEqual(await readAll(await store.read(url, { start: 99_990, end: 10_000_000 })), DATA.subarray(99_990));
      assert.deepEqual(await readAll(await store.read(url, { start: 0, end: DATA.length - 1 })), DATA);
      await assert.rejects(store.read(url, { start: DATA.length, end: DATA.length + 5 }), InvalidRange);
      await assert.rejects(store.read(url, { start: 5, end: 4 }), InvalidRange);
    });
  }

  test('a range on an empty object is InvalidRange', async () => {
    const store = await makeStore();
    for (const route of ['/empty', '/empty-norange', '/empty-chunked']) {
      await assert.rejects(store.read(`${srv.base}${route}`, { start: 0, end: 0 }), InvalidRange, route);
      assert.equal((await readAll(await store.read(`${srv.base}${route}`))).length, 0, route);
    }
  });

  test('a server ignoring Range: the store stops downloading after the range', async () => {
    const store = await makeStore();
    const bytes = await readAll(await store.read(`${srv.base}/big-norange?mib=256`, { start: 3, end: 12 }));
    assert.deepEqual(bytes, Buffer.alloc(10, 7));
    for (let i = 0; i < 50 && !srv.big.closedEarly; i++) await sleep(20);
    assert.ok(srv.big.closedEarly, 'the connection was closed before the whole body was sent');
    assert.ok(srv.big.written < 64 * MiB, `server wrote ${srv.big.written} bytes`);
  });

  test('missing objects: BlobNotFound for read and size (404 and 410)', async () => {
    const store = await makeStore();
    for (const route of ['/missing', '/gone']) {
      await assert.rejects(store.read(`${srv.base}${route}`), BlobNotFound);
      await assert.rejects(store.size(`${srv.base}${route}`), BlobNotFound);
    }
  });

  test('server errors, refusals and odd answers: StoreUnavailable / StoreError', async () => {
    const store = await makeStore();
    await assert.rejects(store.read(`${srv.base}/broken`), StoreUnavailable);
    await assert.rejects(store.size(`${srv.base}/broken`), StoreUnavailable);
    await assert.rejects(store.read(`${srv.base}/forbidden`), StoreUnavailable);
    await assert.rejects(store.read(`${srv.base}/odd`), (err) => err instanceof StoreError && /unexpected answer 304/.test(err.message));
    await assert.rejects(store.size(`${srv.base}/nolength`), (err) => err instanceof StoreError && !(err instanceof StoreUnavailable) && /Content-Length/.test(err.message));
    await assert.rejects(store.read('ftp://127.0.0.1/x'), StoreError);
  });

  test('a closed port is StoreUnavailable', async () => {
    const probe = http.createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as AddressInfo;
    probe.close();
    await once(probe, 'close');
    const store = await makeStore();
    await assert.rejects(store.read(`http://127.0.0.1:${port}/obj`), (err) => err instanceof StoreUnavailable && /ECONNREFUSED/.test(err.message));
  });

  test('userinfo is sent as Basic auth and appears in no message', async () => {
    const store = await makeStore();
    assert.deepEqual(await readAll(await store.read(`http://user:p%40ss@127.0.0.1:${srv.port}/auth`)), DATA);
    await assert.rejects(store.read(`http://user:wrong@127.0.0.1:${srv.port}/auth`), (err) => err instanceof StoreUnavailable && !/wrong|user/.test(err.message));
    await assert.rejects(store.read(`http://user:s3cret@127.0.0.1:${srv.port}/missing?token=t0ken`), (err) => err instanceof BlobNotFound && !/s3cret|t0ken/.test(err.message));
    logs.length = 0;
    await assert.rejects(store.read(`http://user:s3cret@10.0.0.1/x`), (err) => err instanceof LocationRefused && !/s3cret/.test(err.message));
    assert.ok(logs.length > 0 && logs.every((l) => !l.includes('s3cret')), logs.join('\n'));
  });
});

describe('http store: redirects', () => {
  test('followed (301, 302, 303, 307, 308; relative and absolute), for read and size, with the range kept', async () => {
    const store = await makeStore();
    for (const route of ['/hops/0', '/abs', '/see-other', '/temporary', '/permanent']) {
      assert.deepEqual(await readAll(await store.read(`${srv.base}${route}`)), DATA, route);
      assert.equal(await store.size(`${srv.base}${route}`), DATA.length, route);
      assert.deepEqual(await readAll(await store.read(`${srv.base}${route}`, { start: 5, end: 9 })), DATA.subarray(5, 10), route);
    }
  });

  test('at most 5 followed; a loop ends with an error', async () => {
    const store = await makeStore();
    assert.deepEqual(await readAll(await store.read(`${srv.base}/hops/4`)), DATA);
    await assert.rejects(store.read(`${srv.base}/hops/5`), /more than 5 redirects/);
    srv.requests = [];
    await assert.rejects(store.read(`${srv.base}/loop`), (err) => err instanceof StoreError && /more than 5 redirects/.test(err.message));
    assert.equal(srv.requests.length, 6);
    await assert.rejects(store.size(`${srv.base}/loop`), /more than 5 redirects/);
    await assert.rejects(store.read(`${srv.base}/nowhere`), /without a Location/);
  });

  test('a redirect to a refused address is refused before connecting', async () => {
    const store = await makeStore();
    // Another loopback address, listening, to see that nobody connects to it.
    let other: TestServer | null = null;
    try {
      other = await new TestServer().start('127.0.0.2');
    } catch {
      other = null; // this system has no 127.0.0.2; the refusal is checked all the same
    }
    const targets = [
      `http://127.0.0.2:${other?.port ?? srv.port}/obj`,
      'http://169.254.169.254/latest/meta-data/',
      'http://10.1.2.3/x',
      'http://[::1]/x',
      'http://[::ffff:127.0.0.2]/x',
    ];
    try {
      for (const to of targets) {
        const started = Date.now();
        const url = `${srv.base}/redirect?to=${encodeURIComponent(to)}`;
        await assert.rejects(store.read(url), (err) => err instanceof LocationRefused && /refusing to connect/.test(err.message), to);
        await assert.rejects(store.size(url), LocationRefused, to);
        assert.ok(Date.now() - started < 2000, `${to}: refused at once, not after a connection attempt`);
      }
      if (other) {
        assert.equal(other.connections, 0);
        // And a name resolving to a refused address, from an allowed origin.
        const fromOther = await makeStore({ http_store_allowed_networks: ['127.0.0.2/32'] });
        await assert.rejects(fromOther.read(`${other.base}/redirect?to=${encodeURIComponent(`http://localhost:${srv.port}/obj`)}`), (err) => err instanceof LocationRefused && /localhost \(127\.0\.0\.1\): loopback/.test(err.message));
        assert.deepEqual(await readAll(await fromOther.read(`${other.base}/obj`)), DATA);
      }
      await assert.rejects(store.read(`${srv.base}/redirect?to=${encodeURIComponent('file:///etc/passwd')}`), (err) => err instanceof LocationRefused && /scheme 'file'/.test(err.message));
    } finally {
      await other?.stop();
    }
  });
});

describe('http store: the address filter guards every connection', () => {
  test('without http_store_allowed_networks, loopback is refused (literal and by name) and nothing connects', async () => {
    const store = await makeStore({ http_store_allowed_networks: [] });
    const before = srv.connections;
    for (const url of [`${srv.base}/obj`, `http://localhost:${srv.port}/obj`, `http://[::ffff:127.0.0.1]:${srv.port}/obj`, `http://2130706433:${srv.port}/obj`]) {
      await assert.rejects(store.read(url), (err) => err instanceof LocationRefused && /loopback/.test(err.message), url);
      await assert.rejects(store.size(url), LocationRefused, url);
    }
    assert.equal(srv.connections, before);
    assert.match((await store.checkLocation(`${srv.base}/obj`))!, /loopback/);
    assert.match((await store.checkLocation(`http://localhost:${srv.port}/obj`))!, /loopback/);
  });

  test('a host name is resolved through the filter (allowed when every address is)', async () => {
    const store = await makeStore({ http_store_allowed_networks: ['127.0.0.0/8', '::1'] });
    assert.deepEqual(await readAll(await store.read(`http://localhost:${srv.port}/obj`)), DATA);
    assert.equal(await store.checkLocation(`http://localhost:${srv.port}/obj`), null);
  });

  test('a malformed allowed network is a construction error', () => {
    assert.throws(() => new HttpStore(options({ http_store_allowed_networks: ['10.0.0.0/40'] }), { id: 'http', log: () => {} }), (err) => err instanceof StoreError && /http_store_allowed_networks/.test(err.message));
  });
});

describe('http store: streaming', () => {
  test('a slow reader backpressures the server: the body is never held whole', async () => {
    const store = await makeStore();
    const stream = await store.read(`${srv.base}/big?mib=256`);
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    await sleep(700); // the reader stops taking bytes
    const stats = srv.big;
    assert.ok(stats.waitedForDrain, 'the server had to wait for drain');
    const writtenWhilePaused = stats.written;
    await sleep(200);
    assert.equal(stats.written, writtenWhilePaused, 'nothing more was sent while the reader waited');
    assert.ok(writtenWhilePaused < 64 * MiB, `server got ${writtenWhilePaused} bytes out to a paused reader`);
    stream.destroy();
    for (let i = 0; i < 50 && !stats.closedEarly; i++) await sleep(20);
    assert.ok(stats.closedEarly, 'destroying the stream closes the connection');
  });

  test('a slow reader is not timed out; the whole body arrives intact', async () => {
    const store = await makeStore({}, { timeoutMs: 300 });
    const stream = await store.read(`${srv.base}/big?mib=24`);
    const hash = createHash('sha256');
    let n = 0;
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      if (n++ === 0) await sleep(1000); // longer than the timeout, while the buffers are full
    }
    const expected = createHash('sha256');
    for (let i = 0; i < 24; i++) expected.update(Buffer.alloc(MiB, 7));
    assert.equal(hash.digest('hex'), expected.digest('hex'));
  });

  test('a server that dies midway makes the stream error, not end', async () => {
    const store = await makeStore();
    for (const route of ['/die', '/die-chunked']) {
      const stream = await store.read(`${srv.base}${route}`);
      await assert.rejects(readAll(stream), (err) => err instanceof StoreUnavailable && /connection broke after 50000 bytes/.test(err.message), route);
    }
  });

  test('a server that never answers, or stops sending, times out', async () => {
    const store = await makeStore({}, { timeoutMs: 300 });
    await assert.rejects(store.read(`${srv.base}/hang`), (err) => err instanceof StoreUnavailable && /no answer within/.test(err.message));
    await assert.rejects(store.size(`${srv.base}/hang`), StoreUnavailable);
    const stream = await store.read(`${srv.base}/stall`);
    await assert.rejects(readAll(stream), (err) => err instanceof StoreUnavailable && /no data for/.test(err.message));
    // Skipping toward a range start is waiting for bytes too.
    await assert.rejects(store.read(`${srv.base}/stall`, { start: 50, end: 60 }), StoreUnavailable);
  });
});

describe('http store: read-only', () => {
  test('capabilities, owns, describe, and the write refusals', async () => {
    const store = await makeStore();
    assert.equal(store.type, 'http');
    assert.deepEqual(store.capabilities, { write: false, rangedReads: true, multipart: false });
    assert.ok(store.owns('http://example.com/a.img'));
    assert.ok(store.owns('https://user:pw@example.com:8443/a.img?x=1'));
    assert.ok(!store.owns('file:///var/lib/glance/images/x'));
    assert.ok(!store.owns('swift+https://auth/v3/c/o'));
    assert.ok(!store.owns('http//nonsense'));
    assert.deepEqual(store.describe(), {});
    const target = { key: 'img', attempt: 'a1', project: null, sizeHint: null };
    await assert.rejects(store.createWriter(target), (err) => err instanceof StoreWriteDenied && /read-only/.test(err.message));
    await assert.rejects(store.delete(`${srv.base}/obj`), StoreWriteDenied);
    await store.discardWrite(target, { committed: true });
    assert.deepEqual(await readAll(await store.read(`${srv.base}/obj`)), DATA, 'delete touched nothing');
  });
});

describe('http store: https', () => {
  let dir = '';
  let tlsServer: https.Server | null = null;
  let base = '';
  let why = '';
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocellus-http-store-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
    } catch (err) {
      why = `openssl could not make a test certificate (${(err as Error).message}); install openssl to run the https tests`;
      return;
    }
    tlsServer = https.createServer({ key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) }, (req, res) => serveRanged(req, res, DATA));
    tlsServer.listen(0, '127.0.0.1');
    await once(tlsServer, 'listening');
    base = `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}`;
  });
  after(() => {
    tlsServer?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const skipOrFail = (t: { skip: (m: string) => void }): boolean => {
    if (tlsServer) return false;
    if (process.env.CI === 'true') assert.fail(why);
    t.skip(why);
    return true;
  };

  test('https_insecure (the default) reads from a self-signed server', async (t) => {
    if (skipOrFail(t)) return;
    const store = await makeStore();
    assert.deepEqual(await readAll(await store.read(`${base}/obj`, { start: 1, end: 3 })), DATA.subarray(1, 4));
  });

  test('https_insecure = false refuses an unknown certificate; https_ca_certificates_file trusts it', async (t) => {
    if (skipOrFail(t)) return;
    const strict = await makeStore({ https_insecure: false });
    await assert.rejects(strict.read(`${base}/obj`), StoreUnavailable);
    const withCa = await makeStore({ https_insecure: true, https_ca_certificates_file: path.join(dir, 'cert.pem') });
    assert.equal(await withCa.size(`${base}/obj`), DATA.length);
    const otherCa = path.join(dir, 'other.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=other', '-keyout', path.join(dir, 'other-key.pem'), '-out', otherCa], { stdio: 'ignore' });
    const wrongCa = await makeStore({ https_insecure: true, https_ca_certificates_file: otherCa });
    await assert.rejects(wrongCa.read(`${base}/obj`), StoreUnavailable, 'a CA file means verify, whatever https_insecure says');
  });

  test('an unreadable CA file fails init', async () => {
    await assert.rejects(makeStore({ https_ca_certificates_file: '/nonexistent/ca.pem' }), (err) => err instanceof StoreError && /https_ca_certificates_file/.test(err.message));
  });
});
