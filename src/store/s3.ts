import fsp from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { BucketLocationConstraint, S3Client } from '@aws-sdk/client-s3';
import { aws } from './s3-sdk.js';
import type { StoreOptions } from '../config/store-options.js';
import { StoreError, type BlobStore, type BlobWriter, type ByteRange, type ListedObject, type ObjectListing, type StoreCapabilities, type WriteTarget } from './blob-store.js';
import { isNotFound, mapS3Error, s3Code, s3Status } from './s3-errors.js';
import { formatLocation, isAmazonHost, isDnsCompatibleBucket, parseEndpoint, parseLocation, regionFor, type S3Endpoint, type S3ObjectRef } from './s3-location.js';
import { MIB, planParts } from './s3-part-sizes.js';
import { S3Writer } from './s3-writer.js';
import { shownUrl } from './shown-url.js';
import type { StoreEnv } from './store-env.js';

const DRIVER = 's3';
/** Image ids and attempt ids: one path segment, so the key is the URL's last segment as glance_store reads it. */
const NAME = /^[A-Za-z0-9._-]+$/;
/** Where a multipart upload in progress is recorded by attempt (see S3Store). */
const MARKER_PREFIX = 'ocellus-uploads';

/**
 * The S3 store (Glance's `s3`): each image is one object `<bucket>/<image id>`, reached with
 * SigV4 at `s3_store_host` and recorded as `s3+https://<host>/<bucket>/<image id>` — without
 * the credentials glance_store puts in its URLs (reads of such URLs ignore them and use the
 * configured ones).
 *
 * How a write stays invisible until commit (the contract of blob-store.ts):
 * - An object larger than min(s3_store_large_object_size, one part) goes to a multipart upload
 *   of its own key. S3 shows nothing at the key until CompleteMultipartUpload, which is
 *   `commit()`; AbortMultipartUpload (cancel) drops the parts. Up to s3_store_thread_pools parts
 *   upload at once, each one buffer of part size; the writer holds the source back while the
 *   pool is full.
 * - A smaller object is held (≤ one part) and sent with one PutObject inside `commit()`: one
 *   request instead of three (create, part, complete), and a crash before commit leaves nothing
 *   in S3 at all. The alternative, PUT to a partial key and CopyObject on commit, was rejected:
 *   a server-side copy re-reads and re-writes every byte (on Swift a full object copy), copies
 *   stop at 5 GiB, and the partial object must be deleted after.
 *   Measured on Swift 2.30 s3api on loopback, 256 KiB, median of 15 (test/s3-store.test.ts,
 *   "cost of a small write"): PutObject 41–67 ms, create + part + complete 229–356 ms.
 * - S3 lists multipart uploads by key, not by who started them, so an upload names its attempt
 *   in a marker object `ocellus-uploads/<key>/<attempt>` holding the upload id; discardWrite
 *   reads it to abort exactly that attempt's upload, not another writer's of the same image.
 *   (Metadata given to CreateMultipartUpload is not returned by ListMultipartUploads.)
 */
export class S3Store implements BlobStore {
  readonly type = DRIVER;
  readonly capabilities: StoreCapabilities = { write: true, rangedReads: true, multipart: true };
  private client: S3Client | null = null;
  private endpoint: S3Endpoint | null = null;
  private bucketReady: Promise<void> | null = null;

  constructor(
    private readonly options: StoreOptions<'s3'>,
    private readonly env: StoreEnv,
  ) {}

  /** Checks the options and builds the client (reads s3_store_cacert); contacts nobody. */
  async init(): Promise<void> {
    const o = this.options;
    const missing = (['s3_store_host', 's3_store_access_key', 's3_store_secret_key', 's3_store_bucket'] as const).filter((name) => !o[name]);
    if (missing.length > 0) throw new StoreError(DRIVER, `missing ${missing.join(', ')}`);
    if (o.s3_store_large_object_chunk_size < 5) throw new StoreError(DRIVER, `s3_store_large_object_chunk_size = ${o.s3_store_large_object_chunk_size}: S3 parts are at least 5 MB`);
    if (o.s3_store_thread_pools < 1) throw new StoreError(DRIVER, 's3_store_thread_pools must be at least 1');
    if (o.s3_store_large_object_size < 1) throw new StoreError(DRIVER, 's3_store_large_object_size must be at least 1');
    let endpoint: S3Endpoint;
    try {
      endpoint = parseEndpoint(o.s3_store_host!);
    } catch (err) {
      throw new StoreError(DRIVER, (err as Error).message);
    }
    const bucket = o.s3_store_bucket!;
    const virtual = o.s3_store_bucket_url_format === 'virtual' || (o.s3_store_bucket_url_format === 'auto' && isAmazonHost(endpoint));
    if (virtual && !isDnsCompatibleBucket(bucket)) {
      throw new StoreError(DRIVER, `bucket '${bucket}' cannot be addressed virtual-hosted style (not a DNS name): set s3_store_bucket_url_format = path`);
    }
    let ca: Buffer | undefined;
    if (o.s3_store_cacert) {
      try {
        ca = await fsp.readFile(o.s3_store_cacert);
      } catch (err) {
        throw new StoreError(DRIVER, `s3_store_cacert ${o.s3_store_cacert}: ${(err as Error).message}`, { cause: err });
      }
    }
    this.endpoint = endpoint;
    this.client = new aws.S3Client({
      region: regionFor(o.s3_store_region_name, endpoint),
      endpoint: endpoint.url,
      forcePathStyle: !virtual,
      credentials: { accessKeyId: o.s3_store_access_key!, secretAccessKey: o.s3_store_secret_key! },
      // Checksums only where S3 demands them: the default (CRC32 trailers in aws-chunked bodies)
      // is refused by Swift's s3api and other S3 imitations (501).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: 10_000,
        httpAgent: { keepAlive: true },
        httpsAgent: ca ? { keepAlive: true, ca } : { keepAlive: true },
      },
    });
  }

  private ready(): { client: S3Client; endpoint: S3Endpoint } {
    if (!this.client || !this.endpoint) throw new StoreError(DRIVER, `store '${this.env.id}' used before init()`);
    return { client: this.client, endpoint: this.endpoint };
  }

  private get bucket(): string {
    return this.options.s3_store_bucket!;
  }

  /** s3, s3+http and s3+https URLs on the configured host, with or without credentials, whatever the bucket (older images may sit in another one). */
  owns(url: string): boolean {
    if (!this.endpoint) return false;
    const ref = parseLocation(url);
    return ref !== undefined && ref.host === this.endpoint.host;
  }

  /** The objects of the configured bucket (ListObjectsV2, page by page); the upload markers and any key with a `/` are not image objects. */
  readonly listing: ObjectListing = {
    list: () => this.listBucket(),
    nameOf: (url) => {
      if (!this.owns(url)) return undefined;
      const { bucket, key } = this.ref(url);
      return `${bucket}/${key}`;
    },
  };

  private async *listBucket(): AsyncIterable<ListedObject> {
    const { client, endpoint } = this.ready();
    const bucket = this.bucket;
    let token: string | undefined;
    do {
      let page;
      try {
        page = await client.send(new aws.ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      } catch (err) {
        if (s3Code(err) === 'NoSuchBucket') return;
        throw mapS3Error(err, `listing ${bucket}`, { bucket });
      }
      for (const o of page.Contents ?? []) {
        const key = o.Key;
        if (key === undefined || !NAME.test(key) || key.startsWith('.')) continue;
        yield { name: `${bucket}/${key}`, url: formatLocation(endpoint, bucket, key), key, size: o.Size ?? 0, modifiedAt: o.LastModified?.getTime() ?? Date.now() };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  private ref(url: string): S3ObjectRef {
    const ref = parseLocation(url);
    if (!ref) throw new StoreError(DRIVER, `not an s3 location: ${shownUrl(url)}`);
    return ref;
  }

  async createWriter(target: WriteTarget): Promise<BlobWriter> {
    const { client, endpoint } = this.ready();
    const key = checkName(target.key, 'key');
    const attempt = checkName(target.attempt, 'attempt');
    const o = this.options;
    const plan = planParts(o.s3_store_large_object_chunk_size, target.sizeHint);
    return new S3Writer({
      client,
      bucket: this.bucket,
      key,
      attempt,
      url: formatLocation(endpoint, this.bucket, key),
      markerKey: markerKey(key, attempt),
      plan,
      singlePutLimit: Math.min(o.s3_store_large_object_size * MIB, plan.firstPartSize),
      inFlightBudget: o.s3_store_thread_pools * plan.firstPartSize,
      ensureBucket: () => this.ensureBucket(),
      log: this.env.log,
    });
  }

  /**
   * Creates the bucket on the first write of this process when s3_store_create_bucket_on_put is
   * set (HEAD first: creating needs a permission that using does not). Without the option a
   * missing bucket shows as NoSuchBucket on the write itself, so no request is spent here.
   */
  private ensureBucket(): Promise<void> {
    if (!this.options.s3_store_create_bucket_on_put) return Promise.resolve();
    this.bucketReady ??= this.createBucketIfMissing().catch((err: unknown) => {
      this.bucketReady = null;
      throw err;
    });
    return this.bucketReady;
  }

  private async createBucketIfMissing(): Promise<void> {
    const { client } = this.ready();
    const bucket = this.bucket;
    if (await this.bucketExists(bucket)) return;
    const region = await client.config.region();
    try {
      await client.send(
        new aws.CreateBucketCommand({
          Bucket: bucket,
          // us-east-1 is the one region that refuses its own name as a constraint.
          ...(region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }),
        }),
      );
      this.env.log(`s3 store: created bucket ${bucket}`);
    } catch (err) {
      // Someone (another node, the previous request) created it meanwhile: 409 from Swift and
      // most regions. BucketAlreadyExists is also what Swift says for our own bucket — it is ours if we can see it.
      if (s3Code(err) === 'BucketAlreadyOwnedByYou') return;
      if (s3Code(err) === 'BucketAlreadyExists' || s3Status(err) === 409) {
        if (await this.bucketExists(bucket)) return;
        throw new StoreError(DRIVER, `bucket name '${bucket}' is taken by another account: choose another s3_store_bucket`, { cause: err });
      }
      throw mapS3Error(err, `creating bucket ${bucket}`, { writing: true, bucket });
    }
  }

  private async bucketExists(bucket: string): Promise<boolean> {
    try {
      await this.ready().client.send(new aws.HeadBucketCommand({ Bucket: bucket }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw mapS3Error(err, `looking up bucket ${bucket}`, { writing: true, bucket });
    }
  }

  async discardWrite(target: WriteTarget, opts: { committed: boolean }): Promise<void> {
    const { client } = this.ready();
    const bucket = this.bucket;
    const key = checkName(target.key, 'key');
    const marker = markerKey(key, checkName(target.attempt, 'attempt'));
    let uploadId: string | null = null;
    try {
      const res = await client.send(new aws.GetObjectCommand({ Bucket: bucket, Key: marker }));
      uploadId = (await res.Body!.transformToString()).trim();
    } catch (err) {
      if (!isNotFound(err)) throw mapS3Error(err, `reading ${bucket}/${marker}`, { writing: true, bucket });
    }
    if (uploadId) {
      try {
        await client.send(new aws.AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
      } catch (err) {
        // Completed (the commit went through) or already aborted: nothing left to drop.
        if (s3Code(err) !== 'NoSuchUpload' && !isNotFound(err)) throw mapS3Error(err, `aborting upload ${uploadId} of ${bucket}/${key}`, { writing: true, bucket });
      }
      await this.deleteKey(bucket, marker);
    }
    if (opts.committed) await this.deleteKey(bucket, key);
  }

  /** DeleteObject: S3 answers 204 whether or not the key was there. */
  private async deleteKey(bucket: string, key: string): Promise<void> {
    try {
      await this.ready().client.send(new aws.DeleteObjectCommand({ Bucket: bucket, Key: key }));
    } catch (err) {
      if (!isNotFound(err)) throw mapS3Error(err, `deleting ${bucket}/${key}`, { writing: true, bucket });
    }
  }

  async read(url: string, range?: ByteRange): Promise<Readable> {
    const { client } = this.ready();
    const { bucket, key } = this.ref(url);
    if (range && (range.start < 0 || range.end < range.start)) throw new StoreError(DRIVER, `bad range ${range.start}-${range.end}`);
    try {
      const res = await client.send(new aws.GetObjectCommand({ Bucket: bucket, Key: key, Range: range ? `bytes=${range.start}-${range.end}` : undefined }));
      // In Node the body is the response itself (an IncomingMessage): it streams with backpressure.
      if (!(res.Body instanceof Readable)) throw new StoreError(DRIVER, `reading ${bucket}/${key}: the answer has no body stream`);
      return res.Body;
    } catch (err) {
      throw mapS3Error(err, `reading ${bucket}/${key}`);
    }
  }

  async size(url: string): Promise<number> {
    const { client } = this.ready();
    const { bucket, key } = this.ref(url);
    try {
      const res = await client.send(new aws.HeadObjectCommand({ Bucket: bucket, Key: key }));
      return res.ContentLength ?? 0;
    } catch (err) {
      throw mapS3Error(err, `looking up ${bucket}/${key}`);
    }
  }

  /** HEAD first: S3's DeleteObject succeeds on a missing key, and the contract wants BlobNotFound then. */
  async delete(url: string): Promise<void> {
    const { client } = this.ready();
    const { bucket, key } = this.ref(url);
    try {
      await client.send(new aws.HeadObjectCommand({ Bucket: bucket, Key: key }));
    } catch (err) {
      throw mapS3Error(err, `looking up ${bucket}/${key}`);
    }
    await this.deleteKey(bucket, key);
  }

  /** What Glance's GET /v2/info/stores/detail reports for an s3 store. */
  describe(): Record<string, unknown> {
    return {
      s3_store_large_object_size: this.options.s3_store_large_object_size,
      s3_store_large_object_chunk_size: this.options.s3_store_large_object_chunk_size,
      s3_store_thread_pools: this.options.s3_store_thread_pools,
    };
  }

  /** Closes the client's sockets (tests, shutdown). */
  close(): void {
    this.client?.destroy();
  }
}

/** The marker naming an attempt's multipart upload (see S3Store). */
export function markerKey(key: string, attempt: string): string {
  return `${MARKER_PREFIX}/${key}/${attempt}`;
}

function checkName(value: string, what: string): string {
  if (!NAME.test(value) || value.startsWith('.')) throw new StoreError(DRIVER, `invalid object ${what} '${value}'`);
  return value;
}

/** A location for a message, without glance_store's `key:secret@`. */
