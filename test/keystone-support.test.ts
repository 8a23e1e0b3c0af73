import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  adminToken,
  createProject,
  createUser,
  deleteProject,
  deleteUser,
  imageEndpoint,
  keystoneFromEnv,
  keystoneSkip,
  passwordToken,
  revokeToken,
  systemToken,
  validateToken,
  type TestUser,
} from './support/keystone.js';

/**
 * The Keystone test helpers against the real Keystone of scripts/keystone/start.sh — and what
 * Ocellus relies on from it: implied roles in tokens, system scope, revocation, and a service
 * user that may validate other users' tokens under Keystone's default policy.
 */

const roleNames = (roles: { name: string }[] | undefined) => (roles ?? []).map((r) => r.name).sort();

describe('the test Keystone', { skip: keystoneSkip() }, () => {
  let projectId: string;
  let member: TestUser;
  let other: TestUser;

  before(async () => {
    projectId = await createProject();
    const password = randomBytes(9).toString('base64url');
    member = await createUser({ password, projectId, roles: ['member'] });
    other = await createUser({ password, projectId, roles: ['reader'] });
  });

  after(async () => {
    if (member) await deleteUser(member.id);
    if (other) await deleteUser(other.id);
    if (projectId) await deleteProject(projectId);
  });

  test('a user given only member gets member and reader (implied) in a project token', async () => {
    const t = await passwordToken({ user: member.name, password: member.password, projectId });
    assert.deepEqual(roleNames(t.body.roles), ['member', 'reader']);
    assert.equal(t.body.project?.id, projectId);
    assert.equal(t.body.user.id, member.id);
    assert.ok(t.expiresAt.getTime() > Date.now() + 30 * 60_000, `expires at ${t.expiresAt.toISOString()}`);
    assert.equal(typeof t.token, 'string');
    // A project by name in the user's domain scopes the same way.
    const byName = await passwordToken({ user: member.name, password: member.password, project: (t.body.project as { name: string }).name });
    assert.equal(byName.body.project?.id, projectId);
  });

  test('admin of project admin has admin, member and reader', async () => {
    const { adminPassword } = keystoneFromEnv() as { adminPassword: string };
    const t = await passwordToken({ user: 'admin', password: adminPassword, project: 'admin' });
    assert.deepEqual(roleNames(t.body.roles), ['admin', 'member', 'reader']);
    assert.equal(await adminToken(), await adminToken(), 'the admin token is cached');
  });

  test("a system token of bootstrap's admin has system all", async () => {
    const { adminPassword } = keystoneFromEnv() as { adminPassword: string };
    const t = await systemToken('admin', adminPassword);
    assert.deepEqual(t.body.system, { all: true });
    assert.equal(t.body.project, undefined);
    assert.deepEqual(roleNames(t.body.roles), ['admin', 'member', 'reader']);
  });

  test('the service user ocellus validates a user token; a revoked one is 404', async () => {
    const t = await passwordToken({ user: member.name, password: member.password, projectId });
    const v = await validateToken(t.token); // as ocellus on project service
    assert.equal(v.status, 200);
    assert.equal(v.body?.user.id, member.id);
    assert.equal(v.body?.project?.id, projectId);
    assert.deepEqual(roleNames(v.body?.roles), ['member', 'reader']);

    await revokeToken(t.token);
    assert.equal((await validateToken(t.token)).status, 404);
  });

  test("a user without the service role cannot validate another user's token, only its own", async () => {
    const mine = await passwordToken({ user: other.name, password: other.password, projectId });
    const theirs = await passwordToken({ user: member.name, password: member.password, projectId });
    assert.equal((await validateToken(theirs.token, mine.token)).status, 403);
    assert.equal((await validateToken(mine.token, mine.token)).status, 200);
  });

  test('a malformed token is 404, a wrong password 401', async () => {
    assert.equal((await validateToken('gAAAAAnot-a-token')).status, 404);
    await assert.rejects(passwordToken({ user: member.name, password: 'wrong', projectId }), /401/);
  });

  test('the image service has a public endpoint in the catalogue of a project token', async () => {
    // Only looked at, never set here: the endpoint is shared by everything using this Keystone,
    // and setImageEndpoint from a test would race with other test files reading the catalogue.
    const url = await imageEndpoint();
    assert.ok(url, 'start.sh created the public image endpoint');
    const t = await passwordToken({ user: member.name, password: member.password, projectId });
    const image = t.body.catalog?.find((s) => s.type === 'image');
    assert.ok(image, 'the catalogue has the image service');
    assert.match(image.endpoints.find((e) => e.interface === 'public' && e.region_id === 'RegionOne')?.url ?? '', /^https?:\/\//);
  });
});
