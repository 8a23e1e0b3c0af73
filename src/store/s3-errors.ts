/**
 * How S3's answers become the typed store errors of blob-store.ts. S3 names its errors by code
 * (`NoSuchKey`, `AccessDenied`, …); HEAD answers have no body, so only the status tells there.
 */
import { aws } from './s3-sdk.js';
import { BlobNotFound, InvalidRange, StoreError, StoreFull, StoreUnavailable, StoreWriteDenied } from './blob-store.js';

const DRIVER = 's3';

/** Network failures: the endpoint cannot be reached or dropped the connection. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED']);
/** Codes by which S3 and its imitations (Swift s3api, Ceph RGW, MinIO) say "out of room". */
const FULL_CODES = new Set(['EntityTooLarge', 'QuotaExceeded', 'XMinioStorageFull', 'XMinioAdminBucketQuotaExceeded', 'InsufficientCapacity']);
/** Credentials are wrong: the store is unusable until an operator fixes them, whatever the operation. */
const CREDENTIAL_CODES = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'AuthorizationHeaderMalformed']);

export function s3Code(err: unknown): string | undefined {
  return err instanceof aws.S3ServiceException ? err.name : undefined;
}

export function s3Status(err: unknown): number | undefined {
  return err instanceof aws.S3ServiceException ? err.$metadata?.httpStatusCode : undefined;
}

/** Whether the error says the object (or its bucket) is not there. */
export function isNotFound(err: unknown): boolean {
  const code = s3Code(err);
  return code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchBucket' || (err instanceof aws.S3ServiceException && s3Status(err) === 404 && code !== 'NoSuchUpload');
}

function describe(err: unknown): string {
  if (err instanceof aws.S3ServiceException) {
    const status = s3Status(err);
    return `${err.name}${status ? ` (HTTP ${status})` : ''}: ${err.message}`;
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

/**
 * The store error for a failed S3 call. `what` says what was being done (`reading bucket/key`);
 * `writing` makes AccessDenied a refusal of the write rather than an unusable store.
 */
export function mapS3Error(err: unknown, what: string, opts: { writing?: boolean; bucket?: string } = {}): StoreError {
  if (err instanceof StoreError) return err;
  const code = s3Code(err);
  const status = s3Status(err);
  const detail = `${what}: ${describe(err)}`;
  if (code === 'NoSuchBucket' && opts.writing) {
    return new StoreError(DRIVER, `bucket '${opts.bucket ?? '?'}' does not exist (create it, or set s3_store_create_bucket_on_put = true): ${detail}`, { cause: err });
  }
  if (isNotFound(err)) return new BlobNotFound(DRIVER, detail, { cause: err });
  if (code === 'InvalidRange' || status === 416) return new InvalidRange(DRIVER, detail, { cause: err });
  if ((code && FULL_CODES.has(code)) || status === 507 || status === 413) return new StoreFull(DRIVER, detail, { cause: err });
  if (code && CREDENTIAL_CODES.has(code)) return new StoreUnavailable(DRIVER, detail, { cause: err });
  if (code === 'AccessDenied' || status === 403) {
    return opts.writing ? new StoreWriteDenied(DRIVER, detail, { cause: err }) : new StoreUnavailable(DRIVER, detail, { cause: err });
  }
  if (status !== undefined && status >= 500) return new StoreUnavailable(DRIVER, detail, { cause: err });
  if (code === 'SlowDown' || code === 'ServiceUnavailable' || code === 'InternalError' || code === 'RequestTimeout') {
    return new StoreUnavailable(DRIVER, detail, { cause: err });
  }
  const netCode = (err as NodeJS.ErrnoException | undefined)?.code;
  const name = (err as Error | undefined)?.name;
  if ((netCode && NETWORK_CODES.has(netCode)) || name === 'TimeoutError' || name === 'AbortError' || !(err instanceof aws.S3ServiceException)) {
    // Anything that is not an answer from S3 is a failure to talk to it (refused, reset, DNS, TLS, timeout).
    return new StoreUnavailable(DRIVER, detail, { cause: err });
  }
  return new StoreError(DRIVER, detail, { cause: err });
}
