import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, test } from 'node:test';
import { BlobNotFound, type BlobStore } from '../../src/store/blob-store.js';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function put(store: BlobStore, key: string, data: Buffer, attempt = `a-${key}`): Promise<void> {
  const writer = await store.createWriter(key, attempt);
  await pipeline(Readable.from([data]), writer);
  await writer.commit();
}

let n = 0;
const freshKey = () => `k${process.pid}-${Date.now()}-${n++}`;

/**
 * The contract every BlobStore driver must honour (see src/store/blob-store.ts). A driver's
 * test file calls this with a factory for a fresh, empty store, plus a way to list what the
 * driver left behind (every object and partial), to check nothing leaks.
 */
export function storeConformance(driver: string, makeStore: () => Promise<BlobStore>, leftovers: (store: BlobStore) => Promise<string[]>): void {
  describe(`${driver} store conformance`, () => {
    test('write, commit, read back, size', async () => {
      const store = await makeStore();
      const key = freshKey();
      const data = randomBytes(3 * 1024 * 1024 + 17);
      await put(store, key, data);
      assert.equal(await store.size(key), data.length);
      assert.deepEqual(await readAll(await store.read(key)), data);
    });

    test('empty object', async () => {
      const store = await makeStore();
      const key = freshKey();
      await put(store, key, Buffer.alloc(0));
      assert.equal(await store.size(key), 0);
      assert.equal((await readAll(await store.read(key))).length, 0);
    });

    test('ranged reads are inclusive', async () => {
      const store = await makeStore();
      const key = freshKey();
      const data = randomBytes(100_000);
      await put(store, key, data);
      assert.deepEqual(await readAll(await store.read(key, { start: 0, end: 0 })), data.subarray(0, 1));
      assert.deepEqual(await readAll(await store.read(key, { start: 10, end: 99 })), data.subarray(10, 100));
      assert.deepEqual(await readAll(await store.read(key, { start: 99_990, end: 99_999 })), data.subarray(99_990));
    });

    test('bytes are invisible until commit', async () => {
      const store = await makeStore();
      const key = freshKey();
      const writer = await store.createWriter(key, 'pending');
      await pipeline(Readable.from([Buffer.from('not yet')]), writer);
      await assert.rejects(store.read(key), BlobNotFound);
      await assert.rejects(store.size(key), BlobNotFound);
      await writer.commit();
      assert.equal(await store.size(key), 7);
    });

    test('cancel leaves nothing behind, and may be repeated', async () => {
      const store = await makeStore();
      const key = freshKey();
      const writer = await store.createWriter(key, 'cancelled');
      await new Promise<void>((resolve, reject) => writer.write(randomBytes(1 << 20), (err) => (err ? reject(err) : resolve())));
      await writer.cancel();
      await writer.cancel();
      await assert.rejects(store.read(key), BlobNotFound);
      assert.deepEqual(await leftovers(store), []);
    });

    test('an interrupted write (source fails midway) can be cancelled without trace', async () => {
      const store = await makeStore();
      const key = freshKey();
      const writer = await store.createWriter(key, 'broken');
      async function* failing() {
        yield randomBytes(64 * 1024);
        throw new Error('client went away');
      }
      await assert.rejects(pipeline(Readable.from(failing()), writer), /client went away/);
      await writer.cancel();
      await assert.rejects(store.size(key), BlobNotFound);
      assert.deepEqual(await leftovers(store), []);
    });

    test('discardPartial removes what a crashed writer left; harmless when nothing is there', async () => {
      const store = await makeStore();
      const key = freshKey();
      const writer = await store.createWriter(key, 'crashed');
      await new Promise<void>((resolve, reject) => writer.write(randomBytes(1000), (err) => (err ? reject(err) : resolve())));
      // The "process" dies here: the writer is simply never finished.
      await store.discardPartial(key, 'crashed');
      await store.discardPartial(key, 'never-existed');
      assert.deepEqual(await leftovers(store), []);
      writer.destroy();
    });

    test('missing objects are BlobNotFound for read, size and delete', async () => {
      const store = await makeStore();
      const key = freshKey();
      await assert.rejects(store.read(key), BlobNotFound);
      await assert.rejects(store.size(key), BlobNotFound);
      await assert.rejects(store.delete(key), BlobNotFound);
    });

    test('delete removes the object', async () => {
      const store = await makeStore();
      const key = freshKey();
      await put(store, key, Buffer.from('bye'));
      await store.delete(key);
      await assert.rejects(store.read(key), BlobNotFound);
      assert.deepEqual(await leftovers(store), []);
    });

    test('url and keyOf round-trip; foreign URLs are not ours', async () => {
      const store = await makeStore();
      const key = freshKey();
      assert.equal(store.keyOf(store.url(key)), key);
      assert.equal(store.keyOf('http://example.invalid/x'), undefined);
    });
  });
}
