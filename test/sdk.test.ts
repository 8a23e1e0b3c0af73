/**
 * The SDK (src/sdk/) against a real Ocellus: configured from OS_* variables and from a
 * clouds.yaml with the default flavor's admin token, images with paging, data both ways with
 * progress, tags, members, a glance-direct import and its task, metadef namespaces, typed errors;
 * its routes and types checked against the OpenAPI document; Keystone password auth when
 * OCELLUS_TEST_KEYSTONE_URL names a Keystone.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ImageClient, keystoneSession, IMAGE_FIELDS, MEMBER_FIELDS, METADEF_TAG_FIELDS, NotFoundError, SDK_ROUTES, TASK_FIELDS, BadRequestError, ConfigurationError, loadCloudConfig } from '../src/sdk/index.js';
import { startServer, tempDir, type TestServer } from './support/harness.js';
import { createProject, createUser, deleteProject, deleteUser, imageEndpoint, keystoneFromEnv, keystoneSkip } from './support/keystone.js';
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
  assert.deepEqual(loadCloudConfig({ env }), { username: 'someone', endpoint: `${server.url}/v2`, token, regionName: 'RegionOne' });
  const fromYaml = ImageClient.fromEnvironment({ env });
  const image = await fromYaml.images.create({ name: 'from-clouds-yaml', disk_format: 'raw', container_format: 'bare' });
  assert.equal((await client.images.get(image.id)).name, 'from-clouds-yaml');

  assert.throws(() => loadCloudConfig({ env: { ...env, OS_CLOUD: 'elsewhere' } }), ConfigurationError);
  assert.throws(() => ImageClient.fromEnvironment({ env: {} }), /no Keystone URL/);
  const wrong = ImageClient.fromEnvironment({ env: { OS_IMAGE_URL: server.url, OS_AUTH_TOKEN: 'x'.repeat(64) } });
  await assert.rejects(wrong.images.get(image.id), (e: unknown) => e instanceof Error && (e as { status?: number }).status === 401);
});

describe('Keystone password authentication', { skip: keystoneSkip() }, () => {
  let ks: TestServer;
  let project: string;
  let userId: string;
  let username: string;
  before(async () => {
    const env = keystoneFromEnv();
    if ('skip' in env) throw new Error(env.skip);
    ks = await startServer([
      { section: 'paste_deploy', name: 'flavor', value: 'keystone' },
      { section: 'keystone_authtoken', name: 'auth_url', value: env.url },
      { section: 'keystone_authtoken', name: 'www_authenticate_uri', value: env.url.replace(/\/v3$/, '') },
      { section: 'keystone_authtoken', name: 'username', value: 'ocellus' },
      { section: 'keystone_authtoken', name: 'password', value: env.servicePassword },
      { section: 'keystone_authtoken', name: 'project_name', value: 'service' },
    ]);
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
});
