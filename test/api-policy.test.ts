import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { admin, api, createImage, member, patchImage, startServer, tempDir, upload, type TestServer } from './support/harness.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite', 'postgresql', 'mariadb');

// Secure-RBAC personas through trusted headers (Keystone puts implied roles into tokens, so a
// member also has reader; a reader only reader). The same rules run behind Keystone (keystone-*.test.ts).
const reader = (project: string) => ({ 'x-project-id': project, 'x-user-id': `reader-${project}`, 'x-roles': 'reader' });
const systemAdmin = { 'x-user-id': 'sys', 'x-roles': 'admin,member,reader', 'openstack-system-scope': 'all' };
const unique = (name: string) => `${name}-${Math.random().toString(36).slice(2, 8)}`;

describe('default policy rules (secure RBAC personas)', () => {
  let s: TestServer;
  before(async () => (s = await startServer()));
  after(async () => s.close());

  test('a reader sees its project images but cannot create, change, upload, download or delete them', async () => {
    const p = unique('p');
    const id = await createImage(s.url, member(p), { name: 'r' });
    await upload(s.url, id, Buffer.from('data'), member(p));
    assert.equal((await api(s.url, 'GET', `/v2/images/${id}`, { headers: reader(p) })).status, 200);
    assert.equal((await api(s.url, 'GET', '/v2/images', { headers: reader(p) })).body.images.length, 1);

    const create = await api(s.url, 'POST', '/v2/images', { headers: reader(p), json: { name: 'x' } });
    assert.equal(create.status, 403);
    assert.match(create.body.message ?? create.text, new RegExp(`not permitted to create images owned by '${p}'`));
    const patch = await patchImage(s.url, id, reader(p), [{ op: 'replace', path: '/name', value: 'n' }]);
    assert.equal(patch.status, 403);
    assert.match(patch.text, /modify_image/);
    assert.equal((await api(s.url, 'PUT', `/v2/images/${id}/tags/t`, { headers: reader(p) })).status, 403);
    const download = await api(s.url, 'GET', `/v2/images/${id}/file`, { headers: reader(p) });
    assert.equal(download.status, 403);
    assert.match(download.text, /download_image/);
    assert.equal((await api(s.url, 'POST', `/v2/images/${id}/actions/deactivate`, { headers: reader(p) })).status, 403);
    assert.equal((await api(s.url, 'DELETE', `/v2/images/${id}`, { headers: reader(p) })).status, 403);
    assert.equal((await api(s.url, 'GET', `/v2/images/${id}`, { headers: member(p) })).body.name, 'r');
  });

  test("another project's private image is 404 for every call, never 403", async () => {
    const a = unique('a');
    const b = unique('b');
    const id = await createImage(s.url, member(a), { visibility: 'private' });
    for (const [method, suffix] of [['GET', ''], ['DELETE', ''], ['GET', '/file'], ['PUT', '/tags/x'], ['POST', '/actions/deactivate']] as const) {
      const r = await api(s.url, method, `/v2/images/${id}${suffix}`, { headers: member(b) });
      assert.equal(r.status, 404, `${method} ${suffix}: ${r.text}`);
    }
    assert.equal((await api(s.url, 'GET', '/v2/images', { headers: member(b) })).body.images.length, 0);
  });

  test('a member cannot publicize (publicize_image) but may communitize; an admin may publicize', async () => {
    const p = unique('p');
    const pub = await api(s.url, 'POST', '/v2/images', { headers: member(p), json: { visibility: 'public' } });
    assert.equal(pub.status, 403);
    assert.match(pub.text, /publicize_image/);
    const id = await createImage(s.url, member(p));
    const patch = (headers: Record<string, string>, visibility: string) => patchImage(s.url, id, headers, [{ op: 'replace', path: '/visibility', value: visibility }]);
    assert.equal((await patch(member(p), 'public')).status, 403);
    assert.equal((await patch(member(p), 'community')).status, 200);
    assert.equal((await patch(admin(), 'public')).status, 200);
    assert.equal((await api(s.url, 'GET', `/v2/images/${id}`, { headers: reader(unique('other')) })).body.visibility, 'public');
  });

  test('a system-scoped token gets 403 on create and list, 404 on show', async () => {
    const id = await createImage(s.url, admin(), { visibility: 'public' });
    assert.equal((await api(s.url, 'POST', '/v2/images', { headers: systemAdmin, json: {} })).status, 403);
    assert.equal((await api(s.url, 'GET', '/v2/images', { headers: systemAdmin })).status, 403);
    assert.equal((await api(s.url, 'GET', `/v2/images/${id}`, { headers: systemAdmin })).status, 404);
  });

  test('no role at all: list is 403 (get_images), public images are 404', async () => {
    const id = await createImage(s.url, admin(), { visibility: 'public' });
    const nobody = { 'x-project-id': unique('p'), 'x-user-id': 'u', 'x-roles': '' };
    assert.equal((await api(s.url, 'GET', '/v2/images', { headers: nobody })).status, 403);
    assert.equal((await api(s.url, 'GET', `/v2/images/${id}`, { headers: nobody })).status, 404);
  });

  test('a member project may accept a shared image (modify_member); the owner may not answer for it', async () => {
    const owner = unique('o');
    const guest = unique('g');
    const id = await createImage(s.url, member(owner));
    assert.equal((await api(s.url, 'POST', `/v2/images/${id}/members`, { headers: member(owner), json: { member: guest } })).status, 200);
    const put = (headers: Record<string, string>) => api(s.url, 'PUT', `/v2/images/${id}/members/${guest}`, { headers, json: { status: 'accepted' } });
    assert.equal((await put(member(owner))).status, 403);
    assert.equal((await put(reader(guest))).status, 403);
    assert.equal((await put(member(guest))).status, 200);
    assert.deepEqual((await api(s.url, 'GET', '/v2/images?visibility=shared', { headers: reader(guest) })).body.images.map((i: { id: string }) => i.id), [id]);
  });
});

describe('an operator policy file', () => {
  let s: TestServer;
  let file: string;
  before(async () => {
    file = path.join(tempDir(), 'policy.yaml');
    fs.writeFileSync(file, '"publicize_image": "role:member"\n');
    s = await startServer([{ section: 'oslo_policy', name: 'policy_file', value: file }]);
  });
  after(async () => s.close());

  test('overrides a default by name, and is re-read when it changes', async () => {
    const p = unique('p');
    assert.equal((await api(s.url, 'POST', '/v2/images', { headers: member(p), json: { visibility: 'public' } })).status, 201);
    assert.equal((await api(s.url, 'GET', '/v2/images', { headers: reader(p) })).status, 200);

    fs.writeFileSync(file, '"get_images": "role:admin"\n');
    const future = new Date(Date.now() + 5000);
    fs.utimesSync(file, future, future);
    let status = 0;
    for (let i = 0; i < 40 && status !== 403; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await api(s.url, 'GET', '/v2/images', { headers: reader(p) })).status;
    }
    assert.equal(status, 403);
    // publicize_image is back to its default.
    assert.equal((await api(s.url, 'POST', '/v2/images', { headers: member(p), json: { visibility: 'public' } })).status, 403);
    assert.equal((await api(s.url, 'GET', '/v2/images', { headers: admin() })).status, 200);
  });

  test('a policy file that does not parse keeps the server from starting, naming the rule', async () => {
    const bad = path.join(tempDir(), 'policy.yaml');
    fs.writeFileSync(bad, '"add_image": "role:member and ("\n');
    await assert.rejects(startServer([{ section: 'oslo_policy', name: 'policy_file', value: bad }]), /add_image/);
  });
});

describe('property protections', () => {
  const write = (text: string) => {
    const file = path.join(tempDir(), 'protections.conf');
    fs.writeFileSync(file, text);
    return file;
  };
  const patch = (s: TestServer, id: string, headers: Record<string, string>, ops: unknown[]) => patchImage(s.url, id, headers, ops);

  describe('roles format', () => {
    let s: TestServer;
    before(async () => {
      const file = write(
        [
          '[^x_owner_.*]\ncreate = admin,member\nread = admin,member\nupdate = admin,member\ndelete = admin,member\n',
          '[x_secret]\ncreate = admin\nread = admin\nupdate = admin\ndelete = admin\n',
          '[x_frozen]\ncreate = admin,member\nread = @\nupdate = !\ndelete = admin\n',
          '[.*]\ncreate = @\nread = @\nupdate = @\ndelete = @\n',
        ].join(''),
      );
      s = await startServer([{ section: 'DEFAULT', name: 'property_protection_file', value: file }]);
    });
    after(async () => s.close());

    test('create, read, update and delete follow the first matching section', async () => {
      const p = unique('p');
      const denied = await api(s.url, 'POST', '/v2/images', { headers: member(p), json: { x_secret: '1' } });
      assert.equal(denied.status, 403);
      assert.match(denied.text, /Attribute 'x_secret' is reserved/);

      const id = await createImage(s.url, member(p), { x_owner_a: 'a', x_frozen: 'f', free: 'y' });
      assert.equal((await patch(s, id, admin(), [{ op: 'add', path: '/x_secret', value: 's' }])).status, 200);
      // The member does not see x_secret; the admin does.
      const seen = (await api(s.url, 'GET', `/v2/images/${id}`, { headers: member(p) })).body;
      assert.equal(seen.x_secret, undefined);
      assert.equal(seen.x_owner_a, 'a');
      assert.equal((await api(s.url, 'GET', `/v2/images/${id}`, { headers: admin() })).body.x_secret, 's');
      const listed = (await api(s.url, 'GET', '/v2/images', { headers: member(p) })).body.images[0];
      assert.equal(listed.x_secret, undefined);

      // update = ! holds even for the same value; delete is admin-only.
      const same = await patch(s, id, member(p), [{ op: 'replace', path: '/x_frozen', value: 'f' }]);
      assert.equal(same.status, 403, same.text);
      assert.equal((await patch(s, id, member(p), [{ op: 'remove', path: '/x_frozen' }])).status, 403);
      assert.equal((await patch(s, id, admin(), [{ op: 'remove', path: '/x_frozen' }])).status, 200);
      const ok = await patch(s, id, member(p), [
        { op: 'replace', path: '/x_owner_a', value: 'b' },
        { op: 'remove', path: '/free' },
      ]);
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.body.x_owner_a, 'b');
      assert.equal(ok.body.x_secret, undefined);
      // Base attributes are never protected.
      assert.equal((await patch(s, id, member(p), [{ op: 'replace', path: '/name', value: 'n' }])).status, 200);
    });
  });

  describe('policies format', () => {
    let s: TestServer;
    before(async () => {
      const dir = tempDir();
      fs.writeFileSync(path.join(dir, 'policy.yaml'), '"billing_admins": "role:admin or role:billing"\n');
      fs.writeFileSync(
        path.join(dir, 'protections.conf'),
        '[^billing_]\ncreate = billing_admins\nread = @\nupdate = billing_admins\ndelete = billing_admins\n[.*]\ncreate = @\nread = @\nupdate = @\ndelete = @\n',
      );
      s = await startServer([
        { section: 'DEFAULT', name: 'property_protection_file', value: path.join(dir, 'protections.conf') },
        { section: 'DEFAULT', name: 'property_protection_rule_format', value: 'policies' },
        { section: 'oslo_policy', name: 'policy_file', value: path.join(dir, 'policy.yaml') },
      ]);
    });
    after(async () => s.close());

    test('each operation names a policy rule', async () => {
      const p = unique('p');
      assert.equal((await api(s.url, 'POST', '/v2/images', { headers: member(p), json: { billing_code: 'x' } })).status, 403);
      const billing = { ...member(p), 'x-roles': 'member,reader,billing' };
      const id = await createImage(s.url, billing, { billing_code: 'x' });
      assert.equal((await api(s.url, 'GET', `/v2/images/${id}`, { headers: member(p) })).body.billing_code, 'x');
    });
  });

  test('a protections file with a section missing an operation keeps the server from starting', async () => {
    const file = write('[.*]\ncreate = @\nread = @\nupdate = @\n');
    await assert.rejects(startServer([{ section: 'DEFAULT', name: 'property_protection_file', value: file }]), /delete/);
  });
});

describe('static token file (flavor = token)', () => {
  let s: TestServer;
  const project = unique('p');
  before(async () => {
    const file = path.join(tempDir(), 'tokens.yaml');
    fs.writeFileSync(
      file,
      [
        `member-token-0123456789:\n  user_id: alice\n  project_id: ${project}\n  roles: [member, reader]\n`,
        `reader-token-0123456789:\n  user_id: bob\n  project_id: ${project}\n  roles: reader\n`,
        `expired-token-012345678:\n  user_id: carol\n  project_id: ${project}\n  roles: [admin]\n  expires_at: 2020-01-01T00:00:00Z\n`,
      ].join(''),
    );
    s = await startServer([
      { section: 'paste_deploy', name: 'flavor', value: 'token' },
      { section: 'token_auth', name: 'token_file', value: file },
    ]);
  });
  after(async () => s.close());

  test('requests need a known, unexpired token (401 otherwise); versions and healthcheck do not', async () => {
    assert.equal((await api(s.url, 'GET', '/v2/images')).status, 401);
    assert.equal((await api(s.url, 'GET', '/v2/images', { headers: { 'x-auth-token': 'garbage-garbage-garbage' } })).status, 401);
    assert.equal((await api(s.url, 'GET', '/v2/images', { headers: { 'x-auth-token': 'expired-token-012345678' } })).status, 401);
    // Identity headers are ignored: they cannot stand in for a token.
    assert.equal((await api(s.url, 'GET', '/v2/images', { headers: admin() })).status, 401);
    assert.equal((await api(s.url, 'GET', '/')).status, 300);
    assert.equal((await api(s.url, 'GET', '/healthcheck')).status, 200);

    const alice = { 'x-auth-token': 'member-token-0123456789' };
    const id = await createImage(s.url, alice);
    const image = (await api(s.url, 'GET', `/v2/images/${id}`, { headers: { 'x-auth-token': 'reader-token-0123456789' } })).body;
    assert.equal(image.owner, project);
    assert.equal((await api(s.url, 'DELETE', `/v2/images/${id}`, { headers: { 'x-auth-token': 'reader-token-0123456789' } })).status, 403);
    assert.equal((await api(s.url, 'DELETE', `/v2/images/${id}`, { headers: alice })).status, 204);
  });

  test('a token file that is missing keeps the server from starting', async () => {
    await assert.rejects(
      startServer([
        { section: 'paste_deploy', name: 'flavor', value: 'token' },
        { section: 'token_auth', name: 'token_file', value: '/nonexistent/tokens.yaml' },
      ]),
      /does not exist/,
    );
  });
});
