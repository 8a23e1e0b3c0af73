import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ImageHasher } from '../src/hashing/image-hasher.js';

const expected = (data: Buffer[], algo: string) => {
  const md5 = createHash('md5');
  const multi = createHash(algo);
  for (const d of data) {
    md5.update(d);
    multi.update(d);
  }
  return { md5: md5.digest('hex'), multihash: multi.digest('hex') };
};

test('digests equal single-threaded md5 and sha512, across ring wrap-arounds', async () => {
  // Odd-sized chunks adding up to more than the 8 MiB ring, so copies wrap and split.
  const chunks = Array.from({ length: 40 }, (_, i) => randomBytes(300_000 + i * 7919));
  const h = await ImageHasher.create('sha512');
  for (const c of chunks) await h.update(c);
  assert.deepEqual(await h.digest(), expected(chunks, 'sha512'));
});

test('a single chunk larger than the ring', async () => {
  const big = randomBytes(20 * 1024 * 1024 + 3);
  const h = await ImageHasher.create('sha512');
  await h.update(big);
  assert.deepEqual(await h.digest(), expected([big], 'sha512'));
});

test('empty input and other algorithms', async () => {
  const h = await ImageHasher.create('sha256');
  assert.deepEqual(await h.digest(), expected([], 'sha256'));
});

test('an aborted job does not poison the next one using the same worker', async () => {
  const first = await ImageHasher.create('sha512');
  await first.update(randomBytes(5 * 1024 * 1024));
  first.abort();
  const data = [randomBytes(1234)];
  const second = await ImageHasher.create('sha512');
  for (const d of data) await second.update(d);
  assert.deepEqual(await second.digest(), expected(data, 'sha512'));
});

test('concurrent hashers are independent', async () => {
  const a = [randomBytes(3 << 20)];
  const b = [randomBytes(5 << 20)];
  const [ha, hb] = await Promise.all([ImageHasher.create('sha512'), ImageHasher.create('sha512')]);
  await Promise.all([ha.update(a[0]!), hb.update(b[0]!)]);
  const [da, db] = await Promise.all([ha.digest(), hb.digest()]);
  assert.deepEqual(da, expected(a, 'sha512'));
  assert.deepEqual(db, expected(b, 'sha512'));
});

test('an unknown algorithm fails the digest, not the process', async () => {
  const h = await ImageHasher.create('no-such-hash');
  await h.update(Buffer.from('x'));
  await assert.rejects(h.digest(), /hash worker failed/);
});
