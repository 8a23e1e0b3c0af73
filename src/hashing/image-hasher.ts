import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import {
  CONTROL_WORDS, FILLED, RING_BYTES, STATE, STATE_ABORTED, STATE_DONE, STATE_RUNNING, WAKE_BYTES,
  type StartJob, type WorkerReply,
} from './hash-ring.js';

/**
 * Computes the md5 `checksum` and the `os_hash_value` multihash of an image while it streams.
 * One thread doing both runs at about half the speed of either alone, so md5 is computed on the
 * calling thread and the multihash on a worker thread that reads the bytes from a shared ring.
 */
export class ImageHasher {
  private readonly md5: Hash = createHash('md5');
  private readonly ring: Uint8Array;
  private readonly control: Int32Array;
  private writeAt = 0;
  private readonly reply: Promise<WorkerReply>;
  private finished = false;

  private constructor(private readonly lease: WorkerLease, readonly algorithm: string) {
    this.ring = new Uint8Array(lease.ring);
    this.control = new Int32Array(lease.control);
    Atomics.store(this.control, FILLED, 0);
    Atomics.store(this.control, STATE, STATE_RUNNING);
    this.reply = new Promise<WorkerReply>((resolve) => {
      const onMessage = (m: WorkerReply) => {
        lease.worker.off('error', onError);
        resolve(m);
      };
      const onError = (err: Error) => {
        lease.worker.off('message', onMessage);
        resolve({ type: 'error', message: err.message });
      };
      lease.worker.once('message', onMessage);
      lease.worker.once('error', onError);
    });
    const job: StartJob = { type: 'start', algorithm, ring: lease.ring, control: lease.control };
    lease.worker.postMessage(job);
  }

  static async create(algorithm: string): Promise<ImageHasher> {
    return new ImageHasher(await pool.acquire(), algorithm);
  }

  /** Adds bytes. Resolves once they are in the ring (it waits while the worker is behind). */
  async update(chunk: Uint8Array): Promise<void> {
    this.md5.update(chunk);
    let offset = 0;
    while (offset < chunk.length) {
      // After an abort the ring may already serve another job: never write into it again.
      if (this.finished) throw new Error('hasher already finished');
      const filled = Atomics.load(this.control, FILLED);
      const room = RING_BYTES - filled;
      if (room === 0) {
        const w = Atomics.waitAsync(this.control, FILLED, filled);
        if (w.async) await w.value;
        continue;
      }
      const n = Math.min(room, chunk.length - offset, RING_BYTES - this.writeAt);
      this.ring.set(chunk.subarray(offset, offset + n), this.writeAt);
      this.writeAt = (this.writeAt + n) % RING_BYTES;
      offset += n;
      const before = Atomics.add(this.control, FILLED, n);
      if (before < WAKE_BYTES && before + n >= WAKE_BYTES) Atomics.notify(this.control, FILLED);
    }
  }

  /** Both hex digests, once the worker has hashed everything. */
  async digest(): Promise<{ md5: string; multihash: string }> {
    this.finish(STATE_DONE);
    const reply = await this.reply;
    pool.release(this.lease, reply.type !== 'error');
    if (reply.type !== 'digest') throw new Error(`hash worker failed: ${reply.type === 'error' ? reply.message : 'aborted'}`);
    return { md5: this.md5.digest('hex'), multihash: reply.hex };
  }

  /** Abandons the job (on a failed upload); the worker goes back to the pool. */
  abort(): void {
    if (this.finished) return;
    this.finish(STATE_ABORTED);
    void this.reply.then((r) => pool.release(this.lease, r.type !== 'error'));
  }

  private finish(state: number): void {
    if (this.finished) throw new Error('hasher already finished');
    this.finished = true;
    Atomics.store(this.control, STATE, state);
    Atomics.notify(this.control, FILLED);
  }
}

interface WorkerLease {
  worker: Worker;
  ring: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

/** Idle hash workers (with their rings), kept so an upload does not pay a thread start. */
class WorkerPool {
  private readonly idle: WorkerLease[] = [];
  constructor(private readonly keepIdle: number) {}

  async acquire(): Promise<WorkerLease> {
    const lease = this.idle.pop();
    if (lease) return lease;
    const worker = new Worker(new URL('./hash-worker.js', import.meta.url));
    worker.unref();
    return {
      worker,
      ring: new SharedArrayBuffer(RING_BYTES),
      control: new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT),
    };
  }

  release(lease: WorkerLease, healthy: boolean): void {
    if (healthy && this.idle.length < this.keepIdle) this.idle.push(lease);
    else void lease.worker.terminate();
  }
}

const pool = new WorkerPool(4);
