// Prometheus metrics at /metrics: a workload moves each metric of issue 15's list by what it did
// (requests, bytes by store, operations in flight, store failures by driver and operation, tasks,
// lease takeovers, the outbox, the image cache), route labels are patterns, the exposition needs no
// token, has its own listener when asked, and is gone when disabled. Node-local counters: one
// database is enough (metrics-db-pool.test.ts has the server databases' pools).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SqlUnitOfWork } from '../src/db/unit-of-work.js';
import { UPLOAD_LEASE } from '../src/domain/data-cleanup.js';
import { Source } from './support/data-source.js';
import { api, createImage, member, startServer, tempDir, upload, type TestServer } from './support/harness.js';
import { download, random, startUpload, waitFor } from './support/streaming.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite');

const P1 = member('p1');
const ADMIN = { ...P1, 'x-roles': 'admin' };
/** web-download reaches the test data server on a loopback address other than 127.0.0.1, on its random port. */
const SOURCE_HOST = '127.0.0.2';
const WEB = [
  { section: 'import_filtering_opts', name: 'allowed_networks', value: `${SOURCE_HOST}/32` },
  { section: 'import_filtering_opts', name: 'allowed_ports', value: '' },
];

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


/** Stages `data` and imports it with glance-direct; the import's HTTP answer is 202. */
async function stageAndImport(base: string, id: string, data: Buffer): Promise<void> {
  assert.equal((await api(base, 'PUT', `/v2/images/${id}/stage`, { headers: P1, body: data, contentType: 'application/octet-stream' })).status, 204);
  assert.equal((await api(base, 'POST', `/v2/images/${id}/import`, { headers: P1, json: { method: { name: 'glance-direct' } } })).status, 202);
}

/** Waits until the image's import has ended (no import lock any more), then returns its status. */
async function importEnded(base: string, id: string): Promise<string> {
  return waitFor(`the import of ${id} to end`, async () => {
    const img = (await api(base, 'GET', `/v2/images/${id}`, { headers: P1 })).body;
    return img.os_glance_import_task === undefined && img.status !== 'importing' ? (img.status as string) : undefined;
  }, 20_000, 50);
}

/**
 * Makes the file store fail the commit of `id`'s next write, honestly: a directory where its
 * object goes, so renaming the written file into place fails (EISDIR) once all bytes arrived.
 */
function blockObject(dataDir: string, id: string): void {
  fs.mkdirSync(path.join(dataDir, 'images', id, 'in-the-way'), { recursive: true });
}

describe('metrics after a workload (noauth, image cache on, notifications to the log)', () => {
  let server: TestServer;
  let source: Source;
  let text: string;
  const data = random(1000);
  const staged = random(500);
  const fetched = random(700);
  const unstored = random(300);
  let uploaded: string;
  let imported: string;

  before(async () => {
    source = await new Source().start(SOURCE_HOST);
    server = await startServer([
      { section: 'paste_deploy', name: 'flavor', value: 'noauth+caching' },
      { section: 'DEFAULT', name: 'image_cache_dir', value: path.join(tempDir(), 'cache') },
      // The cleanup sweep runs when this test calls it, so the store failure it retries is counted once.
      { section: 'DEFAULT', name: 'upload_heartbeat_interval', value: '3600' },
      { section: 'oslo_messaging_notifications', name: 'driver', value: 'log' },
      ...WEB,
      // http locations on the test data server, read once (no retry).
      { section: 'glance_store', name: 'http_store_allowed_networks', value: `${SOURCE_HOST}/32` },
      { section: 'DEFAULT', name: 'http_retries', value: '0' },
      { section: 'DEFAULT', name: 'show_multiple_locations', value: 'true' },
    ]);
    const base = server.url;
    uploaded = await createImage(base, P1);
    assert.equal((await upload(base, uploaded, data, P1)).status, 204);
    // The first whole download fills the cache (a miss), the second is served from it (a hit).
    assert.deepEqual((await download(base, uploaded, P1)).data, data);
    await waitFor('the image to be cached', async () => {
      const r = await api(base, 'GET', '/v2/cache', { headers: ADMIN });
      return r.body.cached_images?.length === 1 ? true : undefined;
    });
    assert.deepEqual((await download(base, uploaded, P1)).data, data);
    // Failed requests: an image that does not exist (a route), a path that is no route.
    assert.equal((await api(base, 'GET', `/v2/images/${crypto.randomUUID()}`, { headers: P1 })).status, 404);
    assert.equal((await api(base, 'GET', `/v2/no/such/${crypto.randomUUID()}`, { headers: P1 })).status, 404);
    // Tasks: a glance-direct import of staged data, and a web-download (fetched into staging, then stored).
    imported = await createImage(base, P1);
    await stageAndImport(base, imported, staged);
    assert.equal(await importEnded(base, imported), 'active');
    const web = await createImage(base, P1);
    assert.equal((await api(base, 'POST', `/v2/images/${web}/import`, { headers: P1, json: { method: { name: 'web-download', uri: source.put(fetched) } } })).status, 202);
    assert.equal(await importEnded(base, web), 'active');

    // The file store fails writes: an upload (500) and an import's write (its task fails, the image is queued again).
    const failedUpload = await createImage(base, P1);
    blockObject(server.dataDir, failedUpload);
    assert.equal((await upload(base, failedUpload, random(10), P1)).status, 500);
    const failedImport = await createImage(base, P1);
    blockObject(server.dataDir, failedImport);
    await stageAndImport(base, failedImport, unstored);
    assert.equal(await importEnded(base, failedImport), 'queued');
    // The file store fails a read: the object became a symlink, which the driver refuses to follow (503).
    // A ranged download, which never goes through the cache.
    const unreadable = await createImage(base, P1);
    assert.equal((await upload(base, unreadable, random(10), P1)).status, 204);
    const object = path.join(server.dataDir, 'images', unreadable);
    fs.rmSync(object);
    fs.symlinkSync('/dev/null', object);
    const ranged = await fetch(`${base}/v2/images/${unreadable}/file`, { headers: { ...P1, range: 'bytes=0-3' } });
    assert.equal(ranged.status, 503);
    await ranged.arrayBuffer();
    // The http store fails a read: a location import whose source breaks the connection partway (the image is queued again).
    const cut = await createImage(base, P1);
    assert.equal((await api(base, 'POST', `/v2/images/${cut}/locations`, { headers: P1, json: { url: source.put(random(50_000), 'broken') } })).status, 202);
    assert.equal(await importEnded(base, cut), 'queued');
    // ... and a download from an http location whose server breaks the connection partway (no hashes recorded: never cached).
    const remote = await createImage(base, P1);
    const added = await api(base, 'PATCH', `/v2/images/${remote}`, {
      headers: P1,
      json: [{ op: 'add', path: '/locations/-', value: { url: source.put(random(50_000), 'broken'), metadata: {} } }],
      contentType: 'application/openstack-images-v2.1-json-patch',
    });
    assert.equal(added.status, 200, added.text);
    await assert.rejects(download(base, remote, P1), 'the download is cut short');
    // An upload lease of a process that died: the cleanup sweep takes it over.
    const dead = { kind: UPLOAD_LEASE, key: await createImage(base, P1), owner: crypto.randomUUID(), expiresAt: Date.now() - 1, data: { attempt: crypto.randomUUID(), backend: 'file', project: 'p1' } };
    assert.equal(await new SqlUnitOfWork(server.service.db).repos.leases.acquire(dead), true);
    await server.service.cleanup.sweep();
    // The file store fails a delete: the object became a directory (EISDIR); the image is deleted, its bytes wait for a later sweep.
    const undeletable = await createImage(base, P1);
    assert.equal((await upload(base, undeletable, random(10), P1)).status, 204);
    const doomed = path.join(server.dataDir, 'images', undeletable);
    fs.rmSync(doomed);
    fs.mkdirSync(doomed);
    assert.equal((await api(base, 'DELETE', `/v2/images/${undeletable}`, { headers: P1 })).status, 204);

    // Tasks reach their end status in the commit after the image's; the publisher empties the outbox.
    text = await waitFor('the tasks to end and the outbox to empty', async () => {
      const s = await scrape(base);
      const done = sample(s.text, 'ocellus_tasks', { status: 'success' }) === 2 && sample(s.text, 'ocellus_tasks', { status: 'failure' }) === 1;
      return done && sample(s.text, 'ocellus_notification_outbox_depth') === 0 ? s.text : undefined;
    }, 10_000);
  });
  after(async () => {
    await server?.close();
    source?.close();
  });

  test('served without a token in the Prometheus text format', async () => {
    const s = await scrape(server.url);
    assert.equal(s.status, 200);
    assert.match(s.contentType ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(s.text, /# TYPE http_requests_total counter/);
  });

  test('requests by route pattern, method and status; latency histograms', () => {
    const file = '/v2/images/{id}/file';
    assert.equal(sample(text, 'http_requests_total', { route: file, method: 'PUT', status: '204' }), 3);
    assert.equal(sample(text, 'http_requests_total', { route: file, method: 'PUT', status: '500' }), 1);
    // Two whole downloads, and the one from the http location cut short (its status went out before the data broke).
    assert.equal(sample(text, 'http_requests_total', { route: file, method: 'GET', status: '200' }), 3);
    assert.equal(sample(text, 'http_requests_total', { route: file, method: 'GET', status: '503' }), 1);
    assert.equal(sample(text, 'http_requests_total', { route: '/v2/images/{id}', method: 'GET', status: '404' }), 1);
    assert.equal(sample(text, 'http_requests_total', { route: '/v2/images/{id}', method: 'DELETE', status: '204' }), 1);
    assert.equal(sample(text, 'http_requests_total', { route: 'unmatched', method: 'GET', status: '404' }), 1);
    assert.equal(sample(text, 'http_requests_total', { route: '/v2/images', method: 'POST', status: '201' }), 10);
    assert.equal(sample(text, 'http_requests_total', { route: '/v2/images/{id}/import', method: 'POST', status: '202' }), 3);
    assert.equal(sample(text, 'http_request_duration_seconds_count', { route: file, method: 'GET' }), 4);
    assert.equal(sample(text, 'http_request_duration_seconds_bucket', { route: file, method: 'GET', le: '+Inf' }), 4);
    assert.ok(sample(text, 'http_request_duration_seconds_sum', { route: file, method: 'GET' })! > 0);
    // Patterns, never raw URLs: no image id appears in any label.
    assert.ok(!text.includes(uploaded) && !text.includes(imported), 'an image id in a label');
  });

  test('image bytes received and sent by store (staging and cache included)', () => {
    // file: the upload, both imports' data, the two small uploads the store kept (the failed upload and import stored nothing).
    assert.equal(sample(text, 'ocellus_image_bytes_received_total', { store: 'file' }), data.length + staged.length + fetched.length + 10 + 10);
    // Staging: PUT /stage twice, and the web-download's data fetched into it.
    assert.equal(sample(text, 'ocellus_image_bytes_received_total', { store: 'os_glance_staging_store' }), staged.length + fetched.length + unstored.length);
    assert.equal(sample(text, 'ocellus_image_bytes_sent_total', { store: 'file' }), data.length);
    assert.equal(sample(text, 'ocellus_image_bytes_sent_total', { store: 'cache' }), data.length);
  });

  test('store operation errors by driver and operation', () => {
    // The failed upload (PUT /file) and the failed import's write to the store.
    assert.equal(sample(text, 'ocellus_store_errors_total', { driver: 'file', operation: 'write' }), 2);
    assert.equal(sample(text, 'ocellus_store_errors_total', { driver: 'file', operation: 'read' }), 1);
    assert.equal(sample(text, 'ocellus_store_errors_total', { driver: 'file', operation: 'delete' }), 1);
    // The location import's read of its http location, and the download's.
    assert.equal(sample(text, 'ocellus_store_errors_total', { driver: 'http', operation: 'read' }), 2);
  });

  test('cache hits, misses and size', () => {
    assert.equal(sample(text, 'ocellus_image_cache_misses_total'), 1);
    assert.equal(sample(text, 'ocellus_image_cache_hits_total'), 1);
    assert.equal(sample(text, 'ocellus_image_cache_entries'), 1);
    assert.equal(sample(text, 'ocellus_image_cache_bytes'), data.length);
  });

  test('tasks by status, lease takeovers, the outbox and its deliveries, database query latency and pool', () => {
    assert.equal(sample(text, 'ocellus_tasks', { status: 'success' }), 2);
    assert.equal(sample(text, 'ocellus_tasks', { status: 'failure' }), 1);
    assert.equal(sample(text, 'ocellus_tasks', { status: 'pending' }), 0);
    assert.equal(sample(text, 'ocellus_tasks', { status: 'processing' }), 0);
    assert.equal(sample(text, 'ocellus_lease_takeovers_total', { kind: UPLOAD_LEASE }), 1);
    assert.equal(sample(text, 'ocellus_notification_outbox_depth'), 0);
    // Every event of the workload went out (how many is notifications.test.ts's matter), none failed.
    assert.ok(sample(text, 'ocellus_notifications_sent_total')! >= 20, `sent ${sample(text, 'ocellus_notifications_sent_total')}`);
    assert.equal(sample(text, 'ocellus_notification_delivery_failures_total'), 0);
    assert.equal(sample(text, 'ocellus_notifications_dropped_total'), 0);
    assert.ok(sample(text, 'ocellus_db_query_duration_seconds_count', { outcome: 'ok' })! > 10);
    assert.equal(sample(text, 'ocellus_db_pool_max_connections'), 5);
    // SQLite has one connection and no pool.
    assert.equal(sample(text, 'ocellus_db_pool_connections', { state: 'open' }), undefined);
  });

  test('uploads, imports and downloads in flight while they run, and none once they ended', async () => {
    const base = server.url;
    const inFlight = async (kind: string) => sample((await scrape(base)).text, 'ocellus_operations_in_flight', { kind });
    for (const kind of ['upload', 'import', 'download']) assert.equal(sample(text, 'ocellus_operations_in_flight', { kind }), 0, kind);

    // A download whose body is not read: it stays in flight (backpressure) until the client lets it go.
    const big = await createImage(base, P1);
    const bigData = random(16 << 20);
    assert.equal((await upload(base, big, bigData, P1)).status, 204);
    const reading = new AbortController();
    const res = await fetch(`${base}/v2/images/${big}/file`, { headers: { ...P1, range: 'bytes=0-' }, signal: reading.signal });
    assert.equal(res.status, 206);
    // An upload whose body has not ended.
    const slow = await createImage(base, P1);
    const up = startUpload(base, slow, { headers: P1, contentLength: 20 });
    await up.write(random(10));
    // An import whose source has not sent its body yet.
    source.shut();
    const gated = await createImage(base, P1);
    assert.equal((await api(base, 'POST', `/v2/images/${gated}/import`, { headers: P1, json: { method: { name: 'web-download', uri: source.put(random(100), 'gated') } } })).status, 202);
    try {
      await waitFor('one of each in flight', async () => ((await inFlight('upload')) === 1 && (await inFlight('import')) === 1 && (await inFlight('download')) === 1 ? true : undefined));
    } finally {
      source.open();
      up.end(random(10));
      reading.abort();
    }
    assert.equal((await up.outcome).status, 204);
    assert.equal(await importEnded(base, gated), 'active');
    await waitFor('nothing in flight', async () => ((await inFlight('upload')) === 0 && (await inFlight('import')) === 0 && (await inFlight('download')) === 0 ? true : undefined));
  });
});

describe('notification metrics: deliveries, the outbox waiting while the message bus is down, drops', () => {
  test('each event written is delivered once (log driver)', async () => {
    const server = await startServer([{ section: 'oslo_messaging_notifications', name: 'driver', value: 'log' }]);
    try {
      await createImage(server.url, P1); // image.create
      const text = await waitFor('the event to be delivered', async () => {
        const s = (await scrape(server.url)).text;
        return sample(s, 'ocellus_notifications_sent_total') === 1 ? s : undefined;
      });
      assert.equal(sample(text, 'ocellus_notification_outbox_depth'), 0);
      assert.equal(sample(text, 'ocellus_notification_delivery_failures_total'), 0);
      assert.equal(sample(text, 'ocellus_notifications_dropped_total'), 0);
    } finally {
      await server.close();
    }
  });

  // A broker address where nothing listens (connection refused at once).
  const DOWN = [
    { section: 'oslo_messaging_notifications', name: 'driver', value: 'messagingv2' },
    { section: 'oslo_messaging_notifications', name: 'transport_url', value: 'rabbit://guest:guest@127.0.0.1:1/' },
  ];

  test('the message bus is down: events wait in the outbox, failed attempts are counted', async () => {
    const server = await startServer(DOWN);
    try {
      await createImage(server.url, P1);
      await createImage(server.url, P1);
      const text = await waitFor('a failed delivery', async () => {
        const s = (await scrape(server.url)).text;
        return sample(s, 'ocellus_notification_delivery_failures_total')! >= 1 ? s : undefined;
      });
      assert.equal(sample(text, 'ocellus_notification_outbox_depth'), 2);
      assert.equal(sample(text, 'ocellus_notifications_sent_total'), 0);
      assert.equal(sample(text, 'ocellus_notifications_dropped_total'), 0);
    } finally {
      await server.close();
    }
  });

  test('retry = 0: the batch that failed once is dropped and counted', async () => {
    const server = await startServer([...DOWN, { section: 'oslo_messaging_notifications', name: 'retry', value: '0' }]);
    try {
      await createImage(server.url, P1);
      const text = await waitFor('the event to be dropped', async () => {
        const s = (await scrape(server.url)).text;
        return sample(s, 'ocellus_notifications_dropped_total') === 1 ? s : undefined;
      });
      assert.equal(sample(text, 'ocellus_notification_delivery_failures_total'), 1);
      assert.equal(sample(text, 'ocellus_notification_outbox_depth'), 0);
      assert.equal(sample(text, 'ocellus_notifications_sent_total'), 0);
    } finally {
      await server.close();
    }
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
