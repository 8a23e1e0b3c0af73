/**
 * Bytes into a store writer, as every path that stores image data does it (PUT /stage, and each
 * step of an import): metered against a cap, hashed while they pass when the caller wants hashes,
 * shown to an observer (the format inspector), checked against the image's signature when it is
 * signed (on the hash workers, in the same pass), and committed only when all of it arrived and the
 * signature holds. On any
 * failure the writer is cancelled, so nothing partial is left, and the error goes to the caller.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ImageHasher } from '../hashing/image-hasher.js';
import type { BlobStore, BlobWriter, StoredObject, WriteTarget } from '../store/blob-store.js';
import { StoreFull, StoreUnavailable, StoreWriteDenied } from '../store/blob-store.js';
import type { SignatureJob } from '../hashing/hash-ring.js';
import { BadRequest, DomainError, ServiceUnavailable, TooLarge } from './errors.js';
import { signatureMismatch } from './image-signature.js';

export interface IntakeOptions {
  /** Most bytes accepted; beyond, `overCap(cap)` is thrown. */
  cap: number;
  overCap: (cap: number) => Error;
  /** The multihash algorithm (node name): md5 and it are computed as the bytes pass; absent = no hashes. */
  hashAlgorithm?: string;
  /** Sees every chunk, in order, before the store does (it must not keep or change it). */
  observe?: (chunk: Buffer) => void;
  signal?: AbortSignal;
  /** Runs once every byte has arrived, before the commit (`received`: their count); what it throws cancels the write. */
  beforeCommit?: (received: number) => void;
  /** img_signature to check over the bytes (needs hashAlgorithm); a mismatch refuses the write before its commit. */
  signature?: SignatureJob | null;
}

export interface Intake {
  size: number;
  digests: { md5: string; multihash: string; signatureValid?: boolean } | null;
  stored: StoredObject;
}

export async function writeInto(store: BlobStore, target: WriteTarget, source: Readable, o: IntakeOptions): Promise<Intake> {
  let writer: BlobWriter | undefined;
  let hasher: ImageHasher | undefined;
  try {
    writer = await store.createWriter(target);
    if (o.signature && !o.hashAlgorithm) throw new Error('a signature is checked beside the hashes: hashAlgorithm is needed');
    if (o.hashAlgorithm) hasher = await ImageHasher.create(o.hashAlgorithm, { signature: o.signature ?? undefined });
    const h = hasher;
    let size = 0;
    await pipeline(
      source,
      async function* meter(chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          size += chunk.length;
          if (size > o.cap) throw o.overCap(o.cap);
          o.observe?.(chunk);
          if (h) await h.update(chunk);
          yield chunk;
        }
      },
      writer,
      { signal: o.signal },
    );
    o.beforeCommit?.(size);
    const digests = h ? await h.digest() : null;
    hasher = undefined;
    if (o.signature && digests?.signatureValid !== true) throw signatureMismatch(target.key);
    const stored = await writer.commit();
    return { size, digests, stored };
  } catch (err) {
    hasher?.abort();
    source.destroy();
    await writer?.cancel().catch(() => undefined);
    throw err;
  }
}

/**
 * What the client is told when bytes it sent could not be stored (PUT /file, PUT /stage): Glance's
 * answers for a full or forbidden store, a store that is down, a body cut short; anything else
 * is logged and goes on as it is.
 */
export function intakeError(err: unknown, id: string, log: (msg: string, err?: unknown) => void): Error {
  if (err instanceof DomainError) return err;
  if (err instanceof StoreFull) return new TooLarge(`Image storage media is full: ${err.message}`);
  if (err instanceof StoreWriteDenied) return new ServiceUnavailable(`Insufficient permissions on image storage media: ${err.message}`);
  if (err instanceof StoreUnavailable) {
    log(`storing the data of image ${id} failed`, err);
    return new ServiceUnavailable(`The image store is unavailable: ${err.message}`);
  }
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || (err as Error).message === 'aborted') {
    return new BadRequest(`The data for image ${id} was interrupted before all of it arrived; nothing was stored.`);
  }
  log(`storing the data of image ${id} failed`, err);
  return err instanceof Error ? err : new Error(String(err));
}
