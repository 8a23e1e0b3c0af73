/**
 * The console's session over HTTP (the pages themselves: console-browser.test.ts): sign-in on
 * each authentication strategy, the sealed HttpOnly cookie that carries the caller into the API at
 * /console/api, the CSRF token and origin check on writes, credentials a page tries to add
 * stripped, tampered or missing cookies refused, sign-out (a Keystone token revoked).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import { unseal } from '../src/api/console/session-cookie.js';
import { api, startSecondServer, startServer, tempDir, type TestServer } from './support/harness.js';
import { adminToken, createProject, createUser, deleteProject, deleteUser, keystoneRequest, keystoneSkip, validateToken, type TestUser, keystoneFlavorOverrides } from './support/keystone.js';

/** The console cookie a response set, as a Cookie header value. */
function cookieOf(res: { headers: Headers }): string {
  const set = res.headers.get('set-cookie') ?? '';
  assert.match(set, /^ocellus_console=[^;]+; Path=\/console; HttpOnly; SameSite=Strict; Max-Age=\d+/);
  return set.split(';')[0]!;
}

describe('console session with trusted headers', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  test('the page and its scripts are served with a strict content security policy; nothing outside them is', async () => {
    const page = await fetch(`${s.url}/console/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'; script-src 'self'/);
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    await page.text();
    const redirect = await fetch(`${s.url}/console`, { redirect: 'manual' });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('location'), '/console/');
    const sdk = await fetch(`${s.url}/console/js/src/sdk/api.js`);
    assert.equal(sdk.status, 200);
    assert.match(sdk.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.match(await sdk.text(), /class ApiClient/);
    const again = await fetch(`${s.url}/console/js/src/sdk/api.js`, { headers: { 'if-none-match': sdk.headers.get('etag')! } });
    assert.equal(again.status, 304);
    for (const p of ['/console/js/..%2F..%2Fpackage.json', '/console/js/../../package.json', '/console/static/.env', '/console/js/web/nothing.js']) {
      const r = await fetch(`${s.url}${p}`);
      assert.notEqual(r.status, 200, p);
      await r.body?.cancel();
    }
  });

  test('signed out: the strategy, no session; the API through the console is 401', async () => {
    const r = await api(s.url, 'GET', '/console/session');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { signedIn: false, strategy: 'headers', defaults: { userDomain: 'Default', projectDomain: 'Default' } });
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal((await api(s.url, 'GET', '/console/api/v2/images')).status, 401);
    // Identity headers a page adds are not a session.
    assert.equal((await api(s.url, 'GET', '/console/api/v2/images', { headers: { 'x-project-id': 'p', 'x-roles': 'admin' } })).status, 401);
  });

  test('sign-in, calls with the cookie, CSRF and origin checks, forged headers ignored, sign-out', async () => {
    const bad = await api(s.url, 'POST', '/console/session', { json: { roles: 'member' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.message, 'project is required.');
    assert.equal((await api(s.url, 'POST', '/console/session', { body: '{"project":', contentType: 'application/json' })).status, 400);

    // Not JSON (what a form on another site can send), or from another origin: refused.
    const form = await api(s.url, 'POST', '/console/session', { body: '{"project":"p"}', contentType: 'text/plain' });
    assert.equal(form.status, 415);
    assert.equal(form.headers.get('set-cookie'), null);
    const elsewhere = await api(s.url, 'POST', '/console/session', { json: { project: 'p' }, headers: { origin: 'https://evil.example' } });
    assert.equal(elsewhere.status, 403);
    assert.equal(elsewhere.body.message, 'A sign-in from another site is refused.');

    const signIn = await api(s.url, 'POST', '/console/session', { json: { project: 'console-p1', user: 'ann', roles: 'member,reader' }, headers: { origin: s.url } });
    assert.equal(signIn.status, 201, signIn.text);
    const cookie = cookieOf(signIn);
    const csrf = signIn.body.csrfToken as string;
    assert.deepEqual({ ...signIn.body, csrfToken: undefined, expiresAt: undefined }, {
      signedIn: true,
      strategy: 'headers',
      csrfToken: undefined,
      expiresAt: undefined,
      user: { id: 'ann', name: 'ann' },
      project: { id: 'console-p1', name: 'console-p1' },
      roles: ['member', 'reader'],
      isAdmin: false,
    });
    assert.ok(csrf.length >= 32);
    const me = await api(s.url, 'GET', '/console/session', { headers: { cookie } });
    assert.equal(me.body.csrfToken, csrf);

    const list = await api(s.url, 'GET', '/console/api/v2/images', { headers: { cookie } });
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.images, []);

    const noCsrf = await api(s.url, 'POST', '/console/api/v2/images', { headers: { cookie }, json: { name: 'x' } });
    assert.equal(noCsrf.status, 403);
    assert.match(noCsrf.text, /CSRF token is missing or wrong/);
    const otherSite = await api(s.url, 'POST', '/console/api/v2/images', { headers: { cookie, 'x-csrf-token': csrf, origin: 'https://evil.example' }, json: { name: 'x' } });
    assert.equal(otherSite.status, 403);
    assert.match(otherSite.text, /another site/);

    // The session's identity, whatever identity headers come with it.
    const created = await api(s.url, 'POST', '/console/api/v2/images', {
      headers: { cookie, 'x-csrf-token': csrf, origin: s.url, 'x-project-id': 'someone-else', 'x-roles': 'admin' },
      json: { name: 'from-console', disk_format: 'raw', container_format: 'bare' },
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.owner, 'console-p1');
    const data = randomBytes(4096);
    const put = await fetch(`${s.url}/console/api/v2/images/${created.body.id}/file`, {
      method: 'PUT',
      headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/octet-stream' },
      body: data,
    });
    assert.equal(put.status, 204);
    const got = await fetch(`${s.url}/console/api/v2/images/${created.body.id}/file`, { headers: { cookie } });
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), data);

    // A cookie changed by one bit is no session.
    const value = cookie.slice(cookie.indexOf('=') + 1);
    const flipped = `ocellus_console=${value.slice(0, 20)}${value[20] === 'A' ? 'B' : 'A'}${value.slice(21)}`;
    assert.equal((await api(s.url, 'GET', '/console/api/v2/images', { headers: { cookie: flipped } })).status, 401);
    assert.equal((await api(s.url, 'GET', '/console/session', { headers: { cookie: flipped } })).body.signedIn, false);

    assert.equal((await api(s.url, 'DELETE', '/console/session', { headers: { cookie } })).status, 403);
    const out = await api(s.url, 'DELETE', '/console/session', { headers: { cookie, 'x-csrf-token': csrf } });
    assert.equal(out.status, 204);
    assert.match(out.headers.get('set-cookie') ?? '', /^ocellus_console=; Path=\/console; HttpOnly; SameSite=Strict; Max-Age=0/);
  });

  test('the cookie key lives in the data dir: a second server on it reads the first one\'s sessions', async () => {
    const signIn = await api(s.url, 'POST', '/console/session', { json: { project: 'console-p2' } });
    const cookie = cookieOf(signIn);
    const st = fs.statSync(path.join(s.dataDir, 'console-secret'));
    assert.equal(st.mode & 0o077, 0);
    const second = await startSecondServer(s);
    try {
      const me = await api(second.url, 'GET', '/console/session', { headers: { cookie } });
      assert.equal(me.body.signedIn, true);
      assert.equal(me.body.project.id, 'console-p2');
    } finally {
      await second.close();
    }
  });
});

describe('console session with static tokens (the default flavor)', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer([{ section: 'paste_deploy', name: 'flavor', value: '' }]);
  });
  after(() => s.close());

  test('a wrong token is refused in words; the admin token signs in as an admin', async () => {
    const wrong = await api(s.url, 'POST', '/console/session', { json: { token: 'not-a-token-not-a-token-not-a-token' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.message, 'The token is not valid, or it has expired.');
    const token = fs.readFileSync(path.join(s.dataDir, 'admin-token'), 'utf8').trim();
    const ok = await api(s.url, 'POST', '/console/session', { json: { token } });
    assert.equal(ok.status, 201);
    assert.equal(ok.body.strategy, 'token');
    assert.equal(ok.body.isAdmin, true);
    assert.ok(!JSON.stringify(ok.body).includes(token), 'the token never reaches the page');
    assert.equal((await api(s.url, 'GET', '/console/api/v2/images', { headers: { cookie: cookieOf(ok) } })).status, 200);
  });

  test('trusted-header sign-in is refused with another strategy', async () => {
    const r = await api(s.url, 'POST', '/console/session', { json: { project: 'p' } });
    assert.equal(r.status, 400);
    assert.equal(r.body.message, 'token is required.');
  });
});

describe('console disabled', () => {
  test('[console] enabled = false: no console, no session, no /console/api', async () => {
    const s = await startServer([{ section: 'console', name: 'enabled', value: 'false' }], tempDir());
    try {
      for (const p of ['/console/', '/console/session', '/console/api/v2/images']) {
        const r = await fetch(`${s.url}${p}`, { headers: { 'x-project-id': 'p', 'x-roles': 'member' } });
        assert.notEqual(r.status, 200, p);
        await r.body?.cancel();
      }
    } finally {
      await s.close();
    }
  });
});

describe('console session with Keystone', { skip: keystoneSkip() }, () => {
  let s: TestServer;
  let project: string;
  let user: TestUser;
  const password = randomBytes(12).toString('base64url');

  before(async () => {
    s = await startServer(keystoneFlavorOverrides());
    project = await createProject();
    user = await createUser({ password, projectId: project, roles: ['member', 'reader'] });
  });
  after(async () => {
    await s?.close();
    if (user) await deleteUser(user.id);
    if (project) await deleteProject(project);
  });

  test('a wrong password is refused in words; the right one signs in with names; sign-out revokes the token', async () => {
    const { body: projectBody } = await api(s.url, 'GET', '/console/session');
    assert.equal(projectBody.strategy, 'keystone');
    const projectName = await projectNameOf(project);
    const wrong = await api(s.url, 'POST', '/console/session', { json: { username: user.name, password: 'wrong', project: projectName } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.message, 'The user name, password, domain or project is wrong.');

    const ok = await api(s.url, 'POST', '/console/session', { json: { username: user.name, password, userDomain: 'Default', project: projectName, projectDomain: 'Default' } });
    assert.equal(ok.status, 201, ok.text);
    assert.deepEqual(ok.body.user, { id: user.id, name: user.name });
    assert.deepEqual(ok.body.project, { id: project, name: projectName });
    assert.deepEqual([...ok.body.roles].sort(), ['member', 'reader']);
    assert.equal(ok.body.isAdmin, false);
    const cookie = cookieOf(ok);
    const created = await api(s.url, 'POST', '/console/api/v2/images', { headers: { cookie, 'x-csrf-token': ok.body.csrfToken }, json: { name: 'ks-console' } });
    assert.equal(created.status, 201);
    assert.equal(created.body.owner, project);

    // The token is in the sealed cookie only; sign-out revokes it at Keystone.
    const token = tokenInside(s, cookie);
    assert.equal((await validateToken(token)).status, 200);
    assert.equal((await api(s.url, 'DELETE', '/console/session', { headers: { cookie, 'x-csrf-token': ok.body.csrfToken } })).status, 204);
    assert.equal((await validateToken(token)).status, 404);
  });
});

async function projectNameOf(id: string): Promise<string> {
  const r = await keystoneRequest<{ project: { name: string } }>('GET', `/projects/${id}`, { token: await adminToken() });
  return r.body!.project.name;
}

/** The token a console cookie holds (the test opens the seal with the server's key, as the server does). */
function tokenInside(s: TestServer, cookie: string): string {
  const key = createHash('sha256').update(fs.readFileSync(path.join(s.dataDir, 'console-secret'), 'utf8').trim()).digest();
  const session = unseal(cookie.slice(cookie.indexOf('=') + 1), key);
  assert.ok(session?.token);
  return session.token;
}
