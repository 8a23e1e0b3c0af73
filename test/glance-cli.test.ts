import assert from 'node:assert/strict';
import { random } from './support/streaming.js';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { glanceEnv, parseShow, requireTools, runGlance } from './support/glance-cli.js';
import { spawnServer, type ChildServer } from './support/child-server.js';
import { api, tempDir } from './support/harness.js';

/**
 * End to end with the real Debian `glance` CLI (python3-glanceclient) against Ocellus as
 * `ocellus serve` runs with no configuration: the default flavor, the CLI carrying the admin token
 * the server made in its data dir. If a command fails, the server is wrong, not the client.
 */

const skipReason = requireTools(['glance', 'qemu-img'], 'python3-glanceclient qemu-utils');

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const sha512 = (b: Buffer) => createHash('sha512').update(b).digest('hex');

/** The `| ID | Name |` table of image-list. */
function parseList(out: string): { id: string; name: string }[] {
  const rows: { id: string; name: string }[] = [];
  for (const line of out.split('\n')) {
    if (!line.startsWith('|')) continue;
    const [id = '', name = ''] = line.split('|').slice(1, -1).map((c) => c.trim());
    if (id === 'ID') continue;
    rows.push({ id, name });
  }
  return rows;
}

describe('the glance CLI against Ocellus', { skip: skipReason }, () => {
  let server: ChildServer;
  let dataDir: string;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let rawFile: string;
  let raw: Buffer;
  let qcowFile: string;
  let qcow: Buffer;
  let rawId: string;
  let qcowId: string;

  const glance = (args: string[], opts: { closedStdin?: boolean } = {}) => runGlance(server.url, args, { env, cwd: work, token: server.adminToken!, ...opts });

  async function ok(args: string[], opts?: { closedStdin?: boolean }): Promise<string> {
    const r = await glance(args, opts);
    assert.equal(r.code, 0, `glance ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  before(async () => {
    dataDir = tempDir('ocellus-glance-cli-data-');
    server = await spawnServer(dataDir);
    assert.match(server.adminToken ?? '', /^[0-9a-f]{64}$/);
    work = tempDir('ocellus-glance-cli-');
    env = glanceEnv(work);
    raw = random(3 * 1024 * 1024 + 123);
    rawFile = path.join(work, 'disk.raw');
    fs.writeFileSync(rawFile, raw);
    qcowFile = path.join(work, 'x.qcow2');
    const q = spawnSync('qemu-img', ['create', '-f', 'qcow2', qcowFile, '64M'], { encoding: 'utf8' });
    assert.equal(q.status, 0, q.stderr);
    qcow = fs.readFileSync(qcowFile);
  });
  after(async () => {
    await server?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('image-create --file of a raw image uploads it: active with size and hashes', async () => {
    const shown = parseShow(await ok(['image-create', '--name', 'cli-raw', '--disk-format', 'raw', '--container-format', 'bare', '--file', rawFile]));
    rawId = shown.id!;
    assert.match(rawId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(shown.name, 'cli-raw');
    assert.equal(shown.status, 'active');
    assert.equal(shown.size, String(raw.length));
    assert.equal(shown.checksum, md5(raw));
    assert.equal(shown.os_hash_algo, 'sha512');
    assert.equal(shown.os_hash_value, sha512(raw));
    assert.equal(shown.disk_format, 'raw');
    assert.equal(shown.container_format, 'bare');
    assert.equal(shown.visibility, 'shared');
    // The server agrees.
    const r = await api(server.url, 'GET', `/v2/images/${rawId}`, { headers: server.auth });
    assert.equal(r.body.status, 'active');
    assert.equal(r.body.size, raw.length);
    assert.equal(r.body.checksum, md5(raw));
  });

  test('image-create --file of a qcow2 made by qemu-img', async () => {
    const shown = parseShow(await ok(['image-create', '--name', 'cli-qcow2', '--disk-format', 'qcow2', '--container-format', 'bare', '--file', qcowFile]));
    qcowId = shown.id!;
    assert.equal(shown.status, 'active');
    assert.equal(shown.disk_format, 'qcow2');
    assert.equal(shown.container_format, 'bare');
    assert.equal(shown.size, String(qcow.length));
    assert.equal(shown.checksum, md5(qcow));
    assert.equal(shown.os_hash_value, sha512(qcow));
  });

  test('image-list shows both', async () => {
    const rows = parseList(await ok(['image-list']));
    assert.deepEqual(
      rows.filter((r) => r.id === rawId || r.id === qcowId).sort((a, b) => a.name.localeCompare(b.name)),
      [{ id: qcowId, name: 'cli-qcow2' }, { id: rawId, name: 'cli-raw' }].sort((a, b) => a.name.localeCompare(b.name)),
    );
  });

  test('image-show', async () => {
    const shown = parseShow(await ok(['image-show', qcowId]));
    assert.equal(shown.id, qcowId);
    assert.equal(shown.name, 'cli-qcow2');
    assert.equal(shown.status, 'active');
    assert.equal(shown.size, String(qcow.length));
    assert.equal(shown.min_ram, '0');
  });

  test('image-update --name --property --min-ram', async () => {
    const shown = parseShow(await ok(['image-update', '--name', 'cli-raw-renamed', '--property', 'k=v', '--property', 'os_distro=debian', '--min-ram', '512', rawId]));
    assert.equal(shown.name, 'cli-raw-renamed');
    assert.equal(shown.k, 'v');
    assert.equal(shown.os_distro, 'debian');
    assert.equal(shown.min_ram, '512');
    assert.equal(shown.status, 'active');
    const r = await api(server.url, 'GET', `/v2/images/${rawId}`, { headers: server.auth });
    assert.equal(r.body.name, 'cli-raw-renamed');
    assert.equal(r.body.k, 'v');
    assert.equal(r.body.min_ram, 512);
  });

  test('image-download --file gives back the same bytes', async () => {
    for (const [id, original] of [[rawId, raw], [qcowId, qcow]] as const) {
      const out = path.join(work, `${id}.download`);
      await ok(['image-download', '--file', out, id]);
      const got = fs.readFileSync(out);
      assert.equal(got.length, original.length);
      assert.equal(sha256(got), sha256(original));
    }
  });

  test('image-deactivate and image-reactivate', async () => {
    await ok(['image-deactivate', qcowId]);
    assert.equal(parseShow(await ok(['image-show', qcowId])).status, 'deactivated');
    // The CLI's caller is an admin (no identity headers): it may still download.
    const out = path.join(work, 'deactivated.download');
    await ok(['image-download', '--file', out, qcowId]);
    assert.equal(sha256(fs.readFileSync(out)), sha256(qcow));
    await ok(['image-reactivate', qcowId]);
    assert.equal(parseShow(await ok(['image-show', qcowId])).status, 'active');
  });

  test('image-create without --file (/dev/null stdin: empty image; closed stdin: none), then image-upload', async () => {
    const empty = parseShow(await ok(['image-create', '--name', 'cli-devnull', '--disk-format', 'raw', '--container-format', 'bare']));
    assert.equal(empty.status, 'active');
    assert.equal(empty.size, '0');
    assert.equal(empty.checksum, md5(Buffer.alloc(0)));

    const none = parseShow(await ok(['image-create', '--name', 'cli-nodata', '--disk-format', 'raw', '--container-format', 'bare'], { closedStdin: true }));
    assert.equal(none.status, 'queued');
    assert.equal(none.size, 'None');
    const dl = await glance(['image-download', '--file', path.join(work, 'nodata.download'), none.id!]);
    assert.equal(dl.code, 1);
    assert.match(dl.stderr, new RegExp(`Image ${none.id} has no data`));
    const deact = await glance(['image-deactivate', none.id!]);
    assert.equal(deact.code, 1);
    assert.match(deact.stderr, /403 Forbidden/);

    // image-upload gives the queued image its data; a second one is refused with 409, which the
    // client must see (not a broken pipe: it sends the whole file before reading the answer).
    await ok(['image-upload', '--file', rawFile, none.id!]);
    const uploaded = parseShow(await ok(['image-show', none.id!]));
    assert.equal(uploaded.status, 'active');
    assert.equal(uploaded.size, String(raw.length));
    assert.equal(uploaded.checksum, md5(raw));
    const again = await glance(['image-upload', '--file', rawFile, none.id!]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^HTTP 409 Conflict: /m);
  });

  test('image-delete: then image-show fails and image-list lacks it', async () => {
    await ok(['image-delete', rawId]);
    const shown = await glance(['image-show', rawId]);
    assert.equal(shown.code, 1);
    assert.match(shown.stderr, new RegExp(`HTTP 404 Not Found: No image found with ID ${rawId}`));
    const ids = parseList(await ok(['image-list'])).map((r) => r.id);
    assert.equal(ids.includes(rawId), false);
    assert.equal(ids.includes(qcowId), true);
    assert.equal((await api(server.url, 'GET', `/v2/images/${rawId}`, { headers: server.auth })).status, 404);
    assert.equal(fs.existsSync(path.join(dataDir, 'images', rawId)), false, 'the data is gone too');
    const again = await glance(['image-delete', rawId]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`No image with an ID of '${rawId}' exists`));
  });
});
