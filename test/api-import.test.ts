import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Source } from './support/data-source.js';
import { admin, api, createImage, member, startServer, tempDir, upload, type JsonResponse, type TestServer } from './support/harness.js';
import { digests, download, filesIn, random, waitFor } from './support/streaming.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite', 'postgresql');

const SOURCE_HOST = '127.0.0.2';
/** web-download may reach the test data server (a loopback address) on its random port. */
const WEB = [
  { section: 'import_filtering_opts', name: 'allowed_networks', value: `${SOURCE_HOST}/32` },
  { section: 'import_filtering_opts', name: 'allowed_ports', value: '' },
];
const P1 = member('p1');

function qemuImg(): string | null {
  try {
    execFileSync('qemu-img', ['--version'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'qemu-img is not installed (Debian package qemu-utils; scripts/install-test-deps.sh installs it)';
  }
}

/** A real qcow2 image made by qemu-img (with a backing file when `backing` is given). */
function qcow2(dir: string, name: string, size: string, backing?: string): Buffer {
  const file = path.join(dir, name);
  const args = ['create', '-q', '-f', 'qcow2', ...(backing ? ['-b', backing, '-F', 'raw'] : []), file, size];
  execFileSync('qemu-img', args);
  return fs.readFileSync(file);
}

function stage(server: TestServer, id: string, data: Buffer, headers = P1): Promise<JsonResponse> {
  return api(server.url, 'PUT', `/v2/images/${id}/stage`, { headers, body: data, contentType: 'application/octet-stream' });
}

function importImage(server: TestServer, id: string, body: unknown, headers = P1): Promise<JsonResponse> {
  return api(server.url, 'POST', `/v2/images/${id}/import`, { headers, json: body });
}

async function image(server: TestServer, id: string, headers = P1): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = await api(server.url, 'GET', `/v2/images/${id}`, { headers });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

/** Waits until the image's import has ended (no import lock), then returns the image. */
async function imported(server: TestServer, id: string, headers = P1): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return waitFor(`the import of ${id} to end`, async () => {
    const img = await image(server, id, headers);
    return img.os_glance_import_task === undefined && img.status !== 'importing' ? img : undefined;
  }, 20_000, 50);
}

async function tasksOf(server: TestServer, id: string): Promise<Record<string, any>[]> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = await api(server.url, 'GET', `/v2/images/${id}/tasks`, { headers: P1 });
  assert.equal(r.status, 200, r.text);
  return r.body.tasks;
}

const stagingDir = (server: TestServer) => path.join(server.dataDir, 'staging');
const storeFiles = (server: TestServer, dir = 'images') => filesIn(path.join(server.dataDir, dir)).filter((f) => !f.startsWith('.'));

let source: Source;
before(async () => {
  source = await new Source().start(SOURCE_HOST);
});
after(() => source.close());

describe('interoperable import, single store', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer(WEB);
  });
  after(() => server.close());

  test('GET /v2/info/import lists the enabled methods; image create announces them', async () => {
    const r = await api(server.url, 'GET', '/v2/info/import', { headers: P1 });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { 'import-methods': { description: 'Import methods available.', type: 'array', value: ['glance-direct', 'web-download', 'copy-image'] } });
    const c = await api(server.url, 'POST', '/v2/images', { headers: P1, json: { name: 'x' } });
    assert.equal(c.headers.get('openstack-image-import-methods'), 'glance-direct,web-download,copy-image');
  });

  test('glance-direct: stage (uploading, data in staging), import (202) → active with hashes; staged data removed; task success', async () => {
    const data = random(300_000);
    const id = await createImage(server.url, P1);
    assert.equal((await stage(server, id, data)).status, 204);
    const staged = await image(server, id);
    assert.equal(staged.status, 'uploading');
    assert.equal(staged.os_glance_stage_host, undefined, 'never shown');
    assert.equal(filesIn(stagingDir(server)).filter((f) => f.startsWith(id)).length, 1);

    const r = await importImage(server, id, { method: { name: 'glance-direct' } });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.text, '');
    const done = await imported(server, id);
    assert.equal(done.status, 'active');
    assert.equal(done.size, data.length);
    assert.equal(done.checksum, digests(data).md5);
    assert.equal(done.os_hash_value, digests(data).multihash);
    assert.equal(done.virtual_size, data.length);
    assert.equal(done.os_glance_importing_to_stores, '');
    assert.ok((await download(server.url, id, P1)).data.equals(data));
    assert.deepEqual(filesIn(stagingDir(server)).filter((f) => f.startsWith(id)), [], 'staged data removed');
    const [task] = await tasksOf(server, id);
    assert.equal(task!.type, 'api_image_import');
    assert.equal(task!.status, 'success');
    assert.deepEqual(task!.result, { image_id: id });
  });

  test('PUT /stage: only queued images (409), octet-stream only (415), twice is 409; a deleted staged image leaves no staged data', async () => {
    const id = await createImage(server.url, P1);
    const t = await api(server.url, 'PUT', `/v2/images/${id}/stage`, { headers: P1, body: 'x', contentType: 'text/plain' });
    assert.equal(t.status, 415);
    assert.equal((await stage(server, id, random(10))).status, 204);
    assert.equal((await stage(server, id, random(10))).status, 409);
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: P1 })).status, 204);
    await waitFor('staged data removed', () => (filesIn(stagingDir(server)).some((f) => f.startsWith(id)) ? undefined : true));
    const other = await createImage(server.url, P1);
    assert.equal((await upload(server.url, other, random(10), P1)).status, 204);
    assert.equal((await stage(server, other, random(10))).status, 409);
  });

  test('import refusals, in Glance’s order and words', async () => {
    const id = await createImage(server.url, P1);
    const cases: [unknown, number, RegExp][] = [
      [{}, 400, /requires a 'method' field/],
      [{ method: {} }, 400, /requires a 'name' field/],
      [{ method: { name: 'glance-download' } }, 400, /Unknown import method name 'glance-download'/],
      [{ method: { name: 'web-download', uri: 'http://x' }, all_stores: 'yes' }, 400, /'all_stores' must be boolean/],
      [{ method: { name: 'web-download', uri: 'http://x' }, all_stores_must_succeed: 1 }, 400, /'all_stores_must_succeed' must be boolean/],
      [{ method: { name: 'glance-direct' } }, 409, /needs to be staged/],
      [{ method: { name: 'copy-image' } }, 409, /Only images with status active/],
      [{ method: { name: 'web-download', uri: 'http://127.0.0.1:9292/x' } }, 400, /does not pass filtering/],
      [{ method: { name: 'web-download', uri: 'file:///etc/passwd' } }, 400, /does not pass filtering/],
      [{ method: { name: 'web-download', uri: 'http://x' }, all_stores_must_succeed: false }, 400, /All_stores_must_succeed can only be set with enabled_backends/],
    ];
    for (const [body, status, message] of cases) {
      const r = await importImage(server, id, body);
      assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.text}`);
      assert.match(r.body.message, message);
    }
    const noFormat = await createImage(server.url, P1, { disk_format: undefined });
    assert.match((await importImage(server, noFormat, { method: { name: 'web-download', uri: source.put(random(3)) } })).body.message, /'disk_format' needs to be set/);
    const active = await createImage(server.url, P1);
    await upload(server.url, active, random(5), P1);
    assert.equal((await importImage(server, active, { method: { name: 'web-download', uri: source.put(random(3)) } })).status, 409);
    assert.equal((await importImage(server, id, { method: { name: 'web-download', uri: source.put(random(3)) } }, member('p2'))).status, 404, 'another project’s image');
  });

  test('web-download: fetched on the server, inspected, stored → active; the staging area is empty again', async () => {
    const data = random(200_000);
    const id = await createImage(server.url, P1);
    assert.equal((await importImage(server, id, { method: { name: 'web-download', uri: source.put(data) } })).status, 202);
    const done = await imported(server, id);
    assert.equal(done.status, 'active');
    assert.equal(done.os_hash_value, digests(data).multihash);
    assert.ok((await download(server.url, id, P1)).data.equals(data));
    assert.deepEqual(filesIn(stagingDir(server)).filter((f) => f.startsWith(id)), []);
  });

  test('web-download of a missing URL: the task fails with the reason, the image is queued again and can be imported', async () => {
    const id = await createImage(server.url, P1);
    assert.equal((await importImage(server, id, { method: { name: 'web-download', uri: `${source.base}/missing` } })).status, 202);
    const failed = await imported(server, id);
    assert.equal(failed.status, 'queued');
    const [task] = await tasksOf(server, id);
    assert.equal(task!.status, 'failure');
    assert.match(task!.message, /404/);
    const data = random(1000);
    assert.equal((await importImage(server, id, { method: { name: 'web-download', uri: source.put(data) } })).status, 202);
    assert.equal((await imported(server, id)).status, 'active');
  });

  test('a second import while one runs is 409 (the import lock)', async () => {
    source.shut();
    try {
      const id = await createImage(server.url, P1);
      assert.equal((await importImage(server, id, { method: { name: 'web-download', uri: source.put(random(100), 'gated') } })).status, 202);
      const img = await image(server, id);
      assert.equal(img.status, 'importing');
      assert.match(img.os_glance_import_task, /^[0-9a-f-]{36}$/);
      const again = await importImage(server, id, { method: { name: 'web-download', uri: source.put(random(100)) } });
      assert.equal(again.status, 409);
    } finally {
      source.open();
    }
  });

  test('an image deleted while its web-download runs: the task fails, nothing is left in staging or the store', async () => {
    source.shut();
    let id = '';
    try {
      id = await createImage(server.url, P1);
      assert.equal((await importImage(server, id, { method: { name: 'web-download', uri: source.put(random(400_000), 'gated') } })).status, 202);
      await waitFor('the download to start', () => (source.gets > 0 ? true : undefined));
      assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: P1 })).status, 204);
    } finally {
      source.open();
    }
    const task = await waitFor('the task to fail', async () => {
      const row = await server.service.db.selectFrom('tasks').select(['status', 'message']).where('image_id', '=', id).executeTakeFirst();
      return row?.status === 'failure' ? row : undefined;
    }, 10_000);
    assert.match(task.message, /deleted/);
    await waitFor('staging and store empty of the image', () => {
      const left = [...filesIn(stagingDir(server)), ...filesIn(path.join(stagingDir(server), '.partial'))].filter((f) => f.startsWith(id));
      return left.length === 0 && !storeFiles(server).some((f) => f.startsWith(id)) ? true : undefined;
    }, 10_000);
  });

  test('hostile disk images are refused on both paths: at stage (415), and by web-download (task failure, image queued, nothing stored)', { skip: qemuImg() ?? undefined }, async () => {
    const dir = tempDir('ocellus-hostile-');
    const evil = qcow2(dir, 'evil.qcow2', '64M', '/etc/passwd');
    const id = await createImage(server.url, P1, { disk_format: 'qcow2' });
    const r = await stage(server, id, evil);
    assert.equal(r.status, 415, r.text);
    assert.equal((await image(server, id)).status, 'queued');
    assert.deepEqual(filesIn(stagingDir(server)).filter((f) => f.startsWith(id)), []);

    const web = await createImage(server.url, P1, { disk_format: 'qcow2' });
    assert.equal((await importImage(server, web, { method: { name: 'web-download', uri: source.put(evil) } })).status, 202);
    assert.equal((await imported(server, web)).status, 'queued');
    const [task] = await tasksOf(server, web);
    assert.match(task!.message, /backing|safety/i);
    assert.deepEqual(storeFiles(server).filter((f) => f.startsWith(web)), [], 'nothing of it stored');

    // A real qcow2 without a backing file goes through, with its virtual size.
    const good = qcow2(dir, 'good.qcow2', '32M');
    const ok = await createImage(server.url, P1, { disk_format: 'qcow2' });
    assert.equal((await importImage(server, ok, { method: { name: 'web-download', uri: source.put(good) } })).status, 202);
    const done = await imported(server, ok);
    assert.equal(done.status, 'active');
    assert.equal(done.virtual_size, 32 * 1024 * 1024);
  });
});

describe('interoperable import, multi-store', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer([
      ...WEB,
      { section: 'DEFAULT', name: 'enabled_backends', value: 'fast:file, slow:file, web:http' },
      { section: 'glance_store', name: 'default_backend', value: 'fast' },
    ]);
  });
  after(() => server.close());

  const storesOf = async (id: string) => ((await image(server, id, admin())).stores as string).split(',').sort();

  test('web-download to all stores: both file stores (not the http one); os_glance_importing_to_stores empties', async () => {
    const data = random(50_000);
    const id = await createImage(server.url, P1);
    assert.equal((await importImage(server, id, { method: { name: 'web-download', uri: source.put(data) }, all_stores: true })).status, 202);
    const done = await imported(server, id);
    assert.equal(done.status, 'active');
    assert.deepEqual(await storesOf(id), ['fast', 'slow']);
    assert.equal(done.os_glance_importing_to_stores, '');
  });

  test('store selection refusals: unknown store 409, all_stores with stores 400, stores with the header 400', async () => {
    const id = await createImage(server.url, P1);
    const uri = source.put(random(10));
    assert.equal((await importImage(server, id, { method: { name: 'web-download', uri }, stores: ['nope'] })).status, 409);
    assert.equal((await importImage(server, id, { method: { name: 'web-download', uri }, stores: ['fast'], all_stores: true })).status, 400);
    const both = await api(server.url, 'POST', `/v2/images/${id}/import`, { headers: { ...P1, 'x-image-meta-store': 'fast' }, json: { method: { name: 'web-download', uri }, stores: ['slow'] } });
    assert.equal(both.status, 400);
  });

  test('copy-image (admin): the image’s data copied to another store and checked; to a store that has it, 400; members may not (403)', async () => {
    const data = random(70_000);
    const id = await createImage(server.url, P1);
    assert.equal((await upload(server.url, id, data, P1)).status, 204);
    assert.deepEqual(await storesOf(id), ['fast']);
    assert.equal((await importImage(server, id, { method: { name: 'copy-image' }, stores: ['slow'] }, P1)).status, 403);
    assert.equal((await importImage(server, id, { method: { name: 'copy-image' }, stores: ['fast'] }, admin())).status, 400);
    assert.equal((await importImage(server, id, { method: { name: 'copy-image' }, stores: ['slow'] }, admin())).status, 202);
    const done = await imported(server, id, admin());
    assert.equal(done.status, 'active');
    assert.deepEqual(await storesOf(id), ['fast', 'slow']);
    assert.equal(done.os_hash_value, digests(data).multihash);
    assert.equal((await api(server.url, 'DELETE', `/v2/stores/fast/${id}`, { headers: admin() })).status, 204);
    assert.ok((await download(server.url, id, P1)).data.equals(data), 'served from the copy');
  });

  test('all_stores_must_succeed = false: a store that fails is recorded in os_glance_failed_import, the image is active from the others', async () => {
    const data = random(40_000);
    const id = await createImage(server.url, P1);
    // The slow store's directory is made unwritable for this import.
    const slowDir = path.join(server.dataDir, 'slow');
    fs.chmodSync(slowDir, 0o500);
    try {
      if (process.getuid?.() === 0) {
        // root writes anyway: replace the directory by a file instead.
        fs.renameSync(slowDir, `${slowDir}.away`);
        fs.writeFileSync(slowDir, '');
      }
      const r = await importImage(server, id, { method: { name: 'web-download', uri: source.put(data) }, stores: ['fast', 'slow'], all_stores_must_succeed: false });
      assert.equal(r.status, 202, r.text);
      const done = await imported(server, id);
      assert.equal(done.status, 'active');
      assert.equal(done.os_glance_failed_import, 'slow');
      assert.deepEqual(await storesOf(id), ['fast']);
    } finally {
      if (fs.existsSync(`${slowDir}.away`)) {
        fs.rmSync(slowDir, { force: true });
        fs.renameSync(`${slowDir}.away`, slowDir);
      }
      fs.chmodSync(slowDir, 0o700);
    }
  });
});

describe('import methods switched off', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer([{ section: 'DEFAULT', name: 'enabled_import_methods', value: '' }]);
  });
  after(() => server.close());

  test('no methods: info lists none, create sends no header, PUT /stage is 404, import is 400', async () => {
    const r = await api(server.url, 'GET', '/v2/info/import', { headers: P1 });
    assert.deepEqual(r.body['import-methods'].value, []);
    const c = await api(server.url, 'POST', '/v2/images', { headers: P1, json: { disk_format: 'raw', container_format: 'bare' } });
    assert.equal(c.headers.get('openstack-image-import-methods'), null);
    assert.equal((await stage(server, c.body.id, random(5))).status, 404);
    assert.equal((await importImage(server, c.body.id, { method: { name: 'glance-direct' } })).status, 400);
  });
});

describe('import plugins on the import path', { skip: qemuImg() ?? undefined }, () => {
  let server: TestServer;
  before(async () => {
    server = await startServer([
      ...WEB,
      { section: 'image_import_opts', name: 'image_import_plugins', value: 'image_decompression, image_conversion, inject_image_metadata' },
      { section: 'image_conversion', name: 'output_format', value: 'raw' },
      { section: 'inject_metadata_properties', name: 'inject', value: 'injected_by:ocellus' },
    ]);
  });
  after(() => server.close());

  test('a gzipped qcow2 by web-download: decompressed, converted to raw (formats, size, hashes, virtual size), properties injected; the work directory is empty again', async () => {
    const dir = tempDir('ocellus-plugins-');
    const file = path.join(dir, 'disk.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, '8M']);
    execFileSync('gzip', ['-k', file]);
    const id = await createImage(server.url, P1, { disk_format: 'qcow2' });
    assert.equal((await importImage(server, id, { method: { name: 'web-download', uri: source.put(fs.readFileSync(`${file}.gz`)) } })).status, 202);
    const done = await imported(server, id);
    assert.equal(done.status, 'active', JSON.stringify(await tasksOf(server, id).catch(() => [])));
    assert.equal(done.disk_format, 'raw');
    assert.equal(done.container_format, 'bare');
    assert.equal(done.size, 8 * 1024 * 1024);
    assert.equal(done.virtual_size, 8 * 1024 * 1024);
    assert.equal(done.injected_by, 'ocellus');
    const data = (await download(server.url, id, P1)).data;
    assert.ok(data.equals(Buffer.alloc(8 * 1024 * 1024)), 'the raw conversion of an empty qcow2 is zeros');
    assert.equal(done.os_hash_value, digests(data).multihash);
    assert.deepEqual(fs.existsSync(path.join(server.dataDir, 'work')) ? fs.readdirSync(path.join(server.dataDir, 'work')) : [], []);
  });

  test('glance-direct of a qcow2 with a backing file: refused at stage (the inspector), before any plugin runs qemu-img on it', async () => {
    const dir = tempDir('ocellus-plugins-');
    const evil = qcow2(dir, 'evil.qcow2', '16M', '/etc/hostname');
    const id = await createImage(server.url, P1, { disk_format: 'qcow2' });
    assert.equal((await stage(server, id, evil)).status, 415);
  });
});

describe('glance-download: the image of another region’s image service', () => {
  const TOKEN = 'glance-download-token-of-p1';
  let remote: TestServer;
  let server: TestServer;
  before(async () => {
    const dir = tempDir('ocellus-remote-');
    const tokens = path.join(dir, 'tokens.yaml');
    fs.writeFileSync(tokens, `${TOKEN}:\n  user_id: u1\n  project_id: p1\n  roles: [member, reader]\n`);
    remote = await startServer([
      { section: 'paste_deploy', name: 'flavor', value: 'token' },
      { section: 'token_auth', name: 'token_file', value: tokens },
    ]);
    server = await startServer([{ section: 'DEFAULT', name: 'enabled_import_methods', value: 'glance-direct, web-download, copy-image, glance-download' }]);
  });
  after(async () => {
    await server.close();
    await remote.close();
  });

  /** The caller as the region's Keystone would describe it: its token and a catalog with the other region's image endpoint. */
  const caller = () => ({
    ...P1,
    'x-auth-token': TOKEN,
    'x-service-catalog': JSON.stringify([{ type: 'image', name: 'glance', endpoints: [{ region: 'RegionTwo', region_id: 'RegionTwo', interface: 'public', url: remote.url }] }]),
  });

  test('fetched with the caller’s token: data, formats and the chosen properties (hw_*, os_distro) copied, others not', async () => {
    const data = random(120_000);
    const auth = { 'x-auth-token': TOKEN };
    const source = await api(remote.url, 'POST', '/v2/images', { headers: auth, json: { name: 'r', disk_format: 'raw', container_format: 'bare', hw_disk_bus: 'scsi', os_distro: 'debian', secret_note: 'x' } });
    assert.equal(source.status, 201, source.text);
    assert.equal((await upload(remote.url, source.body.id, data, auth)).status, 204);

    const id = await createImage(server.url, P1, { disk_format: 'raw', container_format: 'bare' });
    const body = { method: { name: 'glance-download', glance_image_id: source.body.id, glance_region: 'RegionTwo' } };
    const r = await importImage(server, id, body, caller());
    assert.equal(r.status, 202, r.text);
    const done = await imported(server, id);
    assert.equal(done.status, 'active', JSON.stringify(await tasksOf(server, id)));
    assert.equal(done.os_hash_value, digests(data).multihash);
    assert.equal(done.hw_disk_bus, 'scsi');
    assert.equal(done.os_distro, 'debian');
    assert.equal(done.secret_note, undefined);
    assert.ok((await download(server.url, id, P1)).data.equals(data));
  });

  test('refusals: missing region or image id (400), a non-UUID id (400); an unknown region or a remote image that is not active fails the task, the image is queued again', async () => {
    const id = await createImage(server.url, P1);
    assert.match((await importImage(server, id, { method: { name: 'glance-download', glance_image_id: randomUuid() } }, caller())).body.message, /'glance_region' needs to be set/);
    assert.match((await importImage(server, id, { method: { name: 'glance-download', glance_region: 'RegionTwo' } }, caller())).body.message, /'glance_image_id' needs to be set/);
    assert.match((await importImage(server, id, { method: { name: 'glance-download', glance_region: 'RegionTwo', glance_image_id: 'nope' } }, caller())).body.message, /does not look like a UUID/);
    assert.equal((await importImage(server, id, { method: { name: 'glance-download', glance_region: 'RegionNine', glance_image_id: randomUuid() } }, caller())).status, 202);
    assert.equal((await imported(server, id)).status, 'queued');
    assert.match((await tasksOf(server, id))[0]!.message, /RegionNine/);
    const queuedRemote = await api(remote.url, 'POST', '/v2/images', { headers: { 'x-auth-token': TOKEN }, json: { disk_format: 'raw', container_format: 'bare' } });
    assert.equal((await importImage(server, id, { method: { name: 'glance-download', glance_region: 'RegionTwo', glance_image_id: queuedRemote.body.id } }, caller())).status, 202);
    assert.equal((await imported(server, id)).status, 'queued');
    assert.match((await tasksOf(server, id))[0]!.message, /not active/);
  });
});

function randomUuid(): string {
  return crypto.randomUUID();
}
