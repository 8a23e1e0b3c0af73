/**
 * The S3 BlobWriter: bytes go to a multipart upload of the object's own key, which S3 keeps
 * invisible until CompleteMultipartUpload (= commit); an object small enough for one part is
 * held and sent with one PutObject at commit instead. See S3Store for why.
 */
import { Writable } from 'node:stream';
import type { CompletedPart, S3Client } from '@aws-sdk/client-s3';
import { aws } from './s3-sdk.js';
import { StoreError, type BlobWriter, type StoredObject } from './blob-store.js';
import { isNotFound, mapS3Error, s3Code } from './s3-errors.js';
import { MAX_PARTS, partSizeAt, type PartPlan } from './s3-part-sizes.js';

/** What a writer needs from its store. */
export interface S3WriteContext {
  client: S3Client;
  bucket: string;
  key: string;
  attempt: string;
  /** The location URL the commit returns. */
  url: string;
  /** Key of the small object naming this attempt's upload id, for discardWrite after a crash. */
  markerKey: string;
  plan: PartPlan;
  /** Objects of at most this many bytes are sent as one PutObject at commit, without a multipart upload. */
  singlePutLimit: number;
  /** Bytes of parts uploading at once (s3_store_thread_pools parts); one part may always go. */
  inFlightBudget: number;
  /** Makes sure the bucket exists (creates it with s3_store_create_bucket_on_put). */
  ensureBucket: () => Promise<void>;
  log: (msg: string, err?: unknown) => void;
}

/** Object metadata naming the write that produced an object (x-amz-meta-ocellus-attempt), for operators. */
export function attemptMetadata(attempt: string): Record<string, string> {
  return { 'ocellus-attempt': attempt };
}

/** ETags come quoted; the location metadata keeps the bare value. */
export function bareEtag(etag: string | undefined): string | undefined {
  return etag?.replace(/^"|"$/g, '');
}

export class S3Writer extends Writable implements BlobWriter {
  /** Bytes received but not yet handed to a part (or the whole object, while it may stay a single PUT). */
  private chunks: Buffer[] = [];
  private buffered = 0;
  private total = 0;
  private nextPart = 1;
  private readonly parts: CompletedPart[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private inFlightBytes = 0;
  /**
   * Buffers of parts that finished uploading, for the next parts to be copied into: the first
   * touch of a fresh part-sized buffer costs a page fault per 4 KiB page, and freeing it gives the
   * pages back, so a new buffer per part spent 0.75–2.9 s of CPU per GiB on a 2-CPU VM, against
   * 0.05–0.1 s for copying into a reused one (bench/stores.ts). At most one per part in flight.
   */
  private spare: Buffer[] = [];
  /** Starts the multipart upload (and writes the marker); set once the object outgrows a single PUT. */
  private upload: Promise<string> | null = null;
  private uploadId: string | null = null;
  private markerWritten = false;
  /** The first failure of a part or of the upload's creation: every later write and the commit fail with it. */
  private failure: StoreError | null = null;
  /** All bytes were handed to S3 (parts uploaded, or the single PUT's bytes held): commit may run. */
  private finished = false;
  /** Cancelled or destroyed before finishing: no new part may start. */
  private stopped = false;
  private committing: Promise<StoredObject> | null = null;
  private committed = false;
  private cleanup: Promise<void> | null = null;

  constructor(private readonly ctx: S3WriteContext) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.failure) return callback(this.failure);
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.total += chunk.length;
    // The callback waits until the full parts are on their way: that is the backpressure that
    // stops the source while s3_store_thread_pools parts are uploading.
    this.sendParts(false).then(() => callback(), (err: Error) => callback(err));
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finishUploads().then(
      () => {
        this.finished = true;
        callback();
      },
      (err: Error) => callback(err),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Destroyed before all bytes were sent (source failed, caller gave up): nothing of it may stay.
    if ((error || !this.finished) && !this.committed) {
      this.stopped = true;
      this.startCleanup().catch((err: unknown) => this.ctx.log(`s3 store: could not abort the upload of ${this.ctx.bucket}/${this.ctx.key} (attempt ${this.ctx.attempt}); discardWrite will retry`, err));
    }
    callback(error);
  }

  private async finishUploads(): Promise<void> {
    await this.sendParts(true);
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    if (this.failure) throw this.failure;
  }

  /** Starts uploading every full part (every remaining byte with `last`), waiting for room in the pool. */
  private async sendParts(last: boolean): Promise<void> {
    if (!this.upload && this.total > this.ctx.singlePutLimit) {
      this.startUpload();
      // Bytes acknowledged to the source belong to an upload whose marker exists: a crash after
      // this point leaves something discardWrite can find.
      await this.upload!.catch(() => undefined);
    }
    if (!this.upload) return;
    if (this.failure) throw this.failure;
    for (;;) {
      const size = partSizeAt(this.ctx.plan, this.nextPart);
      if (this.buffered === 0 || (this.buffered < size && !last)) return;
      const { body, backing } = this.takePart(Math.min(size, this.buffered), size);
      while (this.inFlight.size > 0 && this.inFlightBytes + body.length > this.ctx.inFlightBudget) {
        await Promise.race(this.inFlight);
      }
      if (this.failure) throw this.failure;
      if (this.stopped) throw new StoreError('s3', 'the write was cancelled');
      this.sendPart(body, backing);
    }
  }

  private startUpload(): void {
    const { client, bucket, key, attempt, markerKey } = this.ctx;
    this.upload = (async () => {
      await this.ctx.ensureBucket();
      let created;
      try {
        created = await client.send(new aws.CreateMultipartUploadCommand({ Bucket: bucket, Key: key, Metadata: attemptMetadata(attempt) }));
      } catch (err) {
        throw mapS3Error(err, `starting a multipart upload of ${bucket}/${key}`, { writing: true, bucket });
      }
      if (!created.UploadId) throw new StoreError('s3', `starting a multipart upload of ${bucket}/${key}: no upload id in the answer`);
      this.uploadId = created.UploadId;
      // The marker lets discardWrite find this upload after a crash: S3 lists uploads by key, not by who started them.
      try {
        await client.send(new aws.PutObjectCommand({ Bucket: bucket, Key: markerKey, Body: created.UploadId, ContentType: 'text/plain' }));
      } catch (err) {
        throw mapS3Error(err, `recording upload ${created.UploadId} of ${bucket}/${key}`, { writing: true, bucket });
      }
      this.markerWritten = true;
      return created.UploadId;
    })();
    this.upload.catch((err: unknown) => this.fail(err, 'starting the multipart upload'));
  }

  private sendPart(body: Buffer, backing: Buffer | undefined): void {
    const partNumber = this.nextPart++;
    if (partNumber > MAX_PARTS) {
      this.fail(new StoreError('s3', `${this.ctx.bucket}/${this.ctx.key}: more than ${MAX_PARTS} parts of ${body.length} bytes; the image is larger than announced`), '');
      throw this.failure!;
    }
    const { client, bucket, key } = this.ctx;
    const upload = this.upload!;
    const part = (async () => {
      const uploadId = await upload;
      const res = await client.send(new aws.UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length }));
      this.parts.push({ PartNumber: partNumber, ETag: res.ETag });
      // Sent and answered: the SDK is done with the bytes (a failed part's buffer is never reused).
      if (backing && !this.stopped) this.spare.push(backing);
    })()
      .catch((err: unknown) => this.fail(err, `uploading part ${partNumber}`))
      .finally(() => {
        this.inFlight.delete(part);
        this.inFlightBytes -= body.length;
      });
    this.inFlight.add(part);
    this.inFlightBytes += body.length;
  }

  private fail(err: unknown, what: string): void {
    this.failure ??= mapS3Error(err, `${what} of ${this.ctx.bucket}/${this.ctx.key}`, { writing: true, bucket: this.ctx.bucket });
  }

  /**
   * The next part's `n` bytes (`partSize` but for the last part), copied into a spare part buffer
   * when there is one; `backing` is the buffer to reuse once the part is uploaded (none for a
   * short last part that had no spare to go into).
   */
  private takePart(n: number, partSize: number): { body: Buffer; backing: Buffer | undefined } {
    let backing: Buffer | undefined;
    while (!backing && this.spare.length > 0) {
      const b = this.spare.pop()!;
      // Parts only grow (PartPlan): a spare smaller than this part is dropped.
      if (b.length >= partSize) backing = b;
    }
    // Not from Node's shared pool: the buffer is this part's alone, so it can be reused whole.
    if (!backing && n === partSize) backing = Buffer.allocUnsafeSlow(partSize);
    const body = this.take(n, backing?.subarray(0, n));
    return { body, backing };
  }

  /** The first `n` buffered bytes as one Buffer (a part's body must be re-sendable for retries), in `into` if given. */
  private take(n: number, into?: Buffer): Buffer {
    const out = into ?? Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0]!;
      const want = n - filled;
      if (head.length <= want) {
        head.copy(out, filled);
        filled += head.length;
        this.chunks.shift();
      } else {
        head.copy(out, filled, 0, want);
        this.chunks[0] = head.subarray(want);
        filled += want;
      }
    }
    this.buffered -= n;
    return out;
  }

  commit(): Promise<StoredObject> {
    if (this.committing) return this.committing;
    if (this.cleanup || this.stopped) return Promise.reject(new StoreError('s3', `${this.ctx.bucket}/${this.ctx.key}: the write was cancelled`));
    if (this.failure) return Promise.reject(this.failure);
    if (!this.finished) return Promise.reject(new StoreError('s3', `${this.ctx.bucket}/${this.ctx.key}: commit before the stream finished`));
    this.committing = (this.upload ? this.completeUpload() : this.putWhole()).then((stored) => {
      this.committed = true;
      return stored;
    });
    return this.committing;
  }

  private async putWhole(): Promise<StoredObject> {
    const { client, bucket, key, attempt, url } = this.ctx;
    await this.ctx.ensureBucket();
    const body = this.take(this.buffered);
    this.chunks = [];
    try {
      const res = await client.send(new aws.PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length, Metadata: attemptMetadata(attempt) }));
      return { url, metadata: objectMetadata(res.ETag, res.VersionId) };
    } catch (err) {
      // Keep the bytes so that a retried commit can send them again.
      this.chunks = [body];
      this.buffered = body.length;
      this.committing = null;
      throw mapS3Error(err, `writing ${bucket}/${key}`, { writing: true, bucket });
    }
  }

  private async completeUpload(): Promise<StoredObject> {
    const { client, bucket, key, url } = this.ctx;
    const uploadId = await this.upload!;
    const parts = [...this.parts].sort((a, b) => a.PartNumber! - b.PartNumber!);
    let res;
    try {
      res = await client.send(new aws.CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
    } catch (err) {
      this.fail(err, 'completing the multipart upload');
      throw this.failure!;
    }
    await this.deleteMarker();
    return { url, metadata: objectMetadata(res.ETag, res.VersionId) };
  }

  cancel(): Promise<void> {
    if (this.committed) return Promise.resolve();
    this.stopped = true;
    if (!this.destroyed) this.destroy();
    return this.startCleanup();
  }

  private startCleanup(): Promise<void> {
    this.cleanup ??= this.abort().catch((err: unknown) => {
      this.cleanup = null; // a later cancel() tries again
      throw err;
    });
    return this.cleanup;
  }

  /** Lets parts in flight end, then aborts the upload (S3 drops its parts) and removes the marker. */
  private async abort(): Promise<void> {
    this.chunks = [];
    this.spare = [];
    this.buffered = 0;
    await Promise.allSettled([...this.inFlight]);
    if (this.upload) await this.upload.catch(() => undefined);
    const { client, bucket, key } = this.ctx;
    if (this.uploadId) {
      try {
        await client.send(new aws.AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: this.uploadId }));
      } catch (err) {
        if (s3Code(err) !== 'NoSuchUpload' && !isNotFound(err)) throw mapS3Error(err, `aborting upload ${this.uploadId} of ${bucket}/${key}`, { writing: true, bucket });
      }
      await this.deleteMarker(true);
    }
  }

  private async deleteMarker(mustSucceed = false): Promise<void> {
    if (!this.markerWritten && !mustSucceed) return;
    const { client, bucket, markerKey } = this.ctx;
    try {
      await client.send(new aws.DeleteObjectCommand({ Bucket: bucket, Key: markerKey }));
      this.markerWritten = false;
    } catch (err) {
      if (mustSucceed) throw mapS3Error(err, `removing ${bucket}/${markerKey}`, { writing: true, bucket });
      // After a completed upload the marker only names a finished upload: discardWrite would find nothing to abort.
      this.ctx.log(`s3 store: could not remove the upload marker ${bucket}/${markerKey}`, err);
    }
  }
}

/** The location metadata of a committed object: its ETag, and its version id in a versioned bucket. */
function objectMetadata(etag: string | undefined, versionId: string | undefined): Record<string, unknown> {
  const metadata: Record<string, unknown> = {};
  const bare = bareEtag(etag);
  if (bare) metadata.etag = bare;
  if (versionId && versionId !== 'null') metadata.version_id = versionId;
  return metadata;
}
