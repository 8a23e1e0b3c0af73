/**
 * The SDK (src/sdk/) against a real Ocellus: configured from OS_* variables and from a
 * clouds.yaml with the default flavor's admin token, images with paging, data both ways with
 * progress, tags, members, a glance-direct import and its task, metadef namespaces, typed errors;
 * its routes and types checked against the OpenAPI document; TLS settings (cacert, verify: false,
 * a client certificate) through an https proxy with openssl-made certificates; Keystone password
 * and application-credential auth when OCELLUS_TEST_KEYSTONE_URL names a Keystone.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import {
  ImageClient,
  keystoneSession,
  IMAGE_FIELDS,
  MEMBER_FIELDS,
  METADEF_TAG_FIELDS,
  NotFoundError,
  SDK_ROUTES,
  TASK_FIELDS,
  BadRequestError,
  CertificateError,
  ConfigurationError,
  UnauthorizedError,
  authBody,
  cloudFromEnvironment,
  loadCloudConfig,
} from '../src/sdk/index.js';
import { startServer, tempDir, type TestServer } from './support/harness.js';
import { createProject, createUser, deleteProject, deleteUser, imageEndpoint, keystoneFromEnv, keystoneRequest, keystoneSkip, passwordToken, uniqueName, validateToken, keystoneFlavorOverrides } from './support/keystone.js';
import { httpsProxy, makeCertificates, type Certificates, type HttpsProxy } from './support/tls.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite');

let server: TestServer;
let token: string;
let client: ImageClient;
before(async () => {
  server = await startServer([{ section: 'paste_deploy', name: 'flavor', value: '' }]);
  token = fs.readFileSync(path.join(server.dataDir, 'admin-token'), 'utf8').trim();
  client = ImageClient.fromEnvironment({ env: { OS_IMAGE_URL: server.url, OS_TOKEN: token } });
});
after(async () => {
  await server.close();
});

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test('the SDK calls only routes of the OpenAPI document, and its types name fields of its schemas', async () => {
  const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, any> } }; // eslint-disable-line @typescript-eslint/no-explicit-any
  for (const route of SDK_ROUTES) {
    const [method, p] = route.split(' ') as [string, string];
    assert.ok(doc.paths[p]?.[method.toLowerCase()], `${route} is not in /openapi.json`);
  }
  const schemas = doc.components.schemas;
  // `stores` is in the image schema only with multiple stores: compare with the multi-store flavour of it.
  const imageProps = new Set([...Object.keys(schemas.Image.properties), 'stores']);
  for (const [fields, props] of [
    [IMAGE_FIELDS, imageProps],
    [MEMBER_FIELDS, new Set(Object.keys(schemas.Member.properties))],
    [TASK_FIELDS, new Set(Object.keys(schemas.Task.properties))],
    [METADEF_TAG_FIELDS, new Set(Object.keys(schemas.MetadefTag.properties))],
  ] as const) {
    for (const f of fields) assert.ok(props.has(f), `${f} is not in the schema`);
    for (const p of props) assert.ok((fields as readonly string[]).includes(p), `the schema's ${p} is not in the SDK type`);
  }
});

test('images: create, list with paging, update, tags, deactivate, delete; errors are typed', async () => {
  const names = ['sdk-a', 'sdk-b', 'sdk-c'];
  const ids = [];
  for (const name of names) ids.push((await client.images.create({ name, disk_format: 'raw', container_format: 'bare', tags: ['sdk'] })).id);
  const listed = [];
  for await (const image of client.images.list({ tag: 'sdk', limit: 1 })) listed.push(image.name);
  assert.deepEqual(listed.sort(), names);
  const updated = await client.images.update(ids[0]!, [{ op: 'replace', path: '/name', value: 'renamed' }, { op: 'add', path: '/flavour', value: 'x' }]);
  assert.equal(updated.name, 'renamed');
  assert.equal(updated.flavour, 'x');
  assert.equal((await client.images.setProperties(ids[0]!, { flavour: null, min_ram: 64 })).flavour, undefined);
  await client.images.addTag(ids[0]!, 'extra');
  assert.deepEqual((await client.images.get(ids[0]!)).tags.sort(), ['extra', 'sdk']);
  await client.images.removeTag(ids[0]!, 'extra');
  assert.deepEqual((await client.images.get(ids[0]!)).tags, ['sdk']);
  for (const id of ids) await client.images.delete(id);
  const gone = await client.images.get(ids[0]!).catch((e: unknown) => e);
  assert.ok(gone instanceof NotFoundError, String(gone));
  assert.equal(gone.status, 404);
  assert.match(gone.message, /No image found with ID/);
  assert.match(gone.requestId ?? '', /^req-/);
  const bad = await client.images.create({ disk_format: 'no-such-format' }).catch((e: unknown) => e);
  assert.ok(bad instanceof BadRequestError && bad.status === 400, String(bad));
});

test('formats and pages: the accepted formats come from the served schema ([image_format]); images.page walks by marker', async () => {
  const narrowed = await startServer([
    { section: 'paste_deploy', name: 'flavor', value: '' },
    { section: 'image_format', name: 'disk_formats', value: 'raw,qcow2' },
    { section: 'image_format', name: 'container_formats', value: 'bare' },
  ]);
  try {
    const c = ImageClient.withToken(narrowed.url, fs.readFileSync(path.join(narrowed.dataDir, 'admin-token'), 'utf8').trim());
    assert.deepEqual(await c.images.formats(), { disk: ['raw', 'qcow2'], container: ['bare'] });
    for (const name of ['p1', 'p2', 'p3']) await c.images.create({ name });
    const first = await c.images.page({ limit: 2, sort: 'name:asc' });
    assert.deepEqual(first.images.map((i) => i.name), ['p1', 'p2']);
    assert.ok(first.next);
    const second = await c.images.page(first.next!);
    assert.deepEqual(second.images.map((i) => i.name), ['p3']);
    assert.equal(second.next, null);
  } finally {
    await narrowed.close();
  }
});

test('data: upload from a stream and from a file with progress, download with progress, deactivate', async () => {
  const data = crypto.randomBytes(3 * 1024 * 1024 + 17);
  const image = await client.images.create({ name: 'sdk-data', disk_format: 'raw', container_format: 'bare' });
  const sent: number[] = [];
  await client.images.upload(image.id, Readable.from([data.subarray(0, 1 << 20), data.subarray(1 << 20)]), { size: data.length, onProgress: (n) => sent.push(n) });
  assert.equal(sent.at(-1), data.length);
  assert.ok(sent.length > 1 && sent.every((n, i) => i === 0 || n > sent[i - 1]!));
  const shown = await client.images.get(image.id);
  assert.equal(shown.status, 'active');
  assert.equal(shown.size, data.length);

  const seen: [number, number | null][] = [];
  const download = await client.images.download(image.id, { onProgress: (n, total) => seen.push([n, total]) });
  assert.ok(download);
  assert.equal(download.size, data.length);
  assert.equal(download.checksum, crypto.createHash('md5').update(data).digest('hex'));
  assert.ok((await collect(download.stream)).equals(data));
  assert.deepEqual(seen.at(-1), [data.length, data.length]);
  const part = await client.images.download(image.id, { range: 'bytes=10-19' });
  assert.ok(part && (await collect(part.stream)).equals(data.subarray(10, 20)));

  const file = path.join(tempDir(), 'disk.raw');
  fs.writeFileSync(file, data.subarray(0, 1000));
  const second = await client.images.create({ disk_format: 'raw', container_format: 'bare' });
  let last: [number, number | null] = [0, null];
  await client.images.upload(second.id, { path: file }, { onProgress: (n, total) => (last = [n, total]) });
  assert.deepEqual(last, [1000, 1000]);
  assert.equal((await client.images.get(second.id)).size, 1000);

  await client.images.deactivate(image.id);
  assert.equal((await client.images.get(image.id)).status, 'deactivated');
  await client.images.reactivate(image.id);
  assert.equal((await client.images.get(image.id)).status, 'active');
  assert.equal(await client.images.download((await client.images.create({ disk_format: 'raw', container_format: 'bare' })).id), null);
});

test('an upload cancelled with an AbortSignal rejects and leaves the image without data', async () => {
  const image = await client.images.create({ disk_format: 'raw', container_format: 'bare' });
  const controller = new AbortController();
  // A source that sends 1 MiB, then waits: the upload is cancelled while it waits.
  const source = new Readable({ read() {} });
  source.push(crypto.randomBytes(1 << 20));
  const uploading = client.images.upload(image.id, source, { signal: controller.signal, onProgress: (n) => n >= 1 << 20 && controller.abort() });
  await assert.rejects(uploading, { name: 'AbortError' });
  source.destroy();
  const after = await client.images.waitForStatus(image.id, ['queued'], { timeoutMs: 10_000, intervalMs: 50 });
  assert.equal(after.size, null);
});

test('members: share, list, show, unshare', async () => {
  const image = await client.images.create({ disk_format: 'raw', container_format: 'bare', visibility: 'shared' });
  const added = await client.members.add(image.id, 'project-b');
  assert.equal(added.status, 'pending');
  assert.deepEqual((await client.members.list(image.id)).map((m) => m.member_id), ['project-b']);
  assert.equal((await client.members.get(image.id, 'project-b')).image_id, image.id);
  await client.members.remove(image.id, 'project-b');
  assert.deepEqual(await client.members.list(image.id), []);
});

test('import: glance-direct from a staged stream, followed through its task', async () => {
  assert.ok((await client.images.importMethods()).includes('glance-direct'));
  const data = crypto.randomBytes(100_000);
  const image = await client.images.create({ disk_format: 'raw', container_format: 'bare' });
  let staged = 0;
  await client.images.stage(image.id, data, { onProgress: (n) => (staged = n) });
  assert.equal(staged, data.length);
  assert.equal((await client.images.get(image.id)).status, 'uploading');
  await client.images.import(image.id, { method: { name: 'glance-direct' } });
  const active = await client.images.waitForStatus(image.id, ['active'], { timeoutMs: 20_000, intervalMs: 50 });
  assert.equal(active.size, data.length);
  const [task] = await client.images.tasks(image.id);
  assert.ok(task);
  const done = await client.tasks.wait(task.id, { timeoutMs: 20_000, intervalMs: 50 });
  assert.equal(done.status, 'success');
  const listed = [];
  for await (const t of client.tasks.list()) listed.push(t.id);
  assert.ok(listed.includes(task.id));
});

test('metadefs: namespaces created and listed page by page, with their tags', async () => {
  for (const ns of ['SDK::One', 'SDK::Two', 'SDK::Three']) await client.metadefs.createNamespace({ namespace: ns, visibility: 'private' });
  const names = [];
  for await (const ns of client.metadefs.namespaces({ limit: 2 })) names.push(ns.namespace);
  assert.deepEqual(names.filter((n) => n.startsWith('SDK::')).sort(), ['SDK::One', 'SDK::Three', 'SDK::Two']);
  await client.metadefs.createTag('SDK::One', 'fast');
  assert.deepEqual((await client.metadefs.tags('SDK::One')).map((t) => t.name), ['fast']);
  assert.equal((await client.metadefs.getNamespace('SDK::Two')).visibility, 'private');
  await client.metadefs.deleteNamespace('SDK::Three');
  await assert.rejects(client.metadefs.getNamespace('SDK::Three'), NotFoundError);
});

test('configuration: a clouds.yaml entry (with secure.yaml), OS_* variables filling in, and the errors', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'clouds.yaml');
  fs.writeFileSync(file, `clouds:\n  local:\n    auth_type: admin_token\n    auth:\n      endpoint: ${server.url}/v2\n    region_name: RegionOne\n`);
  fs.writeFileSync(path.join(dir, 'secure.yaml'), `clouds:\n  local:\n    auth:\n      token: ${token}\n`);
  const env = { OS_CLOUD: 'local', OS_CLIENT_CONFIG_FILE: file, OS_USERNAME: 'someone' };
  assert.deepEqual(loadCloudConfig({ env }), { username: 'someone', authType: 'admin_token', endpoint: `${server.url}/v2`, token, regionName: 'RegionOne' });
  const fromYaml = ImageClient.fromEnvironment({ env });
  const image = await fromYaml.images.create({ name: 'from-clouds-yaml', disk_format: 'raw', container_format: 'bare' });
  assert.equal((await client.images.get(image.id)).name, 'from-clouds-yaml');

  assert.throws(() => loadCloudConfig({ env: { ...env, OS_CLOUD: 'elsewhere' } }), ConfigurationError);
  assert.throws(() => ImageClient.fromEnvironment({ env: {} }), /no Keystone URL/);
  const wrong = ImageClient.fromEnvironment({ env: { OS_IMAGE_URL: server.url, OS_AUTH_TOKEN: 'x'.repeat(64) } });
  await assert.rejects(wrong.images.get(image.id), (e: unknown) => e instanceof Error && (e as { status?: number }).status === 401);
});

test('configuration: application credentials and TLS settings from clouds.yaml and OS_* variables; missing parts are ConfigurationErrors', () => {
  const dir = tempDir();
  const file = path.join(dir, 'clouds.yaml');
  fs.writeFileSync(
    file,
    [
      'clouds:',
      '  by-id:',
      '    auth_type: v3applicationcredential',
      '    auth:',
      '      auth_url: http://keystone.example:5000/v3',
      '      application_credential_id: 0123abcd',
      '      application_credential_secret: s3cret',
      '    cacert: /etc/ssl/cloud-ca.pem',
      '    cert: /etc/ssl/me.pem',
      '    key: /etc/ssl/me-key.pem',
      '  by-name:',
      '    auth_type: v3applicationcredential',
      '    auth:',
      '      auth_url: http://keystone.example:5000/v3',
      '      application_credential_name: ci-builds',
      '      application_credential_secret: s3cret',
      '      username: builder',
      '      user_domain_name: Default',
      '      project_name: not-sent',
      '    verify: false',
      '  old-style:',
      '    insecure: true',
      '    auth: {endpoint: "http://127.0.0.1:9292", token: abc}',
      '',
    ].join('\n'),
  );
  const env = { OS_CLIENT_CONFIG_FILE: file };
  const byId = loadCloudConfig({ env, cloud: 'by-id' });
  assert.deepEqual(byId, {
    authUrl: 'http://keystone.example:5000/v3',
    authType: 'v3applicationcredential',
    applicationCredentialId: '0123abcd',
    applicationCredentialSecret: 's3cret',
    cacert: '/etc/ssl/cloud-ca.pem',
    cert: '/etc/ssl/me.pem',
    key: '/etc/ssl/me-key.pem',
  });
  assert.deepEqual(authBody(byId), { auth: { identity: { methods: ['application_credential'], application_credential: { id: '0123abcd', secret: 's3cret' } } } });
  const byName = loadCloudConfig({ env, cloud: 'by-name' });
  assert.equal(byName.insecure, true);
  // No scope: Keystone binds the token to the credential's project.
  assert.deepEqual(authBody(byName), {
    auth: { identity: { methods: ['application_credential'], application_credential: { name: 'ci-builds', secret: 's3cret', user: { name: 'builder', domain: { name: 'Default' } } } } },
  });
  assert.equal(loadCloudConfig({ env, cloud: 'old-style' }).insecure, true);
  // Options (the command line's) win over clouds.yaml.
  assert.equal(loadCloudConfig({ env, cloud: 'by-name', overrides: { insecure: false } }).insecure, false);
  assert.equal(loadCloudConfig({ env: { OS_INSECURE: 'true' }, overrides: { cacert: '/ca.pem' } }).cacert, '/ca.pem');

  assert.deepEqual(
    cloudFromEnvironment({
      OS_AUTH_TYPE: 'v3applicationcredential',
      OS_APPLICATION_CREDENTIAL_NAME: 'ci-builds',
      OS_APPLICATION_CREDENTIAL_SECRET: 's3cret',
      OS_USER_ID: 'u1',
      OS_CACERT: '/ca.pem',
      OS_INSECURE: 'True',
      OS_CERT: '/c.pem',
      OS_KEY: '/k.pem',
    }),
    { authType: 'v3applicationcredential', applicationCredentialName: 'ci-builds', applicationCredentialSecret: 's3cret', userId: 'u1', cacert: '/ca.pem', insecure: true, cert: '/c.pem', key: '/k.pem' },
  );
  assert.equal(cloudFromEnvironment({ OS_INSECURE: '0' }).insecure, false);
  assert.throws(() => cloudFromEnvironment({ OS_INSECURE: 'maybe' }), (e: unknown) => e instanceof ConfigurationError && /OS_INSECURE: expected true or false/.test(e.message));

  const appCred = { authUrl: 'http://127.0.0.1:1/v3', authType: 'v3applicationcredential' };
  const refused = (cfg: object, message: RegExp) => assert.throws(() => ImageClient.fromConfig({ ...appCred, ...cfg }), (e: unknown) => e instanceof ConfigurationError && message.test(e.message));
  refused({ applicationCredentialId: 'x' }, /needs application_credential_secret \(OS_APPLICATION_CREDENTIAL_SECRET\)/);
  refused({ applicationCredentialSecret: 's', password: 'p', username: 'u' }, /needs application_credential_id .* or application_credential_name/);
  refused({ applicationCredentialSecret: 's', applicationCredentialName: 'n' }, /needs the credential's user: username \(OS_USERNAME\) or user_id/);
  refused({ applicationCredentialSecret: 's', applicationCredentialName: 'n', username: 'u' }, /user_domain_name \(OS_USER_DOMAIN_NAME\) or user_domain_id/);
  refused({ applicationCredentialSecret: 's', applicationCredentialId: 'i', cacert: path.join(dir, 'missing.pem') }, /cacert \(OS_CACERT\): cannot read .*missing\.pem/);
  refused({ applicationCredentialSecret: 's', applicationCredentialId: 'i', key: file }, /key \(OS_KEY\) is given without cert/);
});

describe('https: cacert, verify: false, a client certificate', () => {
  let certs: Certificates;
  let proxy: HttpsProxy | undefined;
  let mutual: HttpsProxy | undefined;
  let why: string | undefined;
  const clients: ImageClient[] = [];
  const made = (c: ImageClient) => (clients.push(c), c);
  before(async () => {
    const got = makeCertificates(tempDir());
    if ('skip' in got) {
      why = got.skip;
      return;
    }
    certs = got;
    proxy = await httpsProxy(server.url, certs);
    mutual = await httpsProxy(server.url, certs, { clientCa: certs.clientCert });
  });
  after(async () => {
    for (const c of clients) await c.close();
    await proxy?.close();
    await mutual?.close();
  });

  test('without cacert a listing fails with a certificate error; with cacert (data both ways) or verify: false it works', async (t) => {
    if (why) return t.skip(why);
    const env = { OS_IMAGE_URL: proxy!.url, OS_TOKEN: token };
    const untrusted = await made(ImageClient.fromEnvironment({ env })).images.page().catch((e: unknown) => e);
    assert.ok(untrusted instanceof CertificateError, String(untrusted));
    assert.equal(untrusted.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
    assert.equal(untrusted.url, `${proxy!.url}/v2/images`);
    assert.match(untrusted.message, /^the server's TLS certificate is not trusted: https:\/\/127\.0\.0\.1:\d+\/v2\/images: self-signed certificate .*cacert \(OS_CACERT, --os-cacert\).*verify: false \(OS_INSECURE=true, --insecure\)/);

    const trusted = made(ImageClient.fromEnvironment({ env: { ...env, OS_CACERT: certs.serverCert } }));
    const image = await trusted.images.create({ name: 'over-https', disk_format: 'raw', container_format: 'bare' });
    const data = crypto.randomBytes((2 << 20) + 5);
    await trusted.images.upload(image.id, Readable.from([data]), { size: data.length });
    const download = await trusted.images.download(image.id);
    assert.ok(download && (await collect(download.stream)).equals(data));
    const names = [];
    for await (const i of trusted.images.list()) names.push(i.name);
    assert.ok(names.includes('over-https'));

    const dir = tempDir();
    const file = path.join(dir, 'clouds.yaml');
    fs.writeFileSync(file, `clouds:\n  tls:\n    auth_type: admin_token\n    verify: false\n    auth:\n      endpoint: ${proxy!.url}\n      token: ${token}\n`);
    const unverified = made(ImageClient.fromEnvironment({ env: { OS_CLOUD: 'tls', OS_CLIENT_CONFIG_FILE: file } }));
    assert.equal((await unverified.images.get(image.id)).name, 'over-https');
    const insecure = made(ImageClient.fromEnvironment({ env: { ...env, OS_INSECURE: 'true' } }));
    assert.equal((await insecure.images.get(image.id)).size, data.length);

    // A CA file that did not sign the server's certificate: refused, and the message says so.
    const wrongCa = await made(ImageClient.fromEnvironment({ env: { ...env, OS_CACERT: certs.clientCert } })).images.get(image.id).catch((e: unknown) => e);
    assert.ok(wrongCa instanceof CertificateError, String(wrongCa));
    assert.match(wrongCa.message, new RegExp(`the CA file ${certs.clientCert} \\(cacert, OS_CACERT\\) does not vouch for it`));
  });

  test('a server that wants a client certificate: refused without one; cert and key, or one file with both, accepted', async (t) => {
    if (why) return t.skip(why);
    const env = { OS_IMAGE_URL: mutual!.url, OS_TOKEN: token, OS_CACERT: certs.serverCert };
    const without = await made(ImageClient.fromEnvironment({ env })).images.page().catch((e: unknown) => e);
    assert.ok(without instanceof CertificateError, String(without));
    assert.match(without.message, /^the server ended the TLS handshake: .*it may want a client certificate: cert and key \(OS_CERT, OS_KEY/);
    const withPair = made(ImageClient.fromEnvironment({ env: { ...env, OS_CERT: certs.clientCert, OS_KEY: certs.clientKey } }));
    assert.ok(Array.isArray((await withPair.images.page({ limit: 1 })).images));
    const file = path.join(tempDir(), 'clouds.yaml');
    fs.writeFileSync(file, `clouds:\n  mtls:\n    cacert: ${certs.serverCert}\n    cert: ${certs.clientBoth}\n    auth:\n      endpoint: ${mutual!.url}\n      token: ${token}\n`);
    const oneFile = made(ImageClient.fromEnvironment({ env: { OS_CLOUD: 'mtls', OS_CLIENT_CONFIG_FILE: file } }));
    const created = await oneFile.images.create({ name: 'mutual-tls', disk_format: 'raw', container_format: 'bare' });
    assert.equal((await client.images.get(created.id)).name, 'mutual-tls');
    // A certificate of a CA the server does not know: refused (the server just closes the
    // connection, no alert reaches the client: undici's "other side closed").
    const stranger = made(ImageClient.fromEnvironment({ env: { ...env, OS_CERT: certs.serverCert, OS_KEY: certs.serverKey } }));
    await assert.rejects(stranger.images.page(), (e: unknown) => e instanceof TypeError && /other side closed/.test(String((e as { cause?: unknown }).cause)));
  });
});

describe('Keystone authentication: password, token, application credential', { skip: keystoneSkip() }, () => {
  let ks: TestServer;
  let project: string;
  let userId: string;
  let username: string;
  before(async () => {
    ks = await startServer(keystoneFlavorOverrides());
    project = await createProject();
    const user = await createUser({ password: 'sdk-secret', projectId: project, roles: ['member', 'reader'] });
    userId = user.id;
    username = user.name;
  });
  after(async () => {
    await ks?.close();
    if (userId) await deleteUser(userId);
    if (project) await deleteProject(project);
  });

  test('OS_* password variables: a Keystone token scoped to the project, used on the image endpoint', async () => {
    const env = keystoneFromEnv() as { url: string };
    const sdk = ImageClient.fromEnvironment({
      env: { OS_AUTH_URL: env.url.replace(/\/v3$/, ''), OS_USERNAME: username, OS_PASSWORD: 'sdk-secret', OS_PROJECT_ID: project, OS_USER_DOMAIN_NAME: 'Default', OS_IMAGE_URL: ks.url },
    });
    const image = await sdk.images.create({ name: 'via-keystone', disk_format: 'raw', container_format: 'bare' });
    assert.equal(image.owner, project);
    const mine = [];
    for await (const i of sdk.images.list()) mine.push(i.id);
    assert.deepEqual(mine, [image.id]);
    const refused = ImageClient.fromEnvironment({ env: { OS_AUTH_URL: env.url, OS_USERNAME: username, OS_PASSWORD: 'wrong', OS_PROJECT_ID: project, OS_IMAGE_URL: ks.url } });
    await assert.rejects(refused.images.get(image.id), (e: unknown) => e instanceof Error && (e as { status?: number }).status === 401);
  });

  test('the image endpoint from the catalog, and a token re-scoped with the token method', async () => {
    const env = keystoneFromEnv() as { url: string };
    const listed = await imageEndpoint();
    assert.ok(listed, 'the Keystone catalog has an image endpoint');
    const cfg = { authUrl: env.url, username, password: 'sdk-secret', projectId: project, regionName: 'RegionOne' };
    const byPassword = await keystoneSession(cfg).current();
    assert.equal(byPassword.endpoint, listed.replace(/\/+$/, '').replace(/\/v2$/, ''));
    const byToken = await keystoneSession({ authUrl: env.url, token: byPassword.token, projectId: project }).current();
    assert.equal(byToken.endpoint, byPassword.endpoint);
    const sdk = ImageClient.fromEnvironment({ env: { OS_IMAGE_URL: ks.url, OS_TOKEN: byToken.token } });
    const image = await sdk.images.create({ disk_format: 'raw', container_format: 'bare' });
    assert.equal(image.owner, project);
  });

  test('application credentials: by id (OS_* variables) and by name (clouds.yaml), unscoped requests for the credential\'s project; over https with cacert', async () => {
    const env = keystoneFromEnv() as { url: string };
    const own = await passwordToken({ user: username, password: 'sdk-secret', projectId: project });
    const made = await keystoneRequest<{ application_credential: { id: string; name: string; secret: string } }>('POST', `/users/${userId}/application_credentials`, {
      token: own.token,
      body: { application_credential: { name: uniqueName('ocellus-sdk'), description: 'made by test/sdk.test.ts' } },
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const credential = made.body.application_credential;
    try {
      await useApplicationCredential(env, credential);
    } finally {
      // Deleted by itself, not with its user: Keystone (22, SQLite) deletes a user's credentials
      // without their role rows, and the next credential it numbers the same then fails with 409.
      const gone = await keystoneRequest('DELETE', `/users/${userId}/application_credentials/${credential.id}`, { token: own.token });
      assert.equal(gone.status, 204);
    }
  });

  async function useApplicationCredential(env: { url: string }, credential: { id: string; name: string; secret: string }): Promise<void> {
    const byPassword = ImageClient.fromEnvironment({ env: { OS_AUTH_URL: env.url, OS_USERNAME: username, OS_PASSWORD: 'sdk-secret', OS_PROJECT_ID: project, OS_USER_DOMAIN_NAME: 'Default', OS_IMAGE_URL: ks.url } });
    const image = await byPassword.images.create({ name: 'for-the-credential', disk_format: 'raw', container_format: 'bare' });

    const byIdEnv = {
      OS_AUTH_TYPE: 'v3applicationcredential',
      OS_AUTH_URL: env.url,
      OS_APPLICATION_CREDENTIAL_ID: credential.id,
      OS_APPLICATION_CREDENTIAL_SECRET: credential.secret,
      // Not sent: an application credential carries its own project.
      OS_PROJECT_NAME: 'admin',
      OS_IMAGE_URL: ks.url,
    };
    const byId = ImageClient.fromEnvironment({ env: byIdEnv });
    const listed = [];
    for await (const i of byId.images.list()) listed.push(i);
    assert.ok(listed.some((i) => i.id === image.id), 'the project\'s image is listed');
    assert.ok(listed.every((i) => i.owner === project || i.visibility === 'public'));
    const { token: issued } = await keystoneSession(loadCloudConfig({ env: byIdEnv })).current();
    const validated = await validateToken(issued ?? '');
    assert.equal(validated.status, 200);
    assert.deepEqual(validated.body?.methods, ['application_credential']);
    assert.equal(validated.body?.project?.id, project);

    const file = path.join(tempDir(), 'clouds.yaml');
    fs.writeFileSync(
      file,
      `clouds:\n  appcred:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: ${env.url}\n      application_credential_name: ${credential.name}\n      username: ${username}\n      user_domain_name: Default\n    image_endpoint_override: ${ks.url}\n`,
    );
    fs.writeFileSync(path.join(path.dirname(file), 'secure.yaml'), `clouds:\n  appcred:\n    auth:\n      application_credential_secret: ${credential.secret}\n`);
    const byName = ImageClient.fromEnvironment({ env: { OS_CLOUD: 'appcred', OS_CLIENT_CONFIG_FILE: file } });
    assert.equal((await byName.images.get(image.id)).name, 'for-the-credential');

    const wrong = ImageClient.fromEnvironment({ env: { ...byIdEnv, OS_APPLICATION_CREDENTIAL_SECRET: 'not-the-secret' } });
    await assert.rejects(wrong.images.get(image.id), (e: unknown) => e instanceof UnauthorizedError && e.status === 401 && e.url.endsWith('/auth/tokens'));

    // Keystone and the Image API both behind https: both calls carry the CA.
    const certs = makeCertificates(tempDir());
    if ('skip' in certs) return;
    const keystoneTls = await httpsProxy(new URL(env.url).origin, certs);
    const imagesTls = await httpsProxy(ks.url, certs);
    try {
      const overTls = { ...byIdEnv, OS_AUTH_URL: `${keystoneTls.url}/v3`, OS_IMAGE_URL: imagesTls.url };
      const untrusted = await ImageClient.fromEnvironment({ env: overTls }).images.get(image.id).catch((e: unknown) => e);
      assert.ok(untrusted instanceof CertificateError, String(untrusted));
      assert.equal(untrusted.url, `${keystoneTls.url}/v3/auth/tokens`);
      const trusted = ImageClient.fromEnvironment({ env: { ...overTls, OS_CACERT: certs.serverCert } });
      assert.equal((await trusted.images.get(image.id)).name, 'for-the-credential');
      await trusted.close();
    } finally {
      await keystoneTls.close();
      await imagesTls.close();
    }
  }
});
