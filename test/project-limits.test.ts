import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { api, member, startServer, tempDir, type TestServer } from './support/harness.js';
import { glanceEnv, parseShow, parseTable, requireTools, runCommand, runGlance, type Run } from './support/glance-cli.js';
import {
  adminToken,
  createProject,
  createUser,
  deleteProject,
  deleteUser,
  keystoneFromEnv,
  keystoneRequest,
  keystoneSkip,
  passwordToken,
  roleId,
  uniqueName,
  type TestUser,
} from './support/keystone.js';
import { runsOn } from './support/test-database.js';
import { ConfigError, loadConfig } from '../src/config/options.js';

/**
 * Per-project limits from the real Keystone of the tests (unified limits): registered limits
 * and project overrides made with `openstack registered limit create` / `openstack limit create`,
 * each of the four limits hit from `glance` and `openstack image` (413), `glance usage`, the
 * cache of limits, and a Keystone that cannot be reached (503, nothing stored).
 *
 * The limits belong to a service of this file's own (a unique type, with an endpoint no client
 * uses), so they never touch the image service other test files find in the catalogue.
 */

const MIB = 1024 * 1024;
const skip = keystoneSkip() ?? requireTools(['glance', 'openstack'], 'python3-glanceclient python3-openstackclient');

runsOn('sqlite');

describe('per-project limits from Keystone', { skip }, () => {
  let s: TestServer;
  let work: string;
  let serviceId: string;
  let endpointId: string;
  let reader: TestUser;
  const projects: string[] = [];
  const users: TestUser[] = [];
  const limitIds: string[] = [];
  const registeredIds: string[] = [];

  /** Runs `openstack` as Keystone's admin, system-scoped (what limits need). */
  async function osAdmin(args: string[]): Promise<string> {
    const env = keystoneFromEnv();
    if ('skip' in env) throw new Error(env.skip);
    const r = await runCommand('openstack', args, {
      env: {
        ...glanceEnv(work),
        OS_AUTH_URL: env.url,
        OS_IDENTITY_API_VERSION: '3',
        OS_USERNAME: 'admin',
        OS_PASSWORD: env.adminPassword,
        OS_USER_DOMAIN_ID: 'default',
        OS_SYSTEM_SCOPE: 'all',
      },
      cwd: work,
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 0, `openstack ${args.join(' ')}\n${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  async function registeredLimit(name: string, value: number): Promise<void> {
    const out = await osAdmin(['registered', 'limit', 'create', '--service', serviceId, '--region', 'RegionOne', '--default-limit', String(value), '-f', 'json', name]);
    registeredIds.push((JSON.parse(out) as { id: string }).id);
  }

  /** A project's limit: with `openstack limit create`, or (`viaApi`, quicker) with Keystone's API. */
  async function projectLimit(project: string, name: string, value: number, viaApi = false): Promise<string> {
    let id: string;
    if (viaApi) {
      const r = await keystoneRequest<{ limits: { id: string }[] }>('POST', '/limits', {
        token: await adminToken(),
        body: { limits: [{ service_id: serviceId, region_id: 'RegionOne', project_id: project, resource_name: name, resource_limit: value }] },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      id = r.body.limits[0]!.id;
    } else {
      const out = await osAdmin(['limit', 'create', '--project', project, '--service', serviceId, '--region', 'RegionOne', '--resource-limit', String(value), '-f', 'json', name]);
      id = (JSON.parse(out) as { id: string }).id;
    }
    limitIds.push(id);
    return id;
  }

  /** A project with a member user, and that user's token; with `limits`, its own limits first. */
  async function tenant(limits: Record<string, number> = {}, viaApi = true): Promise<{ project: string; user: TestUser; token: string; limits: Record<string, string> }> {
    const project = await createProject();
    projects.push(project);
    const user = await createUser({ password: randomBytes(9).toString('base64url'), projectId: project, roles: ['member', 'reader'] });
    users.push(user);
    const ids: Record<string, string> = {};
    for (const [name, value] of Object.entries(limits)) ids[name] = await projectLimit(project, name, value, viaApi);
    const { token } = await passwordToken({ user: user.name, password: user.password, projectId: project });
    return { project, user, token, limits: ids };
  }

  function glance(token: string, args: string[]): Promise<Run> {
    return runGlance(s.url, args, { env: glanceEnv(work), cwd: work, token, closedStdin: true });
  }

  /**
   * `openstack image …` as the tenant's user, password auth through Keystone, the image API at
   * this server (a clouds.yaml `image_endpoint_override`: the catalogue's image endpoint is other
   * test files' to use).
   */
  function openstack(t: { project: string; user: TestUser }, args: string[]): Promise<Run> {
    const env = keystoneFromEnv();
    if ('skip' in env) throw new Error(env.skip);
    const clouds = path.join(work, `clouds-${t.project}.yaml`);
    const auth = `{auth_url: '${env.url}', username: '${t.user.name}', password: '${t.user.password}', project_id: '${t.project}', user_domain_id: default}`;
    fs.writeFileSync(clouds, `clouds:\n  tenant:\n    auth: ${auth}\n    region_name: RegionOne\n    identity_api_version: 3\n    image_api_version: 2\n    image_endpoint_override: '${s.url}'\n`);
    return runCommand('openstack', args, { env: { ...glanceEnv(work), OS_CLIENT_CONFIG_FILE: clouds, OS_CLOUD: 'tenant' }, cwd: work, timeoutMs: 60_000 });
  }

  function file(name: string, bytes: number): string {
    const p = path.join(work, name);
    fs.writeFileSync(p, randomBytes(bytes));
    return p;
  }

  const auth = (token: string) => ({ 'x-auth-token': token });
  type Tenant = Awaited<ReturnType<typeof tenant>>;
  /** Each test's own project (and member user), made in `before`. */
  const tenants = {} as Record<'usage' | 'count' | 'size' | 'declared' | 'stage' | 'uploading' | 'cache', Tenant>;

  before(async () => {
    const env = keystoneFromEnv();
    if ('skip' in env) throw new Error(env.skip);
    work = tempDir('ocellus-limits-');
    const token = await adminToken();
    const type = uniqueName('ocellus-limits');
    const svc = await keystoneRequest<{ service: { id: string } }>('POST', '/services', { token, body: { service: { type, name: type, description: 'Ocellus limits test' } } });
    assert.equal(svc.status, 201);
    serviceId = svc.body.service.id;
    const ep = await keystoneRequest<{ endpoint: { id: string } }>('POST', '/endpoints', {
      token,
      body: { endpoint: { service_id: serviceId, interface: 'public', region_id: 'RegionOne', url: 'http://127.0.0.1:9/unused' } },
    });
    assert.equal(ep.status, 201);
    endpointId = ep.body.endpoint.id;
    // Glance's docs: the user oslo.limit reads limits as has the reader role on the system.
    const home = await createProject();
    projects.push(home);
    reader = await createUser({ password: randomBytes(9).toString('base64url'), projectId: home, roles: [] });
    users.push(reader);
    const put = await keystoneRequest('PUT', `/system/users/${reader.id}/roles/${await roleId('reader')}`, { token });
    assert.equal(put.status, 204);

    await Promise.all([registeredLimit('image_count_total', 10), registeredLimit('image_size_total', 2), registeredLimit('image_stage_total', 2), registeredLimit('image_count_uploading', 1)]);
    // Every test's projects at once: Keystone's calls are what takes time here.
    const ready = {
      usage: tenant({ image_count_total: 5 }),
      count: tenant({ image_count_total: 2 }, false),
      size: tenant(),
      declared: tenant(),
      stage: tenant({ image_size_total: 100 }),
      uploading: tenant({ image_stage_total: 100 }),
      cache: tenant(),
    };
    await Promise.all(Object.values(ready));
    for (const [k, v] of Object.entries(ready)) tenants[k as keyof typeof ready] = await v;

    s = await startServer([
      { section: 'paste_deploy', name: 'flavor', value: 'keystone' },
      { section: 'keystone_authtoken', name: 'auth_url', value: env.url },
      { section: 'keystone_authtoken', name: 'username', value: 'ocellus' },
      { section: 'keystone_authtoken', name: 'password', value: env.servicePassword },
      { section: 'keystone_authtoken', name: 'project_name', value: 'service' },
      { section: 'DEFAULT', name: 'use_keystone_limits', value: 'true' },
      { section: 'oslo_limit', name: 'auth_url', value: env.url },
      { section: 'oslo_limit', name: 'username', value: reader.name },
      { section: 'oslo_limit', name: 'password', value: reader.password },
      { section: 'oslo_limit', name: 'system_scope', value: 'all' },
      { section: 'oslo_limit', name: 'endpoint_id', value: endpointId },
      { section: 'oslo_limit', name: 'cache_time', value: '4' },
      // web-download from loopback (never fetched: its limit stops it first).
      { section: 'import_filtering_opts', name: 'allowed_networks', value: '127.0.0.1/32' },
    ]);
  });

  after(async () => {
    await s?.close();
    const env = keystoneFromEnv();
    if ('skip' in env) return;
    const token = await adminToken();
    // Project limits before registered ones, both before their service.
    await Promise.all(limitIds.map((id) => keystoneRequest('DELETE', `/limits/${id}`, { token })));
    await Promise.all(registeredIds.map((id) => keystoneRequest('DELETE', `/registered_limits/${id}`, { token })));
    if (endpointId) await keystoneRequest('DELETE', `/endpoints/${endpointId}`, { token });
    if (serviceId) await keystoneRequest('DELETE', `/services/${serviceId}`, { token });
    await Promise.all([...users.map((u) => deleteUser(u.id)), ...projects.map((p) => deleteProject(p))]);
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('glance usage: registered limits, a project override, and usage as it grows', async () => {
    const t = tenants.usage;
    let r = await glance(t.token, ['usage']);
    assert.equal(r.code, 0, r.stderr);
    const rows = Object.fromEntries(parseTable(r.stdout).map(([name, limit, usage]) => [name, { limit: Number(limit), usage: Number(usage) }]));
    assert.deepEqual(rows, {
      image_count_total: { limit: 5, usage: 0 },
      image_count_uploading: { limit: 1, usage: 0 },
      image_size_total: { limit: 2, usage: 0 },
      image_stage_total: { limit: 2, usage: 0 },
    });
    r = await glance(t.token, ['image-create', '--name', 'one', '--disk-format', 'raw', '--container-format', 'bare', '--file', file('one.raw', MIB + 100)]);
    assert.equal(r.code, 0, r.stderr);
    const usage = await api(s.url, 'GET', '/v2/info/usage', { headers: auth(t.token) });
    assert.equal(usage.status, 200);
    assert.deepEqual(usage.body.usage.image_count_total, { limit: 5, usage: 1 });
    assert.deepEqual(usage.body.usage.image_size_total, { limit: 2, usage: 1 });
  });

  test('image_count_total: the project override allows 2 images; the third is 413 from glance and from openstack image create', async () => {
    const t = tenants.count;
    for (const name of ['a', 'b']) {
      const r = await glance(t.token, ['image-create', '--name', name]);
      assert.equal(r.code, 0, r.stderr);
    }
    const g = await glance(t.token, ['image-create', '--name', 'c']);
    assert.notEqual(g.code, 0);
    assert.match(g.stderr, /413/);
    assert.match(g.stderr, /image_count_total is over limit of 2 due to current usage 2 and delta 1/);
    const o = await openstack(t, ['image', 'create', '--disk-format', 'raw', '--container-format', 'bare', 'c']);
    assert.notEqual(o.code, 0, o.stdout);
    assert.match(o.stderr, /image_count_total is over limit of 2 due to current usage 2 and delta 1/);
    const list = await api(s.url, 'GET', '/v2/images', { headers: auth(t.token) });
    assert.equal(list.body.images.length, 2);
  });

  test('image_size_total: an upload of unknown size may go over; then glance and openstack uploads are 413; a declared size over it is refused before reading', async () => {
    const t = tenants.size;
    // glanceclient streams the file chunked: the delta is 0, the upload completes over the limit (as in Glance).
    let r = await glance(t.token, ['image-create', '--name', 'big', '--disk-format', 'raw', '--container-format', 'bare', '--file', file('big.raw', 3 * MIB)]);
    assert.equal(r.code, 0, r.stderr);
    r = await glance(t.token, ['image-create', '--name', 'more', '--disk-format', 'raw', '--container-format', 'bare', '--file', file('more.raw', 1000)]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /image_size_total is over limit of 2 due to current usage 3 and delta 0/);
    const o = await openstack(t, ['image', 'create', '--disk-format', 'raw', '--container-format', 'bare', '--file', path.join(work, 'more.raw'), 'more2']);
    assert.notEqual(o.code, 0, o.stdout);
    // openstacksdk shows the status, not the body.
    assert.match(o.stderr, /413: Client Error for url: \S+\/file, Payload Too Large/);
    const u = tenants.declared;
    const id = (await api(s.url, 'POST', '/v2/images', { headers: auth(u.token), json: { disk_format: 'raw', container_format: 'bare' } })).body.id as string;
    const put = await api(s.url, 'PUT', `/v2/images/${id}/file`, { headers: { ...auth(u.token), 'content-type': 'application/octet-stream' }, body: randomBytes(3 * MIB) });
    assert.equal(put.status, 413);
    assert.match(put.text, /image_size_total is over limit of 2 due to current usage 0 and delta 3/);
    const image = await api(s.url, 'GET', `/v2/images/${id}`, { headers: auth(u.token) });
    assert.equal(image.body.status, 'queued');
    // POST /import: image_size_total must not be over already.
    const queued = (await api(s.url, 'POST', '/v2/images', { headers: auth(t.token), json: { disk_format: 'raw', container_format: 'bare' } })).body.id as string;
    const imp = await api(s.url, 'POST', `/v2/images/${queued}/import`, { headers: auth(t.token), json: { method: { name: 'web-download', uri: 'http://example.com/x' } } });
    assert.equal(imp.status, 413);
  });

  test('image_stage_total: glance image-stage over the limit, then the next stage is 413 and a web-download task fails; a glance-direct import over image_size_total fails its task', async () => {
    const t = tenants.stage;
    const create = async (name: string) => {
      const r = await glance(t.token, ['image-create', '--name', name, '--disk-format', 'raw', '--container-format', 'bare']);
      assert.equal(r.code, 0, r.stderr);
      return parseShow(r.stdout).id!;
    };
    const first = await create('staged-1');
    let r = await glance(t.token, ['image-stage', '--file', file('s1.raw', 3 * MIB), first]);
    assert.equal(r.code, 0, r.stderr);
    const second = await create('staged-2');
    r = await glance(t.token, ['image-stage', '--file', file('s2.raw', 1000), second]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /image_stage_total is over limit of 2 due to current usage 3 and delta 0/);
    assert.equal((await api(s.url, 'GET', `/v2/images/${second}`, { headers: auth(t.token) })).body.status, 'queued');
    // A web-download stages its data: the API takes it (202), its task fails on image_stage_total.
    r = await glance(t.token, ['image-import', '--import-method', 'web-download', '--uri', 'http://127.0.0.1/disk.raw', second]);
    assert.equal(r.code, 0, r.stderr);
    const web = await waitForTask(t.token, second);
    assert.equal(web.status, 'failure');
    assert.match(web.message, /image_stage_total is over limit of 2 due to current usage 3 and delta 0/);
    assert.equal((await api(s.url, 'GET', `/v2/images/${second}`, { headers: auth(t.token) })).body.status, 'queued');

    // Importing the staged 3 MiB frees the staging area; with image_size_total lowered to 2, the task fails on it.
    const lowered = await keystoneRequest('PATCH', `/limits/${t.limits.image_size_total}`, { token: await adminToken(), body: { limit: { resource_limit: 2 } } });
    assert.equal(lowered.status, 200);
    await new Promise((res) => setTimeout(res, 4500)); // the cache time
    r = await glance(t.token, ['image-import', '--import-method', 'glance-direct', first]);
    assert.equal(r.code, 0, r.stderr);
    const task = await waitForTask(t.token, first);
    assert.equal(task.status, 'failure');
    assert.match(task.message, /image_size_total is over limit of 2 due to current usage 0 and delta 3/);
    const after = (await api(s.url, 'GET', `/v2/images/${first}`, { headers: auth(t.token) })).body;
    assert.equal(after.status, 'queued');
    assert.equal(after.os_glance_importing_to_stores, '');
    assert.equal(after.os_glance_failed_import, '', 'a limit fails no store');
  });

  test('image_count_uploading: with one image staged (uploading), an upload from glance is 413 and the image stays queued', async () => {
    const t = tenants.uploading;
    const staged = (await api(s.url, 'POST', '/v2/images', { headers: auth(t.token), json: { disk_format: 'raw', container_format: 'bare' } })).body.id as string;
    const put = await api(s.url, 'PUT', `/v2/images/${staged}/stage`, { headers: { ...auth(t.token), 'content-type': 'application/octet-stream' }, body: randomBytes(1000) });
    assert.equal(put.status, 204);
    const r = await glance(t.token, ['image-create', '--name', 'second', '--disk-format', 'raw', '--container-format', 'bare', '--file', file('up.raw', 1000)]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /image_count_uploading is over limit of 1 due to current usage 2 and delta 0/);
    const second = (await api(s.url, 'GET', '/v2/images?name=second', { headers: auth(t.token) })).body.images[0];
    assert.equal(second.status, 'queued');
    const usage = await api(s.url, 'GET', '/v2/info/usage', { headers: auth(t.token) });
    assert.deepEqual(usage.body.usage.image_count_uploading, { limit: 1, usage: 1 });
  });

  test('the cache: a raised limit applies once the cache time has passed, not before', async () => {
    const t = tenants.cache;
    const limit = await projectLimit(t.project, 'image_count_total', 1, true);
    assert.equal((await api(s.url, 'POST', '/v2/images', { headers: auth(t.token), json: {} })).status, 201);
    const filled = Date.now();
    assert.equal((await api(s.url, 'POST', '/v2/images', { headers: auth(t.token), json: {} })).status, 413);
    const patched = await keystoneRequest('PATCH', `/limits/${limit}`, { token: await adminToken(), body: { limit: { resource_limit: 5 } } });
    assert.equal(patched.status, 200);
    const early = await api(s.url, 'POST', '/v2/images', { headers: auth(t.token), json: {} });
    if (Date.now() - filled < 3500) assert.equal(early.status, 413, 'the limit read 4 s ago is still used');
    await new Promise((res) => setTimeout(res, Math.max(0, filled + 4200 - Date.now())));
    assert.equal((await api(s.url, 'POST', '/v2/images', { headers: auth(t.token), json: {} })).status, 201);
  });

  test('oslo_limit finding the endpoint by service type and region; a wrong password is a 503 saying so', async () => {
    const env = keystoneFromEnv();
    if ('skip' in env) throw new Error(env.skip);
    const type = (await keystoneRequest<{ service: { type: string } }>('GET', `/services/${serviceId}`, { token: await adminToken() })).body.service.type;
    const common = [
      { section: 'paste_deploy', name: 'flavor', value: 'keystone' },
      { section: 'keystone_authtoken', name: 'auth_url', value: env.url },
      { section: 'keystone_authtoken', name: 'username', value: 'ocellus' },
      { section: 'keystone_authtoken', name: 'password', value: env.servicePassword },
      { section: 'keystone_authtoken', name: 'project_name', value: 'service' },
      { section: 'DEFAULT', name: 'use_keystone_limits', value: 'true' },
      { section: 'oslo_limit', name: 'auth_url', value: env.url },
      { section: 'oslo_limit', name: 'username', value: reader.name },
      { section: 'oslo_limit', name: 'system_scope', value: 'all' },
      { section: 'oslo_limit', name: 'endpoint_service_type', value: type },
      { section: 'oslo_limit', name: 'endpoint_region_name', value: 'RegionOne' },
    ];
    const byType = await startServer([...common, { section: 'oslo_limit', name: 'password', value: reader.password }]);
    const wrong = await startServer([...common, { section: 'oslo_limit', name: 'password', value: 'not-the-password' }]);
    try {
      const t = tenants.usage;
      const usage = await api(byType.url, 'GET', '/v2/info/usage', { headers: auth(t.token) });
      assert.equal(usage.status, 200, usage.text);
      assert.equal(usage.body.usage.image_count_total.limit, 5);
      assert.equal(usage.body.usage.image_stage_total.limit, 2);
      const refused = await api(wrong.url, 'POST', '/v2/images', { headers: auth(t.token), json: { name: 'x' } });
      assert.equal(refused.status, 503);
      assert.match(refused.text, new RegExp(`the \\[oslo_limit\\] user ${reader.name} could not authenticate to Keystone \\(401\\)`));
      assert.deepEqual((await api(wrong.url, 'GET', '/v2/images', { headers: auth(t.token) })).body.images, []);
    } finally {
      await byType.close();
      await wrong.close();
    }
  });

  async function waitForTask(token: string, imageId: string): Promise<{ status: string; message: string }> {
    for (let i = 0; i < 200; i++) {
      const r = await api(s.url, 'GET', `/v2/images/${imageId}/tasks`, { headers: auth(token) });
      const task = r.body.tasks[0];
      if (task && (task.status === 'success' || task.status === 'failure')) return task;
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error(`no task of image ${imageId} ended`);
  }
});

describe('per-project limits: Keystone unreachable, and limits off', () => {
  test('an oslo_limit auth_url on a closed port: 503 saying Keystone is unreachable, nothing stored', async () => {
    const closed = net.createServer();
    await new Promise<void>((res) => closed.listen(0, '127.0.0.1', res));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((res) => closed.close(res));
    const s = await startServer(limitsOptions(`http://127.0.0.1:${port}/v3`, 2));
    try {
      const r = await api(s.url, 'POST', '/v2/images', { headers: member('p1'), json: { name: 'x' } });
      assert.equal(r.status, 503);
      assert.match(r.text, /Project limits cannot be checked: Keystone \(http:\/\/127\.0\.0\.1:\d+\) is unreachable \(ECONNREFUSED\)/);
      const usage = await api(s.url, 'GET', '/v2/info/usage', { headers: member('p1') });
      assert.equal(usage.status, 503);
      const list = await api(s.url, 'GET', '/v2/images', { headers: member('p1') });
      assert.deepEqual(list.body.images, []);
    } finally {
      await s.close();
    }
  });

  test('a Keystone that accepts but never answers: 503 after [oslo_limit] timeout, nothing stored', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((sock) => sockets.add(sock));
    await new Promise<void>((res) => silent.listen(0, '127.0.0.1', res));
    const port = (silent.address() as net.AddressInfo).port;
    const s = await startServer(limitsOptions(`http://127.0.0.1:${port}/v3`, 1));
    try {
      const started = Date.now();
      const r = await api(s.url, 'POST', '/v2/images', { headers: member('p1'), json: { name: 'x' } });
      assert.equal(r.status, 503);
      assert.match(r.text, /no answer within 1 s/);
      assert.ok(Date.now() - started < 5000);
      assert.deepEqual((await api(s.url, 'GET', '/v2/images', { headers: member('p1') })).body.images, []);
    } finally {
      await s.close();
      for (const sock of sockets) sock.destroy();
      await new Promise((res) => silent.close(res));
    }
  });

  test('use_keystone_limits without where the limits are: the start is refused, naming what is missing', () => {
    assert.throws(
      () => loadConfig({ dataDir: tempDir(), overrides: [{ section: 'DEFAULT', name: 'use_keystone_limits', value: 'true' }, { section: 'oslo_limit', name: 'auth_url', value: 'http://127.0.0.1:5050/v3' }], warn: () => undefined }),
      (err: Error) => err instanceof ConfigError && err.message === '[DEFAULT] use_keystone_limits = true needs [oslo_limit] username, password, endpoint_id (or endpoint_service_type / endpoint_service_name)',
    );
  });

  test('use_keystone_limits off: GET /v2/info/usage is {"usage": {}}', async () => {
    const s = await startServer();
    try {
      const r = await api(s.url, 'GET', '/v2/info/usage', { headers: member('p1') });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { usage: {} });
    } finally {
      await s.close();
    }
  });
});

function limitsOptions(authUrl: string, timeout: number) {
  return [
    { section: 'DEFAULT', name: 'use_keystone_limits', value: 'true' },
    { section: 'oslo_limit', name: 'auth_url', value: authUrl },
    { section: 'oslo_limit', name: 'username', value: 'nobody' },
    { section: 'oslo_limit', name: 'password', value: 'nothing' },
    { section: 'oslo_limit', name: 'system_scope', value: 'all' },
    { section: 'oslo_limit', name: 'endpoint_id', value: 'not-asked' },
    { section: 'oslo_limit', name: 'timeout', value: String(timeout) },
  ];
}
