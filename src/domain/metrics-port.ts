/**
 * What the domain reports to whoever measures the service (Prometheus in src/metrics/): image
 * bytes received and sent by store, uploads/imports/downloads in flight, store errors by driver,
 * lease takeovers and image cache hits and misses (tasks by status are read from the database at
 * scrape time). The domain calls these once per operation or per stream end, never per chunk;
 * `noMetrics` measures nothing.
 */
import type { Readable } from 'node:stream';

/** Work that holds a stream open while it runs. */
export type InFlightKind = 'upload' | 'import' | 'download';

export interface DomainMetrics {
  /** `bytes` of image data written to the store `store` (an upload, an import, a copy). */
  bytesReceived(store: string, bytes: number): void;
  /** `bytes` of image data sent to a client from `store` (a backend id, or `cache`). */
  bytesSent(store: string, bytes: number): void;
  /** One more (+1) or one fewer (-1) operation of this kind running in this process. */
  inFlight(kind: InFlightKind, delta: 1 | -1): void;
  /** A store operation (`read`, `write`) failed in the driver `driver`. */
  storeError(driver: string, operation: 'read' | 'write'): void;
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
