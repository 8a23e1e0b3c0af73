/**
 * Layout of the shared ring through which the main thread hands image bytes to a hash worker:
 * one copy into shared memory, no structured-clone per chunk. The control words live in an
 * Int32Array over their own SharedArrayBuffer.
 */
export const RING_BYTES = 8 << 20;
/**
 * The worker sleeps until this many bytes wait in the ring (or the job ends), and the main thread
 * wakes it only when that many have gathered: one wake-up per batch instead of one per 64 KiB chunk.
 */
export const WAKE_BYTES = 1 << 20;
/** Bytes written by the main thread and not yet hashed by the worker (0..RING_BYTES). */
export const FILLED = 0;
/** 1 once the main thread has written everything (or 2 if it abandoned the job). */
export const STATE = 1;
export const CONTROL_WORDS = 2;

export const STATE_RUNNING = 0;
export const STATE_DONE = 1;
export const STATE_ABORTED = 2;

export interface StartJob {
  type: 'start';
  algorithm: string;
  ring: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

export type WorkerReply = { type: 'digest'; hex: string } | { type: 'aborted' } | { type: 'error'; message: string };
