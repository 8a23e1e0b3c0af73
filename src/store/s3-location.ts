/**
 * S3 location URLs and endpoints: what a location records (`s3+https://host/bucket/key`), how
 * Glance's older forms with credentials are still read, and how `s3_store_host` becomes the
 * endpoint the SDK talks to.
 */

/** The schemes glance_store's s3 driver writes and reads (`s3` = plain http, Glance's default). */
export const S3_SCHEMES = ['s3', 's3+http', 's3+https'] as const;

/** Where an object lives, as a location URL names it. */
export interface S3ObjectRef {
  /** `host[:port][/path]` as written in the URL, credentials removed. */
  host: string;
  bucket: string;
  key: string;
}

/** The configured endpoint: what locations are written with and what the SDK connects to. */
export interface S3Endpoint {
  /** `http:` or `https:`. */
  protocol: 'http:' | 'https:';
  /** `host[:port][/path]`, lower-cased host, no trailing slash. */
  host: string;
  /** The URL the SDK is given (`https://host:port/path`). */
  url: string;
}

/**
 * Reads `s3_store_host`. A host without a scheme is plain http, as in glance_store (it prefixes
 * `http://`), so a configuration that worked with Glance reaches the same endpoint here.
 */
export function parseEndpoint(s3Host: string): S3Endpoint {
  const trimmed = s3Host.trim().replace(/\/+$/, '');
  const m = /^(https?):\/\/(.+)$/i.exec(trimmed);
  const protocol = m ? (`${m[1]!.toLowerCase()}:` as 'http:' | 'https:') : 'http:';
  const host = normaliseHost(m ? m[2]! : trimmed);
  if (!host || /[@\s?#]/.test(host)) throw new Error(`s3_store_host '${s3Host}' is not a host (e.g. https://s3.example.com or rgw:8080)`);
  return { protocol, host, url: `${protocol}//${host}` };
}

/** Lower-cases the host part and drops a default port, so `Host:80` and `host` compare equal. */
function normaliseHost(hostAndPath: string): string {
  const slash = hostAndPath.indexOf('/');
  const authority = (slash < 0 ? hostAndPath : hostAndPath.slice(0, slash)).toLowerCase().replace(/:(80|443)$/, '');
  const rest = slash < 0 ? '' : hostAndPath.slice(slash).replace(/\/+$/, '');
  return authority + rest;
}

/** The location URL of a new object: never with credentials (an access key with a colon would break it, and URLs are shown to users). */
export function formatLocation(endpoint: S3Endpoint, bucket: string, key: string): string {
  const scheme = endpoint.protocol === 'https:' ? 's3+https' : 's3+http';
  return `${scheme}://${endpoint.host}/${bucket}/${key}`;
}

/**
 * Parses a location URL, also glance_store's `s3://ACCESS:SECRET@host/bucket/key`: the userinfo
 * is dropped unread (it can hold `/` and `:`, which is why this is not `new URL`), the last path
 * segment is the key, the one before the bucket, everything before them the host.
 * Undefined if the URL is not an s3 location.
 */
export function parseLocation(url: string): S3ObjectRef | undefined {
  const m = /^([a-z0-9+]+):\/\/(.*)$/i.exec(url);
  if (!m || !(S3_SCHEMES as readonly string[]).includes(m[1]!.toLowerCase())) return undefined;
  let rest = m[2]!;
  // A second scheme (`s3://k:s@https://host/…`) is a malformed legacy URL, refused as glance_store does.
  if (rest.includes('://')) return undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) rest = rest.slice(at + 1);
  const parts = rest.split('/').filter((p) => p !== '');
  if (parts.length < 3) return undefined;
  const key = parts.pop()!;
  const bucket = parts.pop()!;
  return { host: normaliseHost(parts.join('/')), bucket, key };
}

/** Whether `s3_store_host` names Amazon's S3 (for `bucket_url_format = auto`). */
export function isAmazonHost(endpoint: S3Endpoint): boolean {
  const hostname = endpoint.host.split('/')[0]!.replace(/:\d+$/, '');
  return /(^|\.)amazonaws\.com(\.cn)?$/.test(hostname);
}

/**
 * The region for SigV4: the configured one, else the one an Amazon host names
 * (`s3.eu-west-1.amazonaws.com`, `s3-eu-west-1.amazonaws.com`), else us-east-1.
 */
export function regionFor(configured: string, endpoint: S3Endpoint): string {
  if (configured.trim()) return configured.trim();
  const m = /(?:^|\.)s3[.-]([a-z0-9-]+)\.amazonaws\.com(\.cn)?(?::\d+)?(?:\/|$)/.exec(endpoint.host);
  if (m && m[1] !== 'external-1') return m[1]!;
  return 'us-east-1';
}

/** Bucket names that can be a DNS label (required for virtual-hosted addressing). */
export function isDnsCompatibleBucket(bucket: string): boolean {
  return /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) && !bucket.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(bucket);
}
