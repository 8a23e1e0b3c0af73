/**
 * What the domain reports to whoever measures the service (Prometheus in src/metrics/): image
 * bytes received and sent by store, uploads/imports/downloads in flight, store errors by driver
 * and operation, lease takeovers and image cache hits and misses (tasks by status, the outbox,
 * the pool and the cache's size are read at scrape time). The domain calls these once per
 * operation or per stream end, never per chunk; `noMetrics` measures nothing.
 */
import type { Readable } from 'node:stream';
import { BlobNotFound, StoreError } from '../store/blob-store.js';

/** Work that holds a stream open while it runs. */
export type InFlightKind = 'upload' | 'import' | 'download';

/** What a store was asked to do when it failed. */
export type StoreOperation = 'read' | 'write' | 'delete';

export interface DomainMetrics {
  /** `bytes` of image data written to the store `store` (an upload, an import, a copy). */
  bytesReceived(store: string, bytes: number): void;
  /** `bytes` of image data sent to a client from `store` (a backend id, or `cache`). */
  bytesSent(store: string, bytes: number): void;
  /** One more (+1) or one fewer (-1) operation of this kind running in this process. */
  inFlight(kind: InFlightKind, delta: 1 | -1): void;
  /** A store operation (`read`, `write`, `delete`) failed in the driver `driver` (`file`, `swift`, …). */
  storeError(driver: string, operation: StoreOperation): void;
  /** This process took over leases of `kind` that another process let expire. */
  leaseTakeover(kind: string, count: number): void;
  /** A whole download asked the image cache: served from it (hit) or not (miss). */
  cacheLookup(hit: boolean): void;
}

/** Measures nothing: the default where no metrics are configured (and in unit tests). */
export const noMetrics: DomainMetrics = {
  bytesReceived: () => undefined,
  bytesSent: () => undefined,
  inFlight: () => undefined,
  storeError: () => undefined,
  leaseTakeover: () => undefined,
  cacheLookup: () => undefined,
};

/**
 * Counts a download as in flight until `stream` ends, errs or is destroyed (once), and then
 * reports `length` bytes sent from `store` if every byte was read. Listens to the stream's
 * end and close only: adding a data listener would switch it to flowing mode and lose backpressure.
 */
export function measureDownload(metrics: DomainMetrics, store: string, stream: Readable, length: number): void {
  let settled = false;
  metrics.inFlight('download', 1);
  const finish = (complete: boolean) => {
    if (settled) return;
    settled = true;
    metrics.inFlight('download', -1);
    if (complete) metrics.bytesSent(store, length);
  };
  stream.once('end', () => finish(true));
  stream.once('close', () => finish(stream.readableEnded));
  stream.once('error', () => finish(false));
}

/** Store errors already counted: an error a store's read stream emits reaches the write it feeds too, and is one failure. */
const counted = new WeakSet<object>();

/**
 * Counts `err` as a failed `operation` of a store, once per error: a store's typed error under
 * its own driver; any other error only when the caller names the `driver` it called directly
 * (where bytes from a client meet a store writer, the client's errors are not the store's). A
 * missing object is an answer, not a failure.
 */
export function countStoreError(metrics: DomainMetrics, err: unknown, operation: StoreOperation, driver?: string): void {
  if (err instanceof BlobNotFound) return;
  const by = err instanceof StoreError ? err.driver : driver;
  if (by === undefined) return;
  if (typeof err === 'object' && err !== null) {
    if (counted.has(err)) return;
    counted.add(err);
  }
  metrics.storeError(by, operation);
}

/** Counts the store errors `stream` (read from a store) emits as failed reads; an error listener leaves it paused. */
export function countReadErrors<S extends Readable>(metrics: DomainMetrics, stream: S): S {
  stream.on('error', (err) => countStoreError(metrics, err, 'read'));
  return stream;
}
