import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { openDatabase } from '../src/db/connect.js';
import { SqlImageRepository } from '../src/db/image-repository.js';
import { admin, api, createImage, member, startServer, upload, type TestServer } from './support/harness.js';
import { digests, download, random, waitForStatus } from './support/streaming.js';
import { swiftServer, swiftSkipReason, type SwiftServerInfo } from './support/swift-server.js';

/**
 * The image data API once more, with a multi-store configuration of a file store, a Swift store
 * and an S3 store (Swift's s3api) on the real test Swift of scripts/swift/start.sh — once with
 * Swift as the default backend, once with S3 — with part and segment sizes small enough that
 * images go out as Swift segments and S3 multipart uploads.
 */

const swift = await swiftServer();
const MiB = 1024 * 1024;

/** A tempauth session on the test Swift: lists what is left in its containers (S3 buckets are containers too). */
async function swiftSession(info: SwiftServerInfo): Promise<{ list(container: string): Promise<string[]>; put(container: string, name: string, body: Buffer): Promise<number> }> {
  const res = await fetch(info.authUrl, { headers: { 'x-auth-user': info.user, 'x-auth-key': info.key } });
  await res.arrayBuffer();
  const token = res.headers.get('x-auth-token')!;
  const storage = res.headers.get('x-storage-url')!;
  return {
    async list(container) {
      const r = await fetch(`${storage}/${container}?format=json`, { headers: { 'x-auth-token': token } });
      if (r.status === 404) return [];
      return ((await r.json()) as { name: string }[]).map((o) => o.name);
    },
    async put(container, name, body) {
      const r = await fetch(`${storage}/${container}/${name}`, { method: 'PUT', headers: { 'x-auth-token': token }, body });
      await r.arrayBuffer();
      return r.status;
    },
  };
}

for (const target of ['objects', 'buckets'] as const) {
  describe(`image data with multi-store file + swift + s3, default ${target === 'objects' ? 'swift' : 's3'}`, { skip: swift ? undefined : swiftSkipReason() }, () => {
    let server: TestServer;
    let session: Awaited<ReturnType<typeof swiftSession>>;
    const suffix = `${process.pid}-${Date.now().toString(36)}-${target}`;
    const container = `ocellus-api-${suffix}`;
    const bucket = `ocellus-api-s3-${suffix}`;
    /** Everything the stores hold for this server: Swift objects and segments, S3 objects, parts and upload markers. */
    const leftovers = async () => [
      ...(await session.list(container)),
      ...(await session.list(bucket)),
      ...(await session.list(`${bucket}+segments`)),
    ];

    before(async () => {
      const s = swift!;
      session = await swiftSession(s);
      const set = (section: string, name: string, value: string) => ({ section, name, value });
      server = await startServer([
        set('DEFAULT', 'enabled_backends', 'local:file, objects:swift, buckets:s3'),
        set('glance_store', 'default_backend', target),
        set('objects', 'swift_store_auth_address', s.authUrl),
        set('objects', 'swift_store_auth_version', '1'),
        set('objects', 'swift_store_user', s.user),
        set('objects', 'swift_store_key', s.key),
        set('objects', 'swift_store_container', container),
        set('objects', 'swift_store_create_container_on_put', 'true'),
        set('objects', 'swift_store_large_object_size', '1'),
        set('objects', 'swift_store_large_object_chunk_size', '1'),
        set('buckets', 's3_store_host', s.s3Endpoint),
        set('buckets', 's3_store_access_key', s.s3AccessKey),
        set('buckets', 's3_store_secret_key', s.s3SecretKey),
        set('buckets', 's3_store_region_name', s.region),
        set('buckets', 's3_store_bucket', bucket),
        set('buckets', 's3_store_create_bucket_on_put', 'true'),
        set('buckets', 's3_store_large_object_size', '5'),
        set('buckets', 's3_store_large_object_chunk_size', '5'),
      ]);
    });
    after(() => server?.close());

    async function locationsOf(id: string) {
      const db = openDatabase(server.dbUrl);
      try {
        return (await new SqlImageRepository(db).find(id))!.image.locations;
      } finally {
        await db.destroy();
      }
    }

    test('an image larger than a segment or part round-trips, hashes and ranges included; its location names the store', async () => {
      const data = random(12 * MiB + 333);
      const id = await createImage(server.url, member('p1'));
      assert.equal((await upload(server.url, id, data, member('p1'))).status, 204);
      const image = (await api(server.url, 'GET', `/v2/images/${id}`, { headers: member('p1') })).body;
      assert.equal(image.status, 'active');
      assert.equal(image.size, data.length);
      assert.equal(image.checksum, digests(data).md5);
      const [loc] = await locationsOf(id);
      assert.equal(loc!.metadata.store, target);
      assert.match(loc!.url, target === 'objects' ? /^swift\+http:\/\// : /^s3\+http:\/\//);
      assert.doesNotMatch(loc!.url, /testing|tester@/, 'no credentials in a location');
      const d = await download(server.url, id, member('p1'));
      assert.equal(d.status, 200);
      assert.ok(d.data.equals(data));
      const r = await fetch(`${server.url}/v2/images/${id}/file`, { headers: { ...member('p1'), range: `bytes=${6 * MiB - 5}-${6 * MiB + 4}` } });
      assert.equal(r.status, 206);
      assert.ok(Buffer.from(await r.arrayBuffer()).equals(data.subarray(6 * MiB - 5, 6 * MiB + 5)));
    });

    test('X-Image-Meta-Store sends an image to each of the three stores', async () => {
      for (const store of ['local', 'objects', 'buckets']) {
        const data = random(2 * MiB + 1);
        const id = await createImage(server.url, member('p1'));
        assert.equal((await upload(server.url, id, data, { ...member('p1'), 'x-image-meta-store': store })).status, 204, store);
        assert.equal((await locationsOf(id))[0]!.metadata.store, store);
        assert.ok((await download(server.url, id, member('p1'))).data.equals(data), store);
      }
    });

    test('an upload cut off midway leaves nothing in the store and the image queued; delete removes every piece', async () => {
      const before = await leftovers();
      const id = await createImage(server.url, member('p1'));
      await new Promise<void>((resolve) => {
        const req = http.request(`${server.url}/v2/images/${id}/file`, { method: 'PUT', headers: { ...member('p1'), 'content-type': 'application/octet-stream', 'content-length': String(20 * MiB) } });
        req.on('error', () => resolve());
        req.on('response', (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.write(random(7 * MiB), () => setTimeout(() => req.destroy(), 300));
      });
      await waitForStatus(server.url, id, 'queued', member('p1'));
      assert.deepEqual(await leftovers(), before, 'no segment, part or object left behind');

      const data = random(11 * MiB);
      assert.equal((await upload(server.url, id, data, member('p1'))).status, 204);
      assert.notDeepEqual(await leftovers(), before);
      assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: member('p1') })).status, 204);
      assert.deepEqual(await leftovers(), before, 'the image and all its segments or parts are gone');
    });

    test('an object changed behind our back is never served as a complete image', async () => {
      const data = random(3 * MiB);
      const id = await createImage(server.url, member('p1'));
      assert.equal((await upload(server.url, id, data, { ...member('p1'), 'x-image-meta-store': 'objects' })).status, 204);
      // Replace the object with different bytes of the same length, straight through Swift.
      const tampered = Buffer.from(data);
      tampered[1000] ^= 1;
      assert.equal(await session.put(container, id, tampered), 201);
      const got = await new Promise<{ length: number; complete: boolean }>((resolve) => {
        http.get(`${server.url}/v2/images/${id}/file`, { headers: member('p1') }, (res) => {
          let length = 0;
          res.on('data', (c: Buffer) => (length += c.length));
          res.on('end', () => resolve({ length, complete: res.complete }));
          res.on('error', () => resolve({ length, complete: false }));
        });
      });
      assert.equal(got.complete, false);
      assert.ok(got.length < data.length);
    });

    test('GET /v2/info/stores/detail describes the remote stores', async () => {
      const r = await api(server.url, 'GET', '/v2/info/stores/detail', { headers: admin() });
      const byId = Object.fromEntries((r.body.stores as { id: string; type: string; properties: Record<string, unknown> }[]).map((s) => [s.id, s]));
      assert.equal(byId.objects!.type, 'swift');
      assert.equal(byId.objects!.properties.container, container);
      assert.equal(byId.buckets!.type, 's3');
      assert.equal(byId.buckets!.properties.s3_store_large_object_chunk_size, 5);
    });
  });
}
