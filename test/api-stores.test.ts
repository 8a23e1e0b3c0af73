import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { openDatabase } from '../src/db/connect.js';
import { SqlImageRepository } from '../src/db/image-repository.js';
import { admin, api, createImage, member, startServer, tempDir, upload, type TestServer } from './support/harness.js';
import { download, random } from './support/streaming.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite', 'postgresql');

const set = (section: string, name: string, value: string) => ({ section, name, value });

describe('without enabled_backends there is no stores API', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  test('GET /v2/info/stores and DELETE /v2/stores are 404; versions 2.8–2.13 are not offered; no store-ids header', async () => {
    assert.equal((await api(server.url, 'GET', '/v2/info/stores', { headers: admin() })).status, 404);
    assert.equal((await api(server.url, 'GET', '/v2/info/stores/detail', { headers: admin() })).status, 404);
    const id = await createImage(server.url, admin());
    assert.equal((await api(server.url, 'DELETE', `/v2/stores/file/${id}`, { headers: admin() })).status, 404);
    const versions = await api(server.url, 'GET', '/versions');
    const ids = (versions.body.versions as { id: string }[]).map((v) => v.id);
    assert.ok(!ids.includes('v2.8') && !ids.includes('v2.13'), ids.join());
    const created = await api(server.url, 'POST', '/v2/images', { headers: admin(), json: { name: 'x' } });
    assert.equal(created.headers.get('openstack-image-store-ids'), null);
  });

  test('X-Image-Meta-Store is ignored without multi-store, as in Glance', async () => {
    const id = await createImage(server.url, admin());
    assert.equal((await upload(server.url, id, Buffer.from('abc'), { ...admin(), 'x-image-meta-store': 'nowhere' })).status, 204);
  });
});

describe('multi-store: two file stores and an http store', () => {
  let server: TestServer;
  let fastDir: string;
  let cheapDir: string;
  before(async () => {
    const root = tempDir('ocellus-stores-');
    fastDir = path.join(root, 'fast');
    cheapDir = path.join(root, 'cheap');
    server = await startServer([
      set('DEFAULT', 'enabled_backends', 'fast:file, cheap:file, web:http'),
      set('glance_store', 'default_backend', 'fast'),
    ], root);
    // Section options come from the file in real life; here the datadir defaults are <data dir>/<id>.
  });
  after(() => server.close());

  test('GET /v2/info/stores lists the stores as Glance does: default and read-only flags as the string "true"', async () => {
    const r = await api(server.url, 'GET', '/v2/info/stores', { headers: member('p1') });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { stores: [{ id: 'fast', default: 'true' }, { id: 'cheap' }, { id: 'web', 'read-only': 'true' }] });
  });

  test('GET /v2/info/stores/detail: type, weight and driver properties for admins; 403 for others', async () => {
    assert.equal((await api(server.url, 'GET', '/v2/info/stores/detail', { headers: member('p1') })).status, 403);
    const r = await api(server.url, 'GET', '/v2/info/stores/detail', { headers: admin() });
    assert.equal(r.status, 200);
    const byId = Object.fromEntries((r.body.stores as { id: string; type: string; weight: number; properties: Record<string, unknown> }[]).map((s) => [s.id, s]));
    assert.deepEqual(Object.keys(byId), ['fast', 'cheap', 'web']);
    assert.equal(byId.fast.type, 'file');
    assert.equal(byId.fast.weight, 0);
    assert.equal(byId.fast.properties.data_dir, fastDir);
    assert.equal(byId.web.type, 'http');
    assert.deepEqual(byId.web.properties, {});
  });

  test('versions 2.8–2.13 are offered; POST /v2/images names the store ids', async () => {
    const ids = ((await api(server.url, 'GET', '/versions')).body.versions as { id: string }[]).map((v) => v.id);
    for (const v of ['v2.8', 'v2.10', 'v2.11', 'v2.12', 'v2.13']) assert.ok(ids.includes(v), v);
    const created = await api(server.url, 'POST', '/v2/images', { headers: admin(), json: { name: 'x' } });
    assert.equal(created.headers.get('openstack-image-store-ids'), 'fast,cheap,web');
  });

  test('an upload goes to the default store, or to the one X-Image-Meta-Store names', async () => {
    const a = await createImage(server.url, member('p1'));
    assert.equal((await upload(server.url, a, Buffer.from('default store'), member('p1'))).status, 204);
    assert.ok(fs.existsSync(path.join(fastDir, a)));
    const b = await createImage(server.url, member('p1'));
    assert.equal((await upload(server.url, b, Buffer.from('cheap store'), { ...member('p1'), 'x-image-meta-store': 'cheap' })).status, 204);
    assert.ok(fs.existsSync(path.join(cheapDir, b)));
    assert.ok(!fs.existsSync(path.join(fastDir, b)));
    const d = await download(server.url, b, member('p1'));
    assert.equal(d.data.toString(), 'cheap store');
  });

  test('an unknown or reserved store is 400, the read-only http store 410; the image stays queued', async () => {
    const id = await createImage(server.url, member('p1'));
    const unknown = await upload(server.url, id, Buffer.from('x'), { ...member('p1'), 'x-image-meta-store': 'nowhere' });
    assert.equal(unknown.status, 400);
    assert.match(unknown.text, /nowhere/);
    assert.equal((await upload(server.url, id, Buffer.from('x'), { ...member('p1'), 'x-image-meta-store': 'os_glance_staging_store' })).status, 400);
    assert.equal((await upload(server.url, id, Buffer.from('x'), { ...member('p1'), 'x-image-meta-store': 'web' })).status, 410);
    assert.equal((await api(server.url, 'GET', `/v2/images/${id}`, { headers: member('p1') })).body.status, 'queued');
  });

  /** An image with its data in fast and (as copy-image would leave it) in cheap too. */
  async function inBothStores(data: Buffer): Promise<string> {
    const id = await createImage(server.url, member('p1'));
    assert.equal((await upload(server.url, id, data, member('p1'))).status, 204);
    fs.copyFileSync(path.join(fastDir, id), path.join(cheapDir, id));
    const db = openDatabase(server.dbUrl);
    try {
      await new SqlImageRepository(db).addLocation(id, { url: pathToFileURL(path.join(cheapDir, id)).href, metadata: { store: 'cheap' } }, Date.now());
    } finally {
      await db.destroy();
    }
    return id;
  }

  test('DELETE /v2/stores/{store}/{image}: Glance refusals, then the data leaves that store only', async () => {
    const data = random(200_000);
    const id = await inBothStores(data);
    const del = (store: string, headers = admin()) => api(server.url, 'DELETE', `/v2/stores/${store}/${id}`, { headers });
    assert.equal((await del('nowhere')).status, 409);
    assert.equal((await del('cheap', member('p1'))).status, 403, 'delete_image_location is admin only');
    assert.equal((await del('web')).status, 404, 'not stored there');
    assert.equal((await api(server.url, 'DELETE', `/v2/stores/cheap/${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}`, { headers: admin() })).status, 404);
    assert.equal((await del('cheap')).status, 204);
    assert.ok(!fs.existsSync(path.join(cheapDir, id)));
    assert.ok(fs.existsSync(path.join(fastDir, id)));
    const last = await del('fast');
    assert.equal(last.status, 403);
    assert.match(last.text, /only store containing it/);
    assert.deepEqual((await download(server.url, id, member('p1'))).data, data);
  });

  test('DELETE /v2/stores refuses an image that is not active (409)', async () => {
    const id = await createImage(server.url, member('p1'));
    assert.equal((await api(server.url, 'DELETE', `/v2/stores/fast/${id}`, { headers: admin() })).status, 409);
  });

  test('a download falls over to the next location when one store has lost the bytes', async () => {
    const data = random(100_000);
    const id = await inBothStores(data);
    fs.rmSync(path.join(fastDir, id));
    const d = await download(server.url, id, member('p1'));
    assert.equal(d.status, 200);
    assert.deepEqual(d.data, data);
  });

  test('corrupt stored bytes are never served as a complete image: the download is cut short', async () => {
    const data = random(3 * 1024 * 1024);
    const id = await createImage(server.url, member('p1'));
    assert.equal((await upload(server.url, id, data, member('p1'))).status, 204);
    const file = path.join(fastDir, id);
    const corrupt = Buffer.from(data);
    corrupt[corrupt.length - 10] ^= 0xff;
    fs.writeFileSync(file, corrupt);
    const got = await new Promise<{ length: number; complete: boolean; declared: number }>((resolve) => {
      http.get(`${server.url}/v2/images/${id}/file`, { headers: member('p1') }, (res) => {
        let length = 0;
        res.on('data', (c: Buffer) => (length += c.length));
        res.on('end', () => resolve({ length, complete: res.complete, declared: Number(res.headers['content-length']) }));
        res.on('error', () => resolve({ length, complete: false, declared: Number(res.headers['content-length']) }));
        res.on('aborted', () => undefined);
      });
    });
    assert.equal(got.declared, data.length);
    assert.equal(got.complete, false, 'the response must not end normally');
    assert.ok(got.length < data.length, `only ${got.length} of ${data.length} bytes may arrive`);
    // A range request is not checked (no digest covers it) and is served as stored.
    const r = await fetch(`${server.url}/v2/images/${id}/file`, { headers: { ...member('p1'), range: 'bytes=0-9' } });
    assert.equal(r.status, 206);
  });
});
