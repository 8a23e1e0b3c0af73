import { createHash, createVerify, type Hash, type Verify } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import {
  available, CONTROL_WORDS, RING_BYTES, STATE, STATE_ABORTED, STATE_RUNNING, STEP_BYTES, WAKE_BYTES,
  type HashJob, type WorkerReply,
} from './hash-ring.js';

/**
 * A hash worker: for each job, hashes with its algorithms the bytes that the request thread puts
 * into the shared ring, following its own cursor, until the job is marked done (then it answers
 * with the hex digest, and whether the job's signature holds when it has one) or aborted. It blocks in Atomics.wait between batches: it has nothing else
 * to do, and a blocked thread costs no CPU.
 */
const port = parentPort;
if (!port) throw new Error('hash-worker must run in a worker thread');

port.on('message', (job: HashJob) => {
  port.postMessage(run(job));
});

function run(job: HashJob): WorkerReply {
  const ring = new Uint8Array(job.ring);
  const control = new Int32Array(job.control);
  if (control.length !== CONTROL_WORDS || ring.length !== RING_BYTES) return { type: 'failed', message: 'bad ring layout' };
  let hashes: Hash[];
  let verify: Verify | null = null;
  try {
    hashes = job.algorithms.map((a) => createHash(a));
    if (job.signature) verify = createVerify(job.signature.hash);
  } catch (err) {
    return { type: 'failed', message: (err as Error).message };
  }
  const cursor = available(job.reader);
  let readAt = 0;
  for (;;) {
    // The state first: once it reads DONE, the count read after it is final (the writer adds before it marks done).
    const state = Atomics.load(control, STATE);
    if (state === STATE_ABORTED) return { type: 'aborted' };
    const waiting = Atomics.load(control, cursor);
    if (waiting < WAKE_BYTES && state === STATE_RUNNING) {
      // Less than a batch: sleep until the writer has gathered one or ends the job. The timeout
      // only bounds the cost of a missed wake-up; none is expected.
      Atomics.wait(control, cursor, waiting, 1000);
      continue;
    }
    if (waiting === 0) return { type: 'digest', hex: hashes.map((h) => h.digest('hex')), ...signatureOutcome(job, verify) };
    const n = Math.min(waiting, STEP_BYTES, RING_BYTES - readAt);
    // Several hashes on one reader take the same step in turn, the second from a warm cache.
    const step = ring.subarray(readAt, readAt + n);
    for (const h of hashes) h.update(step);
    verify?.update(step);
    readAt = (readAt + n) % RING_BYTES;
    Atomics.sub(control, cursor, n);
    // The writer may be waiting for room.
    Atomics.notify(control, cursor);
  }
}

/** Whether the job's signature holds over everything hashed (nothing when the job had none). A key that cannot verify is a signature that does not hold. */
function signatureOutcome(job: HashJob, verify: Verify | null): { signatureValid?: boolean } {
  const s = job.signature;
  if (!s || !verify) return {};
  try {
    const key = s.padding === undefined ? s.key : { key: s.key, padding: s.padding, saltLength: s.saltLength };
    return { signatureValid: verify.verify(key, s.signature) };
  } catch {
    return { signatureValid: false };
  }
}
