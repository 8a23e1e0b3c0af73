// Prometheus metrics at /metrics: a workload moves the counters and histograms it should, route
// labels are patterns, the exposition needs no token, has its own listener when asked, and is
// gone when disabled. Node-local counters: one database is enough.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SqlUnitOfWork } from '../src/db/unit-of-work.js';
import { UPLOAD_LEASE } from '../src/domain/data-cleanup.js';
import { api, createImage, member, startServer, tempDir, upload, type TestServer } from './support/harness.js';
import { download, random, waitFor } from './support/streaming.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite');

const P1 = member('p1');

async function scrape(base: string): Promise<{ status: number; contentType: string | null; text: string }> {
  const res = await fetch(`${base}/metrics`);
  return { status: res.status, contentType: res.headers.get('content-type'), text: await res.text() };
}

/** The value of one sample of the exposition (labels in any order), or undefined if there is none. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v) && Object.keys(have).length === Object.keys(labels).length) return Number(m[3]);
  }
  return undefined;
}

describe('metrics after a workload (noauth, image cache on)', () => {
  let server: TestServer;
  let text: string;
  const data = random(1000);
  const staged = random(500);
  let uploaded: string;
  let imported: string;

  before(async () => {
    server = await startServer([
      { section: 'paste_deploy', name: 'flavor', value: 'noauth+caching' },
      { section: 'DEFAULT', name: 'image_cache_dir', value: path.join(tempDir(), 'cache') },
    ]);
    uploaded = await createImage(server.url, P1, { disk_format: 'raw', container_format: 'bare' });
    assert.equal((await upload(server.url, uploaded, data, P1)).status, 204);
    // The first whole download fills the cache (a miss), the second is served from it (a hit).
    assert.deepEqual((await download(server.url, uploaded, P1)).data, data);
    await waitFor('the image to be cached', async () => {
      const r = await api(server.url, 'GET', '/v2/cache', { headers: { ...P1, 'x-roles': 'admin' } });
      return r.body.cached_images?.length === 1 ? true : undefined;
    });
    assert.deepEqual((await download(server.url, uploaded, P1)).data, data);
    // Failed requests: an image that does not exist (a route), a path that is no route.
    assert.equal((await api(server.url, 'GET', `/v2/images/${crypto.randomUUID()}`, { headers: P1 })).status, 404);
    assert.equal((await api(server.url, 'GET', `/v2/no/such/${crypto.randomUUID()}`, { headers: P1 })).status, 404);
    // A task: glance-direct import of staged data.
    imported = await createImage(server.url, P1, { disk_format: 'raw', container_format: 'bare' });
    assert.equal((await api(server.url, 'PUT', `/v2/images/${imported}/stage`, { headers: P1, body: staged, contentType: 'application/octet-stream' })).status, 204);
    assert.equal((await api(server.url, 'POST', `/v2/images/${imported}/import`, { headers: P1, json: { method: { name: 'glance-direct' } } })).status, 202);
    await waitFor('the import to end', async () => ((await api(server.url, 'GET', `/v2/images/${imported}`, { headers: P1 })).body.status === 'active' ? true : undefined), 20_000, 50);
    // The task's status reaches success in the commit after the image's activation.
    text = await waitFor('the task to succeed', async () => {
      const s = await scrape(server.url);
      return sample(s.text, 'ocellus_tasks', { status: 'success' }) === 1 ? s.text : undefined;
    });
  });
  after(() => server?.close());

  test('served without a token in the Prometheus text format', async () => {
    const s = await scrape(server.url);
    assert.equal(s.status, 200);
    assert.match(s.contentType ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(s.text, /# TYPE http_requests_total counter/);
  });

  test('requests by route pattern, method and status; latency histograms', () => {
    const file = '/v2/images/{id}/file';
    assert.equal(sample(text, 'http_requests_total', { route: file, method: 'PUT', status: '204' }), 1);
    assert.equal(sample(text, 'http_requests_total', { route: file, method: 'GET', status: '200' }), 2);
    assert.equal(sample(text, 'http_requests_total', { route: '/v2/images/{id}', method: 'GET', status: '404' }), 1);
    assert.equal(sample(text, 'http_requests_total', { route: 'unmatched', method: 'GET', status: '404' }), 1);
    assert.equal(sample(text, 'http_requests_total', { route: '/v2/images', method: 'POST', status: '201' }), 2);
    assert.equal(sample(text, 'http_request_duration_seconds_count', { route: file, method: 'GET' }), 2);
    assert.equal(sample(text, 'http_request_duration_seconds_bucket', { route: file, method: 'GET', le: '+Inf' }), 2);
    assert.ok(sample(text, 'http_request_duration_seconds_sum', { route: file, method: 'GET' })! > 0);
    // Patterns, never raw URLs: no image id appears in any label.
    assert.ok(!text.includes(uploaded) && !text.includes(imported), 'an image id in a label');
  });

  test('image bytes by store, in flight back to zero, cache hits, misses and size', () => {
    assert.equal(sample(text, 'ocellus_image_bytes_received_total', { store: 'file' }), data.length + staged.length);
    assert.equal(sample(text, 'ocellus_image_bytes_received_total', { store: 'os_glance_staging_store' }), staged.length);
    assert.equal(sample(text, 'ocellus_image_bytes_sent_total', { store: 'file' }), data.length);
    assert.equal(sample(text, 'ocellus_image_bytes_sent_total', { store: 'cache' }), data.length);
    for (const kind of ['upload', 'import', 'download']) assert.equal(sample(text, 'ocellus_operations_in_flight', { kind }), 0, kind);
    assert.equal(sample(text, 'ocellus_image_cache_misses_total'), 1);
    assert.equal(sample(text, 'ocellus_image_cache_hits_total'), 1);
    assert.equal(sample(text, 'ocellus_image_cache_entries'), 1);
    assert.equal(sample(text, 'ocellus_image_cache_bytes'), data.length);
  });

  test('tasks by status, outbox depth, database query latency and pool', () => {
    assert.equal(sample(text, 'ocellus_tasks', { status: 'success' }), 1);
    assert.equal(sample(text, 'ocellus_tasks', { status: 'failure' }), 0);
    assert.equal(sample(text, 'ocellus_notification_outbox_depth'), 0);
    assert.ok(sample(text, 'ocellus_db_query_duration_seconds_count', { outcome: 'ok' })! > 10);
    assert.equal(sample(text, 'ocellus_db_pool_max_connections'), 5);
    // SQLite has one connection and no pool.
    assert.equal(sample(text, 'ocellus_db_pool_connections', { state: 'open' }), undefined);
  });
});

test('/metrics needs no token with the default flavor (admin token), while the API does', async () => {
  const server = await startServer([{ section: 'paste_deploy', name: 'flavor', value: '' }]);
  try {
    assert.equal((await fetch(`${server.url}/v2/images`)).status, 401);
    const s = await scrape(server.url);
    assert.equal(s.status, 200);
    assert.equal(sample(s.text, 'http_requests_total', { route: '/v2/images', method: 'GET', status: '401' }), 1);
  } finally {
    await server.close();
  }
});

test('[metrics] bind_port: its own listener, not the API port; each service has its own registry', async () => {
  const server = await startServer([{ section: 'metrics', name: 'bind_port', value: '0' }]);
  try {
    const listener = server.service.metricsListener!;
    assert.ok(listener, 'the metrics listener');
    // On the API port /metrics is no route: 404, after authentication as for any unknown path.
    assert.equal((await fetch(`${server.url}/metrics`, { headers: P1 })).status, 404);
    const id = await createImage(server.url, P1);
    // An upload lease of a process that died: the next cleanup sweep takes it over.
    const dead = { kind: UPLOAD_LEASE, key: id, owner: crypto.randomUUID(), expiresAt: Date.now() - 1, data: { attempt: crypto.randomUUID(), backend: 'file', project: 'p1' } };
    assert.equal(await new SqlUnitOfWork(server.service.db).repos.leases.acquire(dead), true);
    await server.service.cleanup.sweep();
    // A store that cannot read an object (a symlink now, which the file driver refuses to follow): 503, a file read error.
    const broken = await createImage(server.url, P1, { disk_format: 'raw', container_format: 'bare' });
    assert.equal((await upload(server.url, broken, random(10), P1)).status, 204);
    const object = path.join(server.dataDir, 'images', broken);
    fs.rmSync(object);
    fs.symlinkSync('/dev/null', object);
    assert.equal((await download(server.url, broken, P1)).status, 503);
    const s = await scrape(`http://127.0.0.1:${listener.address.port}`);
    assert.equal(s.status, 200);
    assert.equal(sample(s.text, 'http_requests_total', { route: '/v2/images', method: 'POST', status: '201' }), 2);
    assert.equal(sample(s.text, 'http_requests_total', { route: '/v2/images/{id}/file', method: 'GET', status: '503' }), 1);
    // The API port's /metrics is no route there.
    assert.equal(sample(s.text, 'http_requests_total', { route: 'unmatched', method: 'GET', status: '404' }), 1);
    assert.equal(sample(s.text, 'ocellus_lease_takeovers_total', { kind: UPLOAD_LEASE }), 1);
    assert.equal(sample(s.text, 'ocellus_store_errors_total', { driver: 'file', operation: 'read' }), 1);
    assert.equal(sample(s.text, 'ocellus_image_bytes_received_total', { store: 'file' }), 10, 'this service’s bytes only');
    assert.equal((await fetch(`http://127.0.0.1:${listener.address.port}/v2/images`)).status, 404);
  } finally {
    await server.close();
  }
});

test('[metrics] enabled = false: /metrics is no route (404 after authentication, as any unknown path)', async () => {
  const server = await startServer([{ section: 'metrics', name: 'enabled', value: 'false' }]);
  try {
    assert.equal((await fetch(`${server.url}/metrics`)).status, 401);
    assert.equal((await fetch(`${server.url}/metrics`, { headers: P1 })).status, 404);
    assert.equal(server.service.metricsListener, undefined);
  } finally {
    await server.close();
  }
});
