import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { ApiFeatures } from '../src/api/app-deps.js';
import { CHOICES_PATH, listedVersions, NO_FEATURES, versionNegotiator } from '../src/api/versions.js';
import { admin, api, createImage, member, PATCH21, projectlessAdmin, rawRequest, startServer, type TestServer } from './support/harness.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite', 'postgresql', 'mariadb');

/** The caller of calls that are not about who calls: an admin with no project (noauth's old header-less context). */
const ADMIN = projectlessAdmin();

/** Conventions every Glance v2 response follows: versions, request ids, 405/404, error bodies. */

let server: TestServer;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.close();
});

const REQ_ID = /^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The versions listed without multi-store and image cache, newest first: the locations API makes
 * v2.17 CURRENT (v2.18 needs the cache too).
 */
const EXPECTED_VERSIONS: [string, string][] = [
  ['v2.17', 'CURRENT'],
  ['v2.15', 'SUPPORTED'],
  ['v2.9', 'SUPPORTED'],
  ['v2.7', 'SUPPORTED'],
  ['v2.6', 'SUPPORTED'],
  ['v2.5', 'SUPPORTED'],
  ['v2.4', 'SUPPORTED'],
  ['v2.3', 'SUPPORTED'],
  ['v2.2', 'SUPPORTED'],
  ['v2.1', 'SUPPORTED'],
  ['v2.0', 'SUPPORTED'],
];

function assertVersionsDocument(body: any, base: string): void {
  assert.ok(Array.isArray(body.versions), 'versions is a list');
  assert.deepEqual(
    body.versions.map((v: any) => [v.id, v.status]),
    EXPECTED_VERSIONS,
  );
  for (const v of body.versions) {
    assert.deepEqual(v.links, [{ rel: 'self', href: `${base}/v2/` }]);
  }
}

describe('version negotiation', () => {
  test('GET / answers 300 with the versions document', async () => {
    const r = await api(server.url, 'GET', '/');
    assert.equal(r.status, 300);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    assertVersionsDocument(r.body, server.url);
  });

  test('GET /versions answers 200 with the same document', async () => {
    const r = await api(server.url, 'GET', '/versions');
    assert.equal(r.status, 200);
    assertVersionsDocument(r.body, server.url);
  });

  test('the versions document advertises public_endpoint when it is set', async () => {
    const other = await startServer([{ section: 'DEFAULT', name: 'public_endpoint', value: 'https://images.example.org/' }]);
    try {
      const r = await api(other.url, 'GET', '/versions');
      assert.equal(r.status, 200);
      assert.equal(r.body.versions[0].links[0].href, 'https://images.example.org/v2/');
    } finally {
      await other.close();
    }
  });

  for (const prefix of ['v2', 'v2.0', 'v2.1', 'v2.7', 'v2.9', 'v2.15', 'v2.17']) {
    test(`/${prefix}/images is the v2 image list`, async () => {
      const project = `p-${randomUUID()}`;
      const id = await createImage(server.url, member(project), { name: `via-${prefix}` });
      const r = await api(server.url, 'GET', `/${prefix}/images`, { headers: member(project) });
      assert.equal(r.status, 200);
      assert.equal(r.body.schema, '/v2/schemas/images');
      assert.deepEqual(r.body.images.map((i: any) => i.id), [id]);
    });
  }

  test('/v2.1/images/{id} reads an image like /v2/images/{id}', async () => {
    const id = await createImage(server.url, ADMIN, { name: 'micro' });
    const r = await api(server.url, 'GET', `/v2.1/images/${id}`, { headers: ADMIN });
    assert.equal(r.status, 200);
    assert.equal(r.body.id, id);
    assert.equal(r.body.name, 'micro');
    assert.equal(r.body.self, `/v2/images/${id}`);
  });

  test('POST /v2.15/images creates an image', async () => {
    const r = await api(server.url, 'POST', '/v2.15/images', { headers: ADMIN, json: { name: 'created-via-2.15' } });
    assert.equal(r.status, 201);
    const got = await api(server.url, 'GET', `/v2/images/${r.body.id}`, { headers: ADMIN });
    assert.equal(got.status, 200);
    assert.equal(got.body.name, 'created-via-2.15');
  });

  // v2.8 and v2.10–13 (multi-store), v2.14/16/18 (cache): features absent here.
  for (const prefix of ['v3', 'v2.8', 'v2.10', 'v2.13', 'v2.14', 'v2.16', 'v2.18', 'v2.19', 'v1', 'v1.1', 'images']) {
    test(`unknown version prefix /${prefix}/images answers 300 with the versions document`, async () => {
      const r = await api(server.url, 'GET', `/${prefix}/images`, { headers: ADMIN });
      assert.equal(r.status, 300);
      assertVersionsDocument(r.body, server.url);
    });
  }

  test('an Accept: application/vnd.openstack.images-v2.1 header routes /images to v2', async () => {
    const project = `p-${randomUUID()}`;
    const id = await createImage(server.url, member(project));
    const r = await api(server.url, 'GET', '/images', { headers: { ...member(project), accept: 'application/vnd.openstack.images-v2.1' } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.images.map((i: any) => i.id), [id]);
  });

  test('an Accept header naming a version whose feature is absent (v2.18, v2.8, v2.14) answers 300', async () => {
    for (const version of ['v2.18', 'v2.8', 'v2.14']) {
      const r = await api(server.url, 'GET', '/images', { headers: { accept: `application/vnd.openstack.images-${version}` } });
      assert.equal(r.status, 300, version);
      assertVersionsDocument(r.body, server.url);
    }
  });

  test('an Accept header naming an unknown version answers 300', async () => {
    const r = await api(server.url, 'GET', '/images', { headers: { ...ADMIN, accept: 'application/vnd.openstack.images-v3' } });
    assert.equal(r.status, 300);
    assert.ok(Array.isArray(r.body.versions));
  });
});

describe('versions follow the features (versions module)', () => {
  const ids = (features: ApiFeatures) => listedVersions(features).map((v) => `${v.id} ${v.status}`);
  const routed = (features: ApiFeatures, prefix: string) => versionNegotiator(features)(`/${prefix}/images?limit=1`, undefined) === '/v2/images?limit=1';
  const byAccept = (features: ApiFeatures, version: string) =>
    versionNegotiator(features)('/images', `application/vnd.openstack.images-${version}`) === '/v2/images';
  const ALL: ApiFeatures = { multiStore: true, cache: true, locationsApi: true };
  const BASE = ['v2.9', 'v2.7', 'v2.6', 'v2.5', 'v2.4', 'v2.3', 'v2.2', 'v2.1', 'v2.0'];

  test('no features: v2.15 is CURRENT; v2.17, v2.8, v2.10–13, v2.14/16/18 are neither listed nor routed', () => {
    assert.deepEqual(ids(NO_FEATURES), ['v2.15 CURRENT', ...BASE.map((v) => `${v} SUPPORTED`)]);
    for (const v of ['v2', 'v2.0', 'v2.7', 'v2.9', 'v2.15']) assert.ok(routed(NO_FEATURES, v) && byAccept(NO_FEATURES, v), v);
    for (const v of ['v2.8', 'v2.10', 'v2.13', 'v2.14', 'v2.16', 'v2.17', 'v2.18']) {
      assert.equal(versionNegotiator(NO_FEATURES)(`/${v}/images`, undefined), CHOICES_PATH, v);
      assert.ok(!byAccept(NO_FEATURES, v), v);
    }
  });

  test('the locations API adds v2.17, CURRENT', () => {
    const f = { ...NO_FEATURES, locationsApi: true };
    assert.deepEqual(ids(f).slice(0, 2), ['v2.17 CURRENT', 'v2.15 SUPPORTED']);
    assert.ok(routed(f, 'v2.17') && byAccept(f, 'v2.17'));
    assert.ok(!routed(f, 'v2.18') && !routed(f, 'v2.16'));
  });

  test('multi-store adds v2.8 and v2.10–v2.13', () => {
    const f = { ...NO_FEATURES, multiStore: true };
    assert.deepEqual(ids(f), ['v2.15 CURRENT', 'v2.13', 'v2.12', 'v2.11', 'v2.10', 'v2.9', 'v2.8', ...BASE.slice(1)].map((v, i) => (i === 0 ? v : `${v} SUPPORTED`)));
    for (const v of ['v2.8', 'v2.10', 'v2.11', 'v2.12', 'v2.13']) assert.ok(routed(f, v) && byAccept(f, v), v);
    assert.ok(!routed(f, 'v2.17'));
  });

  test('the cache adds v2.14 and v2.16; v2.18 needs the locations API too', () => {
    const cache = { ...NO_FEATURES, cache: true };
    assert.deepEqual(ids(cache).slice(0, 4), ['v2.16 CURRENT', 'v2.15 SUPPORTED', 'v2.14 SUPPORTED', 'v2.9 SUPPORTED']);
    assert.ok(routed(cache, 'v2.14') && routed(cache, 'v2.16') && !routed(cache, 'v2.18') && !routed(cache, 'v2.17'));
    const both = { ...cache, locationsApi: true };
    assert.deepEqual(ids(both).slice(0, 5), ['v2.18 CURRENT', 'v2.17 SUPPORTED', 'v2.16 SUPPORTED', 'v2.15 SUPPORTED', 'v2.14 SUPPORTED']);
    assert.ok(routed(both, 'v2.18') && byAccept(both, 'v2.18'));
  });

  test('every feature: Glance\'s full list, v2.18 CURRENT down to v2.0', () => {
    assert.deepEqual(
      ids(ALL),
      ['v2.18', 'v2.17', 'v2.16', 'v2.15', 'v2.14', 'v2.13', 'v2.12', 'v2.11', 'v2.10', 'v2.9', 'v2.8', ...BASE.slice(1)].map((v, i) => `${v} ${i === 0 ? 'CURRENT' : 'SUPPORTED'}`),
    );
    for (const v of ['v2', 'v2.0', 'v2.8', 'v2.13', 'v2.14', 'v2.17', 'v2.18']) assert.ok(routed(ALL, v), v);
    for (const v of ['v2.19', 'v3', 'v1']) assert.equal(versionNegotiator(ALL)(`/${v}/images`, undefined), CHOICES_PATH, v);
  });
});

describe('healthcheck', () => {
  test('GET /healthcheck answers 200 OK', async () => {
    const r = await rawRequest(server.url, 'GET', '/healthcheck');
    assert.equal(r.status, 200);
    assert.equal(r.text, 'OK');
  });

  test('HEAD /healthcheck answers 200 without a body, as oslo.middleware does', async () => {
    const r = await rawRequest(server.url, 'HEAD', '/healthcheck');
    assert.equal(r.status, 200);
    assert.equal(r.text, '');
  });
});

describe('x-openstack-request-id', () => {
  test('is generated as req-<uuid> on a successful response', async () => {
    const r = await api(server.url, 'GET', '/v2/images', { headers: ADMIN });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('x-openstack-request-id') ?? '', REQ_ID);
  });

  test('differs between requests', async () => {
    const a = await api(server.url, 'GET', '/v2/images', { headers: ADMIN });
    const b = await api(server.url, 'GET', '/v2/images', { headers: ADMIN });
    assert.notEqual(a.headers.get('x-openstack-request-id'), b.headers.get('x-openstack-request-id'));
  });

  test('is set on error responses too (404, 400, 405, 415)', async () => {
    const notFound = await api(server.url, 'GET', `/v2/images/${randomUUID()}`, { headers: ADMIN });
    assert.equal(notFound.status, 404);
    assert.match(notFound.headers.get('x-openstack-request-id') ?? '', REQ_ID);

    const badRequest = await api(server.url, 'GET', '/v2/images?limit=-1', { headers: ADMIN });
    assert.equal(badRequest.status, 400);
    assert.match(badRequest.headers.get('x-openstack-request-id') ?? '', REQ_ID);

    const notAllowed = await api(server.url, 'PUT', '/v2/images', { headers: ADMIN });
    assert.equal(notAllowed.status, 405);
    assert.match(notAllowed.headers.get('x-openstack-request-id') ?? '', REQ_ID);

    const id = await createImage(server.url, ADMIN);
    const unsupported = await api(server.url, 'PATCH', `/v2/images/${id}`, { headers: ADMIN, json: [] });
    assert.equal(unsupported.status, 415);
    assert.match(unsupported.headers.get('x-openstack-request-id') ?? '', REQ_ID);

    const unknownPath = await api(server.url, 'GET', '/v2/nowhere', { headers: ADMIN });
    assert.equal(unknownPath.status, 404);
    assert.match(unknownPath.headers.get('x-openstack-request-id') ?? '', REQ_ID);
  });

  test('a client-provided id without the req- prefix is reused with the prefix added', async () => {
    const r = await api(server.url, 'GET', '/v2/images', { headers: { ...ADMIN, 'x-openstack-request-id': 'my-trace-1234' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-openstack-request-id'), 'req-my-trace-1234');
  });

  test('a client-provided id that already starts with req- is reused as is', async () => {
    const given = `req-${randomUUID()}`;
    const r = await api(server.url, 'GET', '/v2/images', { headers: { ...ADMIN, 'x-openstack-request-id': given } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-openstack-request-id'), given);
  });

  test('a client-provided id is reused on an error response', async () => {
    const r = await api(server.url, 'GET', `/v2/images/${randomUUID()}`, { headers: { ...ADMIN, 'x-openstack-request-id': 'trace-on-error' } });
    assert.equal(r.status, 404);
    assert.equal(r.headers.get('x-openstack-request-id'), 'req-trace-on-error');
  });

  test('an id of exactly 64 characters is accepted', async () => {
    const given = 'a'.repeat(64);
    const r = await api(server.url, 'GET', '/v2/images', { headers: { ...ADMIN, 'x-openstack-request-id': given } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-openstack-request-id'), `req-${given}`);
  });

  test('an id longer than 64 characters is 431', async () => {
    const r = await api(server.url, 'GET', '/v2/images', { headers: { ...ADMIN, 'x-openstack-request-id': 'a'.repeat(65) } });
    assert.equal(r.status, 431);
    assert.equal(r.body.code, '431 Request Header Fields Too Large');
  });

  test('max_request_id_length is configurable', async () => {
    const other = await startServer([{ section: 'DEFAULT', name: 'max_request_id_length', value: '10' }]);
    try {
      const ok = await api(other.url, 'GET', '/v2/images', { headers: { ...ADMIN, 'x-openstack-request-id': '0123456789' } });
      assert.equal(ok.status, 200);
      const tooLong = await api(other.url, 'GET', '/v2/images', { headers: { ...ADMIN, 'x-openstack-request-id': '0123456789a' } });
      assert.equal(tooLong.status, 431);
    } finally {
      await other.close();
    }
  });
});

describe('methods and paths', () => {
  test('HEAD on a route without HEAD is 405 with the Allow list of its path (no automatic HEAD routes)', async () => {
    const id = await createImage(server.url, admin());
    const cases: [string, string][] = [
      [`/v2/images/${id}`, 'GET, PATCH, DELETE'],
      [`/v2/images/${randomUUID()}`, 'GET, PATCH, DELETE'],
      ['/v2/images', 'GET, POST'],
      [`/v2/images/${id}/file`, 'GET, PUT'],
      [`/v2/images/${id}/members`, 'GET, POST'],
      [`/v2/images/${id}/members/someone`, 'GET, PUT, DELETE'],
      ['/v2/schemas/image', 'GET'],
      [`/v2.1/images/${id}`, 'GET, PATCH, DELETE'],
    ];
    for (const [path, allow] of cases) {
      const r = await rawRequest(server.url, 'HEAD', path, { headers: admin() });
      assert.equal(r.status, 405, path);
      assert.equal(r.headers.allow, allow, path);
      assert.match(String(r.headers['x-openstack-request-id']), REQ_ID);
      assert.equal(r.text, '');
    }
    assert.equal((await rawRequest(server.url, 'HEAD', '/v2/nothing-here', { headers: admin() })).status, 404);
  });

  test('HEAD / is 300 and HEAD /versions 200, without a body, as Glance\'s version negotiation answers', async () => {
    const root = await rawRequest(server.url, 'HEAD', '/');
    assert.equal(root.status, 300);
    assert.equal(root.text, '');
    const versions = await rawRequest(server.url, 'HEAD', '/versions');
    assert.equal(versions.status, 200);
    assert.match(String(versions.headers['content-type']), /^application\/json/);
    assert.equal(versions.text, '');
  });

  test('PUT /v2/images is 405 with Allow: GET, POST', async () => {
    const r = await api(server.url, 'PUT', '/v2/images', { headers: ADMIN, json: {} });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET, POST');
    assert.equal(r.body.code, '405 Method Not Allowed');
  });

  test('DELETE /v2/images is 405 with Allow: GET, POST', async () => {
    const r = await api(server.url, 'DELETE', '/v2/images', { headers: ADMIN });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET, POST');
  });

  test('POST /v2/images/{id} is 405 with Allow: GET, PATCH, DELETE', async () => {
    const id = await createImage(server.url, ADMIN);
    const r = await api(server.url, 'POST', `/v2/images/${id}`, { headers: ADMIN, json: {} });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET, PATCH, DELETE');
  });

  test('PUT /v2/images/{id} is 405 even for an unknown id', async () => {
    const r = await api(server.url, 'PUT', `/v2/images/${randomUUID()}`, { headers: ADMIN, json: {} });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET, PATCH, DELETE');
  });

  test('GET /v2/images/{id}/actions/deactivate is 405 with Allow: POST', async () => {
    const id = await createImage(server.url, ADMIN);
    const r = await api(server.url, 'GET', `/v2/images/${id}/actions/deactivate`, { headers: ADMIN });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'POST');
  });

  test('POST /v2/schemas/image is 405 with Allow: GET', async () => {
    const r = await api(server.url, 'POST', '/v2/schemas/image', { headers: ADMIN, json: {} });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET');
  });

  test('an unknown path under /v2 is 404', async () => {
    const r = await api(server.url, 'GET', '/v2/nonexistent', { headers: ADMIN });
    assert.equal(r.status, 404);
    assert.equal(r.body.code, '404 Not Found');
  });

  test('an unknown sub-resource of an image is 404', async () => {
    const id = await createImage(server.url, ADMIN);
    const r = await api(server.url, 'GET', `/v2/images/${id}/nonexistent`, { headers: ADMIN });
    assert.equal(r.status, 404);
  });

  test('an unknown action is 404', async () => {
    const id = await createImage(server.url, ADMIN);
    const r = await api(server.url, 'POST', `/v2/images/${id}/actions/explode`, { headers: ADMIN });
    assert.equal(r.status, 404);
  });
});

describe('a body where none is expected', () => {
  test('GET /v2/images/{id} with a body is 400', async () => {
    const id = await createImage(server.url, ADMIN);
    const r = await rawRequest(server.url, 'GET', `/v2/images/${id}`, {
      headers: { ...ADMIN, accept: 'application/json', 'content-type': 'application/json' },
      body: '{"a":"b"}',
    });
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.text).code, '400 Bad Request');
    assert.match(JSON.parse(r.text).message, /A body is not expected with this request/);
  });

  test('DELETE /v2/images/{id} with a body is 400 and does not delete', async () => {
    const id = await createImage(server.url, ADMIN);
    const r = await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: ADMIN, json: { a: 'b' } });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /A body is not expected with this request/);
    const still = await api(server.url, 'GET', `/v2/images/${id}`, { headers: ADMIN });
    assert.equal(still.status, 200);
  });

  test('POST deactivate with a body is 400', async () => {
    const id = await createImage(server.url, ADMIN);
    const r = await api(server.url, 'POST', `/v2/images/${id}/actions/deactivate`, { headers: ADMIN, json: {} });
    assert.equal(r.status, 400);
  });

  test('GET /v2/schemas/image with a body is 400', async () => {
    const r = await rawRequest(server.url, 'GET', '/v2/schemas/image', { headers: { ...ADMIN, accept: 'application/json' }, body: 'x' });
    assert.equal(r.status, 400);
  });

  test('GET /v2/images (a list) with a body is not refused', async () => {
    const r = await rawRequest(server.url, 'GET', '/v2/images', { headers: { ...ADMIN, accept: 'application/json', 'content-type': 'application/json' }, body: '{}' });
    assert.equal(r.status, 200);
    assert.ok(Array.isArray(JSON.parse(r.text).images));
  });

  test('GET and DELETE without a body (Content-Length: 0) are fine', async () => {
    const id = await createImage(server.url, ADMIN);
    const got = await rawRequest(server.url, 'GET', `/v2/images/${id}`, { headers: { ...ADMIN, accept: 'application/json', 'content-length': '0' } });
    assert.equal(got.status, 200);
    const deleted = await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: ADMIN });
    assert.equal(deleted.status, 204);
  });
});

describe('error body formats', () => {
  test('Accept: application/json gives {message, code, title}', async () => {
    const id = randomUUID();
    const r = await api(server.url, 'GET', `/v2/images/${id}`, { headers: ADMIN });
    assert.equal(r.status, 404);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(Object.keys(r.body).sort(), ['code', 'message', 'title']);
    assert.equal(r.body.code, '404 Not Found');
    assert.equal(r.body.title, 'Not Found');
    assert.equal(typeof r.body.message, 'string');
    assert.ok(r.body.message.includes(id), 'the message names the image');
    // WebOb renders the body template into `message`, HTML-ish remnants included.
    assert.ok(r.body.message.endsWith('<br /><br />\n\n\n'), JSON.stringify(r.body.message));
  });

  test('JSON error bodies carry the status string of other codes too', async () => {
    const r = await api(server.url, 'POST', '/v2/images', { headers: ADMIN, json: { status: 'active' } });
    assert.equal(r.status, 403);
    assert.equal(r.body.code, '403 Forbidden');
    assert.equal(r.body.title, 'Forbidden');
    const bad = await api(server.url, 'POST', '/v2/images', { headers: ADMIN, body: '{not json', contentType: 'application/json' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, '400 Bad Request');
    assert.equal(bad.body.title, 'Bad Request');
  });

  test('without Accept the error is text/plain starting with the status line', async () => {
    const r = await rawRequest(server.url, 'GET', `/v2/images/${randomUUID()}`, { headers: ADMIN });
    assert.equal(r.status, 404);
    assert.equal(r.headers['content-type'], 'text/plain; charset=UTF-8');
    assert.ok(r.text.startsWith('404 Not Found\n\n'), JSON.stringify(r.text));
    assert.ok(r.text.endsWith('\n\n   '), JSON.stringify(r.text));
  });

  test('Accept: text/plain gives the plain text body', async () => {
    const r = await rawRequest(server.url, 'GET', '/v2/nowhere', { headers: { ...ADMIN, accept: 'text/plain' } });
    assert.equal(r.status, 404);
    assert.match(r.headers['content-type'] ?? '', /^text\/plain/);
    assert.equal(r.text, '404 Not Found\n\nThe resource could not be found.\n\n   ');
  });

  test('Accept: */* or text/html gives an HTML page', async () => {
    for (const accept of ['*/*', 'text/html']) {
      const r = await rawRequest(server.url, 'GET', `/v2/images/${randomUUID()}`, { headers: { ...ADMIN, accept } });
      assert.equal(r.status, 404);
      assert.equal(r.headers['content-type'], 'text/html; charset=UTF-8');
      assert.ok(r.text.includes('<title>404 Not Found</title>'), r.text);
      assert.ok(r.text.includes('<h1>404 Not Found</h1>'), r.text);
    }
  });

  test('a 403 without Accept is plain text too', async () => {
    const r = await rawRequest(server.url, 'POST', '/v2/images', { headers: { ...ADMIN, 'content-type': 'application/json' }, body: '{"checksum":"x"}' });
    assert.equal(r.status, 403);
    assert.ok(r.text.startsWith('403 Forbidden\n\n'), JSON.stringify(r.text));
  });

  test('a 405 without Accept is plain text and still carries Allow', async () => {
    const r = await rawRequest(server.url, 'PUT', '/v2/images', { headers: ADMIN });
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, 'GET, POST');
    assert.ok(r.text.startsWith('405 Method Not Allowed\n\n'), JSON.stringify(r.text));
  });

  test('harness personas: an admin reads another project\'s private image, a member of another project gets 404', async () => {
    const id = await createImage(server.url, admin(), { visibility: 'private' });
    assert.equal((await api(server.url, 'GET', `/v2/images/${id}`, { headers: admin() })).status, 200);
    assert.equal((await api(server.url, 'GET', `/v2/images/${id}`, { headers: member('someone-else') })).status, 404);
  });
});

describe('JSON bodies too deep or of the wrong shape are 400, never 5xx', () => {
  const deepArray = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const deepObject = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
  const TOO_DEEP = /nested too deeply/;

  /** Sends `body` (a JSON text) and expects 400 with a message matching `message`. */
  async function expect400(method: string, path: string, headers: Record<string, string>, body: string, message: RegExp, contentType = 'application/json') {
    const r = await api(server.url, method, path, { headers, body, contentType });
    assert.equal(r.status, 400, `${method} ${path} (${body.length} bytes): ${r.status} ${r.text.slice(0, 200)}`);
    assert.match(r.body.message, message);
  }

  test('deep arrays and objects (1k, 5k, 100k levels) to POST/PATCH image and POST/PUT member', async () => {
    const owner = `p-${randomUUID()}`;
    const other = `p-${randomUUID()}`;
    const id = await createImage(server.url, member(owner), { visibility: 'shared' });
    assert.equal((await api(server.url, 'POST', `/v2/images/${id}/members`, { headers: member(owner), json: { member: other } })).status, 200);
    for (const depth of [1000, 5000, 100_000]) {
      for (const deep of [deepArray(depth), deepObject(depth)]) {
        // Each shape a few times: a stack overflow depends on how deep the stack already is.
        for (let i = 0; i < 3; i++) {
          await expect400('POST', '/v2/images', member(owner), deep, TOO_DEEP);
          await expect400('POST', '/v2/images', member(owner), `{"name": ${deep}}`, TOO_DEEP);
          await expect400('POST', '/v2/images', member(owner), `{"x_extra": ${deep}}`, TOO_DEEP);
          await expect400('PATCH', `/v2/images/${id}`, member(owner), deep, TOO_DEEP, PATCH21);
          await expect400('PATCH', `/v2/images/${id}`, member(owner), `[{"op": "replace", "path": "/name", "value": ${deep}}]`, TOO_DEEP, PATCH21);
          await expect400('PATCH', `/v2/images/${id}`, member(owner), `[{"op": "add", "path": "/x_extra", "value": ${deep}}]`, TOO_DEEP, PATCH21);
          await expect400('POST', `/v2/images/${id}/members`, member(owner), `{"member": ${deep}}`, TOO_DEEP);
          await expect400('PUT', `/v2/images/${id}/members/${other}`, member(other), `{"status": ${deep}}`, TOO_DEEP);
          await expect400('PUT', `/v2/images/${id}/members/${other}`, member(other), deep, TOO_DEEP);
        }
      }
    }
    // Strings full of brackets are not nesting.
    const r = await api(server.url, 'POST', '/v2/images', { headers: member(owner), json: { name: '[{'.repeat(100), x_extra: ']}{['.repeat(1000) } });
    assert.equal(r.status, 201);
  });

  test('nesting up to the limit reaches the schema, which explains the wrong type', async () => {
    const owner = `p-${randomUUID()}`;
    const id = await createImage(server.url, member(owner));
    // 32 levels in all: the patch array, the operation object, then 30 levels of value.
    const value = deepObject(30);
    await expect400('PATCH', `/v2/images/${id}`, member(owner), `[{"op": "replace", "path": "/name", "value": ${value}}]`, /is not of type .*'string'/, PATCH21);
    await expect400('PATCH', `/v2/images/${id}`, member(owner), `[{"op": "add", "path": "/x_extra", "value": ${value}}]`, /is not of type .*'string'/, PATCH21);
    await expect400('PATCH', `/v2/images/${id}`, member(owner), `[{"op": "replace", "path": "/name", "value": ${deepObject(31)}}]`, TOO_DEEP, PATCH21);
    await expect400('POST', '/v2/images', member(owner), `{"name": ${deepArray(31)}}`, /is not of type .*'string'/);
    await expect400('POST', '/v2/images', member(owner), `{"min_ram": {"a": [1, 2]}}`, /is not of type 'integer'/);
    await expect400('POST', '/v2/images', member(owner), `{"tags": [[["a"]]]}`, /is not of type .*'string'/);
  });

  test('values whose own toString is not a function are quoted, not converted', async () => {
    const owner = `p-${randomUUID()}`;
    const other = `p-${randomUUID()}`;
    const id = await createImage(server.url, member(owner), { visibility: 'shared' });
    assert.equal((await api(server.url, 'POST', `/v2/images/${id}/members`, { headers: member(owner), json: { member: other } })).status, 200);
    const odd = '{"toString": 1, "valueOf": 2}';
    await expect400('PATCH', `/v2/images/${id}`, member(owner), `[{"op": ${odd}, "path": "/name", "value": "x"}]`, /Invalid operation/, PATCH21);
    await expect400('PATCH', `/v2/images/${id}`, member(owner), `[{"op": "add", "path": ${odd}, "value": "x"}]`, /does not start with/, PATCH21);
    await expect400('PATCH', `/v2/images/${id}`, member(owner), `[{"op": "add", "path": "/x_extra", "value": ${odd}}]`, /is not of type .*'string'/, PATCH21);
    await expect400('PATCH', `/v2/images/${id}`, member(owner), `[{"op": "replace", "path": "/min_ram", "value": ${odd}}]`, /is not of type 'integer'/, PATCH21);
    await expect400('POST', '/v2/images', member(owner), `{"name": ${odd}}`, /is not of type .*'string'/);
    await expect400('POST', `/v2/images/${id}/members`, member(owner), `{"member": ${odd}}`, /Member can not be empty/);
    await expect400('PUT', `/v2/images/${id}/members/${other}`, member(other), `{"status": ${odd}}`, /Invalid status/);
    await expect400('PUT', `/v2/images/${id}/members/${other}`, member(other), `{"status": ["accepted"]}`, /Invalid status/);
    // The membership and policy checks still come first (404 for a stranger, as in Glance).
    const r = await api(server.url, 'PUT', `/v2/images/${id}/members/${other}`, { headers: member(`p-${randomUUID()}`), body: `{"status": ${odd}}`, contentType: 'application/json' });
    assert.equal(r.status, 404);
  });
});
