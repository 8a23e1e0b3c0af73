import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { BlobNotFound, InvalidRange, StoreWriteDenied, type BlobStore, type BlobWriter, type StoredObject, type WriteTarget } from '../../src/store/blob-store.js';

const MiB = 1024 * 1024;

/** What a driver's test file may tell the suite about the driver; every field has a default. */
export interface ConformanceOptions {
  /**
   * The driver's part (segment) size as configured for the test store, so that one round trip
   * writes an object larger than a part (partSize × 1.5 + a few bytes). Default 8 MiB.
   */
  partSize?: number;
  /** Size of the object read slowly in the read-backpressure case. Default 24 MiB. */
  backpressureObjectSize?: number;
  /**
   * URLs this store must not own. Default: file URLs outside any store (file:///etc/passwd …)
   * and http, s3 and swift URLs on example.invalid. A driver whose scheme would accept one of
   * the defaults (http owns any http URL) passes its own list.
   */
  foreignUrls?: string[];
  /**
   * How much a writer may take (write() returning true) before it says stop, when written to
   * without waiting: its high-water mark plus what the driver holds itself (parts being
   * uploaded). Default 256 MiB.
   */
  writeBufferLimit?: number;
  /**
   * For a read-only store (capabilities.write false, e.g. http): how the test puts an object
   * where the store reads it (returning its URL) and takes it away again. The write cases are
   * skipped; createWriter and delete must refuse with StoreWriteDenied.
   */
  readOnly?: {
    put(key: string, data: Buffer): Promise<string>;
    remove(url: string): Promise<void>;
  };
}

const DEFAULT_FOREIGN_URLS = [
  'file:///etc/passwd',
  'filesystem:///etc/passwd',
  'file:///tmp/ocellus-not-a-store/abc',
  'http://example.invalid/images/abc',
  'https://example.invalid/images/abc',
  's3://example.invalid/bucket/abc',
  's3+https://example.invalid/bucket/abc',
  'swift+https://example.invalid/v1/AUTH_x/glance/abc',
  'rbd://fsid/pool/abc/snap',
  'not a url',
  '',
];

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The data as a stream of pieces of an odd size, so that part and buffer boundaries fall mid-piece. */
function pieces(data: Buffer, size = MiB + 7): Readable {
  function* gen() {
    for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
  }
  return Readable.from(gen(), { objectMode: false });
}

export function target(key: string, attempt = `a-${key}`, sizeHint: number | null = null): WriteTarget {
  return { key, attempt, project: null, sizeHint };
}

/** Writes `data` as the object for `key` and commits it. */
export async function put(store: BlobStore, key: string, data: Buffer, opts: { attempt?: string; sizeHint?: number | null } = {}): Promise<StoredObject> {
  const writer = await store.createWriter(target(key, opts.attempt ?? `a-${randomBytes(4).toString('hex')}`, opts.sizeHint === undefined ? data.length : opts.sizeHint));
  await pipeline(pieces(data), writer);
  return writer.commit();
}

/** Writes one piece and waits until the writer took it (its callback). */
function writeSome(writer: BlobWriter, data: Buffer): Promise<void> {
  return new Promise<void>((resolve, reject) => writer.write(data, (err) => (err ? reject(err) : resolve())));
}

/** Ends the writer and waits until it finished (all bytes handed to the driver). */
async function finish(writer: BlobWriter): Promise<void> {
  const finished = once(writer, 'finish');
  writer.end();
  await finished;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function assertObject(store: BlobStore, url: string, data: Buffer): Promise<void> {
  assert.equal(await store.size(url), data.length, `size of ${url}`);
  const got = await readAll(await store.read(url));
  assert.equal(got.length, data.length, `bytes read from ${url}`);
  assert.equal(sha(got), sha(data), `content of ${url}`);
}

let n = 0;
const freshKey = () => `k${process.pid}-${Date.now().toString(36)}-${n++}`;

/**
 * Waits until the stream's buffer stopped growing (unchanged over several polls), or a few
 * seconds passed. Only a bound: a store that delivers slowly is merely checked less strictly.
 */
async function settled(stream: Readable): Promise<void> {
  let last = -1;
  let still = 0;
  for (let i = 0; i < 200 && still < 8; i++) {
    await sleep(25);
    if (stream.readableLength === last) still++;
    else {
      still = 0;
      last = stream.readableLength;
    }
  }
}

/**
 * The contract every BlobStore driver must honour (see src/store/blob-store.ts). A driver's
 * test file calls this with a factory for a fresh, empty store, plus a way to list what the
 * driver left behind (every object and partial: files, segments, multipart uploads), to check
 * nothing leaks.
 */
export function storeConformance(
  driver: string,
  makeStore: () => Promise<BlobStore>,
  leftovers: (store: BlobStore) => Promise<string[]>,
  opts: ConformanceOptions = {},
): void {
  const partSize = opts.partSize ?? 8 * MiB;
  const largeSize = Math.floor(partSize * 1.5) + 4099;
  const slowSize = opts.backpressureObjectSize ?? 24 * MiB;
  const foreignUrls = opts.foreignUrls ?? DEFAULT_FOREIGN_URLS;
  const writeBufferLimit = opts.writeBufferLimit ?? 256 * MiB;
  const readOnly = opts.readOnly;
  /** The write cases: skipped for a read-only store. */
  const writes = { skip: readOnly ? 'read-only store' : false };

  /** An object for the read cases: written through the store, or put in place for a read-only one. */
  async function seed(store: BlobStore, key: string, data: Buffer, sizeHint: number | null = data.length): Promise<StoredObject> {
    if (readOnly) return { url: await readOnly.put(key, data), metadata: {} };
    return put(store, key, data, { sizeHint });
  }
  async function remove(store: BlobStore, url: string): Promise<void> {
    if (readOnly) await readOnly.remove(url);
    else await store.delete(url);
  }
  async function noLeftovers(store: BlobStore, message?: string): Promise<void> {
    if (!readOnly) assert.deepEqual(await leftovers(store), [], message);
  }

  describe(`${driver} store conformance`, () => {
    test('capabilities say whether the store writes', async () => {
      const store = await makeStore();
      assert.equal(store.capabilities.write, !readOnly);
      assert.equal(typeof store.capabilities.rangedReads, 'boolean');
      assert.equal(typeof store.capabilities.multipart, 'boolean');
      assert.equal(typeof store.describe(), 'object');
    });

    test('a read-only store refuses writes and deletes', { skip: readOnly ? false : 'the store writes' }, async () => {
      const store = await makeStore();
      await assert.rejects(store.createWriter(target(freshKey())), StoreWriteDenied);
      const { url } = await seed(store, freshKey(), Buffer.from('kept'));
      await assert.rejects(store.delete(url), StoreWriteDenied);
      assert.deepEqual(await readAll(await store.read(url)), Buffer.from('kept'));
      await remove(store, url);
    });

    const roundTrips: [string, number, 'known' | 'unknown'][] = [
      ['0 bytes', 0, 'known'],
      ['1 byte', 1, 'unknown'],
      ['3 MiB and a bit', 3 * MiB + 17, 'known'],
      [`larger than a part (${largeSize} bytes), size unknown`, largeSize, 'unknown'],
      [`larger than a part (${largeSize} bytes), size known`, largeSize, 'known'],
    ];
    for (const [name, size, hint] of roundTrips) {
      // A read-only store's objects are put in place by the test: once per size is enough.
      const skip = readOnly && hint === 'known' && size === largeSize ? 'read-only store: the size hint is a write matter' : false;
      test(`round trip: ${name}`, { skip }, async () => {
        const store = await makeStore();
        const key = freshKey();
        const data = randomBytes(size);
        const stored = await seed(store, key, data, hint === 'known' ? size : null);
        assert.equal(typeof stored.url, 'string');
        assert.ok(store.owns(stored.url), `the store owns the URL its commit returned (${stored.url})`);
        assert.equal(typeof stored.metadata, 'object');
        await assertObject(store, stored.url, data);
        await remove(store, stored.url);
        await noLeftovers(store);
      });
    }

    test('ranged reads are inclusive; an end past the last byte is clamped', async () => {
      const store = await makeStore();
      const data = randomBytes(100_000);
      const { url } = await seed(store, freshKey(), data);
      assert.deepEqual(await readAll(await store.read(url, { start: 0, end: 0 })), data.subarray(0, 1));
      assert.deepEqual(await readAll(await store.read(url, { start: 10, end: 99 })), data.subarray(10, 100));
      assert.deepEqual(await readAll(await store.read(url, { start: 99_990, end: 99_999 })), data.subarray(99_990));
      assert.deepEqual(await readAll(await store.read(url, { start: 99_999, end: 99_999 })), data.subarray(99_999));
      assert.deepEqual(await readAll(await store.read(url, { start: 99_000, end: 200_000 })), data.subarray(99_000));
      assert.deepEqual(await readAll(await store.read(url, { start: 0, end: Number.MAX_SAFE_INTEGER })), data);
      await remove(store, url);
    });

    test('a range starting past the last byte is InvalidRange', async () => {
      const store = await makeStore();
      const data = randomBytes(1000);
      const { url } = await seed(store, freshKey(), data);
      await assert.rejects(store.read(url, { start: 1000, end: 1000 }), InvalidRange);
      await assert.rejects(store.read(url, { start: 1000, end: 5000 }), InvalidRange);
      await assert.rejects(store.read(url, { start: 123_456, end: 999_999 }), InvalidRange);
      const empty = await seed(store, freshKey(), Buffer.alloc(0));
      await assert.rejects(store.read(empty.url, { start: 0, end: 0 }), InvalidRange);
      await remove(store, url);
      await remove(store, empty.url);
    });

    test('missing objects are BlobNotFound for read, ranged read, size and delete; delete twice', async () => {
      const store = await makeStore();
      const { url } = await seed(store, freshKey(), Buffer.from('bye'));
      await remove(store, url);
      await assert.rejects(store.read(url), BlobNotFound);
      await assert.rejects(store.read(url, { start: 0, end: 1 }), BlobNotFound);
      await assert.rejects(store.size(url), BlobNotFound);
      await assert.rejects(store.delete(url), readOnly ? StoreWriteDenied : BlobNotFound);
      await noLeftovers(store);
    });

    test('bytes are invisible until commit', writes, async () => {
      const store = await makeStore();
      const key = freshKey();
      // Learn the object's URL (and make sure it is absent) by writing and deleting it first.
      const first = await put(store, key, Buffer.from('first'));
      await store.delete(first.url);
      const writer = await store.createWriter(target(key, 'pending', 7));
      await pipeline(Readable.from([Buffer.from('not yet')]), writer);
      await assert.rejects(store.read(first.url), BlobNotFound);
      await assert.rejects(store.size(first.url), BlobNotFound);
      const { url } = await writer.commit();
      await assertObject(store, url, Buffer.from('not yet'));
    });

    test('commit over an existing object replaces it; readers see the old bytes until then', writes, async () => {
      const store = await makeStore();
      const key = freshKey();
      const oldData = randomBytes(200_000);
      const newData = randomBytes(150_001);
      const old = await put(store, key, oldData);
      const writer = await store.createWriter(target(key, 'second', newData.length));
      await pipeline(pieces(newData, 65_536), writer);
      await assertObject(store, old.url, oldData);
      const stored = await writer.commit();
      await assertObject(store, stored.url, newData);
      if (stored.url !== old.url) await assert.rejects(store.read(old.url), BlobNotFound);
      await store.delete(stored.url);
      assert.deepEqual(await leftovers(store), []);
    });

    for (const order of ['first writer commits first', 'second writer commits first'] as const) {
      test(`two writers to one key, both commit (${order}): the last commit is the object`, writes, async () => {
        const store = await makeStore();
        const key = freshKey();
        const d1 = randomBytes(300_000);
        const d2 = randomBytes(250_003);
        const w1 = await store.createWriter(target(key, 'one', null));
        const w2 = await store.createWriter(target(key, 'two', null));
        // Interleaved, as two uploads would be.
        for (let i = 0; i < 300_000; i += 50_000) {
          await writeSome(w1, d1.subarray(i, i + 50_000));
          if (i < d2.length) await writeSome(w2, d2.subarray(i, i + 50_000));
        }
        await finish(w1);
        await finish(w2);
        const [early, late, lastData] = order === 'first writer commits first' ? [w1, w2, d2] : [w2, w1, d1];
        const a = await early.commit();
        const b = await late.commit();
        await assertObject(store, b.url, lastData);
        if (a.url !== b.url) await assert.rejects(store.read(a.url), BlobNotFound, 'the earlier commit is gone');
        await store.delete(b.url);
        assert.deepEqual(await leftovers(store), [], 'nothing of either writer is left');
      });
    }

    test('delete during a write removes the committed object; the write goes on and its commit is the object', writes, async () => {
      const store = await makeStore();
      const key = freshKey();
      const oldData = randomBytes(100_000);
      const newData = randomBytes(120_000);
      const old = await put(store, key, oldData);
      const writer = await store.createWriter(target(key, 'during-delete', newData.length));
      await writeSome(writer, newData.subarray(0, 60_000));
      await store.delete(old.url);
      await assert.rejects(store.read(old.url), BlobNotFound);
      await assert.rejects(store.delete(old.url), BlobNotFound);
      await writeSome(writer, newData.subarray(60_000));
      await finish(writer);
      const stored = await writer.commit();
      await assertObject(store, stored.url, newData);
      await store.delete(stored.url);
      assert.deepEqual(await leftovers(store), []);
    });

    test('cancel leaves nothing behind and may be repeated; a cancelled writer refuses writes and commit', writes, async () => {
      const store = await makeStore();
      const key = freshKey();
      const writer = await store.createWriter(target(key, 'cancelled', null));
      writer.on('error', () => undefined);
      await writeSome(writer, randomBytes(MiB));
      await writer.cancel();
      await writer.cancel();
      const err = await new Promise<Error | null | undefined>((resolve) => {
        try {
          writer.write(Buffer.from('more'), (e) => resolve(e));
        } catch (e) {
          resolve(e as Error);
        }
      });
      assert.ok(err instanceof Error, 'a write after cancel fails');
      await assert.rejects(writer.commit());
      assert.deepEqual(await leftovers(store), []);
    });

    test('an interrupted write (source fails midway) refuses commit and can be cancelled without trace', writes, async () => {
      const store = await makeStore();
      const key = freshKey();
      const writer = await store.createWriter(target(key, 'broken', null));
      async function* failing() {
        yield randomBytes(64 * 1024);
        yield randomBytes(MiB);
        throw new Error('client went away');
      }
      await assert.rejects(pipeline(Readable.from(failing()), writer), /client went away/);
      await assert.rejects(writer.commit());
      await writer.cancel();
      assert.deepEqual(await leftovers(store), []);
    });

    test('cancel after commit keeps the committed object', writes, async () => {
      const store = await makeStore();
      const data = randomBytes(10_000);
      const writer = await store.createWriter(target(freshKey(), 'committed', data.length));
      await pipeline(Readable.from([data]), writer);
      const { url } = await writer.commit();
      await writer.cancel();
      await assertObject(store, url, data);
    });

    test('discardWrite removes what a crashed writer left: partials only, or with committed also the object; harmless when nothing is there', writes, async () => {
      const store = await makeStore();
      const key = freshKey();
      const data = randomBytes(5000);
      const committed = await put(store, key, data, { attempt: 'done' });
      const before = (await leftovers(store)).sort();
      const writer = await store.createWriter(target(key, 'crashed', null));
      writer.on('error', () => undefined);
      await writeSome(writer, randomBytes(MiB));
      // The "process" dies here: the writer is never finished; recovery discards its attempt.
      await store.discardWrite(target(key, 'crashed', null), { committed: false });
      assert.deepEqual((await leftovers(store)).sort(), before, 'only the partial data went');
      await assertObject(store, committed.url, data);
      writer.destroy();
      await store.discardWrite(target(key, 'done', null), { committed: true });
      await assert.rejects(store.read(committed.url), BlobNotFound);
      assert.deepEqual(await leftovers(store), []);
      await store.discardWrite(target(key, 'never-existed', null), { committed: false });
      await store.discardWrite(target(freshKey(), 'never-existed', null), { committed: true });
      assert.deepEqual(await leftovers(store), []);
    });

    test('reads respect backpressure: a paused reader does not make the store buffer the object', async () => {
      const store = await makeStore();
      const data = randomBytes(slowSize);
      const { url } = await seed(store, freshKey(), data);
      const stream = await store.read(url);
      const chunks: Buffer[] = [];
      let consumed = 0;
      // Take the first piece, then stop reading and let the stream fill what it wants to.
      await once(stream, 'readable');
      const first = stream.read() as Buffer | null;
      if (first) {
        chunks.push(first);
        consumed += first.length;
      }
      await settled(stream);
      const held = consumed + stream.readableLength;
      assert.ok(held <= slowSize / 2, `a paused reader holds ${held} of ${slowSize} bytes: the read does not wait for its consumer`);
      assert.ok(!stream.readableEnded, 'the stream did not end while nobody read');
      for await (const c of stream) chunks.push(c as Buffer);
      assert.equal(sha(Buffer.concat(chunks)), sha(data), 'the whole object arrives once reading resumes');
      await remove(store, url);
    });

    test('writes respect backpressure: write() returns false once the writer buffered its high-water mark', writes, async () => {
      const store = await makeStore();
      const writer = await store.createWriter(target(freshKey(), 'flood', null));
      const piece = randomBytes(64 * 1024);
      let accepted = 0;
      let ok = true;
      // Synchronously, as a source that ignored backpressure would: the writer must say stop
      // once its buffer (and whatever the driver holds itself) is full.
      while (ok && accepted < writeBufferLimit) {
        ok = writer.write(piece);
        accepted += piece.length;
      }
      assert.equal(ok, false, `write() still returned true after ${accepted} bytes`);
      assert.ok(writer.writableLength >= writer.writableHighWaterMark, 'write() said stop because the buffer is full');
      // And the writer goes on once the driver caught up.
      await once(writer, 'drain');
      await writer.cancel();
      assert.deepEqual(await leftovers(store), []);
    });

    test('foreign URLs are not owned', async () => {
      const store = await makeStore();
      for (const url of foreignUrls) assert.equal(store.owns(url), false, `owns(${JSON.stringify(url)})`);
    });
  });
}
