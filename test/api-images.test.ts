import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { admin, api, createImage, member, PATCH21, projectlessAdmin, rawRequest, startServer, upload, type JsonResponse, type TestServer } from './support/harness.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite', 'postgresql', 'mariadb');

/** The caller of calls that are not about who calls: an admin with no project (noauth's old header-less context). */
const ADMIN = projectlessAdmin();

/** The image metadata API: create, show, list, update (JSON patch), delete, deactivate/reactivate, schemas. */

let server: TestServer;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.close();
});

const PATCH20 = 'application/openstack-images-v2.0-json-patch';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const BASE_KEYS = [
  'id', 'name', 'status', 'visibility', 'protected', 'os_hidden', 'checksum', 'os_hash_algo', 'os_hash_value', 'owner', 'size',
  'virtual_size', 'min_disk', 'min_ram', 'container_format', 'disk_format', 'created_at', 'updated_at', 'tags', 'self', 'file', 'schema',
];

/** A fresh project name, so tests do not see each other's images. */
const project = () => `p-${randomUUID().slice(0, 8)}`;

function create(body: unknown, headers: Record<string, string> = ADMIN, base = server.url): Promise<JsonResponse> {
  return api(base, 'POST', '/v2/images', { headers, json: body });
}

function get(id: string, headers: Record<string, string> = ADMIN, base = server.url): Promise<JsonResponse> {
  return api(base, 'GET', `/v2/images/${id}`, { headers });
}

function patch(id: string, ops: unknown, headers: Record<string, string> = ADMIN, contentType = PATCH21): Promise<JsonResponse> {
  return api(server.url, 'PATCH', `/v2/images/${id}`, { headers, json: ops, contentType });
}

function list(query = '', headers: Record<string, string> = ADMIN, base = server.url): Promise<JsonResponse> {
  return api(base, 'GET', `/v2/images${query}`, { headers });
}

const ids = (r: JsonResponse): string[] => r.body.images.map((i: any) => i.id);

/** Runs `fn` against a server of its own (an empty database), closed afterwards. */
async function withFreshServer(fn: (url: string) => Promise<void>, overrides: Parameters<typeof startServer>[0] = []): Promise<void> {
  const own = await startServer(overrides);
  try {
    await fn(own.url);
  } finally {
    await own.close();
  }
}

/** Creates images one after another (distinct created_at), returning their ids in creation order. */
async function createSeries(base: string, headers: Record<string, string>, fields: Record<string, unknown>[]): Promise<string[]> {
  const out: string[] = [];
  for (const f of fields) {
    out.push(await createImage(base, headers, f));
    await sleep(5);
  }
  return out;
}

async function activeImage(headers: Record<string, string>, fields: Record<string, unknown> = {}): Promise<string> {
  const id = await createImage(server.url, headers, fields);
  const r = await upload(server.url, id, Buffer.from('some image bytes'), headers);
  assert.equal(r.status, 204, r.text);
  return id;
}

describe('POST /v2/images', () => {
  test('201 with Location and every base key at Glance defaults', async () => {
    const p = project();
    const r = await create({}, member(p));
    assert.equal(r.status, 201, r.text);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    const id = r.body.id;
    assert.match(id, UUID);
    assert.equal(r.headers.get('location'), `${server.url}/v2/images/${id}`);
    assert.deepEqual(Object.keys(r.body).sort(), [...BASE_KEYS].sort());
    assert.deepEqual(
      { ...r.body, id: undefined, created_at: undefined, updated_at: undefined },
      {
        id: undefined,
        name: null,
        status: 'queued',
        visibility: 'shared',
        protected: false,
        os_hidden: false,
        checksum: null,
        os_hash_algo: null,
        os_hash_value: null,
        owner: p,
        size: null,
        virtual_size: null,
        min_disk: 0,
        min_ram: 0,
        container_format: null,
        disk_format: null,
        created_at: undefined,
        updated_at: undefined,
        tags: [],
        self: `/v2/images/${id}`,
        file: `/v2/images/${id}/file`,
        schema: '/v2/schemas/image',
      },
    );
    assert.match(r.body.created_at, TIMESTAMP);
    assert.match(r.body.updated_at, TIMESTAMP);
    assert.equal(r.body.updated_at, r.body.created_at);
  });

  test('the created image reads back identically', async () => {
    const p = project();
    const r = await create({ name: 'round', disk_format: 'qcow2', container_format: 'bare', hw_disk_bus: 'scsi' }, member(p));
    assert.equal(r.status, 201);
    const got = await get(r.body.id, member(p));
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, r.body);
  });

  test('all settable attributes are stored as given', async () => {
    const p = project();
    const r = await create(
      {
        name: 'full',
        visibility: 'private',
        protected: false,
        os_hidden: true,
        min_disk: 5,
        min_ram: 512,
        disk_format: 'qcow2',
        container_format: 'ovf',
        tags: ['b', 'a', 'b'],
      },
      member(p),
    );
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.name, 'full');
    assert.equal(r.body.visibility, 'private');
    assert.equal(r.body.os_hidden, true);
    assert.equal(r.body.min_disk, 5);
    assert.equal(r.body.min_ram, 512);
    assert.equal(r.body.disk_format, 'qcow2');
    assert.equal(r.body.container_format, 'ovf');
    assert.deepEqual([...r.body.tags].sort(), ['a', 'b'], 'tags are a set');
  });

  test('custom string properties become top-level keys', async () => {
    const r = await create({ name: 'custom', hw_disk_bus: 'scsi', os_distro: 'ubuntu', description: 'an image', 'x-weird key': '' });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.hw_disk_bus, 'scsi');
    assert.equal(r.body.os_distro, 'ubuntu');
    assert.equal(r.body.description, 'an image');
    assert.equal(r.body['x-weird key'], '');
    const got = await get(r.body.id);
    assert.equal(got.body.hw_disk_bus, 'scsi');
    assert.equal(got.body.os_distro, 'ubuntu');
  });

  test('a name of exactly 255 characters is accepted', async () => {
    const r = await create({ name: 'n'.repeat(255) });
    assert.equal(r.status, 201);
    assert.equal(r.body.name.length, 255);
  });

  test('a given id is used', async () => {
    const id = randomUUID();
    const r = await create({ id, name: 'chosen' });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.id, id);
    assert.equal(r.headers.get('location'), `${server.url}/v2/images/${id}`);
    assert.equal((await get(id)).status, 200);
  });

  test('a duplicate id is 409', async () => {
    const id = randomUUID();
    assert.equal((await create({ id, name: 'first' })).status, 201);
    const r = await create({ id, name: 'second' });
    assert.equal(r.status, 409);
    assert.equal(r.body.code, '409 Conflict');
    assert.equal((await get(id)).body.name, 'first');
  });

  test('the id of a deleted image cannot be reused (409)', async () => {
    const id = randomUUID();
    assert.equal((await create({ id })).status, 201);
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: ADMIN })).status, 204);
    assert.equal((await create({ id })).status, 409);
  });

  const readOnly: Record<string, unknown> = {
    status: 'active',
    checksum: 'd41d8cd98f00b204e9800998ecf8427e',
    size: 10,
    virtual_size: 10,
    created_at: '2024-05-01T10:20:30Z',
    updated_at: '2024-05-01T10:20:30Z',
    self: '/v2/images/x',
    file: '/v2/images/x/file',
    schema: '/v2/schemas/image',
    os_hash_algo: 'sha512',
    os_hash_value: 'abc',
    direct_url: 'file:///x',
  };
  for (const [key, value] of Object.entries(readOnly)) {
    test(`read-only '${key}' on create is 403`, async () => {
      const name = `ro-${randomUUID()}`;
      const r = await create({ name, [key]: value });
      assert.equal(r.status, 403, r.text);
      assert.equal(r.body.code, '403 Forbidden');
      assert.match(r.body.message, new RegExp(`Attribute '${key}' is read-only`));
    });
  }

  const reserved: Record<string, unknown> = {
    os_glance_x: 'y',
    os_glancefoo: 'y',
    os_glance_import_task: 'y',
    deleted: 'x',
    deleted_at: 'x',
    location: 'file:///x',
    locations: [],
  };
  for (const [key, value] of Object.entries(reserved)) {
    test(`reserved '${key}' on create is 403`, async () => {
      const r = await create({ name: 'reserved', [key]: value });
      assert.equal(r.status, 403, r.text);
      assert.equal(r.body.code, '403 Forbidden');
    });
  }

  const invalid: [string, Record<string, unknown>][] = [
    ['visibility not in the enum', { visibility: 'bogus' }],
    ['disk_format not in the enum', { disk_format: 'bogus' }],
    ['container_format not in the enum', { container_format: 'bogus' }],
    ['a numeric custom property', { hw_x: 5 }],
    ['a boolean custom property', { hw_x: true }],
    ['a null custom property', { hw_x: null }],
    ['an object custom property', { hw_x: { a: 'b' } }],
    ['a name of 256 characters', { name: 'n'.repeat(256) }],
    ['a numeric name', { name: 5 }],
    ['an id that is not a UUID', { id: 'not-a-uuid' }],
    ['min_ram as a string', { min_ram: '512' }],
    ['min_ram not an integer', { min_ram: 1.5 }],
    ['min_disk as a string', { min_disk: '1' }],
    ['tags not an array', { tags: 'a' }],
    ['a non-string tag', { tags: [1] }],
    ['a tag of 256 characters', { tags: ['t'.repeat(256)] }],
    ['protected not a boolean', { protected: 'yes' }],
    ['os_hidden not a boolean', { os_hidden: 'no' }],
    ['an owner of 256 characters (admin)', { owner: 'o'.repeat(256) }],
    ['a typed custom property (kernel_id) that is not a UUID', { kernel_id: 'nope' }],
  ];
  for (const [what, body] of invalid) {
    test(`schema violation: ${what} is 400`, async () => {
      const r = await create(body);
      assert.equal(r.status, 400, r.text);
      assert.equal(r.body.code, '400 Bad Request');
    });
  }

  test('negative min_ram or min_disk is 400', async () => {
    assert.equal((await create({ min_ram: -1 })).status, 400);
    assert.equal((await create({ min_disk: -1 })).status, 400);
  });

  test('a custom property name longer than 255 characters is 400', async () => {
    const r = await create({ ['k'.repeat(256)]: 'v' });
    assert.equal(r.status, 400, r.text);
  });

  test('malformed JSON is 400', async () => {
    const r = await api(server.url, 'POST', '/v2/images', { headers: ADMIN, body: '{"name": ', contentType: 'application/json' });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /Malformed JSON in request body/);
  });

  test('an empty body is 400', async () => {
    const r = await api(server.url, 'POST', '/v2/images', { headers: ADMIN, body: '', contentType: 'application/json' });
    assert.equal(r.status, 400);
  });

  test('a JSON array body is 400', async () => {
    const r = await create([{ name: 'x' }]);
    assert.equal(r.status, 400);
  });

  test('a JSON scalar body is 400', async () => {
    assert.equal((await create('just a string')).status, 400);
    assert.equal((await create(42)).status, 400);
  });

  test('a JSON body over 1 MiB is 413 and creates nothing', async () => {
    const p = project();
    const r = await create({ name: 'big', description: 'd'.repeat(1024 * 1024 + 10) }, member(p));
    assert.equal(r.status, 413);
    const l = await list('', member(p));
    assert.deepEqual(ids(l), []);
  });

  test('a JSON body just under 1 MiB is accepted', async () => {
    const r = await create({ name: 'almost', hw_blob: 'd'.repeat(1024 * 1024 - 100) });
    assert.equal(r.status, 201, r.text.slice(0, 200));
  });

  test('a non-admin may not create a public image (403)', async () => {
    const p = project();
    const r = await create({ name: 'pub', visibility: 'public' }, member(p));
    assert.equal(r.status, 403);
    assert.deepEqual(ids(await list('', member(p))), []);
  });

  test('a non-admin may create private, shared and community images', async () => {
    const p = project();
    for (const visibility of ['private', 'shared', 'community']) {
      const r = await create({ visibility }, member(p));
      assert.equal(r.status, 201, `${visibility}: ${r.text}`);
      assert.equal(r.body.visibility, visibility);
    }
  });

  test('an admin may create a public image', async () => {
    const r = await create({ visibility: 'public' }, admin());
    assert.equal(r.status, 201);
    assert.equal(r.body.visibility, 'public');
    assert.equal(r.body.owner, 'admin-project');
  });

  test('a non-admin may not create an image owned by another project (403)', async () => {
    const r = await create({ owner: 'someone-else' }, member(project()));
    assert.equal(r.status, 403);
  });

  test('a non-admin may name its own project as owner', async () => {
    const p = project();
    const r = await create({ owner: p }, member(p));
    assert.equal(r.status, 201);
    assert.equal(r.body.owner, p);
  });

  test('an admin may create an image for another project', async () => {
    const p = project();
    const r = await create({ owner: p }, admin());
    assert.equal(r.status, 201);
    assert.equal(r.body.owner, p);
    assert.equal((await get(r.body.id, member(p))).status, 200, 'the owner project sees it');
  });

  test('without identity headers the caller is an admin with no project: owner is null', async () => {
    const r = await create({ name: 'anonymous' });
    assert.equal(r.status, 201);
    assert.equal(r.body.owner, null);
  });
});

describe('GET /v2/images/{id}', () => {
  test('an unknown id is 404', async () => {
    const r = await get(randomUUID());
    assert.equal(r.status, 404);
    assert.equal(r.body.code, '404 Not Found');
  });

  test('an id that is not a UUID is 404', async () => {
    assert.equal((await get('not-a-uuid')).status, 404);
    assert.equal((await get('12345')).status, 404);
  });

  test("another project's private or shared image is 404; admin sees it", async () => {
    const owner = project();
    const priv = await createImage(server.url, member(owner), { visibility: 'private' });
    const shared = await createImage(server.url, member(owner));
    for (const id of [priv, shared]) {
      assert.equal((await get(id, member(owner))).status, 200);
      const other = await get(id, member(project()));
      assert.equal(other.status, 404);
      assert.equal(other.body.code, '404 Not Found');
      const asAdmin = await get(id, admin());
      assert.equal(asAdmin.status, 200);
      assert.equal(asAdmin.body.owner, owner);
    }
  });

  test('a public image is visible to other projects', async () => {
    const id = await createImage(server.url, admin(), { visibility: 'public', name: 'everyone' });
    const r = await get(id, member(project()));
    assert.equal(r.status, 200);
    assert.equal(r.body.name, 'everyone');
    assert.equal(r.body.visibility, 'public');
  });

  test('a community image is visible by id to other projects', async () => {
    const id = await createImage(server.url, member(project()), { visibility: 'community' });
    assert.equal((await get(id, member(project()))).status, 200);
  });
});

describe('GET /v2/images (list)', () => {
  test('default order is created_at descending; first and schema links', async () => {
    await withFreshServer(async (url) => {
      const p = project();
      const [a, b, c] = await createSeries(url, member(p), [{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
      const r = await list('', member(p), url);
      assert.equal(r.status, 200);
      assert.deepEqual(ids(r), [c, b, a]);
      assert.equal(r.body.first, '/v2/images');
      assert.equal(r.body.schema, '/v2/schemas/images');
      assert.equal(r.body.next, undefined);
      assert.deepEqual(Object.keys(r.body.images[0]).sort(), [...BASE_KEYS].sort());
    });
  });

  test('limit and marker page through the list with next links', async () => {
    await withFreshServer(async (url) => {
      const p = project();
      const [i1, i2, i3, i4, i5] = await createSeries(url, member(p), [{}, {}, {}, {}, {}]);
      const page1 = await list('?limit=2', member(p), url);
      assert.equal(page1.status, 200);
      assert.deepEqual(ids(page1), [i5, i4]);
      assert.equal(page1.body.first, '/v2/images?limit=2');
      assert.equal(page1.body.next, `/v2/images?limit=2&marker=${i4}`);

      const page2 = await api(url, 'GET', page1.body.next, { headers: member(p) });
      assert.equal(page2.status, 200);
      assert.deepEqual(ids(page2), [i3, i2]);
      assert.equal(page2.body.first, '/v2/images?limit=2');
      assert.equal(page2.body.next, `/v2/images?limit=2&marker=${i2}`);

      const page3 = await api(url, 'GET', page2.body.next, { headers: member(p) });
      assert.deepEqual(ids(page3), [i1]);
      assert.equal(page3.body.next, undefined, 'a short page has no next');
    });
  });

  test('a last page that is exactly full has next, and the page after it is empty', async () => {
    await withFreshServer(async (url) => {
      const p = project();
      const [i1, i2, i3, i4] = await createSeries(url, member(p), [{}, {}, {}, {}]);
      const page1 = await list('?limit=2', member(p), url);
      assert.deepEqual(ids(page1), [i4, i3]);
      const page2 = await api(url, 'GET', page1.body.next, { headers: member(p) });
      assert.deepEqual(ids(page2), [i2, i1]);
      assert.equal(page2.body.next, `/v2/images?limit=2&marker=${i1}`);
      const page3 = await api(url, 'GET', page2.body.next, { headers: member(p) });
      assert.equal(page3.status, 200);
      assert.deepEqual(ids(page3), []);
      assert.equal(page3.body.next, undefined);
    });
  });

  test('next carries the other query parameters (and the marker last)', async () => {
    await withFreshServer(async (url) => {
      const p = project();
      const [b, a, c] = await createSeries(url, member(p), [{ name: 'b' }, { name: 'a' }, { name: 'c' }]);
      const page1 = await list('?sort_key=name&sort_dir=asc&limit=1', member(p), url);
      assert.deepEqual(ids(page1), [a]);
      assert.equal(page1.body.first, '/v2/images?sort_key=name&sort_dir=asc&limit=1');
      assert.equal(page1.body.next, `/v2/images?sort_key=name&sort_dir=asc&limit=1&marker=${a}`);
      const page2 = await api(url, 'GET', page1.body.next, { headers: member(p) });
      assert.deepEqual(ids(page2), [b]);
      const page3 = await api(url, 'GET', page2.body.next, { headers: member(p) });
      assert.deepEqual(ids(page3), [c]);

      // A marker given first moves to the end of next; first drops it.
      const fromMarker = await list(`?marker=${a}&limit=1&sort=name:asc`, member(p), url);
      assert.deepEqual(ids(fromMarker), [b]);
      assert.equal(fromMarker.body.first, '/v2/images?limit=1&sort=name%3Aasc');
      assert.equal(fromMarker.body.next, `/v2/images?limit=1&sort=name%3Aasc&marker=${b}`);
    });
  });

  test('the default page size is limit_param_default and limit is capped at api_limit_max', async () => {
    await withFreshServer(
      async (url) => {
        const p = project();
        const all = await createSeries(url, member(p), [{}, {}, {}, {}, {}]);
        const byDefault = await list('', member(p), url);
        assert.deepEqual(ids(byDefault), [all[4], all[3]]);
        assert.equal(byDefault.body.next, `/v2/images?marker=${all[3]}`);
        const capped = await list('?limit=1000', member(p), url);
        assert.deepEqual(ids(capped), [all[4], all[3], all[2]]);
        assert.equal(capped.body.next, `/v2/images?limit=1000&marker=${all[2]}`);
      },
      [
        { section: 'DEFAULT', name: 'api_limit_max', value: '3' },
        { section: 'DEFAULT', name: 'limit_param_default', value: '2' },
      ],
    );
  });

  for (const bad of ['-1', 'abc', '1.5', '']) {
    test(`limit=${bad} is 400`, async () => {
      const r = await list(`?limit=${bad}`);
      assert.equal(r.status, 400, r.text);
      assert.equal(r.body.code, '400 Bad Request');
    });
  }

  test('limit=0 is accepted and returns no images', async () => {
    const r = await list('?limit=0');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.images, []);
  });

  test('an unknown marker is 400', async () => {
    const r = await list(`?marker=${randomUUID()}`);
    assert.equal(r.status, 400);
    assert.equal(r.body.code, '400 Bad Request');
  });

  test("a marker the caller cannot see (another project's private image) is 400", async () => {
    const hidden = await createImage(server.url, member(project()), { visibility: 'private' });
    const r = await list(`?marker=${hidden}`, member(project()));
    assert.equal(r.status, 400);
  });

  test('a deleted image as marker is 400', async () => {
    const p = project();
    const id = await createImage(server.url, member(p));
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: member(p) })).status, 204);
    assert.equal((await list(`?marker=${id}`, member(p))).status, 400);
  });

  test('sort_key/sort_dir and sort=key:dir order the list', async () => {
    await withFreshServer(async (url) => {
      const p = project();
      const [b, a, c] = await createSeries(url, member(p), [{ name: 'b' }, { name: 'a' }, { name: 'c' }]);
      const h = member(p);
      assert.deepEqual(ids(await list('?sort_key=name&sort_dir=asc', h, url)), [a, b, c]);
      assert.deepEqual(ids(await list('?sort_key=name&sort_dir=desc', h, url)), [c, b, a]);
      assert.deepEqual(ids(await list('?sort_key=name', h, url)), [c, b, a], 'direction defaults to desc');
      assert.deepEqual(ids(await list('?sort=name:asc', h, url)), [a, b, c]);
      assert.deepEqual(ids(await list('?sort=name', h, url)), [c, b, a], 'sort= direction defaults to desc');
      assert.deepEqual(ids(await list('?sort=created_at:asc', h, url)), [b, a, c]);
      assert.deepEqual(ids(await list('?sort_key=created_at&sort_dir=asc', h, url)), [b, a, c]);
      // Several keys: all are queued, so status ties and name decides.
      assert.deepEqual(ids(await list('?sort=status:asc,name:asc', h, url)), [a, b, c]);
      assert.deepEqual(ids(await list('?sort_key=status&sort_key=name&sort_dir=asc&sort_dir=desc', h, url)), [c, b, a]);
    });
  });

  const badSorts = [
    'sort_key=bogus',
    'sort_key=min_ram',
    'sort_key=name&sort_dir=sideways',
    'sort=bogus:asc',
    'sort=name:sideways',
    'sort=name:asc&sort_key=name',
    'sort=name&sort_dir=asc',
    'sort_key=name&sort_key=status&sort_dir=asc&sort_dir=desc&sort_dir=asc',
  ];
  for (const q of badSorts) {
    test(`bad sort parameters (${q}) are 400`, async () => {
      const r = await list(`?${q}`);
      assert.equal(r.status, 400, r.text);
      assert.equal(r.body.code, '400 Bad Request');
    });
  }

  test("other projects' private/shared images and community images are absent; public ones are listed", async () => {
    await withFreshServer(async (url) => {
      const p1 = project();
      const p2 = project();
      const priv = await createImage(url, member(p1), { visibility: 'private' });
      const shared = await createImage(url, member(p1));
      const community = await createImage(url, member(p1), { visibility: 'community' });
      const pub = await createImage(url, admin(), { visibility: 'public', owner: p1 });
      const own = await createImage(url, member(p2));
      const hidden = await createImage(url, member(p2), { os_hidden: true });

      const asP2 = new Set(ids(await list('', member(p2), url)));
      assert.deepEqual(asP2, new Set([pub, own]));

      const asP1 = new Set(ids(await list('', member(p1), url)));
      assert.deepEqual(asP1, new Set([priv, shared, community, pub]), 'owners list their own community images');

      const asAdmin = new Set(ids(await list('', admin(), url)));
      assert.deepEqual(asAdmin, new Set([priv, shared, pub, own]), 'admins list every project’s images but not others’ community ones');

      // Hidden from lists, not from GET.
      assert.equal((await get(hidden, member(p2), url)).status, 200);
    });
  });

  test('deleted images are not listed', async () => {
    await withFreshServer(async (url) => {
      const p = project();
      const [keep, gone] = await createSeries(url, member(p), [{}, {}]);
      assert.equal((await api(url, 'DELETE', `/v2/images/${gone}`, { headers: member(p) })).status, 204);
      assert.deepEqual(ids(await list('', member(p), url)), [keep]);
    });
  });
});

describe('PATCH /v2/images/{id}', () => {
  test('add, replace and remove of name, min_ram, custom properties and tags', async () => {
    const p = project();
    const h = member(p);
    const id = await createImage(server.url, h, { name: 'old' });

    let r = await patch(id, [{ op: 'replace', path: '/name', value: 'new' }], h);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.name, 'new');
    assert.deepEqual(Object.keys(r.body).sort(), [...BASE_KEYS].sort(), 'the full image is returned');

    r = await patch(id, [{ op: 'add', path: '/name', value: 'added' }], h);
    assert.equal(r.status, 200);
    assert.equal(r.body.name, 'added');

    r = await patch(id, [{ op: 'replace', path: '/min_ram', value: 1024 }, { op: 'add', path: '/min_disk', value: 7 }], h);
    assert.equal(r.status, 200);
    assert.equal(r.body.min_ram, 1024);
    assert.equal(r.body.min_disk, 7);

    r = await patch(id, [{ op: 'add', path: '/hw_disk_bus', value: 'scsi' }], h);
    assert.equal(r.status, 200);
    assert.equal(r.body.hw_disk_bus, 'scsi');

    r = await patch(id, [{ op: 'replace', path: '/hw_disk_bus', value: 'virtio' }], h);
    assert.equal(r.status, 200);
    assert.equal(r.body.hw_disk_bus, 'virtio');

    r = await patch(id, [{ op: 'add', path: '/hw_disk_bus', value: 'ide' }], h);
    assert.equal(r.status, 200, 'v2.1 add overwrites an existing property');
    assert.equal(r.body.hw_disk_bus, 'ide');

    r = await patch(id, [{ op: 'replace', path: '/tags', value: ['x', 'y', 'x'] }], h);
    assert.equal(r.status, 200);
    assert.deepEqual([...r.body.tags].sort(), ['x', 'y']);

    r = await patch(id, [{ op: 'add', path: '/tags', value: ['z'] }], h);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.tags, ['z']);

    r = await patch(id, [{ op: 'remove', path: '/hw_disk_bus' }], h);
    assert.equal(r.status, 200);
    assert.equal('hw_disk_bus' in r.body, false);

    const got = await get(id, h);
    assert.equal(got.body.name, 'added');
    assert.equal(got.body.min_ram, 1024);
    assert.equal(got.body.min_disk, 7);
    assert.deepEqual(got.body.tags, ['z']);
    assert.equal('hw_disk_bus' in got.body, false);
    assert.match(got.body.updated_at, TIMESTAMP);
    assert.ok(got.body.updated_at >= got.body.created_at);
  });

  test('replace of visibility, protected, os_hidden, formats (queued) and typed custom properties', async () => {
    const p = project();
    const id = await createImage(server.url, member(p));
    const r = await patch(
      id,
      [
        { op: 'replace', path: '/visibility', value: 'private' },
        { op: 'replace', path: '/protected', value: true },
        { op: 'replace', path: '/os_hidden', value: true },
        { op: 'replace', path: '/disk_format', value: 'qcow2' },
        { op: 'replace', path: '/container_format', value: 'ovf' },
        { op: 'add', path: '/os_distro', value: 'debian' },
      ],
      member(p),
    );
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.visibility, 'private');
    assert.equal(r.body.protected, true);
    assert.equal(r.body.os_hidden, true);
    assert.equal(r.body.disk_format, 'qcow2');
    assert.equal(r.body.container_format, 'ovf');
    assert.equal(r.body.os_distro, 'debian');
    assert.equal((await patch(id, [{ op: 'replace', path: '/protected', value: false }], member(p))).status, 200);
  });

  test('an empty patch returns the image unchanged', async () => {
    const id = await createImage(server.url, ADMIN, { name: 'same' });
    const r = await patch(id, []);
    assert.equal(r.status, 200);
    assert.equal(r.body.name, 'same');
  });

  test('JSON-pointer escapes ~0 and ~1 name properties with ~ and /', async () => {
    const id = await createImage(server.url, ADMIN);
    const r = await patch(id, [{ op: 'add', path: '/a~1b~0c', value: 'v' }]);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body['a/b~c'], 'v');
  });

  test('replace of a missing custom property is 409', async () => {
    const id = await createImage(server.url, ADMIN);
    const r = await patch(id, [{ op: 'replace', path: '/hw_missing', value: 'x' }]);
    assert.equal(r.status, 409);
    assert.equal(r.body.code, '409 Conflict');
  });

  test('remove of a missing custom property is 409', async () => {
    const id = await createImage(server.url, ADMIN);
    const r = await patch(id, [{ op: 'remove', path: '/hw_missing' }]);
    assert.equal(r.status, 409);
  });

  for (const attr of ['name', 'min_ram', 'tags', 'visibility', 'disk_format']) {
    test(`remove of base attribute '${attr}' is 403`, async () => {
      const id = await createImage(server.url, ADMIN, { name: 'keep' });
      const r = await patch(id, [{ op: 'remove', path: `/${attr}` }]);
      assert.equal(r.status, 403, r.text);
      assert.equal((await get(id)).body.name, 'keep');
    });
  }

  const readOnlyPatches: [string, unknown][] = [
    ['status', 'active'],
    ['id', randomUUID()],
    ['checksum', 'd41d8cd98f00b204e9800998ecf8427e'],
    ['size', 5],
    ['virtual_size', 5],
    ['created_at', '2024-05-01T10:20:30Z'],
    ['updated_at', '2024-05-01T10:20:30Z'],
    ['os_hash_algo', 'sha512'],
    ['os_hash_value', 'abc'],
    ['self', '/x'],
    ['file', '/x'],
    ['schema', '/x'],
    ['direct_url', 'file:///x'],
  ];
  for (const [attr, value] of readOnlyPatches) {
    test(`replace of read-only '${attr}' is 403`, async () => {
      const id = await createImage(server.url, ADMIN);
      const r = await patch(id, [{ op: 'replace', path: `/${attr}`, value }]);
      assert.equal(r.status, 403, r.text);
      assert.match(r.body.message, new RegExp(`Attribute '${attr}' is read-only`));
      assert.equal((await get(id)).body.status, 'queued');
    });
  }

  test('add of a read-only attribute is 403 too', async () => {
    const id = await createImage(server.url, ADMIN);
    assert.equal((await patch(id, [{ op: 'add', path: '/status', value: 'active' }])).status, 403);
    assert.equal((await patch(id, [{ op: 'remove', path: '/checksum' }])).status, 403);
  });

  for (const key of ['os_glance_x', 'os_glance_import_task', 'deleted', 'deleted_at', 'location']) {
    test(`add of reserved '${key}' is 403`, async () => {
      const id = await createImage(server.url, ADMIN);
      const r = await patch(id, [{ op: 'add', path: `/${key}`, value: 'x' }]);
      assert.equal(r.status, 403, r.text);
      assert.equal(key in (await get(id)).body, false);
    });
  }

  test('a content type other than the JSON-patch ones is 415 with Accept-Patch', async () => {
    const id = await createImage(server.url, ADMIN, { name: 'untouched' });
    for (const type of ['application/json', 'application/json-patch+json', 'text/plain']) {
      const r = await patch(id, [{ op: 'replace', path: '/name', value: 'x' }], ADMIN, type);
      assert.equal(r.status, 415, type);
      assert.equal(r.body.code, '415 Unsupported Media Type');
      assert.equal(r.headers.get('accept-patch'), `${PATCH20}, ${PATCH21}`);
    }
    const noType = await rawRequest(server.url, 'PATCH', `/v2/images/${id}`, { headers: { ...ADMIN, accept: 'application/json' }, body: '[]' });
    assert.equal(noType.status, 415);
    assert.equal(noType.headers['accept-patch'], `${PATCH20}, ${PATCH21}`);
    assert.equal((await get(id)).body.name, 'untouched');
  });

  test('the v2.0 media type takes {"add": path} operations; add of an existing property is 409', async () => {
    const id = await createImage(server.url, ADMIN);
    let r = await patch(id, [{ add: '/hw_x', value: '1' }], ADMIN, PATCH20);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.hw_x, '1');

    r = await patch(id, [{ add: '/hw_x', value: '2' }], ADMIN, PATCH20);
    assert.equal(r.status, 409);
    assert.equal((await get(id)).body.hw_x, '1');

    r = await patch(id, [{ replace: '/hw_x', value: '3' }], ADMIN, PATCH20);
    assert.equal(r.status, 200);
    assert.equal(r.body.hw_x, '3');

    r = await patch(id, [{ remove: '/hw_x' }], ADMIN, PATCH20);
    assert.equal(r.status, 200);
    assert.equal('hw_x' in r.body, false);

    r = await patch(id, [{ replace: '/hw_missing', value: 'x' }], ADMIN, PATCH20);
    assert.equal(r.status, 409);
  });

  test('with the v2.0 media type, add of a base attribute (always present) is 409', async () => {
    const id = await createImage(server.url, ADMIN, { name: 'orig' });
    const r = await patch(id, [{ add: '/name', value: 'other' }], ADMIN, PATCH20);
    assert.equal(r.status, 409, r.text);
    assert.equal((await get(id)).body.name, 'orig');
    const replaced = await patch(id, [{ replace: '/name', value: 'other' }], ADMIN, PATCH20);
    assert.equal(replaced.status, 200);
    assert.equal(replaced.body.name, 'other');
  });

  test('v2.0 operations need exactly one of add/remove/replace (400)', async () => {
    const id = await createImage(server.url, ADMIN);
    assert.equal((await patch(id, [{ add: '/a', replace: '/b', value: 'x' }], ADMIN, PATCH20)).status, 400);
    assert.equal((await patch(id, [{ op: 'add', path: '/a', value: 'x' }], ADMIN, PATCH20)).status, 400);
  });

  const badPointers: [string, unknown][] = [
    ['no leading slash', 'name'],
    ['an empty segment', '//name'],
    ['a trailing slash', '/name/'],
    ['the empty pointer', ''],
    ['a dangling ~', '/a~'],
    ['a bad ~ escape', '/a~2b'],
    ['a nested path', '/name/first'],
    ['a non-string path', 5],
  ];
  for (const [what, path] of badPointers) {
    test(`a pointer with ${what} is 400`, async () => {
      const id = await createImage(server.url, ADMIN);
      const r = await patch(id, [{ op: 'add', path, value: 'x' }]);
      assert.equal(r.status, 400, r.text);
      assert.equal(r.body.code, '400 Bad Request');
    });
  }

  test('add or replace without value is 400', async () => {
    const id = await createImage(server.url, ADMIN, { name: 'n' });
    assert.equal((await patch(id, [{ op: 'add', path: '/name' }])).status, 400);
    assert.equal((await patch(id, [{ op: 'replace', path: '/name' }])).status, 400);
  });

  test('remove needs no value', async () => {
    const id = await createImage(server.url, ADMIN, { hw_y: 'y' });
    assert.equal((await patch(id, [{ op: 'remove', path: '/hw_y' }])).status, 200);
  });

  for (const op of ['move', 'copy', 'test', 'ADD', '']) {
    test(`unknown op '${op}' is 400`, async () => {
      const id = await createImage(server.url, ADMIN);
      const r = await patch(id, [{ op, path: '/name', from: '/name', value: 'x' }]);
      assert.equal(r.status, 400, r.text);
    });
  }

  test('an operation without op or without path is 400', async () => {
    const id = await createImage(server.url, ADMIN);
    assert.equal((await patch(id, [{ path: '/name', value: 'x' }])).status, 400);
    assert.equal((await patch(id, [{ op: 'add', value: 'x' }])).status, 400);
  });

  test('a body that is not an array of objects is 400', async () => {
    const id = await createImage(server.url, ADMIN);
    assert.equal((await patch(id, { op: 'add', path: '/name', value: 'x' })).status, 400);
    assert.equal((await patch(id, ['add'])).status, 400);
    const malformed = await api(server.url, 'PATCH', `/v2/images/${id}`, { headers: ADMIN, body: '[{"op":', contentType: PATCH21 });
    assert.equal(malformed.status, 400);
  });

  const invalidValues: [string, unknown][] = [
    ['visibility', 'bogus'],
    ['disk_format', 'bogus'],
    ['container_format', 'bogus'],
    ['min_ram', 'x'],
    ['min_ram', -1],
    ['min_disk', -5],
    ['min_disk', 1.5],
    ['name', 'n'.repeat(256)],
    ['protected', 'yes'],
    ['os_hidden', 1],
    ['tags', 'a'],
    ['tags', [1]],
    ['hw_custom', 5],
    ['hw_custom', null],
    ['kernel_id', 'not-a-uuid'],
  ];
  for (const [attr, value] of invalidValues) {
    test(`an invalid value for ${attr} (${JSON.stringify(value).slice(0, 20)}) is 400`, async () => {
      const id = await createImage(server.url, ADMIN, { name: 'valid' });
      const r = await patch(id, [{ op: 'add', path: `/${attr}`, value }]);
      assert.equal(r.status, 400, r.text);
      const got = (await get(id)).body;
      assert.equal(got.name, 'valid');
      assert.equal(got.visibility, 'shared');
      assert.equal(got.min_ram, 0);
    });
  }

  test('several operations are atomic: a conflict in op 2 leaves op 1 unapplied', async () => {
    const id = await createImage(server.url, ADMIN, { name: 'before' });
    const r = await patch(id, [
      { op: 'replace', path: '/name', value: 'after' },
      { op: 'replace', path: '/hw_missing', value: 'x' },
    ]);
    assert.equal(r.status, 409);
    assert.equal((await get(id)).body.name, 'before');
  });

  test('several operations are atomic: an invalid value in op 2 leaves op 1 unapplied', async () => {
    const id = await createImage(server.url, ADMIN, { name: 'before' });
    const r = await patch(id, [
      { op: 'add', path: '/hw_new', value: 'v' },
      { op: 'replace', path: '/name', value: 'after' },
      { op: 'replace', path: '/visibility', value: 'bogus' },
    ]);
    assert.equal(r.status, 400);
    const got = (await get(id)).body;
    assert.equal(got.name, 'before');
    assert.equal('hw_new' in got, false);
  });

  test('several operations are atomic: removing a base attribute in op 2 leaves op 1 unapplied', async () => {
    const id = await createImage(server.url, ADMIN, { name: 'before', hw_keep: 'k' });
    const r = await patch(id, [
      { op: 'remove', path: '/hw_keep' },
      { op: 'remove', path: '/name' },
    ]);
    assert.equal(r.status, 403);
    assert.equal((await get(id)).body.hw_keep, 'k');
  });

  test('operations are validated (read-only, reserved, schema) before any is applied', async () => {
    // Glance's deserializer checks every change before the controller applies one, so a
    // read-only or invalid op 2 wins over a conflict op 1 would raise.
    const id = await createImage(server.url, ADMIN);
    const readOnly = await patch(id, [
      { op: 'replace', path: '/hw_missing', value: 'x' },
      { op: 'replace', path: '/status', value: 'active' },
    ]);
    assert.equal(readOnly.status, 403, readOnly.text);
    const invalid = await patch(id, [
      { op: 'remove', path: '/hw_missing' },
      { op: 'replace', path: '/min_ram', value: 'lots' },
    ]);
    assert.equal(invalid.status, 400, invalid.text);
  });

  test('disk_format and container_format cannot change on an active image (403)', async () => {
    const p = project();
    const id = await activeImage(member(p));
    const disk = await patch(id, [{ op: 'replace', path: '/disk_format', value: 'qcow2' }], member(p));
    assert.equal(disk.status, 403, disk.text);
    const container = await patch(id, [{ op: 'replace', path: '/container_format', value: 'ovf' }], member(p));
    assert.equal(container.status, 403, container.text);
    const got = (await get(id, member(p))).body;
    assert.equal(got.disk_format, 'raw');
    assert.equal(got.container_format, 'bare');
    // Glance's setter refuses the assignment itself, even of the value the image already has.
    const same = await patch(id, [{ op: 'replace', path: '/disk_format', value: 'raw' }], member(p));
    assert.equal(same.status, 403, same.text);
    // Other attributes still change on an active image.
    const renamed = await patch(id, [{ op: 'replace', path: '/name', value: 'renamed' }], member(p));
    assert.equal(renamed.status, 200);
    assert.equal(renamed.body.status, 'active');
  });

  test("another project's PATCH is 404 on an image it cannot see, 403 on a public one", async () => {
    const owner = project();
    const stranger = member(project());
    const priv = await createImage(server.url, member(owner), { name: 'mine' });
    const hidden = await patch(priv, [{ op: 'replace', path: '/name', value: 'stolen' }], stranger);
    assert.equal(hidden.status, 404);

    const pub = await createImage(server.url, admin(), { visibility: 'public', name: 'theirs' });
    const visible = await patch(pub, [{ op: 'replace', path: '/name', value: 'stolen' }], stranger);
    assert.equal(visible.status, 403);
    assert.equal((await get(pub)).body.name, 'theirs');

    const community = await createImage(server.url, member(owner), { visibility: 'community', name: 'comm' });
    assert.equal((await patch(community, [{ op: 'replace', path: '/name', value: 'stolen' }], stranger)).status, 403);
    assert.equal((await get(priv)).body.name, 'mine');
  });

  test('PATCH of an unknown image is 404', async () => {
    assert.equal((await patch(randomUUID(), [{ op: 'replace', path: '/name', value: 'x' }])).status, 404);
  });

  test('a non-admin may not make an image public (403) but may make it community or private', async () => {
    const p = project();
    const id = await createImage(server.url, member(p));
    assert.equal((await patch(id, [{ op: 'replace', path: '/visibility', value: 'public' }], member(p))).status, 403);
    assert.equal((await get(id, member(p))).body.visibility, 'shared');
    const comm = await patch(id, [{ op: 'replace', path: '/visibility', value: 'community' }], member(p));
    assert.equal(comm.status, 200);
    assert.equal(comm.body.visibility, 'community');
    const priv = await patch(id, [{ op: 'replace', path: '/visibility', value: 'private' }], member(p));
    assert.equal(priv.status, 200);
    assert.equal(priv.body.visibility, 'private');
    const pub = await patch(id, [{ op: 'replace', path: '/visibility', value: 'public' }], admin());
    assert.equal(pub.status, 200);
    assert.equal(pub.body.visibility, 'public');
  });

  test('only an admin may change the owner', async () => {
    const p = project();
    const id = await createImage(server.url, member(p));
    assert.equal((await patch(id, [{ op: 'replace', path: '/owner', value: 'elsewhere' }], member(p))).status, 403);
    assert.equal((await patch(id, [{ op: 'replace', path: '/owner', value: p }], member(p))).status, 403, 'even with the same owner');
    const r = await patch(id, [{ op: 'replace', path: '/owner', value: 'elsewhere' }], admin());
    assert.equal(r.status, 200);
    assert.equal(r.body.owner, 'elsewhere');
    assert.equal((await get(id, member(p))).status, 404, 'the former owner no longer sees it');
  });
});

describe('DELETE /v2/images/{id}', () => {
  test('204, then GET 404 and a second DELETE 404', async () => {
    const p = project();
    const id = await createImage(server.url, member(p));
    const r = await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: member(p) });
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    assert.equal((await get(id, member(p))).status, 404);
    assert.equal((await get(id, admin())).status, 404);
    const again = await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: member(p) });
    assert.equal(again.status, 404);
    assert.equal((await patch(id, [{ op: 'replace', path: '/name', value: 'x' }], member(p))).status, 404);
  });

  test('an active image can be deleted; its file is gone', async () => {
    const p = project();
    const id = await activeImage(member(p));
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: member(p) })).status, 204);
    assert.equal((await api(server.url, 'GET', `/v2/images/${id}/file`, { headers: member(p) })).status, 404);
  });

  test('a protected image is 403 until protected is replaced with false', async () => {
    const p = project();
    const id = await createImage(server.url, member(p), { protected: true });
    const r = await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: member(p) });
    assert.equal(r.status, 403);
    assert.equal(r.body.code, '403 Forbidden');
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: admin() })).status, 403, 'even for an admin');
    assert.equal((await get(id, member(p))).status, 200);
    assert.equal((await patch(id, [{ op: 'replace', path: '/protected', value: false }], member(p))).status, 200);
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: member(p) })).status, 204);
    assert.equal((await get(id, member(p))).status, 404);
  });

  test("another project's DELETE is 404 on an image it cannot see, 403 on a public one", async () => {
    const owner = project();
    const id = await createImage(server.url, member(owner));
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: member(project()) })).status, 404);
    assert.equal((await get(id, member(owner))).status, 200);

    const pub = await createImage(server.url, admin(), { visibility: 'public' });
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${pub}`, { headers: member(project()) })).status, 403);
    assert.equal((await get(pub)).status, 200);
  });

  test("an admin may delete another project's image", async () => {
    const id = await createImage(server.url, member(project()));
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: admin() })).status, 204);
  });

  test('DELETE of an unknown image is 404', async () => {
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${randomUUID()}`, { headers: ADMIN })).status, 404);
  });
});

describe('deactivate / reactivate', () => {
  const action = (id: string, name: 'deactivate' | 'reactivate', headers: Record<string, string> = ADMIN) =>
    api(server.url, 'POST', `/v2/images/${id}/actions/${name}`, { headers });

  test('a queued image cannot be deactivated or reactivated (403)', async () => {
    const p = project();
    const id = await createImage(server.url, member(p));
    const d = await action(id, 'deactivate', member(p));
    assert.equal(d.status, 403);
    assert.equal(d.body.code, '403 Forbidden');
    assert.equal((await action(id, 'reactivate', member(p))).status, 403);
    assert.equal((await get(id, member(p))).body.status, 'queued');
  });

  test('an active image deactivates (204, idempotent), blocks non-admin download, reactivates', async () => {
    const p = project();
    const data = Buffer.from('some image bytes');
    const id = await activeImage(member(p));

    const first = await action(id, 'deactivate', member(p));
    assert.equal(first.status, 204);
    assert.equal(first.text, '');
    assert.equal((await get(id, member(p))).body.status, 'deactivated');
    assert.equal((await action(id, 'deactivate', member(p))).status, 204, 'deactivating again is a no-op');
    assert.equal((await get(id, member(p))).body.status, 'deactivated');

    const memberDownload = await api(server.url, 'GET', `/v2/images/${id}/file`, { headers: member(p) });
    assert.equal(memberDownload.status, 403);
    const adminDownload = await fetch(`${server.url}/v2/images/${id}/file`, { headers: admin() });
    assert.equal(adminDownload.status, 200);
    assert.deepEqual(Buffer.from(await adminDownload.arrayBuffer()), data);

    assert.equal((await action(id, 'reactivate', member(p))).status, 204);
    assert.equal((await get(id, member(p))).body.status, 'active');
    assert.equal((await action(id, 'reactivate', member(p))).status, 204, 'reactivating an active image is a no-op');
    assert.equal((await get(id, member(p))).body.status, 'active');
    const again = await fetch(`${server.url}/v2/images/${id}/file`, { headers: member(p) });
    assert.equal(again.status, 200);
    assert.deepEqual(Buffer.from(await again.arrayBuffer()), data);
  });

  test('a deactivated image stays listed for its owner', async () => {
    const p = project();
    const id = await activeImage(member(p));
    assert.equal((await action(id, 'deactivate', member(p))).status, 204);
    const l = await list('?limit=1000', member(p));
    const mine = l.body.images.filter((i: any) => i.owner === p);
    assert.deepEqual(mine.map((i: any) => [i.id, i.status]), [[id, 'deactivated']]);
  });

  test('unknown image is 404; another project gets 404 (invisible) or 403 (public)', async () => {
    assert.equal((await action(randomUUID(), 'deactivate')).status, 404);
    assert.equal((await action(randomUUID(), 'reactivate')).status, 404);

    const owner = project();
    const priv = await activeImage(member(owner));
    assert.equal((await action(priv, 'deactivate', member(project()))).status, 404);
    assert.equal((await get(priv, member(owner))).body.status, 'active');

    const pub = await activeImage(admin(), { visibility: 'public' });
    assert.equal((await action(pub, 'deactivate', member(project()))).status, 403);
    assert.equal((await get(pub)).body.status, 'active');
  });
});

describe('schemas', () => {
  test('GET /v2/schemas/image describes the image with Glance base names', async () => {
    const r = await api(server.url, 'GET', '/v2/schemas/image', { headers: ADMIN });
    assert.equal(r.status, 200);
    assert.equal(r.body.name, 'image');
    const names = Object.keys(r.body.properties);
    for (const key of [...BASE_KEYS, 'direct_url', 'locations']) assert.ok(names.includes(key), `schema lists ${key}`);
    assert.equal(names.includes('stores'), false, 'no stores property without multi-store');
    assert.deepEqual(r.body.additionalProperties, { type: 'string' });
    assert.deepEqual(r.body.links, [
      { rel: 'self', href: '{self}' },
      { rel: 'enclosure', href: '{file}' },
      { rel: 'describedby', href: '{schema}' },
    ]);
    assert.deepEqual(r.body.properties.visibility.enum, ['community', 'public', 'private', 'shared']);
    assert.deepEqual(r.body.properties.disk_format.enum, [null, 'ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop']);
    assert.deepEqual(r.body.properties.container_format.enum, [null, 'ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', 'compressed']);
    assert.deepEqual(r.body.properties.name.type, ['null', 'string']);
    assert.equal(r.body.properties.name.maxLength, 255);
    assert.equal(r.body.properties.min_ram.type, 'integer');
    assert.equal(r.body.properties.status.readOnly, true);
    assert.equal(r.body.properties.id.pattern, '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$');
  });

  test('GET /v2/schemas/images wraps the image schema in a collection', async () => {
    const image = await api(server.url, 'GET', '/v2/schemas/image', { headers: ADMIN });
    const r = await api(server.url, 'GET', '/v2/schemas/images', { headers: ADMIN });
    assert.equal(r.status, 200);
    assert.equal(r.body.name, 'images');
    assert.equal(r.body.properties.images.type, 'array');
    assert.deepEqual(r.body.properties.images.items, image.body);
    assert.deepEqual(r.body.properties.first, { type: 'string' });
    assert.deepEqual(r.body.properties.next, { type: 'string' });
    assert.deepEqual(r.body.properties.schema, { type: 'string' });
    assert.deepEqual(r.body.links, [
      { rel: 'first', href: '{first}' },
      { rel: 'next', href: '{next}' },
      { rel: 'describedby', href: '{schema}' },
    ]);
  });

  test('the schema follows configured disk and container formats', async () => {
    await withFreshServer(
      async (url) => {
        const r = await api(url, 'GET', '/v2/schemas/image', { headers: ADMIN });
        assert.deepEqual(r.body.properties.disk_format.enum, [null, 'raw', 'qcow2']);
        assert.equal((await create({ disk_format: 'vmdk' }, ADMIN, url)).status, 400);
        assert.equal((await create({ disk_format: 'qcow2' }, ADMIN, url)).status, 201);
      },
      [{ section: 'image_format', name: 'disk_formats', value: 'raw,qcow2' }],
    );
  });
});
