import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { authFlavor, imageCacheSetup, loadConfig } from '../src/config/options.js';
import { OCELLUS_BIN } from './support/child-server.js';
import { admin, api, createImage, member, startServer, tempDir, upload, type TestServer } from './support/harness.js';
import { download, filesIn, random, waitFor } from './support/streaming.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite');

/** The image cache is node-local: its tests need one database only. */
const ADMIN = admin();
const P1 = member('p1');

function cacheOptions(cacheDir: string, more: Record<string, string> = {}, flavor = 'noauth+caching') {
  return [
    { section: 'paste_deploy', name: 'flavor', value: flavor },
    { section: 'DEFAULT', name: 'image_cache_dir', value: cacheDir },
    // Images queued with PUT /v2/cache/{id} are cached by the prefetcher's next run.
    { section: 'DEFAULT', name: 'cache_prefetcher_interval', value: '1' },
    ...Object.entries(more).map(([name, value]) => ({ section: 'DEFAULT', name, value })),
  ];
}

async function cacheState(server: TestServer): Promise<{ cached_images: { image_id: string; hits: number; size: number; last_accessed: number }[]; queued_images: string[] }> {
  const r = await api(server.url, 'GET', '/v2/cache', { headers: ADMIN });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

/** Waits until GET /v2/cache lists the image as cached; returns its entry. */
function cached(server: TestServer, id: string) {
  return waitFor(`image ${id} to be cached`, async () => (await cacheState(server)).cached_images.find((e) => e.image_id === id));
}

async function activeImage(server: TestServer, data: Buffer, headers = P1, fields: Record<string, unknown> = {}): Promise<string> {
  const id = await createImage(server.url, headers, fields);
  const r = await upload(server.url, id, data, headers);
  assert.equal(r.status, 204, r.text);
  return id;
}

const storeFile = (server: TestServer, id: string) => path.join(server.dataDir, 'images', id);

describe('image cache: downloads', () => {
  let server: TestServer;
  let cacheDir: string;
  before(async () => {
    const dataDir = tempDir();
    cacheDir = path.join(dataDir, 'cache');
    server = await startServer(cacheOptions(cacheDir), dataDir);
  });
  after(() => server.close());

  test('the first download fills the cache while streaming; the next ones are served from it, even with the store object gone', async () => {
    const data = random(3 * 1024 * 1024 + 17);
    const id = await activeImage(server, data);
    const first = await download(server.url, id, P1);
    assert.equal(first.status, 200);
    assert.ok(first.data.equals(data));
    const entry = await cached(server, id);
    assert.equal(entry.size, data.length);
    assert.equal(entry.hits, 0);
    assert.ok(fs.readFileSync(path.join(cacheDir, id)).equals(data), 'the cache file holds the image');
    assert.deepEqual(filesIn(path.join(cacheDir, 'incomplete')), []);

    fs.rmSync(storeFile(server, id));
    const second = await download(server.url, id, P1);
    assert.equal(second.status, 200);
    assert.ok(second.data.equals(data), 'served from the cache');
    assert.equal(second.headers.get('content-length'), String(data.length));
    assert.equal(second.headers.get('content-md5'), (await api(server.url, 'GET', `/v2/images/${id}`, { headers: P1 })).body.checksum);
    assert.equal((await cached(server, id)).hits, 1);
  });

  test('the cache does not skip the API: visibility and policy still apply, a deactivated image is never served from it', async () => {
    const data = random(64 * 1024);
    const id = await activeImage(server, data);
    assert.equal((await download(server.url, id, P1)).status, 200);
    await cached(server, id);
    assert.equal((await download(server.url, id, member('p2'))).status, 404, 'another project does not see the private image');
    assert.equal((await api(server.url, 'POST', `/v2/images/${id}/actions/deactivate`, { headers: ADMIN })).status, 204);
    fs.rmSync(storeFile(server, id));
    assert.equal((await download(server.url, id, P1)).status, 403);
    const asAdmin = await download(server.url, id, ADMIN);
    assert.notEqual(asAdmin.status, 200, 'the admin download of a deactivated image goes to the store (whose object is gone)');
    assert.equal((await cached(server, id)).hits, 0);
  });

  test('ranged downloads go to the store and do not fill the cache', async () => {
    const data = random(100_000);
    const id = await activeImage(server, data);
    const res = await fetch(`${server.url}/v2/images/${id}/file`, { headers: { ...P1, range: 'bytes=10-99' } });
    assert.equal(res.status, 206);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(data.subarray(10, 100)));
    await sleep(100);
    assert.equal((await cacheState(server)).cached_images.some((e) => e.image_id === id), false);
  });

  test('data that does not match the recorded hash is never cached; an entry verified against another hash is never served', async () => {
    const data = random(200_000);
    const id = await activeImage(server, data);
    // Corrupt the store's copy (same size): the download is aborted, and nothing is cached.
    const corrupt = Buffer.from(data);
    corrupt[1000] = corrupt[1000]! ^ 0xff;
    fs.writeFileSync(storeFile(server, id), corrupt);
    const bad = await fetch(`${server.url}/v2/images/${id}/file`, { headers: P1 }).then(
      async (r) => Buffer.from(await r.arrayBuffer()).length,
      () => -1,
    );
    assert.notEqual(bad, data.length, 'the corrupt download never completes');
    await sleep(100);
    assert.equal((await cacheState(server)).cached_images.some((e) => e.image_id === id), false);
    assert.deepEqual(filesIn(path.join(cacheDir, 'incomplete')), []);
    assert.equal(fs.existsSync(path.join(cacheDir, id)), false);

    // Good data again: cached. Then the index says it was verified against another hash: not served.
    fs.writeFileSync(storeFile(server, id), data);
    assert.equal((await download(server.url, id, P1)).status, 200);
    await cached(server, id);
    const index = new Database(path.join(cacheDir, 'cache.db'));
    index.prepare('UPDATE cached_images SET verified_hash = ? WHERE image_id = ?').run('0'.repeat(128), id);
    index.close();
    fs.rmSync(storeFile(server, id));
    const stale = await download(server.url, id, P1);
    assert.notEqual(stale.status, 200, 'not served from the stale entry (the store object is gone)');
    assert.deepEqual(filesIn(path.join(cacheDir, 'invalid')), [id], 'the stale entry is moved to invalid/');
    assert.equal((await cacheState(server)).cached_images.some((e) => e.image_id === id), false);
  });

  test('a client that goes away mid-download leaves no entry and no incomplete file', async () => {
    const data = random(24 * 1024 * 1024);
    const id = await activeImage(server, data);
    const url = new URL(`${server.url}/v2/images/${id}/file`);
    await new Promise<void>((resolve, reject) => {
      const req = http.get({ host: url.hostname, port: url.port, path: url.pathname, headers: P1 }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    });
    await waitFor('the incomplete entry to be removed', () => (filesIn(path.join(cacheDir, 'incomplete')).length === 0 ? true : undefined));
    assert.equal(fs.existsSync(path.join(cacheDir, id)), false);
    assert.equal((await cacheState(server)).cached_images.some((e) => e.image_id === id), false);
    // The next whole download fills it.
    assert.ok((await download(server.url, id, P1)).data.equals(data));
    await cached(server, id);
  });

  test('a client that closes its connection as soon as it has every byte still leaves a complete entry', async () => {
    for (let i = 0; i < 5; i++) {
      const data = random(8 * 1024 * 1024 + i);
      const id = await activeImage(server, data);
      const url = new URL(`${server.url}/v2/images/${id}/file`);
      const got = await new Promise<number>((resolve, reject) => {
        const req = http.get({ host: url.hostname, port: url.port, path: url.pathname, headers: P1, agent: false }, (res) => {
          let n = 0;
          res.on('data', (c: Buffer) => {
            n += c.length;
            if (n === data.length) {
              req.destroy();
              resolve(n);
            }
          });
        });
        req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
      });
      assert.equal(got, data.length);
      const entry = await cached(server, id);
      assert.equal(entry.size, data.length);
      assert.ok(fs.readFileSync(path.join(cacheDir, id)).equals(data));
    }
  });

  test('deleting an image removes its cache entry', async () => {
    const id = await activeImage(server, random(10_000));
    await download(server.url, id, P1);
    await cached(server, id);
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: P1 })).status, 204);
    assert.equal((await cacheState(server)).cached_images.some((e) => e.image_id === id), false);
    assert.equal(fs.existsSync(path.join(cacheDir, id)), false);
  });
});

describe('image cache: restarts and the pruner', () => {
  test('a restart keeps the complete entries and drops incomplete ones and files the index never recorded', async () => {
    const dataDir = tempDir();
    const cacheDir = path.join(dataDir, 'cache');
    let server = await startServer(cacheOptions(cacheDir), dataDir);
    const data = random(500_000);
    let id: string;
    try {
      id = await activeImage(server, data);
      await download(server.url, id, P1);
      await cached(server, id);
    } finally {
      await server.close();
    }
    // What a crash leaves: a fill under way, and a renamed file whose row was never written.
    const other = '11111111-2222-3333-4444-555555555555';
    fs.writeFileSync(path.join(cacheDir, 'incomplete', other), data.subarray(0, 1000));
    fs.writeFileSync(path.join(cacheDir, other), data.subarray(0, 1000));
    server = await startServer(cacheOptions(cacheDir), dataDir);
    try {
      assert.deepEqual(filesIn(path.join(cacheDir, 'incomplete')), []);
      assert.equal(fs.existsSync(path.join(cacheDir, other)), false);
      assert.deepEqual((await cacheState(server)).cached_images.map((e) => e.image_id), [id]);
      fs.rmSync(storeFile(server, id));
      const again = await download(server.url, id, P1);
      assert.equal(again.status, 200);
      assert.ok(again.data.equals(data));
    } finally {
      await server.close();
    }
  });

  test('beyond image_cache_max_size the least recently used entries are pruned after a fill', async () => {
    const dataDir = tempDir();
    const cacheDir = path.join(dataDir, 'cache');
    const size = 100_000;
    const server = await startServer(cacheOptions(cacheDir, { image_cache_max_size: String(2.5 * size) }), dataDir);
    try {
      const [a, b, c] = [await activeImage(server, random(size)), await activeImage(server, random(size)), await activeImage(server, random(size))];
      await download(server.url, a!, P1);
      await cached(server, a!);
      await sleep(20);
      await download(server.url, b!, P1);
      await cached(server, b!);
      await sleep(20);
      await download(server.url, a!, P1); // a hit: a is now more recent than b
      await sleep(20);
      await download(server.url, c!, P1);
      await cached(server, c!);
      const ids = await waitFor('the prune', async () => {
        const listed = (await cacheState(server)).cached_images.map((e) => e.image_id).sort();
        return listed.length === 2 ? listed : undefined;
      });
      assert.deepEqual(ids, [a!, c!].sort(), 'b, the least recently used, went');
      assert.equal(fs.existsSync(path.join(cacheDir, b!)), false);
    } finally {
      await server.close();
    }
  });
});

describe('image cache: the API', () => {
  let server: TestServer;
  let cacheDir: string;
  before(async () => {
    const dataDir = tempDir();
    cacheDir = path.join(dataDir, 'cache');
    server = await startServer(cacheOptions(cacheDir, { image_cache_max_size: '1000000' }), dataDir);
  });
  after(() => server.close());

  test('PUT /v2/cache/{id} queues an active image (202) and the prefetcher caches it on its next run', async () => {
    const data = random(50_000);
    const id = await activeImage(server, data);
    const r = await api(server.url, 'PUT', `/v2/cache/${id}`, { headers: ADMIN });
    assert.equal(r.status, 202, r.text);
    const entry = await cached(server, id);
    assert.equal(entry.size, data.length);
    assert.deepEqual((await cacheState(server)).queued_images, []);
    fs.rmSync(storeFile(server, id));
    assert.ok((await download(server.url, id, P1)).data.equals(data), 'the prefetched entry serves downloads');
  });

  test('PUT refuses what Glance refuses: an unknown image (404), one that is not active (400), a non-admin (403)', async () => {
    assert.equal((await api(server.url, 'PUT', '/v2/cache/00000000-0000-0000-0000-000000000000', { headers: ADMIN })).status, 404);
    const queued = await createImage(server.url, P1);
    const r = await api(server.url, 'PUT', `/v2/cache/${queued}`, { headers: ADMIN });
    assert.equal(r.status, 400);
    assert.match(r.text, /Only images with status active can be targeted for queueing/);
    const id = await activeImage(server, random(1000));
    assert.equal((await api(server.url, 'PUT', `/v2/cache/${id}`, { headers: P1 })).status, 403);
    assert.equal((await api(server.url, 'PUT', `/v2/cache/${queued}`, { headers: member('p2') })).status, 404, 'an image the caller cannot see');
  });

  test('non-admins are refused every cache call (403)', async () => {
    const id = await activeImage(server, random(1000));
    for (const [method, p] of [['GET', '/v2/cache'], ['DELETE', '/v2/cache'], ['DELETE', `/v2/cache/${id}`], ['POST', '/v2/cache/clean'], ['POST', '/v2/cache/prune'], ['GET', `/v2/cache/nodes/${id}`]] as const) {
      assert.equal((await api(server.url, method, p, { headers: P1 })).status, 403, `${method} ${p}`);
    }
  });

  test('DELETE /v2/cache/{id} removes the entry (204); 404 when neither the image nor an entry exists', async () => {
    const id = await activeImage(server, random(2000));
    await download(server.url, id, P1);
    await cached(server, id);
    assert.equal((await api(server.url, 'DELETE', `/v2/cache/${id}`, { headers: ADMIN })).status, 204);
    assert.equal((await cacheState(server)).cached_images.some((e) => e.image_id === id), false);
    assert.equal(fs.existsSync(path.join(cacheDir, id)), false);
    assert.equal((await api(server.url, 'DELETE', '/v2/cache/00000000-0000-0000-0000-000000000000', { headers: ADMIN })).status, 404);
  });

  test('DELETE /v2/cache clears the cache, the queue or both (x-image-cache-clear-target); another target is 400', async () => {
    const id = await activeImage(server, random(2000));
    await download(server.url, id, P1);
    await cached(server, id);
    fs.writeFileSync(path.join(cacheDir, 'queue', id), ''); // queued again, as Glance's queue/ layout records it
    assert.deepEqual((await cacheState(server)).queued_images, [id]);
    assert.equal((await api(server.url, 'DELETE', '/v2/cache', { headers: { ...ADMIN, 'x-image-cache-clear-target': 'queue' } })).status, 204);
    let state = await cacheState(server);
    assert.deepEqual(state.queued_images, []);
    assert.ok(state.cached_images.length > 0);
    const bad = await api(server.url, 'DELETE', '/v2/cache', { headers: { ...ADMIN, 'x-image-cache-clear-target': 'invalid' } });
    assert.equal(bad.status, 400);
    assert.match(bad.text, /must be 'cache', 'queue' or empty string/);
    assert.equal((await api(server.url, 'DELETE', '/v2/cache', { headers: ADMIN })).status, 204);
    state = await cacheState(server);
    assert.deepEqual(state, { cached_images: [], queued_images: [] });
  });

  test('POST /v2/cache/prune answers what it pruned; POST /v2/cache/clean removes invalid entries; /v2/cache/nodes is 409 (node-local cache)', async () => {
    const prune = await api(server.url, 'POST', '/v2/cache/prune', { headers: ADMIN });
    assert.equal(prune.status, 200);
    assert.deepEqual(prune.body, { total_files_pruned: 0, total_bytes_pruned: 0 });
    fs.writeFileSync(path.join(cacheDir, 'invalid', 'some-image'), 'x');
    assert.equal((await api(server.url, 'POST', '/v2/cache/clean', { headers: ADMIN })).status, 200);
    assert.deepEqual(filesIn(path.join(cacheDir, 'invalid')), []);
    const id = await activeImage(server, random(100));
    const nodes = await api(server.url, 'GET', `/v2/cache/nodes/${id}`, { headers: ADMIN });
    assert.equal(nodes.status, 409);
    assert.match(nodes.text, /Centralized caching is not enabled/);
  });

  test('the versions document lists v2.14 and v2.16 with the cache', async () => {
    const r = await api(server.url, 'GET', '/versions');
    const ids = r.body.versions.map((v: { id: string }) => v.id);
    for (const v of ['v2.18', 'v2.16', 'v2.14']) assert.ok(ids.includes(v), v);
    assert.equal((await api(server.url, 'GET', '/v2.14/cache', { headers: ADMIN })).status, 200);
  });
});

describe('image cache: off, or API only', () => {
  test('without image_cache_dir: no v2.14, and the cache API is 404 for admins after the policy (403 for others)', async () => {
    const server = await startServer();
    try {
      const ids = (await api(server.url, 'GET', '/versions')).body.versions.map((v: { id: string }) => v.id);
      for (const v of ['v2.14', 'v2.16', 'v2.18']) assert.equal(ids.includes(v), false, v);
      const r = await api(server.url, 'GET', '/v2/cache', { headers: ADMIN });
      assert.equal(r.status, 404);
      assert.match(r.text, /Caching via API is not supported at this site/);
      assert.equal((await api(server.url, 'GET', '/v2/cache', { headers: P1 })).status, 403);
    } finally {
      await server.close();
    }
  });

  test('image_cache_dir without a caching flavor: the API and the prefetcher, but downloads do not go through the cache (as Glance)', async () => {
    const dataDir = tempDir();
    const cacheDir = path.join(dataDir, 'cache');
    const server = await startServer(cacheOptions(cacheDir, {}, 'noauth'), dataDir);
    try {
      const id = await activeImage(server, random(5000));
      assert.equal((await download(server.url, id, P1)).status, 200);
      await sleep(100);
      assert.deepEqual((await cacheState(server)).cached_images, []);
      assert.equal((await api(server.url, 'PUT', `/v2/cache/${id}`, { headers: ADMIN })).status, 202);
      await cached(server, id);
    } finally {
      await server.close();
    }
  });
});

test('flavors: +caching keeps the authentication and turns the download cache on (in <data dir>/image-cache unless image_cache_dir says)', () => {
  const dataDir = tempDir();
  const load = (flavor: string, more: { section: string; name: string; value: string }[] = []) =>
    loadConfig({ dataDir, overrides: [{ section: 'paste_deploy', name: 'flavor', value: flavor }, ...more], warn: () => undefined });
  const caching = load('caching');
  assert.equal(authFlavor(caching), 'default');
  assert.deepEqual(imageCacheSetup(caching), { dir: path.join(dataDir, 'image-cache'), serveDownloads: true });
  const noauth = load('noauth+cachemanagement');
  assert.equal(authFlavor(noauth), 'noauth');
  assert.equal(imageCacheSetup(noauth)?.serveDownloads, true);
  const keystone = [
    { section: 'keystone_authtoken', name: 'auth_url', value: 'http://127.0.0.1:5000/v3' },
    { section: 'keystone_authtoken', name: 'username', value: 'ocellus' },
    { section: 'keystone_authtoken', name: 'password', value: 'x' },
    { section: 'keystone_authtoken', name: 'project_name', value: 'service' },
  ];
  assert.equal(authFlavor(load('keystone+caching', keystone)), 'keystone');
  assert.equal(imageCacheSetup(load('keystone+cache', keystone)), null, "'keystone+cache' is not a caching flavor");
  assert.deepEqual(imageCacheSetup(load('noauth', [{ section: 'DEFAULT', name: 'image_cache_dir', value: '/tmp/c' }])), { dir: '/tmp/c', serveDownloads: false });
  assert.equal(imageCacheSetup(load('noauth')), null);
  assert.throws(() => load('token+caching'), /flavor = token needs \[token_auth\] token_file/);
});

describe('ocellus cache prefetch|prune|clean', () => {
  const ocellus = (...args: string[]) => spawnSync(process.execPath, [OCELLUS_BIN, 'cache', ...args], { encoding: 'utf8', timeout: 20_000 });

  test('prefetch caches the queued images, prune keeps the cache within its size, clean removes invalid and stalled entries', async () => {
    const dataDir = tempDir();
    const cacheDir = path.join(dataDir, 'cache');
    const conf = path.join(dataDir, 'ocellus.conf');
    const size = 40_000;
    fs.writeFileSync(conf, `[DEFAULT]\nimage_cache_dir = ${cacheDir}\nimage_cache_max_size = ${size * 3}\nimage_cache_stall_time = 60\n[paste_deploy]\nflavor = noauth+caching\n`);
    const server = await startServer(cacheOptions(cacheDir), dataDir);
    const ids: string[] = [];
    try {
      for (let i = 0; i < 4; i++) ids.push(await activeImage(server, random(size)));
    } finally {
      await server.close();
    }
    // Queued in this order (the prefetcher takes the oldest first).
    ids.forEach((id, i) => {
      const file = path.join(cacheDir, 'queue', id);
      fs.writeFileSync(file, '');
      const t = new Date(Date.now() - 10_000 + i * 1000);
      fs.utimesSync(file, t, t);
    });
    // An image that does not exist (deleted since it was queued) leaves the queue uncached.
    fs.writeFileSync(path.join(cacheDir, 'queue', '99999999-8888-7777-6666-555555555555'), '');

    const prefetch = ocellus('prefetch', '--config', conf, '--data-dir', dataDir);
    assert.equal(prefetch.status, 0, prefetch.stderr);
    assert.match(prefetch.stdout, /cached 4 image/);
    assert.deepEqual(filesIn(path.join(cacheDir, 'queue')), []);
    // Each fill prunes beyond the maximum (3 images): the first one cached went.
    const index = new Database(path.join(cacheDir, 'cache.db'), { readonly: true });
    const listed = () => (index.prepare('SELECT image_id FROM cached_images ORDER BY image_id').all() as { image_id: string }[]).map((r) => r.image_id);
    assert.deepEqual(listed(), ids.slice(1).sort());

    const smaller = conf.replace(/\.conf$/, '-small.conf');
    fs.writeFileSync(smaller, fs.readFileSync(conf, 'utf8').replace(`image_cache_max_size = ${size * 3}`, `image_cache_max_size = ${size}`));
    const prune = ocellus('prune', '--config', smaller, '--data-dir', dataDir);
    assert.equal(prune.status, 0, prune.stderr);
    assert.match(prune.stdout, new RegExp(`pruned 2 cached image\\(s\\), ${2 * size} bytes`));
    assert.equal(listed().length, 1);
    index.close();

    fs.writeFileSync(path.join(cacheDir, 'invalid', ids[0]!), 'x');
    const stalled = path.join(cacheDir, 'incomplete', ids[1]!);
    const fresh = path.join(cacheDir, 'incomplete', ids[2]!);
    fs.writeFileSync(stalled, 'x');
    fs.writeFileSync(fresh, 'x');
    const old = new Date(Date.now() - 120_000);
    fs.utimesSync(stalled, old, old);
    const clean = ocellus('clean', '--config', conf, '--data-dir', dataDir);
    assert.equal(clean.status, 0, clean.stderr);
    assert.match(clean.stdout, /removed 1 invalid and 1 stalled/);
    assert.deepEqual(filesIn(path.join(cacheDir, 'incomplete')), [ids[2]]);
    assert.deepEqual(filesIn(path.join(cacheDir, 'invalid')), []);

    const none = ocellus('prune', '--data-dir', tempDir());
    assert.equal(none.status, 2);
    assert.match(none.stderr, /no image cache is configured/);
  });
});
