/**
 * Filling a cache entry while the bytes stream elsewhere (to a client, or nowhere for a
 * prefetch): the one place that decides when an entry becomes complete.
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { CacheFill, ImageCacheStore } from './cache-ports.js';
import { recordedDigest, verifiedDownload } from './download-verification.js';
import type { ImageRecord } from './image-model.js';

export type CacheableImage = Pick<ImageRecord, 'id' | 'status' | 'size' | 'checksum' | 'os_hash_algo' | 'os_hash_value'>;

/** Whether the image's data may be cached: active, with a size and a recorded digest to verify against. */
export function cacheable(image: CacheableImage): boolean {
  return image.status === 'active' && image.size !== null && recordedDigest(image) !== null;
}

/**
 * The store's bytes of a whole download, checked as verifiedDownload checks them (an error
 * instead of the end when digest or size is wrong), each chunk written to a new cache entry as it
 * goes by. The consumer's pace governs: a chunk is passed on at once, and the next one is taken
 * once the cache has accepted it, so nothing is buffered beyond the cache's bounded write-ahead. The entry is committed only once every
 * byte matched the recorded digest and size and is on disk; an error, or a consumer that goes
 * away before the digest agreed, cancels it. A failing cache write drops the fill and the stream
 * goes on. `filled` says whether an entry was made. Without a fill (the image is cached already,
 * or another fill of it runs) the checked stream is returned as it is.
 */
export async function teeIntoCache(
  cache: ImageCacheStore,
  image: CacheableImage,
  source: Readable,
  report: (msg: string) => void,
  log: (msg: string, err?: unknown) => void,
): Promise<{ stream: Readable; filled: Promise<boolean> }> {
  // Set once the digest and size agreed (before the last chunk leaves `verified`): from then on
  // the entry is good, even if the consumer goes away before that chunk is on the cache's disk
  // (a client that closes its connection as soon as it has every byte, say).
  let digestAgreed = false;
  const verified = verifiedDownload(source, image, report, () => (digestAgreed = true));
  let fill: CacheFill | null;
  try {
    fill = await cache.startFill(image.id, recordedDigest(image)!.value);
  } catch (err) {
    log(`image cache: could not start caching ${image.id}`, err);
    fill = null;
  }
  if (!fill) return { stream: verified, filled: Promise.resolve(false) };
  let settle: (made: boolean) => void = () => undefined;
  const filled = new Promise<boolean>((resolve) => (settle = resolve));
  let written = 0;
  const drop = (why: string, err?: unknown) => {
    const f = fill;
    fill = null;
    if (!f) return;
    if (why) log(`image cache: ${why}`, err);
    void f
      .cancel()
      .catch((e: unknown) => log(`image cache: could not remove the incomplete entry of ${image.id}`, e))
      .finally(() => settle(false));
  };
  let lastWrite: Promise<void> = Promise.resolve();
  const complete = () => {
    const f = fill;
    if (!f) return;
    if (written !== image.size) return drop(`the entry of ${image.id} got ${written} bytes instead of ${image.size}; not cached`);
    fill = null;
    f.commit().then(
      () => settle(true),
      (err: unknown) => {
        log(`image cache: could not complete the entry of ${image.id}`, err);
        settle(false);
      },
    );
  };
  const tee = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      this.push(chunk);
      const f = fill;
      if (!f) return cb();
      lastWrite = f.write(chunk).then(
        () => {
          written += chunk.length;
        },
        (err: unknown) => drop(`could not write the entry of ${image.id}; the download goes on without it`, err),
      );
      void lastWrite.then(() => cb());
    },
    flush(cb: TransformCallback) {
      // The consumer gets its end at once; the entry is made durable and visible behind it.
      cb();
      void lastWrite.then(complete);
    },
    destroy(err, cb) {
      if (digestAgreed) void lastWrite.then(complete);
      else drop('');
      verified.destroy();
      cb(err);
    },
  });
  verified.on('error', (err) => tee.destroy(err));
  return { stream: verified.pipe(tee), filled };
}
