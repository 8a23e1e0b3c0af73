import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { SqlImageRepository } from '../src/db/image-repository.js';
import { admin, api, createImage, member, PATCH21, startServer, upload, type TestServer } from './support/harness.js';
import { explain, filesIn, startUpload, type UploadOutcome } from './support/streaming.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite', 'postgresql', 'mariadb');

/**
 * Editing the catalogue: tags, PATCH of tags/visibility/owner/protected, and the quotas on
 * tags, properties and stored bytes (api-v2.md §2, image-model.md "Limits", policy-and-auth.md).
 */

let server: TestServer;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.close();
});

const project = () => `e-${randomUUID().slice(0, 8)}`;

const get = (id: string, headers: Record<string, string> = {}, base = server.url) => api(base, 'GET', `/v2/images/${id}`, { headers });
const putTag = (id: string, tag: string, headers: Record<string, string> = {}, base = server.url) =>
  api(base, 'PUT', `/v2/images/${id}/tags/${encodeURIComponent(tag)}`, { headers });
const deleteTag = (id: string, tag: string, headers: Record<string, string> = {}, base = server.url) =>
  api(base, 'DELETE', `/v2/images/${id}/tags/${encodeURIComponent(tag)}`, { headers });
const patch = (id: string, ops: unknown, headers: Record<string, string> = {}, base = server.url) =>
  api(base, 'PATCH', `/v2/images/${id}`, { headers, json: ops, contentType: PATCH21 });
const del = (id: string, headers: Record<string, string> = {}, base = server.url) => api(base, 'DELETE', `/v2/images/${id}`, { headers });

async function tagsOf(id: string, headers: Record<string, string> = {}, base = server.url): Promise<string[]> {
  const r = await get(id, headers, base);
  assert.equal(r.status, 200, r.text);
  return [...r.body.tags].sort();
}

async function withServer(overrides: Parameters<typeof startServer>[0], fn: (s: TestServer) => Promise<void>): Promise<void> {
  const own = await startServer(overrides);
  try {
    await fn(own);
  } finally {
    await own.close();
  }
}

describe('tags', () => {
  test('PUT adds a tag (204, empty body); PUT again changes nothing; DELETE removes it (204)', async () => {
    const h = member(project());
    const id = await createImage(server.url, h, { tags: ['keep'] });
    const put = await putTag(id, 'new', h);
    assert.equal(put.status, 204, put.text);
    assert.equal(put.text, '');
    assert.deepEqual(await tagsOf(id, h), ['keep', 'new']);
    assert.equal((await putTag(id, 'new', h)).status, 204);
    assert.deepEqual(await tagsOf(id, h), ['keep', 'new'], 'a set: still one copy');
    const d = await deleteTag(id, 'new', h);
    assert.equal(d.status, 204, d.text);
    assert.equal(d.text, '');
    assert.deepEqual(await tagsOf(id, h), ['keep']);
  });

  test('DELETE of a tag the image does not have is 404', async () => {
    const h = member(project());
    const id = await createImage(server.url, h, { tags: ['a'] });
    assert.equal((await deleteTag(id, 'never', h)).status, 404);
    await deleteTag(id, 'a', h);
    const again = await deleteTag(id, 'a', h);
    assert.equal(again.status, 404);
    assert.equal(again.body.code, '404 Not Found');
  });

  test('tags with spaces, unicode and punctuation round-trip through the URL', async () => {
    const h = member(project());
    const id = await createImage(server.url, h);
    for (const tag of ['with space', 'ünïcødé', 'a,b', 'x:y', 'per%cent']) assert.equal((await putTag(id, tag, h)).status, 204, tag);
    assert.deepEqual(await tagsOf(id, h), ['a,b', 'per%cent', 'with space', 'x:y', 'ünïcødé'].sort());
    assert.equal((await deleteTag(id, 'with space', h)).status, 204);
    assert.ok(!(await tagsOf(id, h)).includes('with space'));
  });

  test('a tag of 255 characters is accepted, 256 is 400', async () => {
    const h = member(project());
    const id = await createImage(server.url, h);
    assert.equal((await putTag(id, 't'.repeat(255), h)).status, 204);
    const long = await putTag(id, 'u'.repeat(256), h);
    assert.equal(long.status, 400, long.text);
    assert.deepEqual(await tagsOf(id, h), ['t'.repeat(255)]);
  });

  test('tags of an unknown or invisible image are 404; of a visible image of another project 403', async () => {
    const owner = member(project());
    const stranger = member(project());
    assert.equal((await putTag(randomUUID(), 'x', owner)).status, 404);
    assert.equal((await deleteTag(randomUUID(), 'x', owner)).status, 404);
    const priv = await createImage(server.url, owner, { visibility: 'private', tags: ['x'] });
    assert.equal((await putTag(priv, 'y', stranger)).status, 404);
    assert.equal((await deleteTag(priv, 'x', stranger)).status, 404);
    const pub = await createImage(server.url, admin(), { visibility: 'public', tags: ['x'] });
    assert.equal((await putTag(pub, 'y', stranger)).status, 403);
    assert.equal((await deleteTag(pub, 'x', stranger)).status, 403);
    assert.deepEqual(await tagsOf(pub, admin()), ['x']);
    // A member of a shared image may read it but not tag it.
    const ownerProject = project();
    const shared = await createImage(server.url, member(ownerProject));
    const memberProject = project();
    assert.equal((await api(server.url, 'POST', `/v2/images/${shared}/members`, { headers: member(ownerProject), json: { member: memberProject } })).status, 200);
    assert.equal((await putTag(shared, 'y', member(memberProject))).status, 403);
    // Admins may tag anything.
    assert.equal((await putTag(priv, 'by-admin', admin())).status, 204);
  });

  test('PATCH replace /tags sets the whole set (duplicates collapse); add /tags does too; remove /tags is 403', async () => {
    const h = member(project());
    const id = await createImage(server.url, h, { tags: ['old1', 'old2'] });
    const r = await patch(id, [{ op: 'replace', path: '/tags', value: ['x', 'y', 'x'] }], h);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([...r.body.tags].sort(), ['x', 'y']);
    assert.deepEqual(await tagsOf(id, h), ['x', 'y']);
    const added = await patch(id, [{ op: 'add', path: '/tags', value: ['z'] }], h);
    assert.equal(added.status, 200, added.text);
    assert.deepEqual(await tagsOf(id, h), ['z']);
    const emptied = await patch(id, [{ op: 'replace', path: '/tags', value: [] }], h);
    assert.equal(emptied.status, 200);
    assert.deepEqual(await tagsOf(id, h), []);
    assert.equal((await patch(id, [{ op: 'remove', path: '/tags' }], h)).status, 403);
  });

  test('PATCH /tags with a tag over 255 characters or a non-string is 400 and changes nothing', async () => {
    const h = member(project());
    const id = await createImage(server.url, h, { tags: ['a'] });
    assert.equal((await patch(id, [{ op: 'replace', path: '/tags', value: ['ok', 'v'.repeat(256)] }], h)).status, 400);
    assert.equal((await patch(id, [{ op: 'replace', path: '/tags', value: ['ok', 5] }], h)).status, 400);
    assert.equal((await patch(id, [{ op: 'replace', path: '/tags', value: 'ok' }], h)).status, 400);
    assert.deepEqual(await tagsOf(id, h), ['a']);
  });

  test('image_tag_quota: 413 beyond it on PUT, create and PATCH, with nothing stored', async () => {
    await withServer([{ section: 'DEFAULT', name: 'image_tag_quota', value: '2' }], async (s) => {
      const h = member('tags-quota');
      const id = await createImage(s.url, h);
      assert.equal((await putTag(id, 'a', h, s.url)).status, 204);
      assert.equal((await putTag(id, 'b', h, s.url)).status, 204);
      const over = await putTag(id, 'c', h, s.url);
      assert.equal(over.status, 413, over.text);
      assert.equal(over.body.code, '413 Request Entity Too Large');
      assert.deepEqual(await tagsOf(id, h, s.url), ['a', 'b']);
      assert.equal((await putTag(id, 'a', h, s.url)).status, 204, 'an existing tag at the quota is fine');

      const viaPatch = await patch(id, [{ op: 'replace', path: '/tags', value: ['x', 'y', 'z'] }], h, s.url);
      assert.equal(viaPatch.status, 413, viaPatch.text);
      assert.deepEqual(await tagsOf(id, h, s.url), ['a', 'b']);
      assert.equal((await patch(id, [{ op: 'replace', path: '/tags', value: ['x', 'y'] }], h, s.url)).status, 200);

      const created = await api(s.url, 'POST', '/v2/images', { headers: h, json: { name: 'too-many-tags', tags: ['1', '2', '3'] } });
      assert.equal(created.status, 413, created.text);
      const listed = await api(s.url, 'GET', '/v2/images?name=too-many-tags', { headers: h });
      assert.deepEqual(listed.body.images, [], 'no image was created');
      assert.equal((await api(s.url, 'POST', '/v2/images', { headers: h, json: { tags: ['1', '2'] } })).status, 201, 'exactly the quota');
    });
  });
});

describe('image_property_quota', () => {
  const quota = [{ section: 'DEFAULT' as const, name: 'image_property_quota', value: '2' }];

  test('on create: up to the quota is fine, beyond is 413 and creates nothing', async () => {
    await withServer(quota, async (s) => {
      const h = member('props-quota');
      assert.equal((await api(s.url, 'POST', '/v2/images', { headers: h, json: { name: 'two', a: '1', b: '2', min_ram: 5, tags: ['t'] } })).status, 201, 'base attributes and tags do not count');
      const r = await api(s.url, 'POST', '/v2/images', { headers: h, json: { name: 'three', a: '1', b: '2', c: '3' } });
      assert.equal(r.status, 413, r.text);
      assert.equal(r.body.code, '413 Request Entity Too Large');
      assert.deepEqual((await api(s.url, 'GET', '/v2/images?name=three', { headers: h })).body.images, []);
    });
  });

  test('on PATCH: adding beyond the quota is 413 and changes nothing; replacing and swapping at the quota is fine', async () => {
    await withServer(quota, async (s) => {
      const h = member('props-quota');
      const id = await createImage(s.url, h, { a: '1', b: '2' });
      const over = await patch(id, [{ op: 'add', path: '/c', value: '3' }], h, s.url);
      assert.equal(over.status, 413, over.text);
      const mixed = await patch(id, [{ op: 'replace', path: '/name', value: 'renamed' }, { op: 'add', path: '/c', value: '3' }], h, s.url);
      assert.equal(mixed.status, 413, 'the whole patch is refused');
      let img = (await get(id, h, s.url)).body;
      assert.equal(img.c, undefined);
      assert.equal(img.name, null);
      assert.equal((await patch(id, [{ op: 'replace', path: '/a', value: 'changed' }], h, s.url)).status, 200);
      assert.equal((await patch(id, [{ op: 'add', path: '/b', value: 'overwritten' }], h, s.url)).status, 200, 'add of an existing key does not add to the count');
      const swap = await patch(id, [{ op: 'remove', path: '/a' }, { op: 'add', path: '/c', value: '3' }], h, s.url);
      assert.equal(swap.status, 200, swap.text);
      img = (await get(id, h, s.url)).body;
      assert.equal(img.a, undefined);
      assert.equal(img.b, 'overwritten');
      assert.equal(img.c, '3');
      assert.equal((await patch(id, [{ op: 'replace', path: '/min_disk', value: 3 }], h, s.url)).status, 200, 'base attributes do not count');
    });
  });

  test("Glance's own os_glance_* properties do not count", async () => {
    await withServer(quota, async (s) => {
      const h = member('props-quota');
      const repo = new SqlImageRepository(s.service.db);
      const id = randomUUID();
      const now = Date.now();
      await repo.insert({
        id, name: 'importing', status: 'queued', visibility: 'shared', protected: false, os_hidden: false,
        checksum: null, os_hash_algo: null, os_hash_value: null, owner: 'props-quota', size: null, virtual_size: null,
        min_disk: 0, min_ram: 0, container_format: 'bare', disk_format: 'raw', created_at: now, updated_at: now, deleted_at: null,
        tags: [], properties: { a: '1', os_glance_import_task: randomUUID(), os_glance_failed_import: '' }, locations: [],
      });
      const second = await patch(id, [{ op: 'add', path: '/b', value: '2' }], h, s.url);
      assert.equal(second.status, 200, `two user properties plus two os_glance ones are within a quota of 2: ${second.text}`);
      assert.equal((await patch(id, [{ op: 'add', path: '/c', value: '3' }], h, s.url)).status, 413);
    });
  });

  test('users may not set os_glance* properties at all (403, not a quota matter)', async () => {
    const h = member(project());
    assert.equal((await api(server.url, 'POST', '/v2/images', { headers: h, json: { os_glance_mine: 'x' } })).status, 403);
    const id = await createImage(server.url, h);
    assert.equal((await patch(id, [{ op: 'add', path: '/os_glance_mine', value: 'x' }], h)).status, 403);
  });
});

describe('protected images', () => {
  test('DELETE is 403 until protected is replaced with false', async () => {
    const h = member(project());
    const id = await createImage(server.url, h, { protected: true });
    const r = await del(id, h);
    assert.equal(r.status, 403, r.text);
    assert.equal((await del(id, admin())).status, 403, 'admins too');
    assert.equal((await get(id, h)).status, 200);
    const off = await patch(id, [{ op: 'replace', path: '/protected', value: false }], h);
    assert.equal(off.status, 200);
    assert.equal(off.body.protected, false);
    assert.equal((await del(id, h)).status, 204);
    assert.equal((await get(id, h)).status, 404);
  });

  test('protecting an image later also blocks DELETE; non-boolean protected is 400', async () => {
    const h = member(project());
    const id = await createImage(server.url, h);
    assert.equal((await patch(id, [{ op: 'replace', path: '/protected', value: 'yes' }], h)).status, 400);
    assert.equal((await patch(id, [{ op: 'replace', path: '/protected', value: true }], h)).body.protected, true);
    assert.equal((await del(id, h)).status, 403);
    // Other edits of a protected image are allowed.
    assert.equal((await patch(id, [{ op: 'replace', path: '/name', value: 'still editable' }], h)).status, 200);
    assert.equal((await putTag(id, 'tagged', h)).status, 204);
  });
});

describe('visibility and ownership changes', () => {
  test('a project member may set private, shared and community; public needs an admin (403)', async () => {
    const h = member(project());
    const id = await createImage(server.url, h, { visibility: 'private' });
    for (const v of ['shared', 'community', 'private', 'community', 'shared']) {
      const r = await patch(id, [{ op: 'replace', path: '/visibility', value: v }], h);
      assert.equal(r.status, 200, `${v}: ${r.text}`);
      assert.equal(r.body.visibility, v);
    }
    const pub = await patch(id, [{ op: 'replace', path: '/visibility', value: 'public' }], h);
    assert.equal(pub.status, 403, pub.text);
    assert.equal((await get(id, h)).body.visibility, 'shared');
    assert.equal((await api(server.url, 'POST', '/v2/images', { headers: h, json: { visibility: 'public' } })).status, 403);
    const byAdmin = await patch(id, [{ op: 'replace', path: '/visibility', value: 'public' }], admin());
    assert.equal(byAdmin.status, 200);
    assert.equal(byAdmin.body.visibility, 'public');
    // Once public, the owner may take it back to private.
    assert.equal((await patch(id, [{ op: 'replace', path: '/visibility', value: 'private' }], h)).status, 200);
    assert.equal((await patch(id, [{ op: 'replace', path: '/visibility', value: 'secret' }], h)).status, 400);
  });

  test('only an admin changes the owner; the new owner then controls the image', async () => {
    const p = project();
    const q = project();
    const id = await createImage(server.url, member(p), { visibility: 'private' });
    assert.equal((await patch(id, [{ op: 'replace', path: '/owner', value: q }], member(p))).status, 403);
    assert.equal((await patch(id, [{ op: 'replace', path: '/owner', value: p }], member(p))).status, 403, 'even to the same owner');
    assert.equal((await get(id, member(p))).body.owner, p);
    const r = await patch(id, [{ op: 'replace', path: '/owner', value: q }], admin());
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.owner, q);
    assert.equal((await get(id, member(p))).status, 404);
    assert.equal((await patch(id, [{ op: 'replace', path: '/name', value: 'mine now' }], member(q))).status, 200);
  });

  test("PATCH by another project: 403 on a public, community or shared-with-it image, 404 on a private one", async () => {
    const p = project();
    const other = project();
    const ops = [{ op: 'replace', path: '/name', value: 'hijacked' }];
    const pub = await createImage(server.url, admin(), { visibility: 'public', name: 'pub' });
    assert.equal((await patch(pub, ops, member(other))).status, 403);
    const community = await createImage(server.url, member(p), { visibility: 'community', name: 'comm' });
    assert.equal((await patch(community, ops, member(other))).status, 403);
    const shared = await createImage(server.url, member(p), { name: 'shared' });
    assert.equal((await patch(shared, ops, member(other))).status, 404, 'not a member: cannot see it');
    await api(server.url, 'POST', `/v2/images/${shared}/members`, { headers: member(p), json: { member: other } });
    assert.equal((await patch(shared, ops, member(other))).status, 403, 'a member sees it');
    const priv = await createImage(server.url, member(p), { visibility: 'private', name: 'priv' });
    const r = await patch(priv, ops, member(other));
    assert.equal(r.status, 404, r.text);
    for (const id of [pub, community, shared, priv]) assert.notEqual((await get(id)).body.name, 'hijacked');
    // Nor may they delete them.
    assert.equal((await del(pub, member(other))).status, 403);
    assert.equal((await del(priv, member(other))).status, 404);
  });
});

describe('user_storage_quota', () => {
  let q: TestServer;
  before(async () => {
    q = await startServer([{ section: 'DEFAULT', name: 'user_storage_quota', value: '1000' }]);
  });
  after(async () => {
    await q?.close();
  });

  const imageFiles = (s: TestServer) => filesIn(`${s.dataDir}/images`);

  test('600 bytes fit; a second image of 600 is 413, goes back to queued and stores nothing; 400 more fit exactly', async () => {
    const h = member('SQ1');
    const first = await createImage(q.url, h);
    assert.equal((await upload(q.url, first, Buffer.alloc(600, 1), h)).status, 204);
    const second = await createImage(q.url, h);
    const over = await upload(q.url, second, Buffer.alloc(600, 2), h);
    assert.equal(over.status, 413, over.text);
    assert.equal(over.body.code, '413 Request Entity Too Large');
    const img = (await get(second, h, q.url)).body;
    assert.equal(img.status, 'queued');
    assert.equal(img.size, null);
    assert.equal(img.checksum, null);
    assert.equal((await api(q.url, 'GET', `/v2/images/${second}/file`, { headers: h })).status, 204, 'no data');
    assert.ok(!imageFiles(q).includes(second), 'no data file');
    assert.equal(filesIn(`${q.dataDir}/images/.partial`).length, 0, 'no partial file left');
    const exact = await upload(q.url, second, Buffer.alloc(400, 3), h);
    assert.equal(exact.status, 204, exact.text);
    assert.equal((await get(second, h, q.url)).body.size, 400);
    // Full now: even one byte more is refused.
    const third = await createImage(q.url, h);
    assert.equal((await upload(q.url, third, Buffer.alloc(1), h)).status, 413);
  });

  test('the quota is per project, and deleting an image gives its bytes back', async () => {
    const a = member('SQ2');
    const b = member('SQ3');
    const big = await createImage(q.url, a);
    assert.equal((await upload(q.url, big, Buffer.alloc(900), a)).status, 204);
    const other = await createImage(q.url, b);
    assert.equal((await upload(q.url, other, Buffer.alloc(900), b)).status, 204, "another project's quota is separate");
    const more = await createImage(q.url, a);
    assert.equal((await upload(q.url, more, Buffer.alloc(200), a)).status, 413);
    assert.equal((await del(big, a, q.url)).status, 204);
    assert.equal((await upload(q.url, more, Buffer.alloc(200), a)).status, 204);
  });

  /** Starts an upload that declares its size in `headers`, sends a few bytes and holds the rest back. */
  async function heldUpload(id: string, headers: Record<string, string>, contentLength?: number): Promise<UploadOutcome> {
    const up = startUpload(q.url, id, { headers, contentLength });
    await up.write(Buffer.alloc(10));
    const timeout = sleep(5000, undefined, { ref: false }).then((): UploadOutcome => ({ error: new Error('no answer within 5 s: the server waited for the body') }));
    const outcome = await Promise.race([up.outcome, timeout]);
    up.destroy();
    return outcome;
  }

  test('x-openstack-image-size beyond the remaining quota is 413 before the body is read', async () => {
    const h = member('SQ4');
    const used = await createImage(q.url, h);
    assert.equal((await upload(q.url, used, Buffer.alloc(500), h)).status, 204);
    const id = await createImage(q.url, h);
    const o = await heldUpload(id, { ...h, 'x-openstack-image-size': '600' });
    assert.equal(o.status, 413, explain(o));
    const img = (await get(id, h, q.url)).body;
    assert.equal(img.status, 'queued');
    assert.ok(!imageFiles(q).includes(id));
    // Declaring exactly what is left is fine.
    const fits = await upload(q.url, id, Buffer.alloc(500), { ...h, 'x-openstack-image-size': '500' });
    assert.equal(fits.status, 204, fits.text);
  });

  test('a Content-Length beyond the remaining quota is 413 before the body is read', async () => {
    const h = member('SQ5');
    const used = await createImage(q.url, h);
    assert.equal((await upload(q.url, used, Buffer.alloc(700), h)).status, 204);
    const id = await createImage(q.url, h);
    const o = await heldUpload(id, h, 400);
    assert.equal(o.status, 413, explain(o));
    assert.equal((await get(id, h, q.url)).body.status, 'queued');
  });

  test('a chunked upload without a declared size is cut off with 413 once it passes the quota', async () => {
    const h = member('SQ6');
    const id = await createImage(q.url, h);
    const up = startUpload(q.url, id, { headers: h });
    // 1,100 bytes in small pieces, then nothing more: the server must answer on its own once
    // the data passes the 1,000 bytes left (writing on would race its closing the connection).
    for (let i = 0; i < 11; i++) {
      await up.write(Buffer.alloc(100));
      await sleep(5);
    }
    const timeout = sleep(5000, undefined, { ref: false }).then((): UploadOutcome => ({ error: new Error('no answer within 5 s after passing the quota') }));
    const o = await Promise.race([up.outcome, timeout]);
    up.destroy();
    assert.equal(o.status, 413, explain(o));
    const img = (await get(id, h, q.url)).body;
    assert.equal(img.status, 'queued');
    assert.equal(img.size, null);
    assert.ok(!imageFiles(q).includes(id));
  });
});

describe('quotas left at their defaults', () => {
  test('128 tags and 128 properties are accepted', async () => {
    const h = member(project());
    const tags = Array.from({ length: 128 }, (_, i) => `tag${i}`);
    const props = Object.fromEntries(Array.from({ length: 128 }, (_, i) => [`p${i}`, String(i)]));
    const r = await api(server.url, 'POST', '/v2/images', { headers: h, json: { tags, ...props } });
    assert.equal(r.status, 201, r.text);
    assert.equal((await putTag(r.body.id, 'one-more', h)).status, 413);
    assert.equal((await patch(r.body.id, [{ op: 'add', path: '/p128', value: 'x' }], h)).status, 413);
  });
});

describe('concurrent edits of one image', () => {
  test('parallel tag PUTs and property PATCHes all land: none is lost, none is refused', async () => {
    const p = project();
    const id = await createImage(server.url, member(p));
    const tags = Array.from({ length: 12 }, (_, i) => `tag-${i}`);
    const results = await Promise.all([
      ...tags.map((t) => putTag(id, t, member(p))),
      ...tags.map((t, i) => patch(id, [{ op: 'add', path: `/prop_${i}`, value: t }], member(p))),
    ]);
    assert.deepEqual(results.map((r) => r.status).filter((s) => s !== 204 && s !== 200), []);
    const image = (await get(id, member(p))).body;
    assert.deepEqual([...image.tags].sort(), [...tags].sort());
    for (let i = 0; i < tags.length; i++) assert.equal(image[`prop_${i}`], `tag-${i}`);
  });
});
