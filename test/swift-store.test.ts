/**
 * The swift store against a real Swift (scripts/swift/start.sh: one-replica Swift 2.30 with
 * tempauth on loopback): the shared conformance suite, then what is Swift's own — per-project
 * containers, segments, credentials from glance-swift.conf, token renewal, resumed downloads,
 * refusals.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { STORE_OPTIONS, type StoreOptions } from '../src/config/store-options.js';
import { BlobNotFound, StoreError, StoreUnavailable, StoreWriteDenied, type BlobStore, type WriteTarget } from '../src/store/blob-store.js';
import { SwiftStore } from '../src/store/swift.js';
import { keystoneFromEnv, keystoneSkip } from './support/keystone.js';
import { storeConformance } from './support/store-conformance.js';
import { swiftServer, swiftSkipReason, type SwiftServerInfo } from './support/swift-server.js';

const swift = await swiftServer();
const skip = swift ? undefined : swiftSkipReason();
const MiB = 1024 * 1024;

function defaults(): StoreOptions<'swift'> {
  const o: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(STORE_OPTIONS.swift)) o[name] = spec.default;
  return o as StoreOptions<'swift'>;
}

let n = 0;
const unique = (prefix: string) => `${prefix}-${process.pid}-${Date.now().toString(36)}-${n++}`;
const stores: SwiftStore[] = [];

/** A store on the test Swift with its own fresh container (1 MB segments, so large objects are cheap). */
async function makeStore(over: Partial<StoreOptions<'swift'>> = {}, server: SwiftServerInfo = swift!): Promise<SwiftStore> {
  const store = new SwiftStore(
    {
      ...defaults(),
      swift_store_auth_address: server.authUrl,
      swift_store_user: server.user,
      swift_store_key: server.key,
      swift_store_auth_version: '1',
      swift_store_container: unique('ocellus-test'),
      swift_store_create_container_on_put: true,
      swift_store_large_object_size: 1,
      swift_store_large_object_chunk_size: 1,
      ...over,
    },
    { id: 'swift', log: () => undefined },
  );
  await store.init();
  stores.push(store);
  return store;
}

after(() => {
  for (const s of stores) s.close();
});

function target(key: string, attempt = 'a1', project: string | null = null, sizeHint: number | null = null): WriteTarget {
  return { key, attempt, project, sizeHint };
}

async function put(store: BlobStore, t: WriteTarget, data: Buffer): Promise<string> {
  const w = await store.createWriter(t);
  await pipeline(Readable.from(chunks(data)), w);
  return (await w.commit()).url;
}

function* chunks(data: Buffer, size = 300_001): Generator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function readAll(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Direct Swift calls for checks the store does not offer. */
async function tempauthToken(server: SwiftServerInfo): Promise<{ token: string; storageUrl: string }> {
  const r = await fetch(server.authUrl, { headers: { 'X-Auth-User': server.user, 'X-Auth-Key': server.key } });
  assert.equal(r.status, 200);
  return { token: r.headers.get('x-auth-token')!, storageUrl: r.headers.get('x-storage-url')! };
}

/** Deletes memcached keys (tempauth keeps its tokens there under md5 of the key). */
async function memcachedDelete(address: string, keys: string[]): Promise<void> {
  const [host, port] = address.split(':') as [string, string];
  const sock = net.connect(Number(port), host);
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  let answer = '';
  sock.on('data', (d) => (answer += d.toString()));
  for (const k of keys) sock.write(`delete ${createHash('md5').update(k).digest('hex')}\r\n`);
  for (let i = 0; i < 100 && answer.split('\r\n').length <= keys.length; i++) await sleep(10);
  sock.end();
  assert.match(answer, /DELETED/, `memcached answered ${answer}`);
}

/** A TCP relay to the proxy that can be told to cut the next download after some bytes. */
async function cuttingRelay(target: { host: string; port: number }): Promise<{ port: number; cutNextAfter: (bytes: number) => void; cuts: () => number; close: () => void }> {
  let armed: number | null = null;
  let cuts = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    let down = 0;
    let budget: number | null = null;
    client.on('data', (d) => {
      // A GET starts: it is the one to cut, if armed.
      if (armed !== null && d.subarray(0, 4).toString() === 'GET ') {
        budget = armed;
        armed = null;
        down = 0;
      }
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      down += d.length;
      if (budget !== null && down > budget) {
        cuts++;
        budget = null;
        client.write(d.subarray(0, d.length - (down - budget!)));
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(d);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    cutNextAfter: (bytes) => (armed = bytes),
    cuts: () => cuts,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe('swift store', { skip }, () => {
  storeConformance('swift', () => makeStore(), (store) => (store as SwiftStore).listObjects(), { partSize: MiB });

  test('describe() names the container and the large-object sizes; location URLs carry no credentials', async () => {
    const store = await makeStore();
    const d = store.describe();
    assert.equal(typeof d.container, 'string');
    assert.equal(d.large_object_size, 1);
    assert.equal(d.large_object_chunk_size, 1);
    const url = await put(store, target(unique('img')), Buffer.from('hello'));
    const auth = new URL(swift!.authUrl);
    assert.equal(url, `swift+http://${auth.host}${auth.pathname}/${String(d.container)}/${url.split('/').pop()}`);
    assert.ok(!url.includes(swift!.key) && !url.includes('@'), url);
    // Another container (not ours), another host, a config reference: not ours.
    assert.equal(store.owns(url.replace(String(d.container), 'someone-else')), false);
    assert.equal(store.owns(url.replace('127.0.0.1', 'example.invalid')), false);
    assert.equal(store.owns(`swift+config://ref1/${String(d.container)}/x`), false);
    // Glance's legacy form with credentials in it names the same object.
    assert.equal(store.owns(url.replace('swift+http://', 'swift+http://test%3Atester:testing@')), true);
    await store.delete(url);
  });

  test('multi-tenant: each project gets its own container, named in the location', async () => {
    const store = await makeStore({ swift_store_multi_tenant: true });
    const base = String(store.describe().container);
    const key = unique('img');
    const a = randomBytes(1000);
    const b = randomBytes(2000);
    const urlA = await put(store, target(key, 'a', 'projA'), a);
    const urlB = await put(store, target(key, 'b', 'projB'), b);
    assert.ok(urlA.endsWith(`/${base}_projA/${key}`), urlA);
    assert.ok(urlB.endsWith(`/${base}_projB/${key}`), urlB);
    assert.ok(store.owns(urlA) && store.owns(urlB));
    assert.deepEqual(await readAll(await store.read(urlA)), a);
    assert.deepEqual(await readAll(await store.read(urlB)), b);
    // Each object with its one segment, in its project's container.
    assert.deepEqual((await store.listObjects()).sort(), [`${base}_projA/${key}`, `${base}_projA/${key}/a/00000001`, `${base}_projB/${key}`, `${base}_projB/${key}/b/00000001`]);
    await store.delete(urlA);
    await store.delete(urlB);
    assert.deepEqual(await store.listObjects(), []);
  });

  test('listing: the objects of the store’s containers (per-project ones too), not their segments; nameOf names their locations alike', async () => {
    const store = await makeStore({ swift_store_multi_tenant: true });
    const other = await makeStore();
    const key = unique('img');
    const small = await put(store, target(key, 'a', 'projA'), randomBytes(1000));
    const large = await put(store, target(key, 'b'), randomBytes(2 * MiB + 5));
    const elsewhere = await put(other, target(unique('img')), Buffer.from('x'));
    const listed = [];
    for await (const o of store.listing.list()) listed.push(o);
    assert.deepEqual(listed.map((o) => o.url).sort(), [small, large].sort());
    for (const o of listed) {
      assert.equal(o.key, key);
      assert.equal(store.listing.nameOf(o.url), o.name);
      assert.ok(Math.abs(o.modifiedAt - Date.now()) < 120_000, `modified ${new Date(o.modifiedAt).toISOString()}`);
    }
    assert.equal(listed.find((o) => o.url === small)!.size, 1000);
    assert.equal(store.listing.nameOf(elsewhere), undefined, "another store's container is not this store's");
    for (const url of [small, large]) await store.delete(url);
    await other.delete(elsewhere);
  });

  test('multiple containers seed: the container is named by the first characters of the key', async () => {
    const store = await makeStore({ swift_store_multiple_containers_seed: 3 });
    const base = String(store.describe().container);
    const url = await put(store, target('ABCdef-1234'), Buffer.from('x'));
    assert.ok(url.endsWith(`/${base}_abc/ABCdef-1234`), url);
    await store.delete(url);
    // As Glance counts: dashes within the first N characters do not count towards N.
    const seeded = await makeStore({ swift_store_multiple_containers_seed: 9 });
    assert.equal(seeded.containerFor({ key: '3a1b2c3d-e5f6-7890', project: null }), `${String(seeded.describe().container)}_3a1b2c3d-e`);
  });

  test('an object larger than a segment is a static large object; delete removes its segments', async () => {
    const store = await makeStore();
    const key = unique('big');
    const data = randomBytes(3 * MiB + 12_345);
    const w = await store.createWriter(target(key, 'big-1'));
    await pipeline(Readable.from(chunks(data, 700_001)), w);
    // Before commit: only segments, no object.
    const before = await store.listObjects();
    assert.equal(before.length, 4, `4 segments of 1 MiB: ${before.join(', ')}`);
    assert.ok(before.every((name) => name.includes(`/${key}/big-1/`)), before.join(', '));
    const { url } = await w.commit();
    const { token, storageUrl } = await tempauthToken(swift!);
    const head = await fetch(`${storageUrl}/${String(store.describe().container)}/${key}`, { method: 'HEAD', headers: { 'X-Auth-Token': token } });
    assert.equal(head.headers.get('x-static-large-object'), 'True');
    assert.equal(await store.size(url), data.length);
    assert.equal(sha(await readAll(await store.read(url))), sha(data));
    // A range across a segment boundary.
    assert.deepEqual(await readAll(await store.read(url, { start: MiB - 10, end: MiB + 9 })), data.subarray(MiB - 10, MiB + 10));
    await store.delete(url);
    assert.deepEqual(await store.listObjects(), []);
  });

  test('replacing a large object removes the old segments', async () => {
    const store = await makeStore();
    const key = unique('re');
    await put(store, target(key, 'one'), randomBytes(2 * MiB + 1));
    const data = randomBytes(MiB + 5);
    const url = await put(store, target(key, 'two'), data);
    const names = await store.listObjects();
    assert.ok(names.every((name) => !name.includes('/one/')), names.join(', '));
    assert.deepEqual(await readAll(await store.read(url)), data);
    await store.delete(url);
    assert.deepEqual(await store.listObjects(), []);
  });

  test("segments never exceed the cluster's max_file_size, whatever swift_store_large_object_size says", async () => {
    // Glance's defaults (5 GiB single objects, 200 MB segments) on the test Swift, which takes 32 MiB at most.
    const store = await makeStore({ swift_store_large_object_size: 5120, swift_store_large_object_chunk_size: 200 });
    const data = randomBytes(swift!.maxFileSize + 1000);
    const url = await put(store, target(unique('cap'), 'cap', null, data.length), data);
    assert.equal(await store.size(url), data.length);
    assert.equal((await store.listObjects()).filter((name) => name.includes('/cap/')).length, 2, 'two segments');
    assert.equal(sha(await readAll(await store.read(url))), sha(data));
    await store.delete(url);
    assert.deepEqual(await store.listObjects(), []);
  });

  test('a failed write removes its segments by itself (cancel finds nothing left)', async () => {
    const store = await makeStore();
    const w = await store.createWriter(target(unique('fail'), 'broken'));
    async function* failing() {
      yield randomBytes(MiB);
      yield randomBytes(MiB + 3);
      throw new Error('client went away');
    }
    await assert.rejects(pipeline(Readable.from(failing()), w), /client went away/);
    let left = await store.listObjects();
    for (let i = 0; i < 100 && left.length > 0; i++) {
      await sleep(50);
      left = await store.listObjects();
    }
    assert.deepEqual(left, []);
    await w.cancel();
    assert.deepEqual(await store.listObjects(), []);
  });

  test('credentials from glance-swift.conf: swift+config:// locations', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocellus-swift-conf-'));
    const file = path.join(dir, 'glance-swift.conf');
    fs.writeFileSync(
      file,
      `[ref1]\nuser = nobody:nobody\nkey = wrong\nauth_address = http://127.0.0.1:1/auth/v1.0\n\n` +
        `[store-ref]\nuser = ${swift!.user}\nkey = ${swift!.key}\nauth_address = ${swift!.authUrl}\nauth_version = 1\n`,
    );
    const store = await makeStore({
      swift_store_config_file: file,
      default_swift_reference: 'store-ref',
      swift_store_auth_address: null,
      swift_store_user: null,
      swift_store_key: null,
    });
    const container = String(store.describe().container);
    const url = await put(store, target('cfg-image'), Buffer.from('from the config file'));
    assert.equal(url, `swift+config://store-ref/${container}/cfg-image`);
    assert.ok(store.owns(url));
    assert.equal(store.owns(`swift+config://ref1/${container}/cfg-image`), false);
    assert.equal((await readAll(await store.read(url))).toString(), 'from the config file');
    await store.delete(url);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a token invalidated on the server is renewed and the request retried', async () => {
    const store = await makeStore();
    const url = await put(store, target(unique('tok')), Buffer.from('token test'));
    // tempauth hands the same token to the same user while it is valid: this is the store's.
    const { token, storageUrl } = await tempauthToken(swift!);
    await memcachedDelete(swift!.memcached, [`AUTH_/token/${token}`, `AUTH_/user/${swift!.user}`]);
    const direct = await fetch(storageUrl, { method: 'HEAD', headers: { 'X-Auth-Token': token } });
    assert.equal(direct.status, 401, 'the old token is refused now');
    assert.equal(await store.size(url), 10);
    assert.equal((await readAll(await store.read(url))).toString(), 'token test');
    // A streamed write after another invalidation: the 401 comes before the body (100-continue).
    const again = await tempauthToken(swift!);
    await memcachedDelete(swift!.memcached, [`AUTH_/token/${again.token}`, `AUTH_/user/${swift!.user}`]);
    const url2 = await put(store, target(unique('tok2')), randomBytes(1000));
    assert.equal(await store.size(url2), 1000);
    await store.delete(url);
    await store.delete(url2);
  });

  test('wrong credentials: StoreUnavailable saying authentication failed', async () => {
    const store = await makeStore({ swift_store_key: 'not-the-key' });
    await assert.rejects(store.size(`swift+http://${new URL(swift!.authUrl).host}/auth/v1.0/${String(store.describe().container)}/x`), (err: unknown) => {
      assert.ok(err instanceof StoreUnavailable, String(err));
      assert.match((err as Error).message, /authentication failed/);
      return true;
    });
  });

  test('a user without write rights: StoreWriteDenied', async () => {
    const store = await makeStore({ swift_store_user: 'test:reader', swift_store_key: 'reading' });
    await assert.rejects(store.createWriter(target(unique('denied'))), StoreWriteDenied);
  });

  test('a missing container without swift_store_create_container_on_put is a clear error', async () => {
    const store = await makeStore({ swift_store_create_container_on_put: false });
    await assert.rejects(store.createWriter(target(unique('nocontainer'))), (err: unknown) => {
      assert.ok(err instanceof StoreError);
      assert.match((err as Error).message, /does not exist.*swift_store_create_container_on_put/);
      return true;
    });
  });

  test('a server that is down: StoreUnavailable', async () => {
    const store = await makeStore({ swift_store_auth_address: 'http://127.0.0.1:1/auth/v1.0' });
    await assert.rejects(store.size(`swift+http://127.0.0.1:1/auth/v1.0/${String(store.describe().container)}/x`), StoreUnavailable);
    await assert.rejects(store.createWriter(target(unique('down'))), StoreUnavailable);
  });

  test('swift_store_retry_get_count resumes a broken download from the byte reached', async () => {
    const proxyUrl = new URL(swift!.storageUrl!);
    const relay = await cuttingRelay({ host: proxyUrl.hostname, port: Number(proxyUrl.port) });
    try {
      const endpoint = `http://127.0.0.1:${relay.port}${proxyUrl.pathname}`;
      const store = await makeStore({ swift_store_endpoint: endpoint, swift_store_retry_get_count: 2 });
      const data = randomBytes(3 * MiB + 100);
      const url = await put(store, target(unique('retry'), 'r', null, data.length), data);
      relay.cutNextAfter(MiB + 333);
      assert.equal(sha(await readAll(await store.read(url))), sha(data), 'the whole object, resumed');
      assert.equal(relay.cuts(), 1, 'the download was cut once');
      // A ranged read resumes within its range.
      relay.cutNextAfter(200_000);
      assert.deepEqual(await readAll(await store.read(url, { start: 100, end: 600_099 })), data.subarray(100, 600_100));
      assert.equal(relay.cuts(), 2);
      // Without retries the cut is an error.
      const noRetry = await makeStore({ swift_store_endpoint: endpoint, swift_store_container: String(store.describe().container) });
      relay.cutNextAfter(MiB);
      await assert.rejects(readAll(await noRetry.read(url)), StoreUnavailable);
      await store.delete(url);
      await assert.rejects(store.read(url), BlobNotFound);
    } finally {
      relay.close();
    }
  });
});

/**
 * Keystone v3 password auth against the private Keystone (scripts/keystone/start.sh). The test
 * Swift only speaks tempauth, so the catalog entry used as "storage URL" is Keystone's own
 * identity endpoint: a HEAD there with the issued token answers 404, which shows the token was
 * issued and the endpoint chosen by service type, interface and region.
 */
describe('swift store: Keystone v3 authentication', { skip: keystoneSkip() }, () => {
  const ks = () => {
    const env = keystoneFromEnv();
    if ('skip' in env) throw new Error(env.skip);
    return env;
  };
  async function keystoneStore(over: Partial<StoreOptions<'swift'>>): Promise<SwiftStore> {
    const store = new SwiftStore(
      {
        ...defaults(),
        swift_store_auth_address: ks().url,
        swift_store_user: 'admin:admin',
        swift_store_key: ks().adminPassword,
        swift_store_auth_version: '3',
        swift_store_service_type: 'identity',
        swift_store_region: 'RegionOne',
        ...over,
      },
      { id: 'swift', log: () => undefined },
    );
    await store.init();
    stores.push(store);
    return store;
  }
  /** A location under the Keystone auth address (what this store owns); the object is never there. */
  const someUrl = () => {
    const u = new URL(ks().url);
    return `${u.protocol === 'https:' ? 'swift+https' : 'swift+http'}://${u.host}${u.pathname}/glance/x`;
  };

  test('a project-scoped token, and the endpoint of the configured service type, interface and region', async () => {
    for (const endpointType of ['publicURL', 'internalURL', 'adminURL'] as const) {
      const store = await keystoneStore({ swift_store_endpoint_type: endpointType });
      await assert.rejects(store.size(someUrl()), BlobNotFound, endpointType);
    }
  });

  test('credentials from glance-swift.conf with domains', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocellus-swift-conf-'));
    const file = path.join(dir, 'glance-swift.conf');
    fs.writeFileSync(file, `[ks]\nuser = admin:admin\nkey = ${ks().adminPassword}\nauth_address = ${ks().url}/\nauth_version = 3\nuser_domain_id = default\nproject_domain_name = Default\n`);
    const store = await keystoneStore({ swift_store_config_file: file, default_swift_reference: 'ks' });
    await assert.rejects(store.size('swift+config://ks/glance/x'), BlobNotFound);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('no such endpoint in the catalog, or a wrong password: StoreUnavailable saying so', async () => {
    const noRegion = await keystoneStore({ swift_store_region: 'NoSuchRegion' });
    await assert.rejects(noRegion.size(someUrl()), /no public endpoint of service type identity in region NoSuchRegion/);
    const noService = await keystoneStore({ swift_store_service_type: 'ocellus-no-such-service' });
    await assert.rejects(noService.size(someUrl()), (err: unknown) => err instanceof StoreUnavailable && /ocellus-no-such-service/.test((err as Error).message));
    const wrong = await keystoneStore({ swift_store_key: 'wrong-password' });
    await assert.rejects(wrong.size(someUrl()), (err: unknown) => err instanceof StoreUnavailable && /authentication failed/.test((err as Error).message));
  });
});
