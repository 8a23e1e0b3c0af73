import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { UNAUTHORIZED_MESSAGE } from '../src/auth/strategy.js';
import { spawnServer, type ChildServer } from './support/child-server.js';
import { admin, api, createImage, member, patchImage, startServer, tempDir, upload, type TestServer } from './support/harness.js';

/**
 * Who may call when nobody configured authentication: the default flavor asks for the admin token
 * the server keeps in its data dir (or a [token_auth] token); noauth refuses a request without
 * identity headers, and with allow_anonymous_access gives it a read-only view of public and
 * community images. Nobody is an admin for saying nothing.
 */

const DEFAULT_FLAVOR = [{ section: 'paste_deploy' as const, name: 'flavor', value: '' }];
const tokenFile = (dataDir: string) => path.join(dataDir, 'admin-token');
const readToken = (dataDir: string) => fs.readFileSync(tokenFile(dataDir), 'utf8').trim();
const withToken = (token: string) => ({ 'x-auth-token': token });

function assertUnauthorized(r: { status: number; text: string }, what: string): void {
  assert.equal(r.status, 401, `${what}: ${r.text}`);
  assert.ok(r.text.includes(UNAUTHORIZED_MESSAGE), `${what}: ${r.text}`);
}

describe('the default flavor (no [paste_deploy] flavor)', () => {
  let s: TestServer;
  before(async () => (s = await startServer(DEFAULT_FLAVOR)));
  after(async () => s?.close());

  test('creates an admin token on first start: 64 hex characters in <data dir>/admin-token, mode 0600', () => {
    assert.match(readToken(s.dataDir), /^[0-9a-f]{64}$/);
    assert.equal(fs.statSync(tokenFile(s.dataDir)).mode & 0o777, 0o600);
  });

  test('a request without a token, or with a wrong one, is 401; versions and healthcheck stay open', async () => {
    assertUnauthorized(await api(s.url, 'GET', '/v2/images'), 'no token');
    assertUnauthorized(await api(s.url, 'POST', '/v2/images', { json: { name: 'x' } }), 'no token, create');
    assertUnauthorized(await api(s.url, 'GET', '/v2/images', { headers: withToken('not-the-token-0123456789abcdef0123456789') }), 'wrong token');
    assertUnauthorized(await api(s.url, 'GET', '/v2/images', { headers: withToken(`${readToken(s.dataDir)}x`) }), 'token plus a character');
    // Identity headers mean nothing here.
    assertUnauthorized(await api(s.url, 'GET', '/v2/images', { headers: admin() }), 'trusted headers');
    assert.equal((await api(s.url, 'GET', '/versions')).status, 200);
    assert.equal((await api(s.url, 'GET', '/healthcheck')).status, 200);
  });

  test('the admin token is an admin of project admin: creates, publishes, sees every project', async () => {
    const h = withToken(readToken(s.dataDir));
    const id = await createImage(s.url, h, { name: 'by-admin-token', visibility: 'public' });
    const shown = await api(s.url, 'GET', `/v2/images/${id}`, { headers: h });
    assert.equal(shown.status, 200);
    assert.equal(shown.body.owner, 'admin');
    assert.equal(shown.body.visibility, 'public');
    assert.equal((await upload(s.url, id, Buffer.from('hello'), h)).status, 204);
    assert.equal((await patchImage(s.url, id, h, [{ op: 'replace', path: '/owner', value: 'someone-else' }])).status, 200, 'owner change needs is_admin');
    // X-Storage-Token, keystonemiddleware's fallback, works too.
    assert.equal((await api(s.url, 'GET', `/v2/images/${id}`, { headers: { 'x-storage-token': readToken(s.dataDir) } })).status, 200);
    assert.equal((await api(s.url, 'DELETE', `/v2/images/${id}`, { headers: h })).status, 204);
  });
});

describe('the admin token across restarts', () => {
  test('a restart on the same data dir reuses the token; another data dir gets another', async () => {
    const dataDir = tempDir();
    const first = await startServer(DEFAULT_FLAVOR, dataDir);
    const token = readToken(dataDir);
    await first.close();
    const second = await startServer(DEFAULT_FLAVOR, dataDir);
    try {
      assert.equal(readToken(dataDir), token);
      assert.equal((await api(second.url, 'GET', '/v2/images', { headers: withToken(token) })).status, 200);
    } finally {
      await second.close();
    }
    const other = await startServer(DEFAULT_FLAVOR);
    try {
      assert.notEqual(readToken(other.dataDir), token);
      assertUnauthorized(await api(other.url, 'GET', '/v2/images', { headers: withToken(token) }), "another server's token");
    } finally {
      await other.close();
    }
  });

  test('two `ocellus serve` started at once on a fresh data dir agree on one token', async () => {
    const dataDir = tempDir();
    const started = await Promise.allSettled([spawnServer(dataDir), spawnServer(dataDir)]);
    const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    try {
      for (const s of started) if (s.status === 'rejected') throw s.reason;
      const [a, b] = servers as [ChildServer, ChildServer];
      assert.match(a.adminToken ?? '', /^[0-9a-f]{64}$/);
      assert.equal(a.adminToken, b.adminToken);
      for (const srv of [a, b]) assert.equal((await api(srv.url, 'GET', '/v2/images', { headers: srv.auth })).status, 200);
      assert.deepEqual(fs.readdirSync(dataDir).filter((f) => f.startsWith('admin-token')), ['admin-token'], 'no temporary file left behind');
    } finally {
      await Promise.all(servers.map((srv) => srv.stop()));
    }
  });

  test('a token file open to others, empty, or not a token stops the start with a clear message', async () => {
    const dataDir = tempDir();
    const file = tokenFile(dataDir);
    fs.writeFileSync(file, `${'a'.repeat(64)}\n`, { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    await assert.rejects(startServer(DEFAULT_FLAVOR, dataDir), /admin token file .*admin-token is open to other users \(mode 0644\); run chmod 600/);
    fs.chmodSync(file, 0o600);
    fs.writeFileSync(file, '');
    await assert.rejects(startServer(DEFAULT_FLAVOR, dataDir), /admin token file .* does not hold a secret/);
    fs.writeFileSync(file, 'short\n');
    await assert.rejects(startServer(DEFAULT_FLAVOR, dataDir), /admin token file .* does not hold a secret/);
    // An operator's own token (32+ printable characters, mode 0600) is used as it is.
    fs.writeFileSync(file, 'my-own-admin-token-0123456789-ABCDEF\n');
    const s = await startServer(DEFAULT_FLAVOR, dataDir);
    try {
      assert.equal((await api(s.url, 'GET', '/v2/images', { headers: withToken('my-own-admin-token-0123456789-ABCDEF') })).status, 200);
    } finally {
      await s.close();
    }
  });
});

describe('the default flavor with [token_auth] token_file', () => {
  let s: TestServer;
  before(async () => {
    const dir = tempDir();
    const tokens = path.join(dir, 'tokens.yaml');
    fs.writeFileSync(tokens, 'alice-token-0123456789abcdef:\n  user_id: alice\n  project_id: PA\n  roles: [member, reader]\n');
    s = await startServer([...DEFAULT_FLAVOR, { section: 'token_auth', name: 'token_file', value: tokens }]);
  });
  after(async () => s?.close());

  test("the file's tokens work beside the admin token; anything else is 401", async () => {
    const alice = withToken('alice-token-0123456789abcdef');
    const id = await createImage(s.url, alice, { name: 'alice-private', visibility: 'private' });
    const mine = await api(s.url, 'GET', `/v2/images/${id}`, { headers: alice });
    assert.equal(mine.status, 200);
    assert.equal(mine.body.owner, 'PA');
    // A member, not an admin: publishing is refused.
    assert.equal((await patchImage(s.url, id, alice, [{ op: 'replace', path: '/visibility', value: 'public' }])).status, 403);
    assert.equal((await api(s.url, 'GET', `/v2/images/${id}`, { headers: withToken(readToken(s.dataDir)) })).status, 200, 'the admin sees it');
    assertUnauthorized(await api(s.url, 'GET', '/v2/images', { headers: withToken('bob-token-0123456789abcdef') }), 'unknown token');
    assertUnauthorized(await api(s.url, 'GET', '/v2/images'), 'no token');
  });
});

describe('flavor = noauth', () => {
  let s: TestServer;
  before(async () => (s = await startServer([{ section: 'paste_deploy', name: 'flavor', value: 'noauth' }])));
  after(async () => s?.close());

  test('a request without identity headers is 401, never an admin', async () => {
    const id = await createImage(s.url, member('NA'), { visibility: 'private' });
    assertUnauthorized(await api(s.url, 'GET', '/v2/images'), 'list');
    assertUnauthorized(await api(s.url, 'GET', `/v2/images/${id}`), 'show');
    assertUnauthorized(await api(s.url, 'POST', '/v2/images', { json: { name: 'x' } }), 'create');
    assertUnauthorized(await api(s.url, 'DELETE', `/v2/images/${id}`), 'delete');
    // A token alone is no identity either.
    assertUnauthorized(await api(s.url, 'GET', '/v2/images', { headers: withToken('anything') }), 'token only');
    // With headers it works as before.
    assert.equal((await api(s.url, 'GET', `/v2/images/${id}`, { headers: member('NA') })).status, 200);
    assert.equal((await api(s.url, 'GET', `/v2/images/${id}`, { headers: admin() })).status, 200);
  });
});

describe('flavor = noauth with allow_anonymous_access', () => {
  const images: Record<string, string> = {};
  let s: TestServer;
  before(async () => {
    const dir = tempDir();
    // Even an operator rule that makes everyone an admin does not make the anonymous caller one.
    const policy = path.join(dir, 'policy.yaml');
    fs.writeFileSync(policy, '"context_is_admin": "role:admin or role:reader"\n');
    s = await startServer([
      { section: 'paste_deploy', name: 'flavor', value: 'noauth' },
      { section: 'DEFAULT', name: 'allow_anonymous_access', value: 'True' },
      { section: 'oslo_policy', name: 'policy_file', value: policy },
    ]);
    images.public = await createImage(s.url, admin(), { name: 'anon-public', visibility: 'public' });
    images.community = await createImage(s.url, member('AN'), { name: 'anon-community', visibility: 'community' });
    images.private = await createImage(s.url, member('AN'), { name: 'anon-private', visibility: 'private' });
    images.shared = await createImage(s.url, member('AN'), { name: 'anon-shared', visibility: 'shared' });
    assert.equal((await upload(s.url, images.public, Buffer.from('public bytes'), admin())).status, 204);
  });
  after(async () => s?.close());

  const names = async (query: string) => {
    const r = await api(s.url, 'GET', `/v2/images${query}`);
    assert.equal(r.status, 200, r.text);
    return r.body.images.map((i: { name: string }) => i.name).sort();
  };

  test('lists only public images by default, community ones when asked, never private or shared ones', async () => {
    assert.deepEqual(await names(''), ['anon-public']);
    assert.deepEqual(await names('?visibility=community'), ['anon-community']);
    assert.deepEqual(await names('?visibility=all'), ['anon-community', 'anon-public']);
    assert.deepEqual(await names('?visibility=private'), []);
    assert.deepEqual(await names('?visibility=shared&member_status=all'), []);
  });

  test('shows public and community images; private and shared ones are 404', async () => {
    for (const v of ['public', 'community']) assert.equal((await api(s.url, 'GET', `/v2/images/${images[v]}`)).status, 200, v);
    for (const v of ['private', 'shared']) assert.equal((await api(s.url, 'GET', `/v2/images/${images[v]}`)).status, 404, v);
  });

  test('changes nothing: create, update, upload, delete, tags, members and actions are refused', async () => {
    const refused = async (method: string, p: string, opts: Parameters<typeof api>[3] = {}) => {
      const r = await api(s.url, method, p, opts);
      assert.ok(r.status === 401 || r.status === 403, `${method} ${p}: ${r.status} ${r.text}`);
      return r;
    };
    const created = await refused('POST', '/v2/images', { json: { name: 'anon-made', disk_format: 'raw', container_format: 'bare' } });
    assert.equal(created.status, 403);
    assert.match(created.body.message ?? created.text, /Read-only access/);
    for (const v of ['public', 'community']) {
      const id = images[v]!;
      await refused('PATCH', `/v2/images/${id}`, { json: [{ op: 'replace', path: '/name', value: 'x' }], contentType: 'application/openstack-images-v2.1-json-patch' });
      await refused('PUT', `/v2/images/${id}/file`, { body: Buffer.from('x'), contentType: 'application/octet-stream' });
      await refused('PUT', `/v2/images/${id}/tags/anon`);
      await refused('POST', `/v2/images/${id}/actions/deactivate`);
      await refused('POST', `/v2/images/${id}/members`, { json: { member: 'AN2' } });
      await refused('DELETE', `/v2/images/${id}`);
    }
    await refused('DELETE', `/v2/images/${images.private}`);
    // Nothing changed.
    assert.deepEqual(await names('?visibility=all'), ['anon-community', 'anon-public']);
    const pub = await api(s.url, 'GET', `/v2/images/${images.public}`, { headers: admin() });
    assert.equal(pub.body.name, 'anon-public');
    assert.deepEqual(pub.body.tags, []);
    assert.equal(pub.body.status, 'active');
    // The member's own images are untouched.
    assert.equal((await api(s.url, 'GET', `/v2/images/${images.private}`, { headers: member('AN') })).status, 200);
  });

  test('callers with identity headers are unaffected', async () => {
    assert.equal((await api(s.url, 'GET', `/v2/images/${images.private}`, { headers: member('AN') })).status, 200);
    const mine = await api(s.url, 'GET', '/v2/images?visibility=private', { headers: member('AN') });
    assert.deepEqual(mine.body.images.map((i: { name: string }) => i.name), ['anon-private']);
  });

  test("[paste_deploy] allow_anonymous_access works like Glance's [DEFAULT] one", async () => {
    const other = await startServer([
      { section: 'paste_deploy', name: 'flavor', value: 'noauth' },
      { section: 'paste_deploy', name: 'allow_anonymous_access', value: 'true' },
    ]);
    try {
      const r = await api(other.url, 'GET', '/v2/images');
      assert.equal(r.status, 200, r.text);
      assert.equal((await api(other.url, 'POST', '/v2/images', { json: { name: 'x' } })).status, 403);
    } finally {
      await other.close();
    }
  });
});
