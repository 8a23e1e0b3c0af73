import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { api, createImage, projectlessAdmin, startServer, tempDir, upload, type TestServer } from './support/harness.js';
import { descriptorText, isoImage, NO_QEMU, qemuImg, qemuInfo, withDescriptor } from './support/disk-images.js';
import { digests, filesIn, partialDir } from './support/streaming.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite', 'postgresql', 'mariadb');

const ADMIN = projectlessAdmin();

let dir: string;
/** Real images made by qemu-img (empty when it is missing: those tests are skipped). */
const img: Record<string, Buffer> = {};
let qcow2VirtualSize = 0;

before(() => {
  dir = tempDir('ocellus-api-formats-');
  img.iso = isoImage(64);
  if (NO_QEMU) return;
  const file = (n: string) => path.join(dir, n);
  fs.writeFileSync(file('src.raw'), Buffer.alloc(2 * 1024 * 1024, 0x5a));
  qemuImg('convert', '-f', 'raw', '-O', 'qcow2', file('src.raw'), file('good.qcow2'));
  qemuImg('create', '-f', 'qcow2', '-b', file('good.qcow2'), '-F', 'qcow2', file('backed.qcow2'));
  qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicSparse', file('src.raw'), file('sparse.vmdk'));
  img.qcow2 = fs.readFileSync(file('good.qcow2'));
  img.backed = fs.readFileSync(file('backed.qcow2'));
  img.flatVmdk = withDescriptor(fs.readFileSync(file('sparse.vmdk')), descriptorText('monolithicFlat', ['RW 4096 FLAT "disk-flat.vmdk" 0']));
  qcow2VirtualSize = qemuInfo(file('good.qcow2'), 'qcow2').virtualSize;
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function show(server: TestServer, id: string) {
  const r = await api(server.url, 'GET', `/v2/images/${id}`, { headers: ADMIN });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

/** The refused upload left the image queued, without size, and no bytes of it in the store. */
async function assertRefusedCleanly(server: TestServer, id: string) {
  const image = await show(server, id);
  assert.equal(image.status, 'queued');
  assert.equal(image.size, null);
  assert.equal(image.virtual_size, null);
  assert.equal(image.checksum, null);
  assert.equal(fs.existsSync(path.join(server.dataDir, 'images', id)), false, 'no committed file');
  assert.deepEqual(filesIn(partialDir(server.dataDir)).filter((f) => f.startsWith(id)), [], 'no partial file');
}

describe('uploads are inspected (defaults)', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.close();
  });

  test('qcow2 declared qcow2: active, virtual_size from the header', { skip: NO_QEMU }, async () => {
    const id = await createImage(server.url, ADMIN, { disk_format: 'qcow2' });
    const r = await upload(server.url, id, img.qcow2!, ADMIN);
    assert.equal(r.status, 204, r.text);
    const image = await show(server, id);
    assert.equal(image.status, 'active');
    assert.equal(image.size, img.qcow2!.length);
    assert.equal(image.virtual_size, qcow2VirtualSize);
    assert.equal(image.checksum, digests(img.qcow2!).md5);
  });

  test('qcow2 declared raw: accepted as Glance does, virtual_size = the byte count', { skip: NO_QEMU }, async () => {
    const id = await createImage(server.url, ADMIN, { disk_format: 'raw' });
    const r = await upload(server.url, id, img.qcow2!, ADMIN);
    assert.equal(r.status, 204, r.text);
    const image = await show(server, id);
    assert.equal(image.status, 'active');
    assert.equal(image.virtual_size, img.qcow2!.length);
  });

  test('qcow2 with a backing file: 415 (declared qcow2 or raw), image queued, nothing stored; a good upload then works', { skip: NO_QEMU }, async () => {
    for (const disk_format of ['qcow2', 'raw']) {
      const id = await createImage(server.url, ADMIN, { disk_format });
      const r = await upload(server.url, id, img.backed!, ADMIN);
      assert.equal(r.status, 415, r.text);
      assert.match(r.text, /Image failed safety checks \(qcow2\): backing_file: Image has a backing file/);
      await assertRefusedCleanly(server, id);
      if (disk_format === 'qcow2') {
        const again = await upload(server.url, id, img.qcow2!, ADMIN);
        assert.equal(again.status, 204, again.text);
        assert.equal((await show(server, id)).virtual_size, qcow2VirtualSize);
      }
    }
  });

  test('VMDK whose createType is not in vmdk_allowed_types: 415', { skip: NO_QEMU }, async () => {
    const id = await createImage(server.url, ADMIN, { disk_format: 'vmdk' });
    const r = await upload(server.url, id, img.flatVmdk!, ADMIN);
    assert.equal(r.status, 415, r.text);
    assert.match(r.text, /VMDK createType monolithicFlat is not allowed/);
    await assertRefusedCleanly(server, id);
  });

  test('ISO declared qcow2: 415 format mismatch; declared iso: active with its virtual size', async () => {
    const id = await createImage(server.url, ADMIN, { disk_format: 'qcow2' });
    const r = await upload(server.url, id, img.iso!, ADMIN);
    assert.equal(r.status, 415, r.text);
    assert.match(r.text, /Image disk_format qcow2 does not match stream data iso/);
    await assertRefusedCleanly(server, id);

    const ok = await createImage(server.url, ADMIN, { disk_format: 'iso' });
    assert.equal((await upload(server.url, ok, img.iso!, ADMIN)).status, 204);
    assert.equal((await show(server, ok)).virtual_size, 64 * 2048);
  });

  test('container_format ova is not inspected: no refusal, no virtual_size', { skip: NO_QEMU }, async () => {
    const id = await createImage(server.url, ADMIN, { disk_format: 'qcow2', container_format: 'ova' });
    const r = await upload(server.url, id, img.backed!, ADMIN);
    assert.equal(r.status, 204, r.text);
    const image = await show(server, id);
    assert.equal(image.status, 'active');
    assert.equal(image.virtual_size, null);
  });

  test('non-inspectable disk_format (ami) with unrecognised bytes: accepted, no virtual_size', async () => {
    const id = await createImage(server.url, ADMIN, { disk_format: 'ami', container_format: 'bare' });
    const r = await upload(server.url, id, Buffer.alloc(10_000, 7), ADMIN);
    assert.equal(r.status, 204, r.text);
    assert.equal((await show(server, id)).virtual_size, null);
  });
});

describe('[image_format] require_image_format_match = false', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer([{ section: 'image_format', name: 'require_image_format_match', value: 'false' }]);
  });
  after(async () => {
    await server.close();
  });

  test('a mismatch is accepted (virtual_size unknown), unsafe content still is not', async () => {
    const id = await createImage(server.url, ADMIN, { disk_format: 'qcow2' });
    const r = await upload(server.url, id, img.iso!, ADMIN);
    assert.equal(r.status, 204, r.text);
    const image = await show(server, id);
    assert.equal(image.status, 'active');
    assert.equal(image.virtual_size, null);
    if (NO_QEMU) return;
    const bad = await createImage(server.url, ADMIN, { disk_format: 'vmdk' });
    assert.equal((await upload(server.url, bad, img.backed!, ADMIN)).status, 415);
    await assertRefusedCleanly(server, bad);
  });
});

describe('[image_format] inspect_uploads = false', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer([{ section: 'image_format', name: 'inspect_uploads', value: 'false' }]);
  });
  after(async () => {
    await server.close();
  });

  test('nothing is inspected: a mismatched upload is stored without virtual_size', async () => {
    const id = await createImage(server.url, ADMIN, { disk_format: 'qcow2' });
    const r = await upload(server.url, id, img.iso!, ADMIN);
    assert.equal(r.status, 204, r.text);
    assert.equal((await show(server, id)).virtual_size, null);
  });
});
