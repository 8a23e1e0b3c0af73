import { Worker } from 'node:worker_threads';
import { HashRing } from './hash-ring.js';

export interface HashPoolOptions {
  /** Idle workers kept (each a thread with its own V8 isolate, a few MB). */
  idleWorkers: number;
  /** Idle rings kept (RING_BYTES of shared memory each). */
  idleRings: number;
  /** Starts a worker; tests pass one that misbehaves. */
  spawn?: () => Worker;
}

/**
 * A hash worker allocates almost nothing on its heap (it hashes views of the ring): small heap
 * limits keep each worker's isolate to a few MB of the server's memory.
 */
const spawnHashWorker = () => new Worker(new URL('./hash-worker.js', import.meta.url), {
  resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16, codeRangeSizeMb: 8 },
});

/**
 * Idle hash workers and rings, kept so that an upload pays neither a thread start nor fresh
 * shared memory. A worker is leased for one job and comes back only if it answered that job; a
 * ring comes back only once every reader of its job has answered.
 */
export class HashPool {
  private readonly workers: Worker[] = [];
  private readonly rings: HashRing[] = [];
  private readonly spawn: () => Worker;

  constructor(private readonly options: HashPoolOptions) {
    this.spawn = options.spawn ?? spawnHashWorker;
  }

  worker(): Worker {
    const idle = this.workers.pop();
    if (idle) {
      idle.ref();
      return idle;
    }
    const worker = this.spawn();
    // Errors are taken by the job's own listener; between jobs one must not crash the process.
    worker.on('error', () => undefined);
    worker.once('exit', () => {
      const at = this.workers.indexOf(worker);
      if (at >= 0) this.workers.splice(at, 1);
    });
    return worker;
  }

  /** A worker back from a job: kept if it is sound and the pool has room, else stopped. */
  releaseWorker(worker: Worker, sound: boolean): void {
    if (sound && this.workers.length < this.options.idleWorkers) {
      // Idle workers do not keep the process alive.
      worker.unref();
      this.workers.push(worker);
    } else {
      void worker.terminate();
    }
  }

  ring(): HashRing {
    return this.rings.pop() ?? new HashRing();
  }

  releaseRing(ring: HashRing): void {
    if (this.rings.length < this.options.idleRings) this.rings.push(ring);
  }

  /** Stops the idle workers (tests; a server just lets them be). */
  async close(): Promise<void> {
    const idle = this.workers.splice(0);
    this.rings.length = 0;
    await Promise.all(idle.map((w) => w.terminate()));
  }
}

/** The process's pool: enough for two uploads (or verified downloads) at once without a thread start. */
export const hashPool = new HashPool({ idleWorkers: 2, idleRings: 1 });
