/**
 * Image data from a browser: a File or Blob sent with XMLHttpRequest, which streams it from disk
 * (never read whole into memory) and, unlike fetch, reports upload progress. For pages only (it
 * needs the DOM's XMLHttpRequest): compiled by web/tsconfig.json, not by the Node build.
 */
import type { ApiClient, ProgressCallback } from './api.js';
import { apiError } from './errors.js';

export interface BlobUploadOptions {
  /** Called as bytes are sent (total = the blob's size). */
  onProgress?: ProgressCallback;
  /** Multi-store: the store to write to (X-Image-Meta-Store). */
  store?: string;
  /** Aborts the upload; the call then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** PUTs a blob to an image's data (`file`, as PUT /file) or staging area (`stage`, for glance-direct). */
export async function uploadBlob(client: ApiClient, id: string, blob: Blob, target: 'file' | 'stage', opts: BlobUploadOptions = {}): Promise<void> {
  opts.signal?.throwIfAborted();
  const route = target === 'file' ? 'PUT /v2/images/{id}/file' : 'PUT /v2/images/{id}/stage';
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
  if (opts.store) headers['x-image-meta-store'] = opts.store;
  const req = await client.prepare(route, { params: { id }, headers });
  await new Promise<void>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(req.method, req.url);
    for (const [k, v] of Object.entries(req.headers)) if (k !== 'user-agent') xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => opts.onProgress?.(e.loaded, blob.size);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else reject(apiError(xhr.status, xhr.responseText, req.method, req.url, xhr.getResponseHeader('x-openstack-request-id')));
    };
    xhr.onerror = () => reject(new Error(`the upload to ${req.url} failed: the connection was lost`));
    const abort = () => xhr.abort();
    xhr.onabort = () => reject(opts.signal?.reason ?? new Error('the upload was cancelled'));
    opts.signal?.addEventListener('abort', abort, { once: true });
    xhr.onloadend = () => opts.signal?.removeEventListener('abort', abort);
    xhr.send(blob);
  });
}
