import type { Worker } from 'node:worker_threads';
import { hashPool, type HashPool } from './hash-pool.js';
import { MAX_READERS, STATE_ABORTED, STATE_DONE, type HashJob, type HashRing, type SignatureJob, type WorkerReply } from './hash-ring.js';

/** How a worker's job ended, as seen from the request thread. `crashed`: the thread died or threw; it is not reused. */
type Outcome = WorkerReply | { type: 'crashed'; message: string };

/**
 * Several hashes of one byte stream, each on its own worker thread, all reading one shared ring.
 * The calling thread only copies each chunk into the ring (one memcpy); it computes no hash. With
 * two cores the hashes run beside the thread that receives and writes the bytes, instead of
 * taking turns with it.
 *
 * update() needs no await unless the ring is full (a hash has fallen RING_BYTES behind); then
 * the promise it returns resolves when there is room. digest() and abort() end the job; the
 * workers and the ring go back to the pool once every worker has answered.
 */
export class ParallelHasher {
  private finished = false;
  private readonly outcomes: Promise<Outcome>[];

  private constructor(
    private readonly ring: HashRing,
    pool: HashPool,
    workers: Worker[],
    readonly algorithms: readonly string[],
    private readonly signature: SignatureJob | undefined,
  ) {
    ring.reset(workers.length);
    this.outcomes = workers.map((worker, reader) => {
      const outcome = awaitOutcome(worker).then((o) => {
        // A hash that cannot go on must not hold the ring: the bytes keep flowing, digest() fails.
        if (o.type === 'failed' || o.type === 'crashed') ring.dropReader(reader);
        return o;
      });
      const job: HashJob = { algorithms: algorithms.filter((_, i) => i % workers.length === reader), reader, ring: ring.ring, control: ring.control };
      // The signature goes to the last worker: with md5 first, that is the one with the faster hash.
      if (signature && reader === workers.length - 1) job.signature = signature;
      worker.postMessage(job);
      return outcome;
    });
    // Give everything back once every worker has answered (a reader still reading must not see the next job's bytes).
    void Promise.all(this.outcomes).then((all) => {
      all.forEach((o, i) => pool.releaseWorker(workers[i]!, o.type !== 'crashed'));
      pool.releaseRing(ring);
    });
  }

  /**
   * `threads` workers share the algorithms (algorithm i goes to worker i % threads); one worker
   * with several algorithms hashes each step with each in turn. `signature`: checked over the
   * same bytes by the last worker, beside its hashes (see verifiedDigest).
   */
  static async create(algorithms: readonly string[], options: { threads?: number; pool?: HashPool; signature?: SignatureJob } = {}): Promise<ParallelHasher> {
    if (algorithms.length === 0) throw new RangeError('no hash algorithm');
    const threads = Math.min(options.threads ?? algorithms.length, algorithms.length, MAX_READERS);
    if (!(threads >= 1)) throw new RangeError(`hash threads must be at least 1, not ${options.threads}`);
    const pool = options.pool ?? hashPool;
    const ring = pool.ring();
    const workers = Array.from({ length: threads }, () => pool.worker());
    return new ParallelHasher(ring, pool, workers, algorithms, options.signature);
  }

  /** Adds bytes. The returned promise (if any) resolves once they are all in the ring. */
  update(chunk: Uint8Array): Promise<void> {
    // After an abort the ring may already serve another job: never write into it again.
    if (this.finished) return Promise.reject(new Error('hasher already finished'));
    return this.ring.write(chunk) ?? RESOLVED;
  }

  /** The hex digests, in the order of `algorithms`, once every worker has hashed everything. */
  async digest(): Promise<string[]> {
    return (await this.verifiedDigest()).hex;
  }

  /** The hex digests and, when a signature was given, whether it holds (else null). */
  async verifiedDigest(): Promise<{ hex: string[]; signatureValid: boolean | null }> {
    this.finish(STATE_DONE);
    const outcomes = await Promise.all(this.outcomes);
    const threads = outcomes.length;
    let signatureValid: boolean | null = null;
    if (this.signature) {
      const o = outcomes[threads - 1]!;
      if (o.type !== 'digest' || o.signatureValid === undefined) throw new Error(`hash worker failed: signature: ${o.type === 'digest' ? 'no answer' : o.type === 'aborted' ? 'aborted' : o.message}`);
      signatureValid = o.signatureValid;
    }
    const hex = this.algorithms.map((_, i) => {
      const o = outcomes[i % threads]!;
      if (o.type === 'digest') return o.hex[Math.floor(i / threads)]!;
      const why = o.type === 'aborted' ? 'aborted' : o.message;
      const mine = this.algorithms.filter((__, j) => j % threads === i % threads);
      throw new Error(`hash worker failed: ${mine.join(', ')}: ${why}`);
    });
    return { hex, signatureValid };
  }

  /** Abandons the job (a failed upload or download); the workers stop at their next batch. */
  abort(): void {
    if (this.finished) return;
    this.finish(STATE_ABORTED);
  }

  private finish(state: typeof STATE_DONE | typeof STATE_ABORTED): void {
    if (this.finished) throw new Error('hasher already finished');
    this.finished = true;
    this.ring.finish(state);
  }
}

const RESOLVED = Promise.resolve();

/** The worker's answer to its current job, or its death. */
function awaitOutcome(worker: Worker): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    const settle = (o: Outcome) => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      resolve(o);
    };
    const onMessage = (m: WorkerReply) => settle(m);
    const onError = (err: Error) => settle({ type: 'crashed', message: err.message });
    const onExit = (code: number) => settle({ type: 'crashed', message: `exited with code ${code}` });
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}
