import assert from 'node:assert/strict';
import { random } from './support/streaming.js';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { AdminTokenAuth } from '../src/auth/admin-token.js';
import { parseServiceCatalog } from '../src/auth/service-catalog.js';
import { TokenFileAuth } from '../src/auth/token-file.js';
import { InvalidServiceCatalog, TrustedHeaderAuth } from '../src/auth/trusted-headers.js';
import { glanceDownloadProperties, loadConfig } from '../src/config/options.js';
import { KeystoneAuth } from '../src/auth/keystone.js';
import { fetchRemoteImage, glanceEndpoint, importedMetadata, openRemoteImageData, type CatalogEntry } from '../src/tasks/glance-download.js';
import { ImportSourceError } from '../src/tasks/import-sources.js';
import type { DownloadLimits } from '../src/tasks/web-download.js';
import { api, startServer, tempDir, type TestServer } from './support/harness.js';
import { createProject, createUser, deleteProject, deleteUser, imageEndpoint, keystoneFromEnv, keystoneSkip, passwordToken, type TestUser } from './support/keystone.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite');

const LIMITS: DownloadLimits = { idleTimeoutMs: 5_000, maxBytes: 64 << 20, maxRedirects: 5 };
const DATA = random((2 << 20) + 12345);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function isSourceError(retryable: boolean, message: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof ImportSourceError, `expected ImportSourceError, got ${String(err)}`);
    assert.match(err.message, message);
    assert.equal(err.retryable, retryable);
    return true;
  };
}

describe('glance-download: endpoint lookup in the service catalog', () => {
  const catalog: CatalogEntry[] = [
    { type: 'identity', name: 'keystone', endpoints: [{ region: 'RegionOne', region_id: 'RegionOne', interface: 'public', url: 'http://keystone.one/v3' }] },
    {
      type: 'image',
      name: 'glance',
      endpoints: [
        { region: 'RegionOne', region_id: 'RegionOne', interface: 'public', url: 'https://image.one.example/' },
        { region: 'RegionOne', region_id: 'RegionOne', interface: 'internal', url: 'http://10.0.0.5:9292' },
        { region: 'RegionTwo', region_id: 'RegionTwo', interface: 'public', url: 'https://image.two.example' },
        { region_id: 'region-three', interface: 'admin', url: 'http://10.3.0.5:9292' },
      ],
    },
  ];

  test('finds the region (any case) and interface; the URL without trailing slash', () => {
    assert.equal(glanceEndpoint(catalog, 'RegionOne', 'public'), 'https://image.one.example');
    assert.equal(glanceEndpoint(catalog, 'regionone', 'internal'), 'http://10.0.0.5:9292');
    assert.equal(glanceEndpoint(catalog, 'RegionTwo', 'public'), 'https://image.two.example');
    assert.equal(glanceEndpoint(catalog, 'REGION-THREE', 'admin'), 'http://10.3.0.5:9292');
  });

  test('a missing region or interface, or an unknown interface, is an error that will not go away', () => {
    assert.throws(() => glanceEndpoint(catalog, 'RegionFour', 'public'), isSourceError(false, /no public image service endpoint in region RegionFour/));
    assert.throws(() => glanceEndpoint(catalog, 'RegionTwo', 'internal'), isSourceError(false, /no internal image service endpoint in region RegionTwo/));
    assert.throws(() => glanceEndpoint(catalog, 'RegionOne', 'private'), isSourceError(false, /not an endpoint interface/));
    assert.throws(() => glanceEndpoint([], 'RegionOne', 'public'), ImportSourceError);
  });

  test("keystonemiddleware's v2-shaped X-Service-Catalog is read as the v3 shape", () => {
    const v2 = parseServiceCatalog([
      { type: 'image', name: 'glance', endpoints: [{ region: 'RegionTwo', publicURL: 'https://image.two.example', internalURL: 'http://10.2.0.5:9292', adminURL: 'http://10.2.0.6:9292' }] },
      { type: 'compute', endpoints: 'not a list' },
      'junk',
    ]);
    assert.deepEqual(v2, [
      {
        type: 'image',
        name: 'glance',
        endpoints: [
          { region: 'RegionTwo', interface: 'public', url: 'https://image.two.example' },
          { region: 'RegionTwo', interface: 'internal', url: 'http://10.2.0.5:9292' },
          { region: 'RegionTwo', interface: 'admin', url: 'http://10.2.0.6:9292' },
        ],
      },
    ]);
    assert.equal(glanceEndpoint(v2!, 'regiontwo', 'internal'), 'http://10.2.0.5:9292');
    assert.equal(parseServiceCatalog({ not: 'a list' }), null);
  });
});

describe('glance-download: importedMetadata', () => {
  const remote = {
    id: 'c0ffee00-0000-4000-8000-000000000001',
    name: 'remote',
    status: 'active',
    disk_format: 'qcow2',
    container_format: 'bare',
    size: 12345,
    os_hidden: false,
    os_hash_algo: 'sha512',
    hw_disk_bus: 'scsi',
    hw_scsi_model: 'virtio-scsi',
    'trait:CUSTOM_FAST': 'required',
    os_distro: 'ubuntu',
    os_distro_version: '24.04',
    os_secure_boot: 'required',
    os_type: 'linux',
    os_glance_importing_to_stores: 'x',
    architecture: 'x86_64',
    owner_specified_note: 'kept at home',
  };

  test("Glance's default prefixes: formats, hw_*, trait:*, os_distro*, os_secure_boot, os_type; nothing else", () => {
    const defaults = glanceDownloadProperties(loadConfig({ warn: () => undefined }));
    assert.deepEqual(defaults, ['hw_', 'trait:', 'os_distro', 'os_secure_boot', 'os_type']);
    assert.deepEqual(importedMetadata(remote, defaults), {
      disk_format: 'qcow2',
      container_format: 'bare',
      properties: {
        hw_disk_bus: 'scsi',
        hw_scsi_model: 'virtio-scsi',
        'trait:CUSTOM_FAST': 'required',
        os_distro: 'ubuntu',
        os_distro_version: '24.04',
        os_secure_boot: 'required',
        os_type: 'linux',
      },
    });
  });

  test('a broad prefix never copies os_glance* or core attributes; missing formats are null', () => {
    const got = importedMetadata({ ...remote, disk_format: null, container_format: undefined }, ['os_', 'arch']);
    assert.deepEqual(got.properties, { os_distro: 'ubuntu', os_distro_version: '24.04', os_secure_boot: 'required', os_type: 'linux', architecture: 'x86_64' });
    assert.equal(got.disk_format, null);
    assert.equal(got.container_format, null);
    const quoted = loadConfig({ warn: () => undefined, overrides: [{ section: 'glance_download_properties', name: 'extra_properties', value: "'owner_', \"arch\"" }] });
    assert.deepEqual(Object.keys(importedMetadata(remote, glanceDownloadProperties(quoted)).properties), ['architecture', 'owner_specified_note']);
  });
});

describe('glance-download: against a real second Ocellus', () => {
  let remote: TestServer;
  const token = randomBytes(24).toString('hex');
  const otherToken = randomBytes(24).toString('hex');
  let imageId = '';
  let hiddenId = '';

  before(async () => {
    // The remote region authenticates tokens (a token file): what glance-download sends is the caller's token.
    const dir = tempDir();
    const tokenFile = path.join(dir, 'tokens.yaml');
    fs.writeFileSync(tokenFile, `${token}:\n  user_id: alice\n  project_id: p-remote\n  roles: [member, reader]\n${otherToken}:\n  user_id: bob\n  project_id: p-other\n  roles: [member, reader]\n`);
    remote = await startServer([
      { section: 'paste_deploy', name: 'flavor', value: 'token' },
      { section: 'token_auth', name: 'token_file', value: tokenFile },
    ]);
    const headers = { 'x-auth-token': token };
    // raw: DATA is random bytes, and the remote's format inspection refuses them declared as anything else.
    const created = await api(remote.url, 'POST', '/v2/images', {
      headers,
      json: { name: 'source', disk_format: 'raw', container_format: 'bare', hw_disk_bus: 'scsi', os_distro: 'debian', custom: 'no' },
    });
    assert.equal(created.status, 201, created.text);
    imageId = created.body.id;
    const put = await api(remote.url, 'PUT', `/v2/images/${imageId}/file`, { headers, body: DATA, contentType: 'application/octet-stream' });
    assert.equal(put.status, 204, put.text);
    hiddenId = (await api(remote.url, 'POST', '/v2/images', { headers: { 'x-auth-token': otherToken }, json: { disk_format: 'raw', container_format: 'bare' } })).body.id;
  });
  after(async () => {
    await remote?.close();
  });

  test('finds the remote through a catalog, reads its record and copies the right metadata', async () => {
    const catalog = parseServiceCatalog([{ type: 'image', endpoints: [{ region: 'RegionTwo', interface: 'public', url: `${remote.url}/` }] }])!;
    const endpoint = glanceEndpoint(catalog, 'RegionTwo', 'public');
    const record = await fetchRemoteImage(endpoint, token, imageId);
    assert.equal(record.id, imageId);
    assert.equal(record.status, 'active');
    assert.equal(record.size, DATA.length);
    assert.deepEqual(importedMetadata(record, ['hw_', 'trait:', 'os_distro', 'os_secure_boot', 'os_type']), {
      disk_format: 'raw',
      container_format: 'bare',
      properties: { hw_disk_bus: 'scsi', os_distro: 'debian' },
    });
  });

  test('reads the data byte for byte, with its size', async () => {
    const { stream, size } = await openRemoteImageData(remote.url, token, imageId, LIMITS);
    assert.equal(size, DATA.length);
    assert.equal(sha(await readAll(stream)), sha(DATA));
  });

  test("the caller's token decides: someone else's image is 404, a bad token 401, both final", async () => {
    await assert.rejects(fetchRemoteImage(remote.url, token, hiddenId), isSourceError(false, /answered 404/));
    await assert.rejects(fetchRemoteImage(remote.url, 'not-a-valid-token-at-all', imageId), isSourceError(false, /answered 401/));
    await assert.rejects(openRemoteImageData(remote.url, token, hiddenId, LIMITS), isSourceError(false, /answered 404/));
  });

  test('the data is bounded like web-download', async () => {
    await assert.rejects(openRemoteImageData(remote.url, token, imageId, { ...LIMITS, maxBytes: 1000 }), isSourceError(false, /more than the 1000 allowed/));
  });

  test('an endpoint that cannot be reached may be retried', async () => {
    const probe = http.createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as AddressInfo;
    probe.close();
    await assert.rejects(fetchRemoteImage(`http://127.0.0.1:${port}`, token, imageId), isSourceError(true, /cannot reach .*ECONNREFUSED/));
  });

  test("a redirect to another host is refused: the caller's token stays home", async () => {
    const seen: (string | undefined)[] = [];
    const elsewhere = http.createServer((req, res) => {
      seen.push(req.headers['x-auth-token'] as string | undefined);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    elsewhere.listen(0, '127.0.0.1');
    await once(elsewhere, 'listening');
    const target = `http://localhost:${(elsewhere.address() as AddressInfo).port}`;
    const redirector = http.createServer((req, res) => res.writeHead(302, { location: `${target}${req.url}` }).end());
    redirector.listen(0, '127.0.0.1');
    await once(redirector, 'listening');
    const sameHost = http.createServer((req, res) =>
      req.url?.startsWith('/moved') ? res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: req.headers['x-auth-token'] })) : res.writeHead(307, { location: `/moved${req.url}` }).end(),
    );
    sameHost.listen(0, '127.0.0.1');
    await once(sameHost, 'listening');
    try {
      await assert.rejects(fetchRemoteImage(`http://127.0.0.1:${(redirector.address() as AddressInfo).port}`, token, imageId), isSourceError(false, /redirects to another host/));
      assert.deepEqual(seen, []);
      // Within the endpoint's origin, the redirect is followed with the token.
      assert.deepEqual(await fetchRemoteImage(`http://127.0.0.1:${(sameHost.address() as AddressInfo).port}`, token, imageId), { token });
    } finally {
      elsewhere.close();
      redirector.close();
      sameHost.close();
    }
  });
});

describe('request contexts carry the caller token and catalog', () => {
  const catalogV3 = [{ type: 'image', name: 'glance', endpoints: [{ region: 'RegionTwo', region_id: 'RegionTwo', interface: 'public', url: 'https://image.two.example' }] }];

  test('trusted headers: X-Auth-Token and X-Service-Catalog (v3 or v2 JSON)', async () => {
    const auth = new TrustedHeaderAuth();
    const ctx = await auth.authenticate({ 'x-user-id': 'u', 'x-project-id': 'p', 'x-roles': 'member', 'x-auth-token': 'tok-123', 'x-service-catalog': JSON.stringify(catalogV3) }, 'req-1');
    assert.equal(ctx.authToken, 'tok-123');
    assert.deepEqual(ctx.serviceCatalog, catalogV3);
    const v2 = await auth.authenticate({ 'x-user-id': 'u', 'x-project-id': 'p', 'x-service-catalog': JSON.stringify([{ type: 'image', endpoints: [{ region: 'RegionTwo', publicURL: 'https://image.two.example' }] }]) }, 'req-2');
    assert.equal(glanceEndpoint(v2.serviceCatalog!, 'RegionTwo', 'public'), 'https://image.two.example');
    assert.equal(v2.authToken, null);
    const bare = await auth.authenticate({ 'x-user-id': 'u', 'x-project-id': 'p' }, 'req-3');
    assert.equal(bare.authToken, null);
    assert.equal(bare.serviceCatalog, null);
    await assert.rejects(auth.authenticate({ 'x-user-id': 'u', 'x-project-id': 'p', 'x-service-catalog': '[{' }, 'req-4'), InvalidServiceCatalog);
  });

  test('admin token and token file: the token, no catalog', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'tokens.yaml');
    const fileToken = randomBytes(20).toString('hex');
    fs.writeFileSync(file, `${fileToken}:\n  user_id: carol\n  project_id: p1\n  roles: [member]\n`);
    const tokens = new TokenFileAuth(file);
    const adminToken = randomBytes(32).toString('hex');
    const auth = new AdminTokenAuth(adminToken, tokens);
    try {
      const asAdmin = await auth.authenticate({ 'x-auth-token': adminToken }, 'r1');
      assert.equal(asAdmin.authToken, adminToken);
      assert.equal(asAdmin.serviceCatalog, null);
      const asCarol = await auth.authenticate({ 'x-auth-token': fileToken }, 'r2');
      assert.equal(asCarol.userId, 'carol');
      assert.equal(asCarol.authToken, fileToken);
      assert.equal(asCarol.serviceCatalog, null);
    } finally {
      auth.close();
    }
  });
});

describe('Keystone contexts carry the token and the catalog of its validation', { skip: keystoneSkip() }, () => {
  let project = '';
  let user: TestUser | undefined;
  let token = '';

  const keystoneAuth = (includeServiceCatalog: boolean) => {
    const env = keystoneFromEnv();
    if ('skip' in env) throw new Error(env.skip);
    return new KeystoneAuth({
      authUrl: env.url,
      wwwAuthenticateUri: env.url,
      username: 'ocellus',
      password: env.servicePassword,
      userDomainName: 'Default',
      projectName: 'service',
      projectDomainName: 'Default',
      tokenCacheTime: 300,
      includeServiceCatalog,
      serviceTokenRoles: ['service'],
      timeout: 10,
    });
  };

  before(async () => {
    project = await createProject();
    const password = randomBytes(9).toString('base64url');
    user = await createUser({ password, projectId: project, roles: ['member'] });
    token = (await passwordToken({ user: user.name, password, projectId: project })).token;
  });
  after(async () => {
    if (user) await deleteUser(user.id);
    if (project) await deleteProject(project);
  });

  test('with include_service_catalog (the default): the catalog, in which glance-download finds the image service', async () => {
    const ctx = await keystoneAuth(true).authenticate({ 'x-auth-token': token }, 'req-k1');
    assert.equal(ctx.authToken, token);
    assert.ok(ctx.serviceCatalog && ctx.serviceCatalog.some((e) => e.type === 'identity'), JSON.stringify(ctx.serviceCatalog));
    const expected = await imageEndpoint();
    assert.ok(expected, 'the test Keystone has an image endpoint (scripts/keystone/start.sh creates it)');
    assert.equal(glanceEndpoint(ctx.serviceCatalog, 'RegionOne', 'public'), expected.replace(/\/+$/, ''));
  });

  test('with include_service_catalog = false: the token and no catalog', async () => {
    const ctx = await keystoneAuth(false).authenticate({ 'x-auth-token': token }, 'req-k2');
    assert.equal(ctx.authToken, token);
    assert.deepEqual(ctx.serviceCatalog, null);
  });
});
