import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { ImageHasher } from '../hashing/image-hasher.js';
import type { ImageRecord } from './image-model.js';

/** Glance's Python name for the multihash algorithm (`sha3_256`), mapped to Node's (`sha3-256`). */
export const nodeAlgorithm = (name: string) => name.replace('_', '-');

/**
 * The bytes of a whole image as they leave a store, checked against the image's recorded md5
 * `checksum` and `os_hash_value` on the way. The last chunk is held back until both digests
 * agree: on a mismatch the stream errors instead, so the client gets fewer bytes than the
 * Content-Length and can never take a corrupt image for a complete one. `report` is told why.
 */
export function verifiedDownload(source: Readable, image: Pick<ImageRecord, 'checksum' | 'os_hash_algo' | 'os_hash_value' | 'size'>, report: (msg: string) => void): Readable {
  if (!image.checksum && !image.os_hash_value) return source;
  const algorithm = image.os_hash_value && image.os_hash_algo ? nodeAlgorithm(image.os_hash_algo) : 'sha512';
  let hasher: Promise<ImageHasher> | undefined;
  let held: Buffer | undefined;
  let seen = 0;

  const check = new Transform({
    // One chunk in and out at a time: the hold-back never grows beyond one store read.
    highWaterMark: 1,
    writableHighWaterMark: 1 << 20,
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      seen += chunk.length;
      hasher ??= ImageHasher.create(algorithm);
      const previous = held;
      held = chunk;
      hasher.then((h) => h.update(chunk)).then(() => cb(null, previous), cb);
    },
    flush(cb: TransformCallback) {
      const done = (hasher ?? ImageHasher.create(algorithm)).then((h) => h.digest());
      hasher = undefined;
      done.then(({ md5, multihash }) => {
        const problems: string[] = [];
        if (image.size !== null && seen !== image.size) problems.push(`${seen} bytes instead of ${image.size}`);
        if (image.checksum && md5 !== image.checksum) problems.push(`md5 ${md5} instead of ${image.checksum}`);
        if (image.os_hash_value && multihash !== image.os_hash_value) problems.push(`${image.os_hash_algo} does not match os_hash_value`);
        if (problems.length > 0) {
          const msg = `stored data is corrupt (${problems.join(', ')}); the download was aborted`;
          report(msg);
          cb(new Error(msg));
          return;
        }
        cb(null, held);
      }, cb);
    },
    destroy(err, cb) {
      void hasher?.then((h) => h.abort());
      source.destroy();
      cb(err);
    },
  });
  source.on('error', (err) => check.destroy(err));
  return source.pipe(check);
}
