import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { admin, api, createImage, member, PATCH21, startServer, type JsonResponse, type TestServer } from './support/harness.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite', 'postgresql', 'mariadb');

/**
 * Image sharing (api-v2.md §7, image-model.md §2, policy-and-auth.md §7): members of shared
 * images, their answers, and what each answer does to the member's view of the catalogue.
 */

let server: TestServer;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.close();
});

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const MEMBER_KEYS = ['created_at', 'image_id', 'member_id', 'schema', 'status', 'updated_at'];

/** Fresh project names per test, so tests do not see each other's images. */
const projects = () => {
  const tag = randomUUID().slice(0, 6);
  return { owner: `own-${tag}`, b: `b-${tag}`, c: `c-${tag}`, d: `d-${tag}`, stranger: `x-${tag}` };
};

const call = (method: string, path: string, headers: Record<string, string>, json?: unknown): Promise<JsonResponse> =>
  api(server.url, method, path, { headers, json });

const addMember = (image: string, who: string, headers: Record<string, string>, base = server.url) =>
  api(base, 'POST', `/v2/images/${image}/members`, { headers, json: { member: who } });
const listMembers = (image: string, headers: Record<string, string>) => call('GET', `/v2/images/${image}/members`, headers);
const getMember = (image: string, who: string, headers: Record<string, string>) => call('GET', `/v2/images/${image}/members/${who}`, headers);
const setStatus = (image: string, who: string, status: unknown, headers: Record<string, string>) =>
  call('PUT', `/v2/images/${image}/members/${who}`, headers, { status });
const removeMember = (image: string, who: string, headers: Record<string, string>) => call('DELETE', `/v2/images/${image}/members/${who}`, headers);
const getImage = (image: string, headers: Record<string, string>) => call('GET', `/v2/images/${image}`, headers);
const patch = (image: string, ops: unknown, headers: Record<string, string>) =>
  api(server.url, 'PATCH', `/v2/images/${image}`, { headers, json: ops, contentType: PATCH21 });

async function listIds(query: string, headers: Record<string, string>): Promise<string[]> {
  const r = await call('GET', `/v2/images${query}`, headers);
  assert.equal(r.status, 200, r.text);
  return r.body.images.map((i: any) => i.id);
}

async function ok(r: Promise<JsonResponse>, status = 200): Promise<JsonResponse> {
  const res = await r;
  assert.equal(res.status, status, res.text);
  return res;
}

/** A shared image of `owner` with the given members added (all pending). */
async function sharedWith(owner: string, ...members: string[]): Promise<string> {
  const id = await createImage(server.url, member(owner), { name: `shared-by-${owner}` });
  for (const m of members) await ok(addMember(id, m, member(owner)));
  return id;
}

describe('POST /v2/images/{id}/members', () => {
  test('200 (not 201) with the member JSON; new members are pending', async () => {
    const p = projects();
    const id = await createImage(server.url, member(p.owner));
    const r = await addMember(id, p.b, member(p.owner));
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(Object.keys(r.body).sort(), MEMBER_KEYS);
    assert.equal(r.body.member_id, p.b);
    assert.equal(r.body.image_id, id);
    assert.equal(r.body.status, 'pending');
    assert.equal(r.body.schema, '/v2/schemas/member');
    assert.match(r.body.created_at, TIMESTAMP);
    assert.match(r.body.updated_at, TIMESTAMP);
    assert.equal(r.body.created_at, r.body.updated_at);
    // It reads back the same.
    assert.deepEqual((await ok(getMember(id, p.b, member(p.owner)))).body, r.body);
  });

  test('a duplicate member is 409', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b);
    const r = await addMember(id, p.b, member(p.owner));
    assert.equal(r.status, 409, r.text);
    assert.equal(r.body.code, '409 Conflict');
    assert.match(r.body.message, new RegExp(`^Member ${p.b} is duplicated for image ${id}`));
    assert.equal((await ok(listMembers(id, member(p.owner)))).body.members.length, 1);
  });

  for (const [what, body] of [
    ['no member key', {}],
    ['an empty member', { member: '' }],
    ['a null member', { member: null }],
    ['a JSON array', [{ member: 'x' }]],
  ] as const) {
    test(`${what} is 400`, async () => {
      const p = projects();
      const id = await createImage(server.url, member(p.owner));
      const r = await call('POST', `/v2/images/${id}/members`, member(p.owner), body);
      assert.equal(r.status, 400, r.text);
      assert.equal((await ok(listMembers(id, member(p.owner)))).body.members.length, 0);
    });
  }

  test('malformed JSON is 400', async () => {
    const p = projects();
    const id = await createImage(server.url, member(p.owner));
    const r = await api(server.url, 'POST', `/v2/images/${id}/members`, { headers: member(p.owner), body: '{"member":', contentType: 'application/json' });
    assert.equal(r.status, 400);
  });

  for (const visibility of ['private', 'community', 'public'] as const) {
    test(`a ${visibility} image has no members: 403 'Not allowed to create members' / 'Only shared images have members'`, async () => {
      const p = projects();
      const headers = visibility === 'public' ? admin() : member(p.owner);
      const id = await createImage(server.url, headers, { visibility });
      const r = await addMember(id, p.b, headers);
      assert.equal(r.status, 403, r.text);
      assert.match(r.body.message, new RegExp(`^Not allowed to create members for image ${id}\\.`));
      const l = await listMembers(id, headers);
      assert.equal(l.status, 403);
      assert.match(l.body.message, /Only shared images have members/);
    });
  }

  test('only the owner (or an admin) adds members: a member gets 403, a project that cannot see the image 404', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b);
    assert.equal((await addMember(id, p.c, member(p.b))).status, 403, 'a member sees the image: 403');
    assert.equal((await addMember(id, p.c, member(p.stranger))).status, 404, 'a stranger does not: 404');
    const byAdmin = await addMember(id, p.c, admin());
    assert.equal(byAdmin.status, 200, byAdmin.text);
    assert.equal(byAdmin.body.status, 'pending');
    const members = (await ok(listMembers(id, member(p.owner)))).body.members.map((m: any) => m.member_id).sort();
    assert.deepEqual(members, [p.b, p.c].sort());
  });

  test('an unknown image is 404', async () => {
    assert.equal((await addMember(randomUUID(), 'x', member('someone'))).status, 404);
  });

  test('image_member_quota caps the members of each image (413)', async () => {
    const own = await startServer([{ section: 'DEFAULT', name: 'image_member_quota', value: '2' }]);
    try {
      const h = member('quota-owner');
      const id = await createImage(own.url, h);
      assert.equal((await addMember(id, 'm1', h, own.url)).status, 200);
      assert.equal((await addMember(id, 'm2', h, own.url)).status, 200);
      const third = await addMember(id, 'm3', h, own.url);
      assert.equal(third.status, 413, third.text);
      assert.equal(third.body.code, '413 Request Entity Too Large');
      const listed = await api(own.url, 'GET', `/v2/images/${id}/members`, { headers: h });
      assert.deepEqual(listed.body.members.map((m: any) => m.member_id).sort(), ['m1', 'm2'], 'nothing stored');
      // Glance counts before it looks for a duplicate: at the quota, a duplicate is 413 too.
      assert.equal((await addMember(id, 'm1', h, own.url)).status, 413);
      // The quota is per image, and frees up when a member goes.
      const other = await createImage(own.url, h);
      assert.equal((await addMember(other, 'm3', h, own.url)).status, 200);
      assert.equal((await api(own.url, 'DELETE', `/v2/images/${id}/members/m2`, { headers: h })).status, 204);
      assert.equal((await addMember(id, 'm3', h, own.url)).status, 200);
    } finally {
      await own.close();
    }
  });
});

describe('GET members', () => {
  test('the owner and admins see every member; a member only its own membership', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b, p.c, p.d);
    const byOwner = await ok(listMembers(id, member(p.owner)));
    assert.equal(byOwner.body.schema, '/v2/schemas/members');
    assert.deepEqual(byOwner.body.members.map((m: any) => m.member_id).sort(), [p.b, p.c, p.d].sort());
    for (const m of byOwner.body.members) {
      assert.deepEqual(Object.keys(m).sort(), MEMBER_KEYS);
      assert.equal(m.image_id, id);
      assert.equal(m.status, 'pending');
    }
    const byAdmin = await ok(listMembers(id, admin()));
    assert.equal(byAdmin.body.members.length, 3);
    const byB = await ok(listMembers(id, member(p.b)));
    assert.deepEqual(byB.body.members.map((m: any) => m.member_id), [p.b]);
    assert.equal(byB.body.schema, '/v2/schemas/members');
  });

  test('a project that is not a member cannot see the shared image: 404', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b);
    const r = await listMembers(id, member(p.stranger));
    assert.equal(r.status, 404, r.text);
    assert.equal((await getMember(id, p.b, member(p.stranger))).status, 404);
  });

  test('GET of one member: the owner any, a member only itself (404 for others)', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b, p.c);
    assert.equal((await ok(getMember(id, p.b, member(p.owner)))).body.member_id, p.b);
    assert.equal((await ok(getMember(id, p.c, admin()))).body.member_id, p.c);
    const own = await ok(getMember(id, p.b, member(p.b)));
    assert.equal(own.body.status, 'pending');
    assert.deepEqual(Object.keys(own.body).sort(), MEMBER_KEYS);
    assert.equal((await getMember(id, p.c, member(p.b))).status, 404, "another member's membership");
    assert.equal((await getMember(id, 'nobody', member(p.owner))).status, 404, 'not a member');
    assert.equal((await getMember(randomUUID(), p.b, member(p.owner))).status, 404, 'unknown image');
  });

  test('GET of a member of a non-shared image is 404 (Glance hides the 403)', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b);
    await ok(patch(id, [{ op: 'replace', path: '/visibility', value: 'private' }], member(p.owner)));
    const r = await getMember(id, p.b, member(p.owner));
    assert.equal(r.status, 404, r.text);
  });
});

describe('PUT /v2/images/{id}/members/{member} (the member answers)', () => {
  test('the member moves between pending, accepted and rejected in any order', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b);
    const created = (await ok(getMember(id, p.b, member(p.owner)))).body;
    for (const status of ['accepted', 'rejected', 'pending', 'rejected', 'accepted', 'pending', 'accepted', 'accepted']) {
      const r = await ok(setStatus(id, p.b, status, member(p.b)));
      assert.deepEqual(Object.keys(r.body).sort(), MEMBER_KEYS);
      assert.equal(r.body.status, status);
      assert.equal(r.body.member_id, p.b);
      assert.equal(r.body.image_id, id);
      assert.equal(r.body.created_at, created.created_at);
      assert.ok(r.body.updated_at >= created.updated_at);
      assert.equal((await ok(getMember(id, p.b, member(p.owner)))).body.status, status, 'the owner sees the answer');
    }
  });

  for (const bad of ['bogus', 'ACCEPTED', '', null, 1, ['accepted']]) {
    test(`status ${JSON.stringify(bad)} is 400`, async () => {
      const p = projects();
      const id = await sharedWith(p.owner, p.b);
      const r = await setStatus(id, p.b, bad, member(p.b));
      assert.equal(r.status, 400, r.text);
      assert.equal((await ok(getMember(id, p.b, member(p.b)))).body.status, 'pending');
    });
  }

  test('a body without status is 400', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b);
    assert.equal((await call('PUT', `/v2/images/${id}/members/${p.b}`, member(p.b), {})).status, 400);
    assert.equal((await call('PUT', `/v2/images/${id}/members/${p.b}`, member(p.b), { state: 'accepted' })).status, 400);
  });

  test('the owner may not answer for a member (403), whatever the status sent', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b);
    const r = await setStatus(id, p.b, 'accepted', member(p.owner));
    assert.equal(r.status, 403, r.text);
    // Glance checks modify_member before the value: a bad status from the owner is 403 too.
    assert.equal((await setStatus(id, p.b, 'bogus', member(p.owner))).status, 403);
    assert.equal((await ok(getMember(id, p.b, member(p.b)))).body.status, 'pending');
  });

  test("another member cannot change someone else's membership: 404 (it cannot see that membership)", async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b, p.c);
    const r = await setStatus(id, p.b, 'accepted', member(p.c));
    assert.equal(r.status, 404, r.text);
    assert.equal((await setStatus(id, p.b, 'accepted', member(p.stranger))).status, 404, 'a stranger cannot see the image');
    assert.equal((await ok(getMember(id, p.b, member(p.b)))).body.status, 'pending');
  });

  test('an admin may set the status', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b);
    assert.equal((await ok(setStatus(id, p.b, 'accepted', admin()))).body.status, 'accepted');
  });

  test('an unknown member is 404', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b);
    assert.equal((await setStatus(id, p.c, 'accepted', member(p.c))).status, 404);
  });
});

describe("each answer's effect on the member's view", () => {
  test('pending: not listed by default, listed with member_status=pending|all, readable by id', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b);
    const h = member(p.b);
    assert.ok(!(await listIds('', h)).includes(id));
    assert.ok(!(await listIds('?member_status=accepted', h)).includes(id));
    assert.ok((await listIds('?member_status=pending', h)).includes(id));
    assert.ok((await listIds('?visibility=shared&member_status=pending', h)).includes(id));
    assert.ok((await listIds('?member_status=all', h)).includes(id));
    assert.ok(!(await listIds('?member_status=rejected', h)).includes(id));
    assert.equal((await getImage(id, h)).status, 200);
  });

  test('accepted: listed by default and with member_status=accepted|all', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b);
    const h = member(p.b);
    await ok(setStatus(id, p.b, 'accepted', h));
    assert.ok((await listIds('', h)).includes(id));
    assert.ok((await listIds('?visibility=shared', h)).includes(id));
    assert.ok((await listIds('?member_status=accepted', h)).includes(id));
    assert.ok((await listIds('?member_status=all', h)).includes(id));
    assert.ok(!(await listIds('?member_status=pending', h)).includes(id));
    assert.ok(!(await listIds('?member_status=rejected', h)).includes(id));
    assert.equal((await getImage(id, h)).status, 200);
    // Another project invited to the same image is unaffected by B's answer.
    await ok(addMember(id, p.c, member(p.owner)));
    assert.ok(!(await listIds('', member(p.c))).includes(id));
  });

  test('rejected: not listed by default, listed with member_status=rejected|all, still readable by id', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b);
    const h = member(p.b);
    await ok(setStatus(id, p.b, 'rejected', h));
    assert.ok(!(await listIds('', h)).includes(id));
    assert.ok((await listIds('?member_status=rejected', h)).includes(id));
    assert.ok((await listIds('?member_status=all', h)).includes(id));
    assert.ok(!(await listIds('?member_status=pending', h)).includes(id));
    assert.equal((await getImage(id, h)).status, 200);
    // Changing its mind brings it back.
    await ok(setStatus(id, p.b, 'accepted', h));
    assert.ok((await listIds('', h)).includes(id));
  });

  test('a marker of a shared image the caller is a (pending) member of is accepted', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b);
    assert.equal((await call('GET', `/v2/images?marker=${id}`, member(p.b))).status, 200);
    assert.equal((await call('GET', `/v2/images?marker=${id}`, member(p.c))).status, 400);
  });
});

describe('DELETE /v2/images/{id}/members/{member}', () => {
  test('the owner removes a member (204): the member loses access', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b, p.c);
    await ok(setStatus(id, p.b, 'accepted', member(p.b)));
    assert.ok((await listIds('', member(p.b))).includes(id));
    const r = await removeMember(id, p.b, member(p.owner));
    assert.equal(r.status, 204, r.text);
    assert.equal(r.text, '');
    assert.equal((await getImage(id, member(p.b))).status, 404);
    assert.ok(!(await listIds('?member_status=all', member(p.b))).includes(id));
    assert.equal((await listMembers(id, member(p.b))).status, 404);
    assert.deepEqual((await ok(listMembers(id, member(p.owner)))).body.members.map((m: any) => m.member_id), [p.c]);
    assert.equal((await removeMember(id, p.b, member(p.owner))).status, 404, 'already gone');
    // The other member is untouched.
    assert.equal((await getImage(id, member(p.c))).status, 200);
  });

  test('a member may not remove itself or others (403, delete_member is checked first); strangers get 404', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b, p.c);
    const self = await removeMember(id, p.b, member(p.b));
    assert.equal(self.status, 403, self.text);
    assert.match(self.text, /delete_member/);
    assert.equal((await removeMember(id, p.c, member(p.b))).status, 403);
    assert.equal((await removeMember(id, p.c, member(p.stranger))).status, 404);
    assert.equal((await ok(listMembers(id, member(p.owner)))).body.members.length, 2);
  });

  test('an admin may remove members; an unknown member is 404', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b);
    assert.equal((await removeMember(id, 'nobody', member(p.owner))).status, 404);
    assert.equal((await removeMember(id, p.b, admin())).status, 204);
    assert.equal((await getImage(id, member(p.b))).status, 404);
  });

  test('a member removed and added again starts pending', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b);
    await ok(setStatus(id, p.b, 'accepted', member(p.b)));
    await ok(removeMember(id, p.b, member(p.owner)), 204);
    const again = await ok(addMember(id, p.b, member(p.owner)));
    assert.equal(again.body.status, 'pending');
  });
});

describe('changing visibility away from shared', () => {
  test('members APIs answer 403 and members lose access; going back to shared restores the memberships', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b, p.c);
    await ok(setStatus(id, p.b, 'accepted', member(p.b)));
    await ok(setStatus(id, p.c, 'rejected', member(p.c)));

    await ok(patch(id, [{ op: 'replace', path: '/visibility', value: 'private' }], member(p.owner)));
    const l = await listMembers(id, member(p.owner));
    assert.equal(l.status, 403);
    assert.match(l.body.message, /Only shared images have members/);
    assert.equal((await addMember(id, p.d, member(p.owner))).status, 403);
    assert.equal((await removeMember(id, p.c, member(p.owner))).status, 403);
    assert.equal((await getImage(id, member(p.b))).status, 404, 'a member of a private image sees nothing');
    assert.ok(!(await listIds('?member_status=all&visibility=all', member(p.b))).includes(id));
    assert.equal((await setStatus(id, p.b, 'pending', member(p.b))).status, 404, 'the member cannot see the image any more');

    await ok(patch(id, [{ op: 'replace', path: '/visibility', value: 'shared' }], member(p.owner)));
    const back = (await ok(listMembers(id, member(p.owner)))).body.members;
    assert.deepEqual(
      back.map((m: any) => [m.member_id, m.status]).sort(),
      [[p.b, 'accepted'], [p.c, 'rejected']].sort(),
    );
    assert.ok((await listIds('', member(p.b))).includes(id));
  });

  test('to community: members APIs are 403 though the image stays visible to everyone', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b);
    await ok(patch(id, [{ op: 'replace', path: '/visibility', value: 'community' }], member(p.owner)));
    assert.equal((await listMembers(id, member(p.owner))).status, 403);
    assert.equal((await listMembers(id, member(p.b))).status, 403);
    assert.equal((await setStatus(id, p.b, 'accepted', member(p.b))).status, 403);
    assert.equal((await getImage(id, member(p.b))).status, 200);
    assert.equal((await getImage(id, member(p.stranger))).status, 200);
  });

  test('to public (admin): members APIs are 403', async () => {
    const p = projects();
    const id = await sharedWith(p.owner, p.b);
    await ok(patch(id, [{ op: 'replace', path: '/visibility', value: 'public' }], admin()));
    assert.equal((await listMembers(id, admin())).status, 403);
    assert.equal((await addMember(id, p.c, admin())).status, 403);
  });
});

describe('member schemas', () => {
  test('/v2/schemas/member describes the member JSON', async () => {
    const r = await ok(call('GET', '/v2/schemas/member', admin()));
    assert.equal(r.body.name, 'member');
    assert.deepEqual(Object.keys(r.body.properties).sort(), MEMBER_KEYS);
    assert.deepEqual(r.body.properties.status.enum, ['pending', 'accepted', 'rejected']);
    for (const k of MEMBER_KEYS) assert.equal(r.body.properties[k].type, 'string', k);
    assert.match('6ba7b810-9dad-11d1-80b4-00c04fd430c8', new RegExp(r.body.properties.image_id.pattern));
    assert.doesNotMatch('not-a-uuid', new RegExp(r.body.properties.image_id.pattern));
    assert.equal(r.body.additionalProperties, undefined);
  });

  test('/v2/schemas/members is the collection of members', async () => {
    const r = await ok(call('GET', '/v2/schemas/members', admin()));
    const member_ = (await ok(call('GET', '/v2/schemas/member', admin()))).body;
    assert.equal(r.body.name, 'members');
    assert.equal(r.body.properties.members.type, 'array');
    assert.deepEqual(r.body.properties.members.items, member_);
    assert.equal(r.body.properties.schema.type, 'string');
  });
});
