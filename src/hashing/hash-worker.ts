import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { CONTROL_WORDS, FILLED, RING_BYTES, STATE, STATE_ABORTED, STATE_RUNNING, WAKE_BYTES, type StartJob, type WorkerReply } from './hash-ring.js';

/**
 * A hash worker: for each job, hashes the bytes the main thread puts into the shared ring,
 * in order, until the main thread marks the job done, then replies with the hex digest.
 * It blocks on Atomics.wait between chunks: it has nothing else to do.
 */
const port = parentPort;
if (!port) throw new Error('hash-worker must run in a worker thread');

port.on('message', (job: StartJob) => {
  const ring = new Uint8Array(job.ring);
  const control = new Int32Array(job.control);
  if (control.length !== CONTROL_WORDS || ring.length !== RING_BYTES) {
    port.postMessage({ type: 'error', message: 'bad ring layout' } satisfies WorkerReply);
    return;
  }
  let hash;
  try {
    hash = createHash(job.algorithm);
  } catch (err) {
    port.postMessage({ type: 'error', message: (err as Error).message } satisfies WorkerReply);
    return;
  }
  let readAt = 0;
  for (;;) {
    const filled = Atomics.load(control, FILLED);
    if (filled < WAKE_BYTES) {
      const state = Atomics.load(control, STATE);
      if (state === STATE_RUNNING) {
        // Less than a batch: sleep until the main thread has gathered one (or finished).
        Atomics.wait(control, FILLED, filled, 1000);
        continue;
      }
      if (filled === 0) {
        port.postMessage((state === STATE_ABORTED ? { type: 'aborted' } : { type: 'digest', hex: hash.digest('hex') }) satisfies WorkerReply);
        return;
      }
    }
    if (Atomics.load(control, STATE) === STATE_ABORTED) {
      port.postMessage({ type: 'aborted' } satisfies WorkerReply);
      return;
    }
    // Hash what is there, up to the end of the ring; the rest comes on the next turn.
    const n = Math.min(filled, RING_BYTES - readAt);
    hash.update(ring.subarray(readAt, readAt + n));
    readAt = (readAt + n) % RING_BYTES;
    Atomics.sub(control, FILLED, n);
    Atomics.notify(control, FILLED);
  }
});
