import type { SignatureJob } from './hash-ring.js';
import { ParallelHasher } from './parallel-hasher.js';

/**
 * The md5 `checksum` and the `os_hash_value` multihash of an image, computed while it streams
 * (an upload, or a download that checks what it sends). Both hashes run on worker threads that
 * read the bytes from one shared ring; the calling thread only copies each chunk in once, so it
 * stays free to receive and write (md5 alone is ~1.6 s of CPU per GiB).
 */
export class ImageHasher {
  private constructor(private readonly hashes: ParallelHasher) {}

  /**
   * `threads`: 2 (the default) hashes md5 and the multihash on two workers side by side; 1 puts
   * both on one worker (half the threads and memory, for a path that must not take two cores).
   * `signature`: an img_signature checked over the same bytes, on the multihash's worker.
   */
  static async create(algorithm: string, options: { threads?: 1 | 2; signature?: SignatureJob } = {}): Promise<ImageHasher> {
    return new ImageHasher(await ParallelHasher.create(['md5', algorithm], { threads: options.threads ?? 2, signature: options.signature }));
  }

  /**
   * Adds bytes. Resolves at once unless a hash has fallen a whole ring behind, then when there
   * is room; `chunk` must stay unchanged until then.
   */
  update(chunk: Uint8Array): Promise<void> {
    return this.hashes.update(chunk);
  }

  /** Both hex digests, once the workers have hashed everything; with a signature, whether it holds. */
  async digest(): Promise<{ md5: string; multihash: string; signatureValid?: boolean }> {
    const { hex: [md5, multihash], signatureValid } = await this.hashes.verifiedDigest();
    return { md5: md5!, multihash: multihash!, ...(signatureValid === null ? {} : { signatureValid }) };
  }

  /** Abandons the job (a failed upload); the workers go back to the pool. */
  abort(): void {
    this.hashes.abort();
  }
}
