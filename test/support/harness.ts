import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { databaseUrl, loadConfig, type LoadOptions } from '../../src/config/options.js';
import { createService, type Service } from '../../src/service.js';
import { createTestDatabase } from './test-database.js';

export interface TestServer {
  url: string;
  dataDir: string;
  /** The `[database] connection` URL the server uses (sqlite:///<dataDir>/ocellus.db by default). */
  dbUrl: string;
  service: Service;
  close(): Promise<void>;
}

/** Test servers take identity headers (member(), admin()); a request without any is 401. */
const NOAUTH = { section: 'paste_deploy', name: 'flavor', value: 'noauth' } as const;

export function tempDir(prefix = 'ocellus-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Starts a real Ocellus on a free loopback port: filesystem store in a fresh temp dir, metadata
 * in SQLite there — or in a throw-away PostgreSQL/MariaDB database when OCELLUS_TEST_DB says so
 * (see test-database.ts). `overrides` set config options as the command line would. The flavor
 * is `noauth` (trusted identity headers, see member() and admin()) unless `overrides` says otherwise.
 */
export async function startServer(overrides: LoadOptions['overrides'] = [], dataDir = tempDir()): Promise<TestServer> {
  const database = await createTestDatabase();
  const dbOverrides: NonNullable<LoadOptions['overrides']> = database.url
    ? [{ section: 'database', name: 'connection', value: database.url }, { section: 'database', name: 'auto_sync', value: 'true' }]
    : [];
  const config = loadConfig({
    dataDir,
    overrides: [{ section: 'DEFAULT', name: 'log_level', value: 'silent' }, NOAUTH, ...dbOverrides, ...overrides],
    warn: () => undefined,
  });
  let service: Service;
  try {
    service = await createService(config);
  } catch (err) {
    await database.drop();
    throw err;
  }
  const address = await service.app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url: address,
    dataDir,
    dbUrl: databaseUrl(config),
    service,
    async close() {
      await service.close();
      await database.drop();
    },
  };
}

/**
 * Starts another Ocellus (in this process) on the same database and the same store directory as
 * `first`, as a second node behind a load balancer would be. Its close stops only this service;
 * the database stays (the first server drops it).
 *
 * Both services run in one process, so each takes the other's upload attempts (same host, same
 * pid, another instance) for those of an earlier life of this pid, i.e. dead: give both servers a
 * long upload_heartbeat_interval when uploads run through both.
 */
export async function startSecondServer(first: TestServer, overrides: LoadOptions['overrides'] = []): Promise<TestServer> {
  const config = loadConfig({
    dataDir: first.dataDir,
    overrides: [
      { section: 'DEFAULT', name: 'log_level', value: 'silent' },
      { section: 'database', name: 'connection', value: first.dbUrl },
      NOAUTH,
      ...overrides,
    ],
    warn: () => undefined,
  });
  const service = await createService(config);
  const address = await service.app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url: address,
    dataDir: first.dataDir,
    dbUrl: first.dbUrl,
    service,
    async close() {
      await service.close();
    },
  };
}

/** Identity headers of a project member (trusted-headers auth). */
export function member(project: string, user = `user-${project}`): Record<string, string> {
  return { 'x-project-id': project, 'x-user-id': user, 'x-roles': 'member,reader' };
}

/**
 * An admin with no project: what noauth made of a request without identity headers before such a
 * request became 401. The tests written against that context send it explicitly.
 */
export function projectlessAdmin(): Record<string, string> {
  return { 'x-roles': 'admin' };
}

export function admin(project = 'admin-project'): Record<string, string> {
  return { 'x-project-id': project, 'x-user-id': 'admin-user', 'x-roles': 'admin,member,reader' };
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
}

/** A request with JSON in and (when it parses) JSON out; errors are requested as JSON. */
export async function api(
  base: string,
  method: string,
  pathname: string,
  opts: { headers?: Record<string, string>; json?: unknown; body?: string | Buffer; contentType?: string } = {},
): Promise<JsonResponse> {
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  let body: string | Buffer | undefined = opts.body;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] = opts.contentType ?? 'application/json';
  } else if (opts.contentType) {
    headers['content-type'] = opts.contentType;
  }
  const res = await fetch(base + pathname, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** The JSON-patch media type of Image API v2.1. */
export const PATCH21 = 'application/openstack-images-v2.1-json-patch';

/** PATCH /v2/images/{id} with JSON-patch operations (v2.1 media type). */
export function patchImage(base: string, id: string, headers: Record<string, string>, ops: unknown): Promise<JsonResponse> {
  return api(base, 'PATCH', `/v2/images/${id}`, { headers, json: ops, contentType: PATCH21 });
}

/** Creates a raw/bare image and returns its id. */
export async function createImage(base: string, headers: Record<string, string>, fields: Record<string, unknown> = {}): Promise<string> {
  const r = await api(base, 'POST', '/v2/images', { headers, json: { disk_format: 'raw', container_format: 'bare', ...fields } });
  if (r.status !== 201) throw new Error(`create failed: ${r.status} ${r.text}`);
  return r.body.id as string;
}

export async function upload(base: string, id: string, data: Buffer, headers: Record<string, string> = {}): Promise<JsonResponse> {
  return api(base, 'PUT', `/v2/images/${id}/file`, { headers, body: data, contentType: 'application/octet-stream' });
}

export interface RawResponse {
  status: number;
  headers: import('node:http').IncomingHttpHeaders;
  text: string;
}

/**
 * A request through node:http, sending exactly the given headers (no default Accept, unlike
 * fetch) and allowing a body on any method (fetch refuses one on GET).
 */
export async function rawRequest(
  base: string,
  method: string,
  pathname: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  const http = await import('node:http');
  const url = new URL(base + pathname);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...opts.headers };
    if (opts.body !== undefined) headers['content-length'] = Buffer.byteLength(opts.body);
    const req = http.request({ host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}
