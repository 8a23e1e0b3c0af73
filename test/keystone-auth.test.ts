import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KeystoneAuth } from '../src/auth/keystone.js';
import { Unauthorized } from '../src/domain/errors.js';
import { api, createImage, patchImage, startServer, tempDir, upload, type TestServer } from './support/harness.js';
import {
  createProject,
  createUser,
  deleteProject,
  deleteUser,
  keystoneFromEnv,
  keystoneSkip,
  passwordToken,
  revokeToken,
  systemToken,
  type TestUser,
  keystoneFlavorOverrides,
} from './support/keystone.js';

/**
 * Ocellus behind the real Keystone of scripts/keystone/start.sh: tokens validated the way
 * keystonemiddleware does, and Glance's default rules deciding what each persona may do.
 */

function keystoneOverrides(extra: { section: 'oslo_policy' | 'keystone_authtoken'; name: string; value: string }[] = []) {
  return [...keystoneFlavorOverrides(), ...extra];
}

const token = (t: string) => ({ 'x-auth-token': t });

describe('Ocellus behind Keystone', { skip: keystoneSkip() }, () => {
  let s: TestServer;
  let projectA: string;
  let projectB: string;
  const users: TestUser[] = [];
  const tokens: Record<'memberA' | 'readerA' | 'memberB' | 'adminA', string> = { memberA: '', readerA: '', memberB: '', adminA: '' };

  before(async () => {
    s = await startServer(keystoneOverrides());
    projectA = await createProject();
    projectB = await createProject();
    const password = randomBytes(9).toString('base64url');
    const make = async (projectId: string, roles: string[]) => {
      const u = await createUser({ password, projectId, roles });
      users.push(u);
      return (await passwordToken({ user: u.name, password, projectId })).token;
    };
    tokens.memberA = await make(projectA, ['member']);
    tokens.readerA = await make(projectA, ['reader']);
    tokens.memberB = await make(projectB, ['member']);
    tokens.adminA = await make(projectA, ['admin']);
  });
  after(async () => {
    await s?.close();
    for (const u of users) await deleteUser(u.id);
    for (const p of [projectA, projectB]) if (p) await deleteProject(p);
  });

  test('no token, a garbage token, a revoked token: 401 with WWW-Authenticate naming Keystone', async () => {
    const env = keystoneFromEnv();
    assert.ok(!('skip' in env));
    const revoked = await passwordToken({ user: 'ocellus', password: env.servicePassword, project: 'service' });
    await revokeToken(revoked.token);
    for (const headers of [{}, token('gAAAAABgarbage'), token(revoked.token)]) {
      const r = await api(s.url, 'GET', '/v2/images', { headers });
      assert.equal(r.status, 401, r.text);
      assert.equal(r.headers.get('www-authenticate'), `Keystone uri="${env.url.replace(/\/v3$/, '')}"`);
    }
    // Versions need no token, as in Glance.
    assert.equal((await api(s.url, 'GET', '/')).status, 300);
  });

  test('an unscoped token is refused (401)', async () => {
    const env = keystoneFromEnv();
    assert.ok(!('skip' in env));
    const unscoped = await passwordToken({ user: 'ocellus', password: env.servicePassword });
    assert.equal((await api(s.url, 'GET', '/v2/images', { headers: token(unscoped.token) })).status, 401);
  });

  test("project A's private image is 404 to project B; A's reader may see but not change or download it", async () => {
    const id = await createImage(s.url, token(tokens.memberA), { visibility: 'private', name: 'a-private' });
    const created = (await api(s.url, 'GET', `/v2/images/${id}`, { headers: token(tokens.memberA) })).body;
    assert.equal(created.owner, projectA);
    assert.equal((await upload(s.url, id, Buffer.from('bytes of A'), token(tokens.memberA))).status, 204);

    assert.equal((await api(s.url, 'GET', `/v2/images/${id}`, { headers: token(tokens.memberB) })).status, 404);
    assert.equal((await api(s.url, 'GET', `/v2/images/${id}/file`, { headers: token(tokens.memberB) })).status, 404);
    assert.equal((await api(s.url, 'DELETE', `/v2/images/${id}`, { headers: token(tokens.memberB) })).status, 404);
    const listB = (await api(s.url, 'GET', '/v2/images', { headers: token(tokens.memberB) })).body.images as { id: string }[];
    assert.ok(!listB.some((i) => i.id === id));

    // Keystone's implied roles: the member token also carries reader, so list and show work.
    assert.equal((await api(s.url, 'GET', `/v2/images/${id}`, { headers: token(tokens.readerA) })).status, 200);
    assert.equal((await patchImage(s.url, id, token(tokens.readerA), [{ op: 'replace', path: '/name', value: 'x' }])).status, 403);
    assert.equal((await api(s.url, 'GET', `/v2/images/${id}/file`, { headers: token(tokens.readerA) })).status, 403);
    assert.equal((await api(s.url, 'POST', '/v2/images', { headers: token(tokens.readerA), json: { name: 'r' } })).status, 403);
    const download = await fetch(`${s.url}/v2/images/${id}/file`, { headers: token(tokens.memberA) });
    assert.equal(await download.text(), 'bytes of A');
  });

  test('a member cannot publicize; an admin can', async () => {
    const denied = await api(s.url, 'POST', '/v2/images', { headers: token(tokens.memberA), json: { visibility: 'public' } });
    assert.equal(denied.status, 403);
    assert.match(denied.text, /publicize_image/);
    const id = await createImage(s.url, token(tokens.memberA));
    const publicize = (t: string) => patchImage(s.url, id, token(t), [{ op: 'replace', path: '/visibility', value: 'public' }]);
    assert.equal((await publicize(tokens.memberA)).status, 403);
    assert.equal((await publicize(tokens.adminA)).status, 200);
    assert.equal((await api(s.url, 'GET', `/v2/images/${id}`, { headers: token(tokens.memberB) })).body.visibility, 'public');
  });

  test('a system-scoped admin token: 403 on create and list, 404 on show', async () => {
    const env = keystoneFromEnv();
    assert.ok(!('skip' in env));
    const system = (await systemToken('admin', env.adminPassword)).token;
    const id = await createImage(s.url, token(tokens.memberA));
    assert.equal((await api(s.url, 'POST', '/v2/images', { headers: token(system), json: {} })).status, 403);
    assert.equal((await api(s.url, 'GET', '/v2/images', { headers: token(system) })).status, 403);
    assert.equal((await api(s.url, 'GET', `/v2/images/${id}`, { headers: token(system) })).status, 404);
  });

  test('a policy file changes the outcome for real tokens', async () => {
    const file = path.join(tempDir(), 'policy.yaml');
    fs.writeFileSync(file, '"publicize_image": "role:member and project_id:%(project_id)s"\n"get_images": "role:admin"\n');
    const tuned = await startServer(keystoneOverrides([{ section: 'oslo_policy', name: 'policy_file', value: file }]));
    try {
      assert.equal((await api(tuned.url, 'POST', '/v2/images', { headers: token(tokens.memberA), json: { visibility: 'public' } })).status, 201);
      assert.equal((await api(tuned.url, 'GET', '/v2/images', { headers: token(tokens.memberA) })).status, 403);
      assert.equal((await api(tuned.url, 'GET', '/v2/images', { headers: token(tokens.adminA) })).status, 200);
    } finally {
      await tuned.close();
    }
  });
});

describe('token validation and its cache (KeystoneAuth against the real Keystone, with a clock that can be stopped)', { skip: keystoneSkip() }, () => {
  /** When set, the time KeystoneAuth sees (a clock stopped there); else the real time. */
  let frozen: number | null = null;
  let auth: KeystoneAuth;
  let user: TestUser;
  let projectId: string;

  before(async () => {
    const env = keystoneFromEnv();
    if ('skip' in env) throw new Error(env.skip);
    projectId = await createProject();
    user = await createUser({ password: randomBytes(9).toString('base64url'), projectId, roles: ['member'] });
    auth = new KeystoneAuth(
      {
        authUrl: env.url,
        wwwAuthenticateUri: env.url,
        username: 'ocellus',
        password: env.servicePassword,
        userDomainName: 'Default',
        projectName: 'service',
        projectDomainName: 'Default',
        tokenCacheTime: 300,
        includeServiceCatalog: false,
        serviceTokenRoles: ['service'],
        timeout: 10,
      },
      undefined,
      () => frozen ?? Date.now(),
    );
  });
  after(async () => {
    await deleteUser(user.id);
    await deleteProject(projectId);
  });

  test('the context carries the token scope and its implied roles; a cached token is never trusted past its expiry', async () => {
    frozen = null;
    const issued = await passwordToken({ user: user.name, password: user.password, projectId });
    const ctx = await auth.authenticate(token(issued.token), 'req-1');
    assert.equal(ctx.projectId, projectId);
    assert.equal(ctx.userId, user.id);
    assert.deepEqual([...ctx.roles].sort(), ['member', 'reader']);
    assert.equal(ctx.isAdmin, false);

    // Cached: Keystone is not asked again (a revoked token still passes until the cache expires,
    // as with keystonemiddleware)…
    await revokeToken(issued.token);
    assert.equal((await auth.authenticate(token(issued.token), 'req-2')).projectId, projectId);
    // …but never beyond the token's own expiry, however long token_cache_time is.
    frozen = issued.expiresAt.getTime() + 1000;
    await assert.rejects(auth.authenticate(token(issued.token), 'req-3'), Unauthorized);
  });

  test('an expired user token passes only with a service token carrying the service role (allow_expired)', async () => {
    frozen = null;
    const env = keystoneFromEnv();
    assert.ok(!('skip' in env));
    const issued = await passwordToken({ user: user.name, password: user.password, projectId });
    // Tokens issued later expire later: these two stay valid when the clock passes the first's expiry.
    await new Promise((r) => setTimeout(r, 2000));
    const service = (await passwordToken({ user: 'ocellus', password: env.servicePassword, project: 'service' })).token;
    const notService = (await passwordToken({ user: user.name, password: user.password, projectId })).token;
    frozen = issued.expiresAt.getTime() + 200;

    await assert.rejects(auth.authenticate(token(issued.token), 'req-4'), Unauthorized);
    await assert.rejects(auth.authenticate({ 'x-auth-token': issued.token, 'x-service-token': notService }, 'req-5'), Unauthorized);
    const ctx = await auth.authenticate({ 'x-auth-token': issued.token, 'x-service-token': service }, 'req-6');
    assert.equal(ctx.projectId, projectId);
    assert.ok(ctx.service?.roles.includes('service'));
  });
});
