import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Source } from './support/data-source.js';
import { admin, api, createImage, member, patchImage, startSecondServer, startServer, upload, type JsonResponse, type TestServer } from './support/harness.js';
import { digests, download, random, waitFor, waitForStatus } from './support/streaming.js';
import { swiftServer, swiftSkipReason } from './support/swift-server.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite', 'postgresql', 'mariadb');

/**
 * Image locations as Glance exposes them (reference api-v2.md § PATCH, § 5; image-model.md):
 * the view's direct_url / locations / stores, PATCH add/replace/remove on /locations, the v2.17
 * locations API — and every refusal that keeps a location from reaching what it must not
 * (OSSN-0065: internal addresses, the server's files; OSSN-0090: another image's bytes).
 * Data comes from a real local http server on 127.0.0.2, which the servers under test are
 * allowed to reach (http_store_allowed_networks); 127.0.0.1 stays refused.
 */

const set = (section: 'DEFAULT' | 'glance_store' | 'paste_deploy', name: string, value: string) => ({ section, name, value });
const SOURCE_HOST = '127.0.0.2';
const ALLOW_SOURCE = set('glance_store', 'http_store_allowed_networks', `${SOURCE_HOST}/32`);
const SHOW = [set('DEFAULT', 'show_multiple_locations', 'true'), set('DEFAULT', 'show_image_direct_url', 'true')];
/** A service (Nova, Cinder) acting in a project: role `service`, what `service_api` and the locations API look for. */
const service = (project = 'p1') => ({ 'x-project-id': project, 'x-user-id': 'nova', 'x-roles': 'service,reader' });

function location(url: string, metadata: Record<string, unknown> = {}, validation?: Record<string, string>): Record<string, unknown> {
  return validation ? { url, metadata, validation_data: validation } : { url, metadata };
}

const addLocation = (server: TestServer, id: string, headers: Record<string, string>, value: unknown, position = '-') =>
  patchImage(server.url, id, headers, [{ op: 'add', path: `/locations/${position}`, value }]);

async function image(server: TestServer, id: string, headers: Record<string, string>): Promise<JsonResponse['body']> {
  const r = await api(server.url, 'GET', `/v2/images/${id}`, { headers });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

function assertRefused(r: JsonResponse, status: number, message: RegExp): void {
  assert.equal(r.status, status, r.text);
  assert.match(r.body?.message ?? r.text, message);
}

// Before any suite is declared: the root's `after` (closing the source) would otherwise run as
// soon as the suites declared before this await had finished.
const swift = await swiftServer();

let source: Source;
before(async () => {
  source = await new Source().start(SOURCE_HOST);
});
after(() => source.close());

describe('defaults: locations are invisible (show_multiple_locations and show_image_direct_url off)', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer([ALLOW_SOURCE]);
  });
  after(() => server.close());

  test('the image view has no locations and no direct_url, even with data', async () => {
    const id = await createImage(server.url, member('p1'));
    assert.equal((await upload(server.url, id, Buffer.from('abc'), member('p1'))).status, 204);
    const body = await image(server, id, member('p1'));
    assert.equal(body.status, 'active');
    assert.ok(!('locations' in body) && !('direct_url' in body) && !('stores' in body), JSON.stringify(body));
  });

  test('PATCH on /locations is 403 for everyone, with Glance messages', async () => {
    const id = await createImage(server.url, admin());
    const url = source.put(Buffer.from('data'));
    assertRefused(await addLocation(server, id, admin(), location(url)), 403, /not allowed to add locations if locations are invisible/);
    assertRefused(await patchImage(server.url, id, admin(), [{ op: 'replace', path: '/locations', value: [location(url)] }]), 403, /not allowed to update locations/);
    assertRefused(await patchImage(server.url, id, admin(), [{ op: 'remove', path: '/locations/0' }]), 403, /not allowed to remove locations/);
  });

  test('v2.17 (the locations API) is advertised and routed', async () => {
    const versions = await api(server.url, 'GET', '/versions');
    assert.equal(versions.body.versions[0].id, 'v2.17');
    assert.equal(versions.body.versions[0].status, 'CURRENT');
    const id = await createImage(server.url, member('p1'));
    assert.equal((await api(server.url, 'GET', `/v2.17/images/${id}/locations`, { headers: service() })).status, 200);
  });
});

describe('show_multiple_locations and show_image_direct_url on', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer([...SHOW, ALLOW_SOURCE, set('DEFAULT', 'image_location_quota', '3')]);
  });
  after(() => server.close());

  test('a new image shows locations [] and no direct_url; after an upload its file location', async () => {
    const id = await createImage(server.url, member('p1'));
    let body = await image(server, id, member('p1'));
    assert.deepEqual(body.locations, []);
    assert.ok(!('direct_url' in body));
    await upload(server.url, id, Buffer.from('abc'), member('p1'));
    body = await image(server, id, member('p1'));
    const url = path.join(server.dataDir, 'images', id);
    assert.deepEqual(body.locations, [{ url: `file://${url}`, metadata: {} }]);
    assert.equal(body.direct_url, `file://${url}`);
    assert.ok(!('stores' in body), 'stores only with multi-store');
  });

  test('lists show them too (read in the list query)', async () => {
    const id = await createImage(server.url, member('p-list'), { name: 'listed' });
    await upload(server.url, id, Buffer.from('abc'), member('p-list'));
    const r = await api(server.url, 'GET', '/v2/images', { headers: member('p-list') });
    const listed = (r.body.images as { id: string; locations: unknown[]; direct_url: string }[]).find((i) => i.id === id)!;
    assert.equal(listed.locations.length, 1);
    assert.match(listed.direct_url, /^file:\/\//);
  });

  test('PATCH add of an http location to a queued image: active, with its size, downloadable', async () => {
    const data = random(70_000);
    const url = source.put(data);
    const id = await createImage(server.url, member('p1'));
    const r = await addLocation(server, id, member('p1'), location(url));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.status, 'active');
    assert.equal(r.body.size, data.length);
    assert.deepEqual(r.body.locations, [{ url, metadata: {} }]);
    assert.equal(r.body.direct_url, url);
    assert.equal(r.body.checksum, null, 'PATCH does not read the data: no hashes without validation_data');
    const got = await download(server.url, id, member('p1'));
    assert.equal(got.status, 200);
    assert.ok(got.data.equals(data));
  });

  test('validation_data becomes the image hashes while queued; must then match (409)', async () => {
    const data = random(5_000);
    const url = source.put(data);
    const { md5, multihash } = digests(data);
    const id = await createImage(server.url, member('p1'));
    const wrongAlgo = await addLocation(server, id, member('p1'), location(url, {}, { os_hash_algo: 'sha256', os_hash_value: digests(data, 'sha256').multihash }));
    assertRefused(wrongAlgo, 409, /os_hash_algo must be sha512, not sha256/);
    assertRefused(await addLocation(server, id, member('p1'), location(url, {}, { os_hash_algo: 'sha512', os_hash_value: 'zz' })), 409, /os_hash_value/);
    const ok = await addLocation(server, id, member('p1'), location(url, {}, { checksum: md5, os_hash_algo: 'sha512', os_hash_value: multihash }));
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.checksum, md5);
    assert.equal(ok.body.os_hash_algo, 'sha512');
    assert.equal(ok.body.os_hash_value, multihash);
    assert.ok(!('validation_data' in ok.body.locations[0]), 'validation_data is write-only');
    // On an active image: equal values pass, different ones are refused.
    const second = source.put(data);
    assertRefused(await addLocation(server, id, admin(), location(second, {}, { os_hash_algo: 'sha512', os_hash_value: digests(random(3)).multihash })), 409, /already set with a different value/);
    assert.equal((await addLocation(server, id, admin(), location(second, {}, { os_hash_algo: 'sha512', os_hash_value: multihash }))).status, 200);
  });

  test('positions, duplicates, the last location, the quota; remove needs delete_image_location (admin)', async () => {
    const data = random(1_000);
    const [a, b, c, d] = [source.put(data), source.put(data), source.put(data), source.put(data)];
    const id = await createImage(server.url, member('p1'));
    assertRefused(await patchImage(server.url, id, member('p1'), [{ op: 'remove', path: '/locations/0' }]), 403, /not authorized to complete delete_image_location/);
    assertRefused(await patchImage(server.url, id, admin(), [{ op: 'remove', path: '/locations/0' }]), 409, /not allowed to remove locations if image status is queued/);
    assertRefused(await addLocation(server, id, member('p1'), location(a), 'x'), 400, /Invalid position for adding a location/);
    assertRefused(await patchImage(server.url, id, member('p1'), [{ op: 'add', path: '/locations', value: location(a) }]), 400, /Invalid JSON pointer/);
    assertRefused(await addLocation(server, id, member('p1'), { url: a }), 400, /metadata/);
    assert.equal((await addLocation(server, id, member('p1'), location(a))).status, 200);
    assertRefused(await addLocation(server, id, member('p1'), location(a)), 400, /already exists/);
    assertRefused(await patchImage(server.url, id, admin(), [{ op: 'remove', path: '/locations/0' }]), 403, /Cannot remove last location/);
    // Glance inserts past the end as an append.
    assert.equal((await addLocation(server, id, member('p1'), location(b), '7')).status, 200);
    assert.equal((await addLocation(server, id, member('p1'), location(c), '0')).status, 200);
    assertRefused(await addLocation(server, id, member('p1'), location(d)), 413, /Attempted: 4, Maximum: 3/);
    assertRefused(await patchImage(server.url, id, admin(), [{ op: 'remove', path: '/locations/3' }]), 400, /Invalid position for removing a location/);
    const removed = await patchImage(server.url, id, admin(), [{ op: 'remove', path: '/locations/-' }, { op: 'remove', path: '/locations/0' }]);
    assert.equal(removed.status, 200, removed.text);
    assert.equal(removed.body.locations.length, 1);
    // Several operations are checked together: one refusal and nothing is saved.
    const both = await patchImage(server.url, id, admin(), [{ op: 'replace', path: '/name', value: 'kept?' }, { op: 'remove', path: '/locations/0' }]);
    assertRefused(both, 403, /Cannot remove last location/);
    assert.notEqual((await image(server, id, admin())).name, 'kept?');
  });

  test('replace: [] is 403; other URLs than the image has are 400; the same URLs change only metadata; a queued image becomes active', async () => {
    const data = random(2_000);
    const [a, b] = [source.put(data), source.put(data)];
    const id = await createImage(server.url, member('p1'));
    assertRefused(await patchImage(server.url, id, member('p1'), [{ op: 'replace', path: '/locations', value: [] }]), 403, /Cannot set locations to empty list/);
    const set1 = await patchImage(server.url, id, member('p1'), [{ op: 'replace', path: '/locations', value: [location(a), location(b)] }]);
    assert.equal(set1.status, 200, set1.text);
    assert.equal(set1.body.status, 'active');
    assert.deepEqual(set1.body.locations.map((l: { url: string }) => l.url), [a, b]);
    const other = source.put(data);
    assertRefused(await patchImage(server.url, id, member('p1'), [{ op: 'replace', path: '/locations', value: [location(other)] }]), 400, /Original locations is not empty/);
    const meta = await patchImage(server.url, id, member('p1'), [{ op: 'replace', path: '/locations', value: [location(b, { note: 'mirror' }), location(a)] }]);
    assert.equal(meta.status, 200, meta.text);
    assert.deepEqual(meta.body.locations, [{ url: a, metadata: {} }, { url: b, metadata: { note: 'mirror' } }]);
  });

  test('add and replace only on queued and active images (409)', async () => {
    const data = random(100);
    const id = await createImage(server.url, admin());
    await upload(server.url, id, data, admin());
    assert.equal((await api(server.url, 'POST', `/v2/images/${id}/actions/deactivate`, { headers: admin() })).status, 204);
    assert.equal((await addLocation(server, id, admin(), location(source.put(data)))).status, 409);
    const noFormats = (await api(server.url, 'POST', '/v2/images', { headers: member('p1'), json: {} })).body.id as string;
    assertRefused(await addLocation(server, noFormats, member('p1'), location(source.put(data))), 400, /disk_format and container_format/);
  });

  test('OSSN-0065: locations at internal addresses and the server’s own files are refused (400), for admins too', async () => {
    const id = await createImage(server.url, admin());
    const port = new URL(source.base).port;
    for (const url of [
      `http://127.0.0.1:${port}/x`,
      'http://169.254.169.254/latest/meta-data/',
      'http://10.1.2.3/image',
      'http://[::1]/image',
      'http://localhost/image',
    ]) {
      assertRefused(await addLocation(server, id, admin(), location(url)), 400, /Invalid location .*refusing to connect/);
    }
    // An allowed host that redirects inside: the redirect is checked too.
    source.redirects.set('/to-loopback', `http://127.0.0.1:${port}/x`);
    assertRefused(await addLocation(server, id, admin(), location(`${source.base}/to-loopback`)), 400, /Invalid location .*127\.0\.0\.1/);
    for (const url of ['file:///etc/passwd', 'ftp://example.com/x', 'not a url']) {
      assertRefused(await addLocation(server, id, admin(), location(url)), 400, /Invalid location/);
    }
    assert.equal((await image(server, id, admin())).status, 'queued');
  });

  test('OSSN-0090: another image’s bytes can never become a location; users may not add locations in a store Ocellus deletes from', async () => {
    const data = random(4_000);
    const victim = await createImage(server.url, member('victim'));
    await upload(server.url, victim, data, member('victim'));
    const victimUrl = `file://${path.join(server.dataDir, 'images', victim)}`;
    const mine = await createImage(server.url, member('p1'));
    assertRefused(await addLocation(server, mine, member('p1'), location(victimUrl)), 403, /Only admins and services may add a location in the store 'file'/);
    assertRefused(await addLocation(server, mine, admin(), location(victimUrl)), 400, /belongs to another image/);
    // A file the store holds that no image records: the file scheme is never accepted (Glance).
    const stray = path.join(server.dataDir, 'images', 'stray');
    fs.writeFileSync(stray, 'x');
    assertRefused(await addLocation(server, mine, admin(), location(`file://${stray}`)), 400, /file locations are never accepted/);
    const got = await download(server.url, victim, member('victim'));
    assert.ok(got.data.equals(data), "the victim's data is untouched");
    assert.equal((await image(server, mine, admin())).status, 'queued');
  });

  test('removing a location in a writable store removes its bytes; the image keeps its other location', async () => {
    const data = random(3_000);
    const id = await createImage(server.url, admin());
    await upload(server.url, id, data, admin());
    const file = path.join(server.dataDir, 'images', id);
    assert.equal((await addLocation(server, id, admin(), location(source.put(data)))).status, 200);
    const r = await patchImage(server.url, id, admin(), [{ op: 'remove', path: '/locations/0' }]);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.locations.length, 1);
    assert.ok(!fs.existsSync(file), 'the file is gone');
    assert.ok((await download(server.url, id, admin())).data.equals(data), 'served from the http location');
    // The removed file's URL stays refused while its record is kept, and (as file) for ever.
    assertRefused(await addLocation(server, id, admin(), location(`file://${file}`)), 400, /Invalid location/);
  });

  test('get_image_location: another project sees a public image without its locations; set_image_location refuses it', async () => {
    const data = random(500);
    const id = await createImage(server.url, admin(), { visibility: 'public' });
    await upload(server.url, id, data, admin());
    const body = await image(server, id, member('outsider'));
    assert.deepEqual(body.locations, []);
    assert.ok(!('direct_url' in body));
    const listed = (await api(server.url, 'GET', '/v2/images', { headers: member('outsider') })).body.images.find((i: { id: string }) => i.id === id);
    assert.deepEqual(listed.locations, []);
    assert.ok(!('direct_url' in listed));
    assertRefused(await addLocation(server, id, member('outsider'), location(source.put(data))), 403, /set_image_location/);
    assert.equal((await image(server, id, admin())).locations.length, 1, 'the owner (admin) sees it');
  });
});

describe('POST and GET /v2/images/{id}/locations (v2.17)', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer([ALLOW_SOURCE, set('DEFAULT', 'http_retries', '0')]);
  });
  after(() => server.close());

  const post = (id: string, headers: Record<string, string>, json: unknown) => api(server.url, 'POST', `/v2/images/${id}/locations`, { headers, json });
  const locations = (id: string, headers: Record<string, string> = service()) => api(server.url, 'GET', `/v2/images/${id}/locations`, { headers });

  test('the owner adds an http location: 202, importing while hashed, then active with checksum and os_hash_value', async () => {
    const data = random(300_000);
    const url = source.put(data);
    const id = await createImage(server.url, member('p1'));
    const r = await post(id, member('p1'), { url });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.text, '');
    const done = await waitForStatus(server.url, id, 'active', member('p1'));
    const { md5, multihash } = digests(data);
    assert.equal(done.size, data.length);
    assert.equal(done.checksum, md5);
    assert.equal(done.os_hash_algo, 'sha512');
    assert.equal(done.os_hash_value, multihash);
    assert.ok((await download(server.url, id, member('p1'))).data.equals(data));
    const listed = await locations(id);
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body, [{ url, metadata: {} }]);
  });

  test('GET /locations: fetch_image_location is for services (and admins); 404 for an unknown image', async () => {
    const id = await createImage(server.url, member('p1'));
    assertRefused(await locations(id, member('p1')), 403, /fetch_image_location/);
    assert.equal((await locations(id, admin())).status, 200);
    assert.deepEqual((await locations(id)).body, []);
    assert.equal((await locations('00000000-0000-0000-0000-000000000000')).status, 404);
  });

  test('validation_data in another algorithm is computed and compared; a mismatch returns the image to queued without the location', async () => {
    const data = random(10_000);
    const id = await createImage(server.url, member('p1'));
    const sha256 = digests(data, 'sha256').multihash;
    assert.equal((await post(id, member('p1'), { url: source.put(data), validation_data: { os_hash_algo: 'sha256', os_hash_value: sha256 } })).status, 202);
    const done = await waitForStatus(server.url, id, 'active', member('p1'));
    assert.equal(done.os_hash_algo, 'sha256');
    assert.equal(done.os_hash_value, sha256);

    const bad = await createImage(server.url, member('p1'));
    const other = digests(random(10), 'sha256').multihash;
    assert.equal((await post(bad, member('p1'), { url: source.put(data), validation_data: { os_hash_algo: 'sha256', os_hash_value: other } })).status, 202);
    await waitFor('the failed import to end', async () => {
      const b = await image(server, bad, member('p1'));
      return b.status === 'queued' && (await locations(bad)).body.length === 0 ? b : undefined;
    });
    const back = await image(server, bad, member('p1'));
    assert.equal(back.size, null);
    assert.equal(back.os_hash_value, null);
  });

  test('data that cannot be read whole fails the import (http_retries = 0): queued again', async () => {
    const id = await createImage(server.url, member('p1'));
    assert.equal((await post(id, member('p1'), { url: source.put(random(50_000), 'broken') })).status, 202);
    await waitFor('the failed import to end', async () => {
      const b = await image(server, id, member('p1'));
      return b.status === 'queued' && (await locations(id)).body.length === 0 ? b : undefined;
    });
  });

  test('the body is validated (400): url required, validation_data closed, algorithms sha1/sha256/sha512/md5, both hash fields, hex of the right length', async () => {
    const id = await createImage(server.url, member('p1'));
    const url = source.put(random(10));
    for (const body of [
      {},
      { url: 7 },
      { url, validation_data: { os_hash_algo: 'sha512' } },
      { url, validation_data: { os_hash_value: 'ab' } },
      { url, validation_data: { os_hash_algo: 'sha384', os_hash_value: 'ab' } },
      { url, validation_data: { os_hash_algo: 'md5', os_hash_value: 'ab', checksum: 'x' } },
      { url, validation_data: { os_hash_algo: 'md5', os_hash_value: 'zz'.repeat(16) } },
      { url, validation_data: { os_hash_algo: 'md5', os_hash_value: 'ab'.repeat(15) } },
    ]) {
      assert.equal((await post(id, member('p1'), body)).status, 400, JSON.stringify(body));
    }
    assert.equal((await image(server, id, member('p1'))).status, 'queued');
  });

  test('refusals: not queued (409), other projects (403/404), non-service users only http (403), bad locations (400)', async () => {
    const data = random(1_000);
    const active = await createImage(server.url, member('p1'));
    await upload(server.url, active, data, member('p1'));
    assertRefused(await post(active, member('p1'), { url: source.put(data) }), 409, /not allowed to add locations if image status is active/);

    const id = await createImage(server.url, member('p1'));
    assert.equal((await post(id, member('p2'), { url: source.put(data) })).status, 404, 'a private image of another project stays hidden');
    const pub = await createImage(server.url, admin(), { visibility: 'public' });
    assertRefused(await post(pub, member('p2'), { url: source.put(data) }), 403, /add_image_location/);

    const activeFile = `file://${path.join(server.dataDir, 'images', active)}`;
    assertRefused(await post(id, member('p1'), { url: activeFile }), 403, /http store must be enabled to use location API by normal user/);
    assertRefused(await post(id, service(), { url: activeFile }), 400, /belongs to another image/);
    assertRefused(await post(id, service(), { url: 'http://169.254.169.254/latest' }), 400, /Invalid location .*refusing to connect/);
    assertRefused(await post(id, member('p1'), { url: `${source.base}/nothing-here` }), 400, /Invalid location/);
    assert.equal((await image(server, id, member('p1'))).status, 'queued');
  });
});

describe('POST /locations without an http store, and with do_secure_hash = false', () => {
  let fileOnly: TestServer;
  let trusting: TestServer;
  before(async () => {
    fileOnly = await startServer([ALLOW_SOURCE, ...SHOW, set('glance_store', 'stores', 'file')]);
    trusting = await startServer([ALLOW_SOURCE, set('DEFAULT', 'do_secure_hash', 'false')]);
  });
  after(async () => {
    await fileOnly.close();
    await trusting.close();
  });

  test('no http store: users may not POST locations (403), nor PATCH http ones (400)', async () => {
    const id = await createImage(fileOnly.url, member('p1'));
    const url = source.put(random(10));
    assertRefused(await api(fileOnly.url, 'POST', `/v2/images/${id}/locations`, { headers: member('p1'), json: { url } }), 403, /http store must be enabled/);
    assertRefused(await addLocation(fileOnly, id, member('p1'), location(url)), 400, /no configured store holds it/);
  });

  test('do_secure_hash = false: active at once, with the validation_data given and no checksum', async () => {
    const data = random(2_000);
    const id = await createImage(trusting.url, member('p1'));
    const { multihash } = digests(data);
    const r = await api(trusting.url, 'POST', `/v2/images/${id}/locations`, { headers: member('p1'), json: { url: source.put(data), validation_data: { os_hash_algo: 'sha512', os_hash_value: multihash } } });
    assert.equal(r.status, 202, r.text);
    const body = await image(trusting, id, member('p1'));
    assert.equal(body.status, 'active');
    assert.equal(body.size, data.length);
    assert.equal(body.os_hash_value, multihash);
    assert.equal(body.checksum, null);
  });
});

describe('multi-store: stores lists the store ids of the locations', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer([
      ...SHOW,
      set('DEFAULT', 'enabled_backends', 'fast:file, web:http'),
      set('glance_store', 'default_backend', 'fast'),
      // A backend's own section, as the config file would have it.
      { section: 'web' as 'glance_store', name: 'http_store_allowed_networks', value: `${SOURCE_HOST}/32` },
    ]);
  });
  after(() => server.close());

  test('an upload to fast, then an http location: recorded with store web (from its URL, whatever the metadata said)', async () => {
    const data = Buffer.from('abc');
    const id = await createImage(server.url, admin());
    await upload(server.url, id, data, admin());
    assert.equal((await image(server, id, admin())).stores, 'fast');
    const url = source.put(data);
    const r = await addLocation(server, id, admin(), location(url, { store: 'fast', note: 'n' }));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.stores, 'fast,web');
    assert.deepEqual(r.body.locations[1], { url, metadata: { store: 'web', note: 'n' } });
  });
});

describe('OSSN-0090 with a Swift store: swift locations are for admins, and never another image’s', { skip: swift ? undefined : swiftSkipReason() }, () => {
  let server: TestServer;
  let putObject: (name: string, body: Buffer) => Promise<number>;
  const container = `ocellus-loc-${process.pid}-${Date.now().toString(36)}`;
  before(async () => {
    const sw = swift!;
    const auth = await fetch(sw.authUrl, { headers: { 'x-auth-user': sw.user, 'x-auth-key': sw.key } });
    await auth.arrayBuffer();
    const token = auth.headers.get('x-auth-token')!;
    const storage = auth.headers.get('x-storage-url')!;
    putObject = async (name, body) => {
      const r = await fetch(`${storage}/${container}/${name}`, { method: 'PUT', headers: { 'x-auth-token': token }, body });
      await r.arrayBuffer();
      return r.status;
    };
    const objects = (name: string, value: string) => ({ section: 'objects' as 'glance_store', name, value });
    server = await startServer([
      ...SHOW,
      set('DEFAULT', 'enabled_backends', 'local:file, objects:swift'),
      set('glance_store', 'default_backend', 'objects'),
      objects('swift_store_auth_address', sw.authUrl),
      objects('swift_store_auth_version', '1'),
      objects('swift_store_user', sw.user),
      objects('swift_store_key', sw.key),
      objects('swift_store_container', container),
      objects('swift_store_create_container_on_put', 'true'),
    ]);
  });
  after(() => server?.close());

  test('a member may not add a swift location (403); an admin may not add another image’s (400); an admin may add an object no image has', async () => {
    const data = random(20_000);
    const victim = await createImage(server.url, member('victim'));
    assert.equal((await upload(server.url, victim, data, member('victim'))).status, 204);
    const victimUrl = (await image(server, victim, member('victim'))).locations[0].url as string;
    assert.match(victimUrl, /^swift/);
    const mine = await createImage(server.url, member('p1'));
    assertRefused(await addLocation(server, mine, member('p1'), location(victimUrl)), 403, /Only admins and services may add a location in the store 'objects'/);
    assertRefused(await addLocation(server, mine, admin(), location(victimUrl)), 400, /belongs to another image/);

    const own = random(7_000);
    assert.equal(await putObject('brought-by-admin', own), 201);
    const ownUrl = victimUrl.replace(/[^/]+$/, 'brought-by-admin');
    const r = await addLocation(server, mine, admin(), location(ownUrl));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.size, own.length);
    assert.equal(r.body.stores, 'objects');
    assert.ok((await download(server.url, mine, member('p1'))).data.equals(own));
    assert.ok((await download(server.url, victim, member('victim'))).data.equals(data), "the victim's data is untouched");
  });
});

describe('a location import whose process dies is finished by another (lease)', () => {
  test('node A stops while hashing; node B takes the expired lease over and activates the image', async () => {
    const beat = set('DEFAULT', 'upload_heartbeat_interval', '1');
    const a = await startServer([ALLOW_SOURCE, beat]);
    let b: TestServer | undefined;
    try {
      const data = random(100_000);
      source.shut();
      const url = source.put(data, 'gated');
      const id = await createImage(a.url, member('p1'));
      assert.equal((await api(a.url, 'POST', `/v2/images/${id}/locations`, { headers: member('p1'), json: { url } })).status, 202);
      assert.equal((await image(a, id, member('p1'))).status, 'importing');
      b = await startSecondServer(a, [ALLOW_SOURCE, beat]);
      await a.service.close(); // A's import stops; its lease stays until it expires
      source.open();
      await sleep(100);
      assert.equal((await image(b, id, member('p1'))).status, 'importing', 'nobody finishes it before the lease expires');
      const done = await waitForStatus(b.url, id, 'active', member('p1'), 15_000);
      assert.equal(done.os_hash_value, digests(data).multihash);
    } finally {
      await b?.close();
      await a.close().catch(() => undefined);
    }
  });
});
