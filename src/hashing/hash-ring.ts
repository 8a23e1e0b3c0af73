/**
 * The ring through which the request thread hands image bytes to the hash workers: one writer
 * (the request thread) and one reader per hash, each reader a worker with its own cursor. The
 * bytes are copied once into shared memory and every worker hashes them from there: no
 * structured clone per chunk, and the request thread computes no hash itself.
 *
 * Control words (an Int32Array over their own SharedArrayBuffer):
 *   STATE          RUNNING until the writer has written everything (DONE) or gave up (ABORTED)
 *   available(i)   bytes written and not yet hashed by reader i (0..RING_BYTES)
 * The writer adds to every available(i) after a copy; reader i subtracts what it hashed. The
 * writer only writes where every reader has finished reading: room = RING_BYTES - max available.
 */
import type { KeyObject } from 'node:crypto';

export const RING_BYTES = 8 << 20;
/**
 * A reader sleeps until this many bytes wait for it (or the job ends), and the writer wakes it
 * only when that many have gathered: one wake-up per batch, not one per 64 KiB socket read.
 */
export const WAKE_BYTES = 1 << 20;
/** A reader hashes at most this much before it gives the room back, so a slow hash never holds the whole ring. */
export const STEP_BYTES = 1 << 20;
export const MAX_READERS = 4;

export const STATE = 0;
export const available = (reader: number): number => 1 + reader;
export const CONTROL_WORDS = 1 + MAX_READERS;

export const STATE_RUNNING = 0;
export const STATE_DONE = 1;
export const STATE_ABORTED = 2;

/**
 * A signature to check over the same bytes (an image's img_signature): the worker feeds a
 * node:crypto Verify with them alongside its hashes and answers whether the signature holds.
 */
export interface SignatureJob {
  /** The digest the signature was made over (node name, e.g. sha256). */
  hash: string;
  /** The signer's public key (a KeyObject crosses to the worker as it is). */
  key: KeyObject;
  signature: Uint8Array;
  /** RSA-PSS: crypto.constants.RSA_PKCS1_PSS_PADDING and the salt length; absent for DSA and ECDSA. */
  padding?: number;
  saltLength?: number;
}

/** The message that starts a job on a hash worker. */
export interface HashJob {
  /** One or more algorithms, all over the same bytes. */
  algorithms: string[];
  /** A signature this worker checks over the bytes as well. */
  signature?: SignatureJob;
  reader: number;
  ring: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

/** A hash worker's answer to a job (`signatureValid`: only when the job had a signature). `failed`: the job could not run (e.g. an unknown algorithm); the worker is fine. */
export type WorkerReply = { type: 'digest'; hex: string[]; signatureValid?: boolean } | { type: 'aborted' } | { type: 'failed'; message: string };

/**
 * The writer's side of a ring (request thread). Reused from job to job by the pool, but only once
 * every reader of the previous job has answered: a reader still reading must not see new bytes.
 */
export class HashRing {
  readonly ring = new SharedArrayBuffer(RING_BYTES);
  readonly control = new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT);
  /**
   * A Buffer over the ring because Buffer#fill(source, start, end) copies with one native
   * memcpy, where TypedArray#set into shared memory copies word by word with relaxed atomics:
   * about 0.1 s per GiB instead of 0.4–0.7 s on the request thread.
   */
  private readonly bytes = Buffer.from(this.ring);
  private readonly words = new Int32Array(this.control);
  private writeAt = 0;
  /** Counts jobs, so that a write still waiting when its job ended never copies into the next job's bytes. */
  private job = 0;
  /** Readers of the current job; a reader that failed or died is dropped and no longer waited for. */
  private readers: boolean[] = [];

  /** Starts a job read by `readers` readers: an empty ring, state RUNNING. */
  reset(readers: number): void {
    if (readers < 1 || readers > MAX_READERS) throw new RangeError(`a ring has 1 to ${MAX_READERS} readers, not ${readers}`);
    this.readers = Array.from({ length: readers }, () => true);
    this.writeAt = 0;
    this.job++;
    for (let i = 0; i < MAX_READERS; i++) Atomics.store(this.words, available(i), 0);
    Atomics.store(this.words, STATE, STATE_RUNNING);
  }

  /**
   * Copies `chunk` into the ring. Returns undefined when it all fitted at once (the usual case:
   * no promise, no microtask), else a promise that resolves once the readers made room for the
   * rest. The caller must not change `chunk` until then, nor write again meanwhile.
   */
  write(chunk: Uint8Array): Promise<void> | undefined {
    let offset = 0;
    while (offset < chunk.length) {
      const copied = this.copy(chunk, offset);
      if (copied === 0) return this.writeLater(chunk, offset);
      offset += copied;
    }
    return undefined;
  }

  private async writeLater(chunk: Uint8Array, offset: number): Promise<void> {
    const job = this.job;
    while (offset < chunk.length) {
      if (this.job !== job || Atomics.load(this.words, STATE) !== STATE_RUNNING) throw new Error('hash ring already finished');
      const copied = this.copy(chunk, offset);
      if (copied > 0) {
        offset += copied;
        continue;
      }
      // Full: sleep (without blocking the thread) until the slowest reader gives room back.
      const slowest = this.slowest();
      const w = Atomics.waitAsync(this.words, available(slowest), Atomics.load(this.words, available(slowest)));
      if (w.async) await w.value;
    }
  }

  /** Copies what fits of chunk[offset..] at the write position, up to the end of the ring; returns the count. */
  private copy(chunk: Uint8Array, offset: number): number {
    const room = RING_BYTES - Atomics.load(this.words, available(this.slowest()));
    const n = Math.min(room, chunk.length - offset, RING_BYTES - this.writeAt);
    if (n <= 0) return 0;
    this.bytes.fill(chunk.subarray(offset, offset + n), this.writeAt, this.writeAt + n);
    this.writeAt = (this.writeAt + n) % RING_BYTES;
    for (let i = 0; i < this.readers.length; i++) {
      if (!this.readers[i]) continue;
      const before = Atomics.add(this.words, available(i), n);
      // Wake reader i when a batch has gathered (it sleeps while fewer bytes wait).
      if (before < WAKE_BYTES && before + n >= WAKE_BYTES) Atomics.notify(this.words, available(i));
    }
    return n;
  }

  /** The live reader with the most bytes left to hash: the one the writer's room depends on. */
  private slowest(): number {
    let at = -1;
    let most = -1;
    for (let i = 0; i < this.readers.length; i++) {
      if (!this.readers[i]) continue;
      const v = Atomics.load(this.words, available(i));
      if (v > most) {
        most = v;
        at = i;
      }
    }
    // No live reader: nothing to wait for; index 0 reads as an empty cursor (see dropReader).
    return at < 0 ? 0 : at;
  }

  /**
   * Stops waiting for reader i (it failed or died): its cursor is emptied and any writer waiting
   * on it is woken, so a broken hash never stalls the bytes.
   */
  dropReader(i: number): void {
    if (!this.readers[i]) return;
    this.readers[i] = false;
    Atomics.store(this.words, available(i), 0);
    Atomics.notify(this.words, available(i));
  }

  /** Ends the job: DONE (readers hash what is left, then answer) or ABORTED (they stop and answer). */
  finish(state: typeof STATE_DONE | typeof STATE_ABORTED): void {
    Atomics.store(this.words, STATE, state);
    for (let i = 0; i < MAX_READERS; i++) Atomics.notify(this.words, available(i));
  }
}
