/**
 * The Image API client that runs anywhere `fetch` does (Node.js and browsers): every call goes
 * through one of SDK_ROUTES, the method and path it uses in the OpenAPI document (checked by
 * test/sdk.test.ts); images (paged listing, JSON-patch updates, actions, import), members, tags,
 * tasks, stores and metadefs. Streams of image data are added by the Node client (client.ts) and,
 * in a browser, by browser-upload.ts. Imports nothing of Node's.
 */
import { apiError } from './errors.js';
import type { Image, ImportRequest, Member, MemberStatus, MetadefNamespace, MetadefObject, MetadefProperty, MetadefResourceType, MetadefTag, NewImage, PatchOperation, Store, Task } from './types.js';

/** Where calls go and what proves who makes them. */
export interface Session {
  /**
   * The image endpoint (without a trailing slash or /v2; relative in a browser, e.g. the console's
   * `/console/api`), the token to send as X-Auth-Token (none where a cookie proves the caller), and
   * any other headers every call carries.
   */
  current(): Promise<{ endpoint: string; token?: string; headers?: Record<string, string> }>;
  /** Forget the token (after a 401), so that the next call authenticates again. */
  invalidate(): void;
}

/** The API routes the SDK calls, as "METHOD /path/{param}" in the OpenAPI document. */
export const SDK_ROUTES = [
  'GET /v2/schemas/image',
  'GET /v2/images',
  'POST /v2/images',
  'GET /v2/images/{id}',
  'PATCH /v2/images/{id}',
  'DELETE /v2/images/{id}',
  'POST /v2/images/{id}/actions/deactivate',
  'POST /v2/images/{id}/actions/reactivate',
  'PUT /v2/images/{id}/tags/{tag}',
  'DELETE /v2/images/{id}/tags/{tag}',
  'PUT /v2/images/{id}/file',
  'GET /v2/images/{id}/file',
  'PUT /v2/images/{id}/stage',
  'POST /v2/images/{id}/import',
  'GET /v2/info/import',
  'GET /v2/images/{id}/tasks',
  'GET /v2/images/{id}/members',
  'POST /v2/images/{id}/members',
  'GET /v2/images/{id}/members/{member}',
  'PUT /v2/images/{id}/members/{member}',
  'DELETE /v2/images/{id}/members/{member}',
  'POST /v2/tasks',
  'GET /v2/tasks',
  'GET /v2/tasks/{id}',
  'GET /v2/info/stores',
  'GET /v2/info/stores/detail',
  'DELETE /v2/stores/{store}/{id}',
  'GET /v2/metadefs/namespaces',
  'POST /v2/metadefs/namespaces',
  'GET /v2/metadefs/namespaces/{ns}',
  'PUT /v2/metadefs/namespaces/{ns}',
  'DELETE /v2/metadefs/namespaces/{ns}',
  'GET /v2/metadefs/resource_types',
  'GET /v2/metadefs/namespaces/{ns}/objects',
  'POST /v2/metadefs/namespaces/{ns}/objects',
  'GET /v2/metadefs/namespaces/{ns}/properties',
  'POST /v2/metadefs/namespaces/{ns}/properties',
  'GET /v2/metadefs/namespaces/{ns}/tags',
  'POST /v2/metadefs/namespaces/{ns}/tags/{name}',
  'DELETE /v2/metadefs/namespaces/{ns}/tags/{name}',
] as const;
export type SdkRoute = (typeof SDK_ROUTES)[number];

/** Bytes moved so far, and the total when known. */
export type ProgressCallback = (transferred: number, total: number | null) => void;

export type Params = Record<string, string>;
export type Query = Record<string, string | number | boolean | string[] | undefined>;
/** A query: named values, pairs, or a query string (a page's `next`). */
export type QueryInput = Query | [string, string][] | string;

export interface CallOptions {
  params?: Params;
  query?: QueryInput;
  json?: unknown;
  contentType?: string;
  body?: ReadableStream<Uint8Array> | Uint8Array;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

function queryPairs(query: QueryInput | undefined): [string, string][] {
  if (!query) return [];
  if (typeof query === 'string') return [...new URLSearchParams(query)];
  if (Array.isArray(query)) return query;
  const pairs: [string, string][] = [];
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    for (const one of [v].flat()) pairs.push([k, String(one)]);
  }
  return pairs;
}

export interface ApiClientOptions {
  /** Sent as User-Agent (where the platform lets a caller set it). */
  userAgent?: string;
  /**
   * The fetch every call goes through (default: the global one): the Node client passes one that
   * carries its TLS settings (CA, client certificate, verify off).
   */
  fetch?: typeof fetch;
}

/** A request as it goes out: method, URL and headers (the body is the caller's). */
export interface PreparedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
}

export class ApiClient {
  readonly images: ImagesApi = new ImagesApi(this);
  readonly members = new MembersApi(this);
  readonly tasks = new TasksApi(this);
  readonly stores = new StoresApi(this);
  readonly metadefs = new MetadefsApi(this);

  constructor(
    protected readonly session: Session,
    protected readonly options: ApiClientOptions = {},
  ) {}

  /** The method, URL and headers of a call (for a transport of the caller's own, e.g. a browser's XMLHttpRequest). */
  async prepare(route: SdkRoute, opts: Pick<CallOptions, 'params' | 'query' | 'headers'> = {}): Promise<PreparedRequest> {
    const space = route.indexOf(' ');
    const method = route.slice(0, space);
    const path = route.slice(space + 1).replace(/\{(\w+)\}/g, (_m, name: string) => {
      const value = opts.params?.[name];
      if (value === undefined) throw new TypeError(`${route}: no value for {${name}}`);
      return encodeURIComponent(value);
    });
    const pairs = queryPairs(opts.query);
    const { token, endpoint, headers: sessionHeaders } = await this.session.current();
    const url = `${endpoint}${path}${pairs.length > 0 ? `?${new URLSearchParams(pairs).toString()}` : ''}`;
    const headers: Record<string, string> = { accept: 'application/json', ...sessionHeaders, ...opts.headers };
    if (token) headers['x-auth-token'] = token;
    if (this.options.userAgent) headers['user-agent'] = this.options.userAgent;
    return { method, url, headers };
  }

  /** Forgets the session's token after a 401 (the next call authenticates again). */
  invalidateSession(): void {
    this.session.invalidate();
  }

  /** One API call; a non-2xx answer is thrown as an ImageApiError (retried once after a 401 with a fresh token). */
  async call(route: SdkRoute, opts: CallOptions = {}): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const { method, url, headers } = await this.prepare(route, opts);
      let body: RequestInit['body'];
      if (opts.json !== undefined) {
        body = JSON.stringify(opts.json);
        headers['content-type'] = opts.contentType ?? 'application/json';
      } else if (opts.body !== undefined) {
        body = opts.body as RequestInit['body'];
        headers['content-type'] = opts.contentType ?? 'application/octet-stream';
      }
      const init: RequestInit & { duplex?: 'half' } = { method, headers, body, signal: opts.signal };
      if (body instanceof ReadableStream) init.duplex = 'half';
      // Called unbound: a browser's fetch refuses any `this` but the window.
      const send = this.options.fetch ?? fetch;
      const res = await send(url, init);
      if (res.ok) return res;
      const text = await res.text();
      // A streamed body cannot be sent twice; anything else is retried once with a new token.
      if (res.status === 401 && attempt === 0 && !(body instanceof ReadableStream)) {
        this.session.invalidate();
        continue;
      }
      throw apiError(res.status, text, method, url, res.headers.get('x-openstack-request-id'));
    }
  }

  /** A call whose answer is JSON. */
  async json<T>(route: SdkRoute, opts: CallOptions = {}): Promise<T> {
    const res = await this.call(route, opts);
    const text = await res.text();
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  /** A call whose answer has no body. */
  async send(route: SdkRoute, opts: CallOptions = {}): Promise<void> {
    const res = await this.call(route, opts);
    await res.body?.cancel();
  }

  /** Every item of a paged list: follows `next` until the last page. */
  async *paged<T>(route: SdkRoute, key: string, query: Query = {}): AsyncGenerator<T> {
    let next: QueryInput | null = query;
    while (next !== null) {
      const page: { items: T[]; next: string | null } = await this.page<T>(route, key, next);
      yield* page.items;
      next = page.next;
    }
  }

  /** One page of a list, and the query of the next page (null on the last). */
  async page<T>(route: SdkRoute, key: string, query: QueryInput = {}): Promise<{ items: T[]; next: string | null }> {
    const page = await this.json<Record<string, unknown>>(route, { query });
    const next = page.next;
    return { items: (page[key] ?? []) as T[], next: typeof next === 'string' ? next.slice(next.indexOf('?') + 1) : null };
  }
}

const PATCH_TYPE = 'application/openstack-images-v2.1-json-patch';

export class ImagesApi {
  constructor(protected readonly c: ApiClient) {}

  /** The image schema this server serves (GET /v2/schemas/image). */
  schema(): Promise<Record<string, unknown>> {
    return this.c.json('GET /v2/schemas/image');
  }

  /** The disk and container formats this server accepts, read from its image schema. */
  async formats(): Promise<{ disk: string[]; container: string[] }> {
    const properties = ((await this.schema()).properties ?? {}) as Record<string, { enum?: unknown[] }>;
    const choices = (name: string) => (properties[name]?.enum ?? []).filter((v): v is string => typeof v === 'string');
    return { disk: choices('disk_format'), container: choices('container_format') };
  }

  /** One page of images (`limit`, `marker`, filters, sorting; or a page's `next`) and the query of the next page. */
  async page(query: QueryInput = {}): Promise<{ images: Image[]; next: string | null }> {
    const { items, next } = await this.c.page<Image>('GET /v2/images', 'images', query);
    return { images: items, next };
  }

  /** Every image the filters select, page after page (`limit` is the page size). */
  list(filters: Query = {}): AsyncGenerator<Image> {
    return this.c.paged<Image>('GET /v2/images', 'images', filters);
  }

  get(id: string): Promise<Image> {
    return this.c.json('GET /v2/images/{id}', { params: { id } });
  }

  create(fields: NewImage): Promise<Image> {
    return this.c.json('POST /v2/images', { json: fields });
  }

  /** Applies JSON-patch operations. */
  update(id: string, ops: PatchOperation[]): Promise<Image> {
    return this.c.json('PATCH /v2/images/{id}', { params: { id }, json: ops, contentType: PATCH_TYPE });
  }

  /** Sets (replaces or adds) these properties, removes those given as null. */
  async setProperties(id: string, props: Record<string, unknown>): Promise<Image> {
    const current = await this.get(id);
    const ops: PatchOperation[] = Object.entries(props).map(([k, v]) =>
      v === null && k in current ? { op: 'remove', path: `/${k}` } : { op: k in current ? 'replace' : 'add', path: `/${k}`, value: v },
    );
    return this.update(id, ops);
  }

  delete(id: string): Promise<void> {
    return this.c.send('DELETE /v2/images/{id}', { params: { id } });
  }

  deactivate(id: string): Promise<void> {
    return this.c.send('POST /v2/images/{id}/actions/deactivate', { params: { id } });
  }

  reactivate(id: string): Promise<void> {
    return this.c.send('POST /v2/images/{id}/actions/reactivate', { params: { id } });
  }

  addTag(id: string, tag: string): Promise<void> {
    return this.c.send('PUT /v2/images/{id}/tags/{tag}', { params: { id, tag } });
  }

  removeTag(id: string, tag: string): Promise<void> {
    return this.c.send('DELETE /v2/images/{id}/tags/{tag}', { params: { id, tag } });
  }

  /** Starts an import (the API answers 202; follow the image's status or its tasks). */
  import(id: string, request: ImportRequest, opts: { store?: string } = {}): Promise<void> {
    return this.c.send('POST /v2/images/{id}/import', { params: { id }, json: request, headers: opts.store ? { 'x-image-meta-store': opts.store } : {} });
  }

  /** The import methods on offer. */
  async importMethods(): Promise<string[]> {
    const info = await this.c.json<{ 'import-methods': { value: string[] } }>('GET /v2/info/import');
    return info['import-methods'].value;
  }

  /** The image's import tasks. */
  async tasks(id: string): Promise<Task[]> {
    return (await this.c.json<{ tasks: Task[] }>('GET /v2/images/{id}/tasks', { params: { id } })).tasks;
  }

  /** Polls until the image's status is one of `statuses` (throws on a timeout, or on `killed` when not awaited). */
  async waitForStatus(id: string, statuses: Image['status'][], opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<Image> {
    const deadline = Date.now() + (opts.timeoutMs ?? 600_000);
    for (;;) {
      const image = await this.get(id);
      if (statuses.includes(image.status)) return image;
      if (image.status === 'killed') throw new Error(`image ${id} is killed`);
      if (Date.now() > deadline) throw new Error(`image ${id} still ${image.status} after ${opts.timeoutMs ?? 600_000} ms`);
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 1000));
    }
  }
}

export class MembersApi {
  constructor(protected readonly c: ApiClient) {}

  async list(imageId: string): Promise<Member[]> {
    return (await this.c.json<{ members: Member[] }>('GET /v2/images/{id}/members', { params: { id: imageId } })).members;
  }

  add(imageId: string, member: string): Promise<Member> {
    return this.c.json('POST /v2/images/{id}/members', { params: { id: imageId }, json: { member } });
  }

  get(imageId: string, member: string): Promise<Member> {
    return this.c.json('GET /v2/images/{id}/members/{member}', { params: { id: imageId, member } });
  }

  /** Accepts, rejects or leaves pending (as the member project). */
  setStatus(imageId: string, member: string, status: MemberStatus): Promise<Member> {
    return this.c.json('PUT /v2/images/{id}/members/{member}', { params: { id: imageId, member }, json: { status } });
  }

  remove(imageId: string, member: string): Promise<void> {
    return this.c.send('DELETE /v2/images/{id}/members/{member}', { params: { id: imageId, member } });
  }
}

export class TasksApi {
  constructor(protected readonly c: ApiClient) {}

  create(type: string, input: Record<string, unknown>): Promise<Task> {
    return this.c.json('POST /v2/tasks', { json: { type, input } });
  }

  list(filters: Query = {}): AsyncGenerator<Task> {
    return this.c.paged<Task>('GET /v2/tasks', 'tasks', filters);
  }

  get(id: string): Promise<Task> {
    return this.c.json('GET /v2/tasks/{id}', { params: { id } });
  }

  /** Polls until the task is success or failure. */
  async wait(id: string, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<Task> {
    const deadline = Date.now() + (opts.timeoutMs ?? 600_000);
    for (;;) {
      const task = await this.get(id);
      if (task.status === 'success' || task.status === 'failure') return task;
      if (Date.now() > deadline) throw new Error(`task ${id} still ${task.status}`);
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 1000));
    }
  }
}

export class StoresApi {
  constructor(protected readonly c: ApiClient) {}

  async list(): Promise<Store[]> {
    return (await this.c.json<{ stores: Store[] }>('GET /v2/info/stores')).stores;
  }

  /** The stores with their type and properties (admin). */
  async detail(): Promise<Store[]> {
    return (await this.c.json<{ stores: Store[] }>('GET /v2/info/stores/detail')).stores;
  }

  /** Deletes an image's data from one store. */
  deleteImageData(store: string, imageId: string): Promise<void> {
    return this.c.send('DELETE /v2/stores/{store}/{id}', { params: { store, id: imageId } });
  }
}

export class MetadefsApi {
  constructor(protected readonly c: ApiClient) {}

  namespaces(filters: Query = {}): AsyncGenerator<MetadefNamespace> {
    return this.c.paged<MetadefNamespace>('GET /v2/metadefs/namespaces', 'namespaces', filters);
  }

  getNamespace(ns: string): Promise<MetadefNamespace> {
    return this.c.json('GET /v2/metadefs/namespaces/{ns}', { params: { ns } });
  }

  createNamespace(namespace: MetadefNamespace): Promise<MetadefNamespace> {
    return this.c.json('POST /v2/metadefs/namespaces', { json: namespace });
  }

  updateNamespace(ns: string, namespace: MetadefNamespace): Promise<MetadefNamespace> {
    return this.c.json('PUT /v2/metadefs/namespaces/{ns}', { params: { ns }, json: namespace });
  }

  deleteNamespace(ns: string): Promise<void> {
    return this.c.send('DELETE /v2/metadefs/namespaces/{ns}', { params: { ns } });
  }

  async resourceTypes(): Promise<MetadefResourceType[]> {
    return (await this.c.json<{ resource_types: MetadefResourceType[] }>('GET /v2/metadefs/resource_types')).resource_types;
  }

  async objects(ns: string): Promise<MetadefObject[]> {
    return (await this.c.json<{ objects: MetadefObject[] }>('GET /v2/metadefs/namespaces/{ns}/objects', { params: { ns } })).objects;
  }

  createObject(ns: string, object: MetadefObject): Promise<MetadefObject> {
    return this.c.json('POST /v2/metadefs/namespaces/{ns}/objects', { params: { ns }, json: object });
  }

  async properties(ns: string): Promise<Record<string, MetadefProperty>> {
    return (await this.c.json<{ properties: Record<string, MetadefProperty> }>('GET /v2/metadefs/namespaces/{ns}/properties', { params: { ns } })).properties;
  }

  createProperty(ns: string, property: MetadefProperty & { name: string }): Promise<MetadefProperty> {
    return this.c.json('POST /v2/metadefs/namespaces/{ns}/properties', { params: { ns }, json: property });
  }

  async tags(ns: string): Promise<MetadefTag[]> {
    return (await this.c.json<{ tags: MetadefTag[] }>('GET /v2/metadefs/namespaces/{ns}/tags', { params: { ns } })).tags;
  }

  createTag(ns: string, name: string): Promise<MetadefTag> {
    return this.c.json('POST /v2/metadefs/namespaces/{ns}/tags/{name}', { params: { ns, name } });
  }

  deleteTag(ns: string, name: string): Promise<void> {
    return this.c.send('DELETE /v2/metadefs/namespaces/{ns}/tags/{name}', { params: { ns, name } });
  }
}
