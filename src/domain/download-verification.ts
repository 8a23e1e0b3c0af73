import { createHash, type Hash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { ParallelHasher } from '../hashing/parallel-hasher.js';
import type { ImageRecord } from './image-model.js';

/** Glance's Python name for the multihash algorithm (`sha3_256`), mapped to Node's (`sha3-256`). */
export const nodeAlgorithm = (name: string) => name.replace('_', '-');

/**
 * Downloads whose hash runs on a worker thread at once. Each holds a worker and a shared ring
 * (8 MiB); beyond this many, a download hashes on the request thread instead, so that many
 * parallel downloads never cost many threads and rings.
 */
const OFFLOADED_MAX = 4;
let offloaded = 0;

/** One digest computed as the bytes pass: on a worker when one is free, else inline. */
interface RunningHash {
  update(chunk: Buffer): Promise<void> | void;
  digest(): Promise<string>;
  abort(): void;
}

async function startHash(algorithm: string): Promise<RunningHash> {
  if (offloaded < OFFLOADED_MAX) {
    offloaded++;
    let released = false;
    const release = () => {
      if (!released) offloaded--;
      released = true;
    };
    try {
      const hasher = await ParallelHasher.create([algorithm], { threads: 1 });
      return {
        update: (chunk) => hasher.update(chunk),
        digest: () => hasher.digest().then((d) => d[0]!).finally(release),
        abort: () => {
          hasher.abort();
          release();
        },
      };
    } catch (err) {
      release();
      throw err;
    }
  }
  const hash: Hash = createHash(algorithm);
  return {
    update: (chunk) => {
      hash.update(chunk);
    },
    digest: async () => hash.digest('hex'),
    abort: () => undefined,
  };
}

/** The digest a whole download is checked against (see verifiedDownload); null if the image has none recorded. */
export function recordedDigest(image: Pick<ImageRecord, 'checksum' | 'os_hash_algo' | 'os_hash_value'>): { algorithm: string; name: string; value: string } | null {
  if (image.os_hash_value && image.os_hash_algo) return { algorithm: nodeAlgorithm(image.os_hash_algo), name: image.os_hash_algo, value: image.os_hash_value };
  if (image.checksum) return { algorithm: 'md5', name: 'md5 checksum', value: image.checksum };
  return null;
}

/**
 * The bytes of a whole image as they leave a store, checked against what was recorded when they
 * were stored: the multihash `os_hash_value` (sha512 by default), or the md5 `checksum` for an
 * image that has no multihash. One digest, not both: md5 alone runs at about a third of the
 * speed a download reaches from the page cache, and the multihash is the stronger check.
 *
 * The last chunk is held back until the digest agrees: on a mismatch (or a length that differs
 * from the image's size) the stream errors instead, so the client gets fewer bytes than the
 * Content-Length and can never take a corrupt image for a complete one. `report` is told why.
 */
export function verifiedDownload(
  source: Readable,
  image: Pick<ImageRecord, 'checksum' | 'os_hash_algo' | 'os_hash_value' | 'size'>,
  report: (msg: string) => void,
  /** Called once digest and size agreed, before the last chunk is passed on. */
  agreed?: () => void,
): Readable {
  const expected = recordedDigest(image);
  if (!expected) return source;
  let hash: Promise<RunningHash> | undefined;
  let held: Buffer | undefined;
  let seen = 0;

  const check = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      seen += chunk.length;
      hash ??= startHash(expected.algorithm);
      const previous = held;
      held = chunk;
      hash.then((h) => h.update(chunk)).then(() => cb(null, previous), cb);
    },
    flush(cb: TransformCallback) {
      const running = hash ?? startHash(expected.algorithm);
      hash = undefined;
      running.then((h) => h.digest()).then((digest) => {
        const problems: string[] = [];
        if (image.size !== null && seen !== image.size) problems.push(`${seen} bytes instead of ${image.size}`);
        if (digest !== expected.value) problems.push(`its ${expected.name} does not match the recorded one`);
        if (problems.length > 0) {
          const msg = `stored data is corrupt (${problems.join(', ')}); the download was aborted`;
          report(msg);
          cb(new Error(msg));
          return;
        }
        agreed?.();
        cb(null, held);
      }, cb);
    },
    destroy(err, cb) {
      void hash?.then((h) => h.abort());
      source.destroy();
      cb(err);
    },
  });
  source.on('error', (err) => check.destroy(err));
  return source.pipe(check);
}
