/**
 * ImageClient: the Image API client for Node.js — everything of ApiClient (api.ts) plus image data
 * as Node streams (upload from a stream, buffer or file, download as a stream, both with
 * progress) and the usual OpenStack ways to configure it (clouds.yaml, OS_* variables, Keystone),
 * TLS settings included: Keystone and the Image API are called through one fetch that carries them
 * (tls-fetch.ts).
 */
import fs from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { ApiClient, ImagesApi, type ApiClientOptions, type ProgressCallback } from './api.js';
import { sessionFor, staticSession, type Session } from './auth.js';
import { loadCloudConfig, type CloudConfig, type LoadCloudOptions } from './config.js';
import { tlsFetch, type TlsOptions } from './tls-fetch.js';

export { SDK_ROUTES, type ProgressCallback, type SdkRoute } from './api.js';

export interface UploadOptions {
  /** Called as bytes are sent. */
  onProgress?: ProgressCallback;
  /** The size, for progress (known for a Buffer or a file path). */
  size?: number;
  /** Multi-store: the store to write to (X-Image-Meta-Store). */
  store?: string;
  /** Cancels the upload (the call rejects with the signal's reason; the image keeps no partial data). */
  signal?: AbortSignal;
}

/** Image data to send: a stream, the bytes, or the path of a file. */
export type DataSource = Readable | Buffer | Uint8Array | { path: string };

export interface Download {
  /** The bytes (progress reported as they are read). */
  stream: Readable;
  /** Content-Length (of the range, for a range), null when not sent. */
  size: number | null;
  /** The MD5 checksum the API sent (Content-MD5). */
  checksum: string | null;
}

export interface ImageClientOptions extends ApiClientOptions {
  /** TLS settings (CA file, verify off, client certificate); those of the cloud's configuration when made from one. Ignored with `fetch`. */
  tls?: TlsOptions;
}

export type { TlsOptions } from './tls-fetch.js';

function counting(onProgress: ProgressCallback | undefined, total: number | null): Transform {
  let moved = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      moved += chunk.length;
      onProgress?.(moved, total);
      done(null, chunk);
    },
  });
}

/** A data source as a stream, with progress counted, and its size if known. */
function bodyOf(data: DataSource, opts: UploadOptions): { stream: ReadableStream<Uint8Array>; size: number | null } {
  let source: Readable;
  let size = opts.size ?? null;
  if (data instanceof Readable) source = data;
  else if (data instanceof Uint8Array) {
    source = Readable.from([data]);
    size ??= data.length;
  } else {
    size ??= fs.statSync(data.path).size;
    source = fs.createReadStream(data.path);
  }
  const counted = source.pipe(counting(opts.onProgress, size));
  source.on('error', (err) => counted.destroy(err));
  return { stream: Readable.toWeb(counted) as unknown as ReadableStream<Uint8Array>, size };
}

/** The images API with image data as Node streams. */
export class ImageDataApi extends ImagesApi {
  /** Uploads the image's data (PUT /file), streamed. */
  upload(id: string, data: DataSource, opts: UploadOptions = {}): Promise<void> {
    const { stream } = bodyOf(data, opts);
    return this.c.send('PUT /v2/images/{id}/file', { params: { id }, body: stream, headers: opts.store ? { 'x-image-meta-store': opts.store } : {}, signal: opts.signal });
  }

  /** Downloads the image's data as a stream (a byte range with `range`, e.g. "bytes=0-99"); null when the image has none. */
  async download(id: string, opts: { onProgress?: ProgressCallback; range?: string; signal?: AbortSignal } = {}): Promise<Download | null> {
    const res = await this.c.call('GET /v2/images/{id}/file', { params: { id }, headers: opts.range ? { range: opts.range } : {}, signal: opts.signal });
    if (res.status === 204 || !res.body) return null;
    const length = res.headers.get('content-length');
    const size = length === null ? null : Number(length);
    const source = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
    const stream = source.pipe(counting(opts.onProgress, size));
    source.on('error', (err) => stream.destroy(err));
    return { stream, size, checksum: res.headers.get('content-md5') };
  }

  /** Stages data for the glance-direct import (PUT /stage), streamed. */
  stage(id: string, data: DataSource, opts: UploadOptions = {}): Promise<void> {
    const { stream } = bodyOf(data, opts);
    return this.c.send('PUT /v2/images/{id}/stage', { params: { id }, body: stream, signal: opts.signal });
  }

}

/** The fetch a client calls with: the caller's, or one carrying the TLS settings (and its close). */
function transport(options: ImageClientOptions): { fetch: typeof fetch; close(): Promise<void> } {
  return options.fetch ? { fetch: options.fetch, close: async () => undefined } : tlsFetch(options.tls);
}

export class ImageClient extends ApiClient {
  override readonly images: ImageDataApi = new ImageDataApi(this);
  #close: () => Promise<void>;

  constructor(session: Session, options: ImageClientOptions = {}) {
    const { fetch, close } = transport(options);
    super(session, { ...options, fetch });
    this.#close = close;
  }

  /** Closes the connections of the client's TLS settings (a client without them has none of its own). */
  close(): Promise<void> {
    return this.#close();
  }

  /** A client for the cloud of clouds.yaml (OS_CLOUD or `cloud`) or of the OS_* variables. */
  static fromEnvironment(opts: LoadCloudOptions & ImageClientOptions = {}): ImageClient {
    return ImageClient.fromConfig(loadCloudConfig(opts), opts);
  }

  /** A client for explicit settings (Keystone, or a token and an endpoint; TLS settings for both). */
  static fromConfig(cfg: CloudConfig, options: ImageClientOptions = {}): ImageClient {
    const tls: TlsOptions = { cacert: cfg.cacert, insecure: cfg.insecure, cert: cfg.cert, key: cfg.key, ...options.tls };
    const own = transport({ ...options, tls });
    const session = sessionFor(cfg, { fetch: own.fetch });
    const client = new ImageClient(session, { ...options, fetch: own.fetch });
    client.#close = own.close;
    return client;
  }

  /** A client that sends this token to this endpoint, no Keystone involved. */
  static withToken(endpoint: string, token: string, options: ImageClientOptions = {}): ImageClient {
    return new ImageClient(staticSession(token, endpoint), options);
  }
}
