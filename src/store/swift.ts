import fs from 'node:fs';
import type { Readable } from 'node:stream';
import type { StoreOptions } from '../config/store-options.js';
import {
  BlobNotFound,
  StoreError,
  type BlobStore,
  type BlobWriter,
  type ByteRange,
  type ListedObject,
  type ObjectListing,
  type StoreCapabilities,
  type StoredObject,
  type WriteTarget,
} from './blob-store.js';
import { shownUrl } from './shown-url.js';
import type { StoreEnv } from './store-env.js';
import { keystoneInterface, loadCredentials, SwiftAuth, type SwiftCredentials } from './swift-auth.js';
import { objectPath, statusError, SwiftClient } from './swift-client.js';
import { SwiftHttp } from './swift-http.js';
import { locationBase, locationUrl, parseLocation, type SwiftObjectRef } from './swift-location.js';
import { SwiftReadStream } from './swift-reader.js';
import { SwiftWriter, type Segment } from './swift-writer.js';

const DRIVER = 'swift';
const MB = 1024 * 1024;
/** Swift's default limit of segments in one static large object manifest. */
const MAX_SEGMENTS = 1000;
/** With an unknown size, segments double in size after every this many (up to the single-object limit). */
const GROW_EVERY = 100;
/** Metadata naming the write attempt that committed an object, so discardWrite removes only its own. */
const ATTEMPT_HEADER = 'X-Object-Meta-Ocellus-Attempt';
/** Deletes of old segments run this many at once. */
const DELETE_CONCURRENCY = 8;

/** What is at an object name, as far as deleting it and its segments goes. */
type Existing =
  | { kind: 'none' }
  | { kind: 'plain'; attempt: string | undefined }
  | { kind: 'slo'; attempt: string | undefined; segments: SwiftObjectRef[] }
  | { kind: 'dlo'; attempt: string | undefined; container: string; prefix: string };

/**
 * The Swift store (Glance's `swift` store), over Swift's HTTP API with tempauth v1 or Keystone v3.
 *
 * How "bytes invisible until commit" is met: every write uploads its bytes as segment objects
 * named `<key>/<attempt>/00000001…` in the image's container, and `commit()` is one PUT of a
 * static large object (SLO) manifest at `<key>` listing them (an empty image: an empty object).
 * Swift makes that PUT atomic, readers of `<key>` see the old object or the new one, and nothing
 * before. The alternatives cost more: a direct PUT of `<key>` would show the bytes before commit,
 * and writing `<key>` under a temporary name then COPYing it at commit copies every byte a second
 * time inside Swift (a 10 GiB image = 10 GiB more of disk writes at commit, which then takes
 * minutes), while a manifest PUT costs one HEAD per segment. So images up to
 * swift_store_large_object_size are one streaming segment (chunked PUT) plus the manifest;
 * larger ones are segments of swift_store_large_object_chunk_size, raised so that the size the
 * client announced fits in 1000 segments (Swift's manifest limit) and, when the size is unknown,
 * doubled every 100 segments.
 *
 * Replacing an object (commit over an existing one) deletes the old manifest's segments after the
 * new manifest is in place; deleting an object deletes its segments too (SLO
 * `multipart-manifest=delete`; for Glance's DLO images, the manifest and its prefix). A read
 * already streaming the old object when it is replaced or deleted breaks (Glance's stores behave
 * alike). Segments of a cancelled or failed write are deleted by listing its attempt's prefix.
 */
export class SwiftStore implements BlobStore {
  readonly type = DRIVER;
  readonly capabilities: StoreCapabilities = { write: true, rangedReads: true, multipart: true };
  private creds: SwiftCredentials | undefined;
  private http: SwiftHttp | undefined;
  private clientValue: SwiftClient | undefined;
  private base = '';
  private readonly knownContainers = new Set<string>();
  private readonly largeObjectSize: number;
  private readonly chunkSize: number;

  constructor(
    private readonly options: StoreOptions<'swift'>,
    private readonly env: StoreEnv,
  ) {
    this.largeObjectSize = options.swift_store_large_object_size * MB;
    this.chunkSize = Math.min(options.swift_store_large_object_chunk_size * MB, this.largeObjectSize);
  }

  /** Reads the credentials (and CA bundle) and checks the options; contacts nobody. */
  async init(): Promise<void> {
    const o = this.options;
    this.creds = await loadCredentials(o);
    try {
      new URL(this.creds.authAddress);
    } catch {
      throw new StoreError(DRIVER, `auth address '${this.creds.authAddress}' is not a URL`);
    }
    if (o.swift_store_endpoint) {
      try {
        new URL(o.swift_store_endpoint);
      } catch {
        throw new StoreError(DRIVER, `swift_store_endpoint '${o.swift_store_endpoint}' is not a URL`);
      }
    }
    let ca: Buffer | undefined;
    if (o.swift_store_cacert) {
      try {
        ca = await fs.promises.readFile(o.swift_store_cacert);
      } catch (err) {
        throw new StoreError(DRIVER, `cannot read swift_store_cacert ${o.swift_store_cacert}: ${(err as Error).message}`, { cause: err });
      }
    }
    this.http = new SwiftHttp({ insecure: o.swift_store_auth_insecure, ca });
    const auth = new SwiftAuth(
      this.http,
      this.creds,
      { serviceType: o.swift_store_service_type, interface: keystoneInterface(o.swift_store_endpoint_type), region: o.swift_store_region },
      o.swift_store_endpoint,
      o.swift_store_expire_soon_interval * 1000,
    );
    this.clientValue = new SwiftClient(this.http, auth);
    this.base = locationBase(this.creds.reference, this.creds.authAddress);
  }

  /** Closes kept-alive connections (tests, shutdown). */
  close(): void {
    this.http?.close();
  }

  private get client(): SwiftClient {
    if (!this.clientValue) throw new StoreError(DRIVER, 'used before init()');
    return this.clientValue;
  }

  describe(): Record<string, unknown> {
    return {
      container: this.options.swift_store_container,
      large_object_size: this.options.swift_store_large_object_size,
      large_object_chunk_size: this.options.swift_store_large_object_chunk_size,
    };
  }

  // --- names -------------------------------------------------------------------------------

  /**
   * The container of an image: `<container>[_<project>][_<seed>]`. The seed suffix is Glance's:
   * the first N characters of the lower-cased image id, dashes not counted (seed 3 → `glance_3a1`),
   * so both services put an image in the same container.
   */
  containerFor(target: Pick<WriteTarget, 'key' | 'project'>): string {
    const o = this.options;
    let c = o.swift_store_container;
    if (o.swift_store_multi_tenant && target.project) c = `${c}_${target.project}`;
    const seed = o.swift_store_multiple_containers_seed;
    if (seed > 0) {
      const id = target.key.toLowerCase();
      const dashes = id.slice(0, seed).split('-').length - 1;
      c = `${c}_${id.slice(0, seed + dashes)}`;
    }
    return c;
  }

  /** Whether a container is one this store writes to (its own, or a per-project/seeded one). */
  private isOurContainer(container: string): boolean {
    const c = this.options.swift_store_container;
    const spread = this.options.swift_store_multi_tenant || this.options.swift_store_multiple_containers_seed > 0;
    return container === c || (spread && container.startsWith(`${c}_`));
  }

  owns(url: string): boolean {
    return this.base !== '' && parseLocation(url, this.base, (c) => this.isOurContainer(c)) !== undefined;
  }

  /**
   * The objects of this store's containers (its own, and with multi-tenant or seeded containers
   * every `<container>_…` of the account); a name with a `/` is a segment, not an object.
   */
  readonly listing: ObjectListing = {
    list: () => this.listContainers(),
    nameOf: (url) => {
      const ref = this.base === '' ? undefined : parseLocation(url, this.base, (c) => this.isOurContainer(c));
      return ref && `${ref.container}/${ref.name}`;
    },
  };

  private async *listContainers(): AsyncIterable<ListedObject> {
    const own = this.options.swift_store_container;
    for await (const c of this.client.listEntries('', own)) {
      const container = c.name;
      if (container === undefined || !this.isOurContainer(container)) continue;
      for await (const o of this.client.listEntries(objectPath(container), '')) {
        const name = o.name;
        if (name === undefined || name.includes('/')) continue;
        // Swift's last_modified is UTC without a zone: 2026-01-02T03:04:05.678900.
        const modified = o.last_modified ? Date.parse(`${o.last_modified.replace(/Z$/, '')}Z`) : Number.NaN;
        yield {
          name: `${container}/${name}`,
          url: locationUrl(this.base, { container, name }),
          key: name,
          size: o.bytes ?? 0,
          modifiedAt: Number.isNaN(modified) ? Date.now() : modified,
        };
      }
    }
  }

  private locate(url: string): SwiftObjectRef {
    const ref = parseLocation(url, this.base, (c) => this.isOurContainer(c));
    if (!ref) throw new StoreError(DRIVER, `not a location of this store: ${shownUrl(url)}`);
    return ref;
  }

  /** `<key>/<attempt>/`: the names of one write's segments. */
  private segmentPrefix(target: Pick<WriteTarget, 'key' | 'attempt'>): string {
    return `${target.key}/${encodeURIComponent(target.attempt)}/`;
  }

  private checkTarget(target: WriteTarget): void {
    if (!target.key || target.key.includes('/') || target.key === '.' || target.key === '..') throw new StoreError(DRIVER, `invalid object key '${target.key}'`);
    if (!target.attempt) throw new StoreError(DRIVER, 'a write needs an attempt id');
  }

  /** Size of segment `index` of a write (see the class comment). */
  private segmentSizer(sizeHint: number | null, clusterMax: number | undefined): (index: number) => number {
    // No segment bigger than the cluster takes as one object (a 413 would read as "store full").
    const largest = Math.min(this.largeObjectSize, clusterMax ?? Infinity);
    const chunk = Math.min(this.chunkSize, largest);
    if (sizeHint !== null && sizeHint <= largest) return () => largest;
    if (sizeHint !== null) {
      const fit = Math.ceil(sizeHint / MAX_SEGMENTS / MB) * MB;
      const size = Math.min(Math.max(chunk, fit), largest);
      return () => size;
    }
    return (index) => Math.min(chunk * 2 ** Math.floor(index / GROW_EVERY), largest);
  }

  // --- writing -----------------------------------------------------------------------------

  /** Makes sure the container exists (creating it when allowed); remembered once seen. */
  private async ensureContainer(container: string): Promise<void> {
    if (this.knownContainers.has(container)) return;
    const head = await this.client.call('HEAD', objectPath(container));
    if (head.status === 404) {
      if (!this.options.swift_store_create_container_on_put) {
        throw new StoreError(DRIVER, `container '${container}' does not exist (create it, or set swift_store_create_container_on_put = True)`);
      }
      const put = await this.client.call('PUT', objectPath(container), { headers: { 'Content-Length': '0' } });
      if (put.status !== 201 && put.status !== 202) throw statusError(put.status, `container ${container}`, 'write', put.body.toString());
    } else if (head.status < 200 || head.status > 299) {
      throw statusError(head.status, `container ${container}`, 'write', head.body.toString());
    }
    this.knownContainers.add(container);
  }

  async createWriter(target: WriteTarget): Promise<BlobWriter> {
    this.checkTarget(target);
    const container = this.containerFor(target);
    await this.ensureContainer(container);
    const prefix = this.segmentPrefix(target);
    return new SwiftWriter({
      client: this.client,
      container,
      segmentPrefix: prefix,
      segmentSize: this.segmentSizer(target.sizeHint, await this.client.maxObjectSize()),
      commit: (segments) => this.commitSegments(container, target, segments),
      discard: () => this.deletePrefix(container, prefix),
    });
  }

  private async commitSegments(container: string, target: WriteTarget, segments: Segment[]): Promise<StoredObject> {
    const ref = { container, name: target.key };
    const what = `${container}/${target.key}`;
    const old = await this.inspect(ref);
    const headers = { 'Content-Type': 'application/octet-stream', [ATTEMPT_HEADER]: encodeURIComponent(target.attempt) };
    const res =
      segments.length === 0
        ? await this.client.call('PUT', objectPath(container, target.key), { headers, body: Buffer.alloc(0) })
        : await this.client.call('PUT', objectPath(container, target.key), {
            query: { 'multipart-manifest': 'put' },
            headers: { ...headers, 'Content-Type': 'application/octet-stream' },
            body: JSON.stringify(segments.map((s) => ({ path: `/${container}/${s.name}`, etag: s.etag, size_bytes: s.size }))),
          });
    if (res.status !== 201) throw statusError(res.status, what, 'write', res.body.toString());
    // The old object's segments are nobody's now (unless a segment is shared, which ours never are).
    const keep = new Set(segments.map((s) => `${container}/${s.name}`));
    await this.deleteSegmentsOf(old, keep).catch((err: unknown) => this.env.log(`swift store: removing the segments of the replaced ${what} failed; they stay as garbage`, err));
    return { url: locationUrl(this.base, ref), metadata: {} };
  }

  /** What is at `ref`: nothing, a plain object, or a large object and where its segments are. */
  private async inspect(ref: SwiftObjectRef): Promise<Existing> {
    const what = `${ref.container}/${ref.name}`;
    const head = await this.client.call('HEAD', objectPath(ref.container, ref.name), { query: { 'multipart-manifest': 'get' } });
    if (head.status === 404) return { kind: 'none' };
    if (head.status !== 200) throw statusError(head.status, what, 'read');
    const h = (n: string) => {
      const v = head.headers[n];
      return Array.isArray(v) ? v[0] : v;
    };
    const raw = h(ATTEMPT_HEADER.toLowerCase());
    const attempt = raw === undefined ? undefined : safeDecode(raw);
    if ((h('x-static-large-object') ?? '').toLowerCase() === 'true') {
      const get = await this.client.call('GET', objectPath(ref.container, ref.name), { query: { 'multipart-manifest': 'get' }, headers: { Accept: 'application/json' } });
      if (get.status === 404) return { kind: 'none' };
      if (get.status !== 200) throw statusError(get.status, what, 'read');
      const entries = JSON.parse(get.body.toString('utf8')) as { name: string }[];
      const segments = entries.map((e) => {
        const p = e.name.replace(/^\//, '');
        const slash = p.indexOf('/');
        return { container: p.slice(0, slash), name: p.slice(slash + 1) };
      });
      return { kind: 'slo', attempt, segments };
    }
    const manifest = h('x-object-manifest');
    if (manifest) {
      const m = safeDecode(manifest);
      const slash = m.indexOf('/');
      return { kind: 'dlo', attempt, container: m.slice(0, slash), prefix: m.slice(slash + 1) };
    }
    return { kind: 'plain', attempt };
  }

  /** Deletes the segments of a large object (not the object), except those in `keep` (`container/name`). */
  private async deleteSegmentsOf(obj: Existing, keep: ReadonlySet<string> = new Set()): Promise<void> {
    let refs: SwiftObjectRef[] = [];
    if (obj.kind === 'slo') refs = obj.segments;
    if (obj.kind === 'dlo' && obj.prefix) refs = (await this.client.list(obj.container, obj.prefix)).map((name) => ({ container: obj.container, name }));
    await this.deleteAll(refs.filter((r) => !keep.has(`${r.container}/${r.name}`)));
  }

  private async deleteAll(refs: SwiftObjectRef[]): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < refs.length) {
        const r = refs[next++]!;
        const res = await this.client.call('DELETE', objectPath(r.container, r.name));
        if (res.status !== 204 && res.status !== 200 && res.status !== 404) throw statusError(res.status, `${r.container}/${r.name}`, 'write', res.body.toString());
      }
    };
    await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, refs.length) }, worker));
  }

  private async deletePrefix(container: string, prefix: string): Promise<void> {
    const names = await this.client.list(container, prefix);
    await this.deleteAll(names.map((name) => ({ container, name })));
  }

  async discardWrite(target: WriteTarget, opts: { committed: boolean }): Promise<void> {
    this.checkTarget(target);
    const container = this.containerFor(target);
    const ref = { container, name: target.key };
    const obj = await this.inspect(ref);
    const ours = obj.kind !== 'none' && obj.attempt === target.attempt;
    if (ours && !opts.committed) {
      // The attempt did commit: its segments are the object's bytes now, not partial data.
      return;
    }
    if (ours) await this.deleteObject(ref, obj);
    await this.deletePrefix(container, this.segmentPrefix(target));
  }

  // --- reading and deleting ----------------------------------------------------------------

  async read(url: string, range?: ByteRange): Promise<Readable> {
    const ref = this.locate(url);
    const what = `${ref.container}/${ref.name}`;
    const path = objectPath(ref.container, ref.name);
    const headers: Record<string, string> = {};
    if (range) {
      if (range.start < 0 || range.end < range.start) throw new StoreError(DRIVER, `invalid range ${range.start}-${range.end}`);
      headers.Range = `bytes=${range.start}-${range.end}`;
    }
    const first = await this.client.get(path, headers, what);
    if (range && first.statusCode === 200) {
      first.resume();
      // Swift ignores a Range on an empty object and answers 200 with no body: no byte to start at.
      if (Number(first.headers['content-length']) === 0) throw statusError(416, what, 'read');
      throw new StoreError(DRIVER, `${what}: Swift ignored the range ${range.start}-${range.end}`);
    }
    const reopen = (from: number, end: number, etag: string | undefined) =>
      this.client.get(path, { Range: `bytes=${from}-${end}`, ...(etag ? { 'If-Match': etag } : {}) }, what);
    return new SwiftReadStream(first, range?.start ?? 0, reopen, this.options.swift_store_retry_get_count, what);
  }

  async size(url: string): Promise<number> {
    const ref = this.locate(url);
    const res = await this.client.call('HEAD', objectPath(ref.container, ref.name));
    if (res.status !== 200) throw statusError(res.status, `${ref.container}/${ref.name}`, 'read');
    return Number(res.headers['content-length']);
  }

  async delete(url: string): Promise<void> {
    const ref = this.locate(url);
    const obj = await this.inspect(ref);
    if (obj.kind === 'none') throw new BlobNotFound(DRIVER, `no object ${ref.container}/${ref.name}`);
    await this.deleteObject(ref, obj);
  }

  private async deleteObject(ref: SwiftObjectRef, obj: Exclude<Existing, { kind: 'none' }>): Promise<void> {
    const what = `${ref.container}/${ref.name}`;
    if (obj.kind === 'slo') {
      const res = await this.client.call('DELETE', objectPath(ref.container, ref.name), { query: { 'multipart-manifest': 'delete' }, headers: { Accept: 'application/json' } });
      if (res.status === 404) throw new BlobNotFound(DRIVER, `no object ${what}`);
      if (res.status !== 200) throw statusError(res.status, what, 'write', res.body.toString());
      const report = JSON.parse(res.body.toString('utf8')) as { 'Response Status'?: string; Errors?: unknown[] };
      const status = Number((report['Response Status'] ?? '200').split(' ')[0]);
      if (status === 404) throw new BlobNotFound(DRIVER, `no object ${what}`);
      if (status >= 300 || (report.Errors?.length ?? 0) > 0) throw statusError(status >= 300 ? status : 500, what, 'write', JSON.stringify(report.Errors));
      return;
    }
    const res = await this.client.call('DELETE', objectPath(ref.container, ref.name));
    if (res.status === 404) throw new BlobNotFound(DRIVER, `no object ${what}`);
    if (res.status !== 204 && res.status !== 200) throw statusError(res.status, what, 'write', res.body.toString());
    if (obj.kind === 'dlo') await this.deleteSegmentsOf(obj);
  }

  // --- for tests and operators -------------------------------------------------------------

  /** Every object name (segments included) in the containers this store has written to, as `container/name`. */
  async listObjects(containers: Iterable<string> = this.knownContainers): Promise<string[]> {
    const out: string[] = [];
    for (const c of containers) for (const name of await this.client.list(c, '')) out.push(`${c}/${name}`);
    return out;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A URL for messages, without any userinfo a legacy location may carry. */
