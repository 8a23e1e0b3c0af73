import assert from 'node:assert/strict';
import { constants, createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { after, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { HashPool } from '../src/hashing/hash-pool.js';
import { RING_BYTES, STEP_BYTES, WAKE_BYTES } from '../src/hashing/hash-ring.js';
import { ImageHasher } from '../src/hashing/image-hasher.js';
import { ParallelHasher } from '../src/hashing/parallel-hasher.js';

const expected = (data: Uint8Array[], algo: string) => {
  const md5 = createHash('md5');
  const multi = createHash(algo);
  for (const d of data) {
    md5.update(d);
    multi.update(d);
  }
  return { md5: md5.digest('hex'), multihash: multi.digest('hex') };
};

/** `source` cut into chunks whose sizes follow `sizes` cyclically (0: an empty chunk). */
function cut(source: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < source.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, source.length - at);
    out.push(source.subarray(at, at + n));
    at += n;
  }
  return out;
}

async function hashAll(chunks: Uint8Array[], algorithm = 'sha512') {
  const h = await ImageHasher.create(algorithm);
  for (const c of chunks) await h.update(c);
  return h.digest();
}

test('digests equal node:crypto for many chunk-size patterns, across ring wrap-arounds', async () => {
  // More than two rings' worth, so every cursor wraps, and chunks that straddle the ring's end,
  // the wake-up threshold and the readers' step.
  const data = randomBytes(2 * RING_BYTES + 12345);
  const patterns = [
    [65536],
    [1],
    [300_000, 7919, 1, 65536],
    [WAKE_BYTES - 1, 2, WAKE_BYTES + 1],
    [STEP_BYTES * 3 + 5],
    [RING_BYTES - 1, 3],
    [RING_BYTES + 17],
    [0, 4096, 0, 999_983],
  ];
  for (const sizes of patterns) {
    // A 1-byte pattern over all the data is slow to build: a prefix is enough to check it.
    const source = sizes[0] === 1 ? data.subarray(0, 300_000) : data;
    const chunks = cut(source, sizes);
    assert.deepEqual(await hashAll(chunks), expected(chunks, 'sha512'), `chunk sizes ${sizes.join(',')}`);
  }
});

test('a single chunk larger than the ring', async () => {
  const big = randomBytes(20 * 1024 * 1024 + 3);
  assert.deepEqual(await hashAll([big]), expected([big], 'sha512'));
});

test('empty input and other algorithms', async () => {
  assert.deepEqual(await hashAll([], 'sha256'), expected([], 'sha256'));
  const data = [randomBytes(5 << 20)];
  for (const algo of ['sha256', 'sha3-256', 'sha384']) assert.deepEqual(await hashAll(data, algo), expected(data, algo));
});

test('abort mid-way, even while an update waits for room, does not poison the next job on the same workers', async () => {
  const pool = new HashPool({ idleWorkers: 2, idleRings: 1 });
  after(() => pool.close());
  const first = await ParallelHasher.create(['md5', 'sha512'], { pool });
  // Far more than the ring: the update has to wait for the workers, and the abort cuts it short.
  const pending = first.update(randomBytes(4 * RING_BYTES));
  first.abort();
  await assert.rejects(pending, /finished/);
  await assert.rejects(first.update(Buffer.from('x')), /already finished/);
  await assert.rejects(first.digest(), /already finished/);
  first.abort(); // twice is fine
  // Let the workers answer and return to the pool, then reuse them (and the ring).
  await new Promise((r) => setTimeout(r, 50));
  const data = cut(randomBytes(RING_BYTES + 999), [70_000]);
  const second = await ParallelHasher.create(['md5', 'sha512'], { pool });
  for (const d of data) await second.update(d);
  const e = expected(data, 'sha512');
  assert.deepEqual(await second.digest(), [e.md5, e.multihash]);
});

test('pooled workers are reused, and one job after another gives independent digests', async () => {
  let spawned = 0;
  const pool = new HashPool({
    idleWorkers: 2,
    idleRings: 1,
    spawn: () => {
      spawned++;
      return new Worker(new URL('../src/hashing/hash-worker.js', import.meta.url));
    },
  });
  after(() => pool.close());
  for (let round = 0; round < 5; round++) {
    const data = cut(randomBytes(3 << 20), [65536 + round]);
    const h = await ParallelHasher.create(['md5', 'sha512'], { pool });
    for (const d of data) await h.update(d);
    const e = expected(data, 'sha512');
    assert.deepEqual(await h.digest(), [e.md5, e.multihash]);
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(spawned, 2, 'two workers, started once and reused for every job');
});

test('concurrent hashers are independent', async () => {
  const a = [randomBytes(3 << 20)];
  const b = cut(randomBytes(RING_BYTES * 2 + 1), [100_000]);
  const [ha, hb] = await Promise.all([ImageHasher.create('sha512'), ImageHasher.create('sha512')]);
  await Promise.all([ha.update(a[0]!), (async () => { for (const c of b) await hb.update(c); })()]);
  const [da, db] = await Promise.all([ha.digest(), hb.digest()]);
  assert.deepEqual(da, expected(a, 'sha512'));
  assert.deepEqual(db, expected(b, 'sha512'));
});

test('an unknown algorithm fails the digest, not the process, and never stalls the bytes', async () => {
  const h = await ImageHasher.create('no-such-hash');
  // More than a ring: the failed reader must not hold the writer back.
  for (const c of cut(randomBytes(2 * RING_BYTES), [1 << 20])) await h.update(c);
  await assert.rejects(h.digest(), /hash worker failed: (md5, )?no-such-hash: /);
});

test('a worker that throws or dies fails that job only; the pool replaces it', async () => {
  // A worker that dies by an uncaught exception at its first job, as a bug in the hash loop would.
  const crashing = `
    const { parentPort } = require('node:worker_threads');
    parentPort.on('message', () => { throw new Error('boom in worker'); });
  `;
  let spawned = 0;
  let broken = 1;
  const pool = new HashPool({
    idleWorkers: 2,
    idleRings: 1,
    spawn: () => {
      spawned++;
      if (broken-- > 0) return new Worker(crashing, { eval: true });
      return new Worker(new URL('../src/hashing/hash-worker.js', import.meta.url));
    },
  });
  after(() => pool.close());
  const h = await ParallelHasher.create(['md5', 'sha512'], { pool });
  // The writer is not stalled by the dead reader (its cursor is dropped once the death is seen).
  for (const c of cut(randomBytes(2 * RING_BYTES), [1 << 20])) await h.update(c);
  await assert.rejects(h.digest(), /hash worker failed: md5: boom in worker/);
  await new Promise((r) => setTimeout(r, 50));
  // The next job: the dead worker was not pooled, a new one is started, the sound one reused.
  const data = [randomBytes(1 << 20)];
  const next = await ParallelHasher.create(['md5', 'sha512'], { pool });
  for (const d of data) await next.update(d);
  const e = expected(data, 'sha512');
  assert.deepEqual(await next.digest(), [e.md5, e.multihash]);
  assert.equal(spawned, 3);
});

test('a signature is checked over the same bytes as the hashes, across ring wrap-arounds, on one or two workers', async () => {
  const data = randomBytes(RING_BYTES + 54321);
  const chunks = cut(data, [65536, 1 << 20, 7]);
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  // PSS with the largest salt: 256 (key bytes) - 32 (sha256) - 2.
  const pss = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 222 };
  const jobs = [
    { hash: 'sha256', key: rsa.publicKey, signature: sign('sha256', data, { key: rsa.privateKey, ...pss }), ...pss },
    { hash: 'sha384', key: ec.publicKey, signature: sign('sha384', data, ec.privateKey) },
  ];
  for (const threads of [1, 2] as const) {
    for (const job of jobs) {
      const good = await ImageHasher.create('sha512', { threads, signature: job });
      for (const c of chunks) await good.update(c);
      assert.deepEqual(await good.digest(), { ...expected(chunks, 'sha512'), signatureValid: true });
      const bad = await ImageHasher.create('sha512', { threads, signature: job });
      for (const c of chunks.slice(0, -1)) await bad.update(c);
      assert.equal((await bad.digest()).signatureValid, false, `${job.hash}, ${threads} thread(s): a missing last chunk`);
    }
  }
});
