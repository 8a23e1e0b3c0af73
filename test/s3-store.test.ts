/**
 * The s3 store against a real S3 server: Swift 2.30's s3api (scripts/swift/start.sh). Without
 * that server the tests skip, saying how to get it; with CI=true they fail instead.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateMultipartUploadCommand,
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { StoreOptions } from '../src/config/store-options.js';
import { BlobNotFound, InvalidRange, StoreError, StoreUnavailable, StoreWriteDenied, type BlobStore, type StoredObject, type WriteTarget } from '../src/store/blob-store.js';
import { S3Store, markerKey } from '../src/store/s3.js';
import { parseLocation } from '../src/store/s3-location.js';
import { MIB, planCapacity, planParts } from '../src/store/s3-part-sizes.js';
import { storeConformance } from './support/store-conformance.js';
import { swiftServer, swiftSkipReason } from './support/swift-server.js';

const swift = await swiftServer();
const skip = swift ? undefined : swiftSkipReason();
const logs: string[] = [];
const env = { id: 's3', log: (msg: string) => void logs.push(msg) };

let n = 0;
const unique = (what: string) => `${what}-${process.pid}-${Date.now().toString(36)}-${n++}`;
/** A bucket per store, so each store starts empty and leftovers are its own. */
const freshBucket = () => unique('ocellus-t').toLowerCase();

function options(overrides: Partial<StoreOptions<'s3'>> = {}): StoreOptions<'s3'> {
  return {
    s3_store_host: swift?.s3Endpoint ?? 'http://127.0.0.1:1',
    s3_store_region_name: '',
    s3_store_access_key: swift?.s3AccessKey ?? 'x',
    s3_store_secret_key: swift?.s3SecretKey ?? 'x',
    s3_store_bucket: freshBucket(),
    s3_store_create_bucket_on_put: true,
    s3_store_bucket_url_format: 'path',
    s3_store_large_object_size: 100,
    s3_store_large_object_chunk_size: 10,
    s3_store_thread_pools: 10,
    s3_store_cacert: null,
    ...overrides,
  };
}

/** Multipart from 1 MB on, in 5 MB parts (S3's smallest), two in flight: every path runs with little data. */
const SMALL_PARTS: Partial<StoreOptions<'s3'>> = { s3_store_large_object_size: 1, s3_store_large_object_chunk_size: 5, s3_store_thread_pools: 2 };

const buckets = new Map<BlobStore, string>();
const stores: S3Store[] = [];

async function makeStore(overrides: Partial<StoreOptions<'s3'>> = {}): Promise<S3Store> {
  const o = options(overrides);
  const store = new S3Store(o, env);
  await store.init();
  buckets.set(store, o.s3_store_bucket!);
  stores.push(store);
  return store;
}

/** A client of our own, to look at the bucket behind the store's back. */
function rawClient(): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint: swift!.s3Endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: swift!.s3AccessKey, secretAccessKey: swift!.s3SecretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

async function objectsIn(bucket: string): Promise<string[]> {
  try {
    const res = await rawClient().send(new ListObjectsV2Command({ Bucket: bucket }));
    return (res.Contents ?? []).map((o) => o.Key!);
  } catch (err) {
    if ((err as Error).name === 'NoSuchBucket') return [];
    throw err;
  }
}

async function uploadsIn(bucket: string): Promise<string[]> {
  try {
    const res = await rawClient().send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    return (res.Uploads ?? []).map((u) => `upload:${u.Key}/${u.UploadId}`);
  } catch (err) {
    if ((err as Error).name === 'NoSuchBucket') return [];
    throw err;
  }
}

/** Every object and multipart upload in the store's bucket. */
async function leftovers(store: BlobStore): Promise<string[]> {
  const bucket = buckets.get(store)!;
  return [...(await objectsIn(bucket)), ...(await uploadsIn(bucket))];
}

function target(key = unique('img'), attempt = unique('att'), sizeHint: number | null = null): WriteTarget {
  return { key, attempt, project: null, sizeHint };
}

async function put(store: BlobStore, t: WriteTarget, data: Buffer | Iterable<Buffer> | AsyncIterable<Buffer>): Promise<StoredObject> {
  const writer = await store.createWriter(t);
  await pipeline(Readable.from(Buffer.isBuffer(data) ? [data] : data), writer);
  return writer.commit();
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Pieces of `total` random bytes, `piece` at a time, without holding them all. */
async function* randomPieces(total: number, piece = 256 * 1024): AsyncGenerator<Buffer> {
  for (let sent = 0; sent < total; sent += piece) yield randomBytes(Math.min(piece, total - sent));
}

describe('s3 store', { skip }, () => {
  test.after(() => {
    for (const s of stores) s.close();
  });

  // The shared contract, twice: the multipart path for everything above 1 MB, and the defaults
  // (single PutObject at commit for anything up to 10 MB).
  storeConformance('s3 (multipart from 1 MB, 5 MB parts, 2 in flight)', () => makeStore(SMALL_PARTS), leftovers, { partSize: 5 * MIB });
  storeConformance('s3 (defaults)', () => makeStore(), leftovers, { partSize: 10 * MIB });

  test('a multipart write: 5 MiB parts, invisible until commit, nothing left but the object', async () => {
    const store = await makeStore(SMALL_PARTS);
    const bucket = buckets.get(store)!;
    const t = target();
    const data = randomBytes(12 * MIB + 5);
    const writer = await store.createWriter(t);
    await pipeline(Readable.from([data.subarray(0, 7 * MIB), data.subarray(7 * MIB)]), writer);
    await assert.rejects(store.size(`s3+http://${new URL(swift!.s3Endpoint).host}/${bucket}/${t.key}`), BlobNotFound);
    assert.equal((await uploadsIn(bucket)).length, 1, 'the upload is in progress');
    assert.deepEqual(await objectsIn(bucket), [markerKey(t.key, t.attempt)], 'only the marker naming the attempt');
    const stored = await writer.commit();
    assert.equal(stored.url, `s3+http://${new URL(swift!.s3Endpoint).host}/${bucket}/${t.key}`);
    assert.match(String(stored.metadata.etag), /^[0-9a-f]{32}-3$/, 'three parts');
    assert.equal(await store.size(stored.url), data.length);
    assert.equal(sha(await readAll(await store.read(stored.url))), sha(data));
    assert.deepEqual(await leftovers(store), [t.key]);
    const head = await rawClient().send(new HeadObjectCommand({ Bucket: bucket, Key: t.key }));
    assert.equal(head.Metadata?.['ocellus-attempt'], t.attempt, 'the object names the attempt that wrote it');
  });

  test('a small write is one PutObject inside commit: nothing reaches S3 before it', async () => {
    const store = await makeStore();
    const bucket = buckets.get(store)!;
    const t = target();
    const writer = await store.createWriter(t);
    await pipeline(Readable.from([randomBytes(3 * MIB)]), writer);
    assert.deepEqual(await leftovers(store), []);
    const stored = await writer.commit();
    assert.match(String(stored.metadata.etag), /^[0-9a-f]{32}$/);
    assert.deepEqual(await objectsIn(bucket), [t.key]);
  });

  test('part sizes: at least 5 MiB, raised so that the announced size fits in 1000 parts; unknown sizes grow', () => {
    assert.equal(planParts(5, null).firstPartSize, 5 * MIB);
    assert.equal(planParts(10, 5 * 1024 * MIB).firstPartSize, 10 * MIB);
    const big = planParts(10, 50 * 1024 * MIB);
    assert.equal(big.firstPartSize, 52 * MIB);
    assert.ok(big.firstPartSize * 1000 >= 50 * 1024 * MIB);
    assert.ok(planCapacity(planParts(10, null)) > 100 * 1024 * MIB, 'an image of unknown size may reach 100 GiB');
  });

  test('the writer holds the source back while the parts in flight fill the pool', async () => {
    const proxy = await stallingProxy(new URL(swift!.s3Endpoint));
    try {
      const store = await makeStore({ ...SMALL_PARTS, s3_store_thread_pools: 1, s3_store_host: `http://127.0.0.1:${proxy.port}` });
      const t = target();
      const writer = await store.createWriter(t);
      let pulled = 0;
      const hash = createHash('sha256');
      async function* source() {
        for (let i = 0; i < 60; i++) {
          const piece = randomBytes(MIB);
          pulled += piece.length;
          hash.update(piece);
          yield piece;
        }
      }
      proxy.stall();
      const done = pipeline(Readable.from(source()), writer);
      await sleep(1500);
      // One part uploading, one filling, the stream's buffers and the sockets' kernel buffers: far from 60 MiB.
      assert.ok(pulled <= 24 * MIB, `pulled ${pulled / MIB} MiB while S3 took nothing`);
      proxy.resume();
      await done;
      const stored = await writer.commit();
      assert.equal(pulled, 60 * MIB);
      assert.equal(sha(await readAll(await store.read(stored.url))), hash.digest('hex'));
    } finally {
      proxy.close();
    }
  });

  test('a read waits for a slow consumer instead of buffering the object', async () => {
    const store = await makeStore(SMALL_PARTS);
    const data = randomBytes(40 * MIB);
    const stored = await put(store, target(), [data.subarray(0, 20 * MIB), data.subarray(20 * MIB)]);
    const proxy = await stallingProxy(new URL(swift!.s3Endpoint));
    try {
      const via = await makeStore({ s3_store_host: `http://127.0.0.1:${proxy.port}`, s3_store_bucket: buckets.get(store)! });
      const body = await via.read(stored.url.replace(new URL(swift!.s3Endpoint).host, `127.0.0.1:${proxy.port}`));
      const first = (await body[Symbol.asyncIterator]().next()).value as Buffer;
      assert.ok(first.length > 0);
      await sleep(1000);
      assert.ok(proxy.downstream() < 24 * MIB, `the proxy passed ${proxy.downstream() / MIB} MiB to a reader that read one chunk`);
      body.destroy();
    } finally {
      proxy.close();
    }
  });

  test('ranged reads: inclusive, across parts, end clamped, start past the end refused', async () => {
    const store = await makeStore(SMALL_PARTS);
    const data = randomBytes(11 * MIB);
    const { url } = await put(store, target(), data);
    const around = 5 * MIB;
    assert.deepEqual(await readAll(await store.read(url, { start: around - 3, end: around + 2 })), data.subarray(around - 3, around + 3));
    assert.deepEqual(await readAll(await store.read(url, { start: data.length - 4, end: data.length + 1000 })), data.subarray(data.length - 4));
    await assert.rejects(store.read(url, { start: data.length, end: data.length + 10 }), InvalidRange);
    const empty = await put(store, target(), Buffer.alloc(0));
    await assert.rejects(store.read(empty.url, { start: 0, end: 0 }), InvalidRange);
  });

  test('a failed multipart write leaves no multipart upload behind', async () => {
    const store = await makeStore(SMALL_PARTS);
    const bucket = buckets.get(store)!;
    const t = target();
    const writer = await store.createWriter(t);
    async function* failing() {
      yield* randomPieces(11 * MIB);
      throw new Error('client went away');
    }
    await assert.rejects(pipeline(Readable.from(failing()), writer), /client went away/);
    await assert.rejects(writer.commit(), StoreError);
    await writer.cancel();
    assert.deepEqual(await uploadsIn(bucket), []);
    assert.deepEqual(await leftovers(store), []);
    await assert.rejects(new Promise<void>((resolve, reject) => writer.write(Buffer.from('x'), (err) => (err ? reject(err) : resolve()))));
  });

  test('discardWrite aborts the upload a crashed writer left, and only that attempt’s', async () => {
    const store = await makeStore(SMALL_PARTS);
    const bucket = buckets.get(store)!;
    const key = unique('img');
    const crashed = target(key, unique('crashed'));
    const live = target(key, unique('live'));
    // The crashed writer: parts uploaded, then its process is gone (the writer is never ended).
    const dead = await store.createWriter(crashed);
    for await (const piece of randomPieces(11 * MIB)) if (!dead.write(piece)) await once(dead, 'drain');
    await waitFor(async () => (await uploadsIn(bucket)).length === 1);
    const other = await store.createWriter(live);
    const liveData = randomBytes(6 * MIB);
    other.write(liveData);
    await waitFor(async () => (await uploadsIn(bucket)).length === 2);
    // Another process sweeps: a store of its own, same configuration.
    const sweeper = await makeStore({ ...SMALL_PARTS, s3_store_bucket: bucket });
    await sweeper.discardWrite(crashed, { committed: false });
    await sweeper.discardWrite(crashed, { committed: false });
    await sweeper.discardWrite(target(key, 'never-existed'), { committed: false });
    assert.equal((await uploadsIn(bucket)).length, 1, 'the live attempt goes on');
    other.end();
    await once(other, 'finish');
    const stored = await other.commit();
    assert.deepEqual(await readAll(await store.read(stored.url)), liveData);
    assert.deepEqual(await leftovers(store), [key]);
    await sweeper.discardWrite(live, { committed: true });
    assert.deepEqual(await leftovers(store), []);
    await dead.cancel();
  });

  test('the bucket is created on the first write, also by several writers at once', async () => {
    const bucket = freshBucket();
    const a = await makeStore({ s3_store_bucket: bucket });
    const b = await makeStore({ s3_store_bucket: bucket });
    const results = await Promise.all([put(a, target(), Buffer.from('a')), put(b, target(), Buffer.from('b')), put(a, target(), randomBytes(2 * MIB))]);
    assert.equal(results.length, 3);
    assert.equal((await objectsIn(bucket)).length, 3);
    // A store that finds the bucket there (409 BucketAlreadyExists from Swift for our own bucket is fine too).
    const c = await makeStore({ s3_store_bucket: bucket });
    await put(c, target(), Buffer.from('c'));
  });

  test('a missing bucket without s3_store_create_bucket_on_put is a clear error', async () => {
    for (const o of [{}, SMALL_PARTS]) {
      const store = await makeStore({ ...o, s3_store_create_bucket_on_put: false });
      const err = await put(store, target(), randomBytes(2 * MIB)).catch((e: unknown) => e);
      assert.ok(err instanceof StoreError && !(err instanceof BlobNotFound), String(err));
      assert.match(err.message, /does not exist.*s3_store_create_bucket_on_put/);
    }
  });

  test('locations carry no credentials; Glance’s URLs with credentials are read with the configured ones', async () => {
    const store = await makeStore();
    const bucket = buckets.get(store)!;
    const host = new URL(swift!.s3Endpoint).host;
    const data = randomBytes(1000);
    const { url } = await put(store, target(), data);
    assert.ok(!url.includes('@') && !url.includes(swift!.s3SecretKey), url);
    const key = parseLocation(url)!.key;
    for (const legacy of [`s3://wrong:creds/with/slashes@${host}/${bucket}/${key}`, `s3://${swift!.s3AccessKey}:${swift!.s3SecretKey}@${host}/${bucket}/${key}`, `s3+http://AKIA:x@${host}/${bucket}/${key}`]) {
      assert.ok(store.owns(legacy), legacy);
      assert.deepEqual(await readAll(await store.read(legacy)), data);
      assert.equal(await store.size(legacy), 1000);
    }
    assert.ok(!store.owns(`s3://k:s@elsewhere.example:8380/${bucket}/${key}`));
    assert.ok(!store.owns(`swift+http://${host}/${bucket}/${key}`));
    assert.ok(!store.owns(`s3://k:s@https://${host}/${bucket}/${key}`), 'two schemes, refused as glance_store does');
    assert.ok(store.owns(`s3+http://${host}/some-older-bucket/${key}`), 'images of an earlier bucket stay readable');
  });

  test('listing: the bucket’s committed objects, named as nameOf names their locations (credentials or not); markers are not objects', async () => {
    const store = await makeStore(SMALL_PARTS);
    const bucket = buckets.get(store)!;
    const host = new URL(swift!.s3Endpoint).host;
    const listAll = async () => {
      const out = [];
      for await (const o of store.listing.list()) out.push(o);
      return out;
    };
    assert.deepEqual(await listAll(), [], 'no bucket yet: nothing');
    const small = await put(store, target(), Buffer.from('four'));
    const large = await put(store, target(), randomBytes(2 * MIB + 3));
    await rawClient().send(new PutObjectCommand({ Bucket: bucket, Key: markerKey('some-image', 'some-attempt'), Body: 'upload-id' }));
    const listed = (await listAll()).sort((x, y) => x.size - y.size);
    assert.deepEqual(listed.map((o) => [o.url, o.size, o.key]), [[small.url, 4, parseLocation(small.url)!.key], [large.url, 2 * MIB + 3, parseLocation(large.url)!.key]]);
    for (const o of listed) {
      assert.equal(store.listing.nameOf(o.url), o.name);
      assert.ok(Math.abs(o.modifiedAt - Date.now()) < 120_000, `modified ${new Date(o.modifiedAt).toISOString()}`);
    }
    const key = parseLocation(small.url)!.key;
    assert.equal(store.listing.nameOf(`s3://${swift!.s3AccessKey}:${swift!.s3SecretKey}@${host}/${bucket}/${key}`), listed[0]!.name);
    assert.equal(store.listing.nameOf(`s3+http://elsewhere.example/${bucket}/${key}`), undefined);
  });

  test('errors: refused connection → StoreUnavailable, bad secret → StoreUnavailable, no write permission → StoreWriteDenied', async () => {
    const down = await makeStore({ s3_store_host: 'http://127.0.0.1:1' });
    await assert.rejects(down.size('s3+http://127.0.0.1:1/b/k'), StoreUnavailable);
    await assert.rejects(put(down, target(), Buffer.from('x')), StoreUnavailable);
    const badKey = await makeStore({ s3_store_secret_key: 'not-the-secret' });
    await assert.rejects(badKey.size(`s3+http://${new URL(swift!.s3Endpoint).host}/${buckets.get(badKey)!}/k`), StoreUnavailable);
    // test:reader has no rights in AUTH_test's buckets.
    const owner = await makeStore();
    await put(owner, target(), Buffer.from('x'));
    const reader = await makeStore({ s3_store_access_key: 'test:reader', s3_store_secret_key: 'reading', s3_store_bucket: buckets.get(owner)!, s3_store_create_bucket_on_put: false });
    await assert.rejects(put(reader, target(), Buffer.from('x')), StoreWriteDenied);
    await assert.rejects(put(reader, target(), randomBytes(12 * MIB)), StoreWriteDenied);
  });

  test('init checks the options without contacting S3', async () => {
    await assert.rejects(new S3Store(options({ s3_store_bucket: null }), env).init(), /missing s3_store_bucket/);
    await assert.rejects(new S3Store(options({ s3_store_large_object_chunk_size: 4 }), env).init(), /at least 5 MB/);
    await assert.rejects(new S3Store(options({ s3_store_bucket_url_format: 'virtual', s3_store_bucket: 'Not_DNS' }), env).init(), /virtual-hosted/);
    await assert.rejects(new S3Store(options({ s3_store_cacert: '/nonexistent/ca.pem' }), env).init(), /s3_store_cacert/);
    const store = new S3Store(options({ s3_store_host: '127.0.0.1:1' }), env);
    await store.init();
    assert.ok(store.owns('s3://127.0.0.1:1/b/k'), 'a host without scheme is http, as in glance_store');
    assert.deepEqual(store.describe(), { s3_store_large_object_size: 100, s3_store_large_object_chunk_size: 10, s3_store_thread_pools: 10 });
    store.close();
  });

  test('cost of a small write: PutObject vs a one-part multipart upload (measured, for the docs)', async (t) => {
    const client = rawClient();
    const store = await makeStore();
    const bucket = buckets.get(store)!;
    await put(store, target(), Buffer.from('bucket'));
    const body = randomBytes(256 * 1024);
    const time = async (f: () => Promise<unknown>) => {
      const ms: number[] = [];
      for (let i = 0; i < 15; i++) {
        const t0 = performance.now();
        await f();
        ms.push(performance.now() - t0);
      }
      return ms.sort((x, y) => x - y)[7]!;
    };
    const single = await time(() => client.send(new PutObjectCommand({ Bucket: bucket, Key: 'single', Body: body })));
    const multipart = await time(async () => {
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'multi' }));
      const part = await client.send(new UploadPartCommand({ Bucket: bucket, Key: 'multi', UploadId, PartNumber: 1, Body: body }));
      await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'multi', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
    });
    t.diagnostic(`256 KiB on Swift s3api, median of 15: PutObject ${single.toFixed(1)} ms, create+part+complete ${multipart.toFixed(1)} ms`);
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'single' }));
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'multi' }));
    const abandoned = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'x' }));
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: 'x', UploadId: abandoned.UploadId }));
  });
});

async function waitFor(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not reached');
    await sleep(50);
  }
}

/**
 * A TCP proxy to the S3 server that can stop reading from its clients (a stalled S3) and counts
 * the bytes it passed back to them: a real network hop whose speed the test controls.
 */
async function stallingProxy(to: URL): Promise<{ port: number; stall(): void; resume(): void; downstream(): number; close(): void }> {
  let stalled = false;
  let down = 0;
  const clients = new Set<net.Socket>();
  const pipes = new Map<net.Socket, net.Socket>();
  const server = net.createServer((client) => {
    clients.add(client);
    const upstream = net.connect(Number(to.port), to.hostname);
    pipes.set(client, upstream);
    if (!stalled) client.pipe(upstream);
    upstream.on('data', (d: Buffer) => {
      down += d.length;
    });
    upstream.pipe(client);
    const end = () => {
      clients.delete(client);
      pipes.delete(client);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    stall() {
      stalled = true;
      for (const c of clients) c.unpipe(pipes.get(c)).pause();
    },
    resume() {
      stalled = false;
      for (const c of clients) c.pipe(pipes.get(c)!);
    },
    downstream: () => down,
    close() {
      for (const c of clients) c.destroy();
      server.close();
    },
  };
}
