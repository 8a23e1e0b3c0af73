import assert from 'node:assert/strict';
import { random } from './support/streaming.js';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { openDatabase } from '../src/db/connect.js';
import { SqlImageRepository } from '../src/db/image-repository.js';
import { spawnServer, type ChildServer } from './support/child-server.js';
import { glanceEnv, parseShow, parseTable, requireTools, runGlance } from './support/glance-cli.js';
import { api, tempDir } from './support/harness.js';

/**
 * Multi-store from the real Debian `glance` CLI (python3-glanceclient 4.1): stores-info,
 * image-create --store, stores-delete, against `ocellus serve` with two file stores and an http
 * store configured the way glance-api.conf configures them. (Debian's openstackclient 6.0 has no
 * `image create --store`; the same request is what glanceclient sends.)
 */

const skipReason = requireTools(['glance'], 'python3-glanceclient');

describe('the glance CLI against a multi-store Ocellus', { skip: skipReason }, () => {
  let server: ChildServer;
  let dataDir: string;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let file: string;
  const data = random(1024 * 1024 + 7);

  const glance = (args: string[]) => runGlance(server.url, args, { env, cwd: work, token: server.adminToken! });
  async function ok(args: string[]): Promise<string> {
    const r = await glance(args);
    assert.equal(r.code, 0, `glance ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  before(async () => {
    dataDir = tempDir('ocellus-cli-stores-data-');
    work = tempDir('ocellus-cli-stores-');
    env = glanceEnv(work);
    file = path.join(work, 'disk.raw');
    fs.writeFileSync(file, data);
    const conf = path.join(work, 'glance-api.conf');
    fs.writeFileSync(
      conf,
      [
        '[DEFAULT]',
        'enabled_backends = fast:file, cheap:file, web:http',
        '[glance_store]',
        'default_backend = fast',
        '[fast]',
        `filesystem_store_datadir = ${path.join(dataDir, 'fast-disks')}`,
        'store_description = Fast disks',
        'weight = 10',
        '[cheap]',
        `filesystem_store_datadir = ${path.join(dataDir, 'cheap-disks')}`,
        'store_description = Cheap disks',
        '',
      ].join('\n'),
    );
    server = await spawnServer(dataDir, ['--config', conf]);
  });
  after(async () => {
    await server?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('stores-info lists the stores; --detail adds type and properties', async () => {
    const out = await ok(['stores-info']);
    for (const id of ['fast', 'cheap', 'web']) assert.match(out, new RegExp(`"id": "${id}"`), out);
    assert.match(out, /"default": "true"/);
    assert.match(out, /"read-only": "true"/);
    const detail = await ok(['stores-info', '--detail']);
    assert.match(detail, /"type": "file"/);
    assert.match(detail, new RegExp(`"data_dir": "${path.join(dataDir, 'cheap-disks')}"`));
  });

  test('image-create --store puts the data in that store; without it, the default store', async () => {
    const inCheap = parseShow(await ok(['image-create', '--name', 'cheap', '--disk-format', 'raw', '--container-format', 'bare', '--file', file, '--store', 'cheap']));
    assert.equal(inCheap.status, 'active');
    assert.ok(fs.existsSync(path.join(dataDir, 'cheap-disks', inCheap.id!)));
    const inFast = parseShow(await ok(['image-create', '--name', 'fast', '--disk-format', 'raw', '--container-format', 'bare', '--file', file]));
    assert.ok(fs.existsSync(path.join(dataDir, 'fast-disks', inFast.id!)));
    const bad = await glance(['image-create', '--name', 'nowhere', '--disk-format', 'raw', '--container-format', 'bare', '--file', file, '--store', 'nowhere']);
    assert.notEqual(bad.code, 0);
  });

  test('stores-delete removes the data from one store and keeps it in the other', async () => {
    const shown = parseShow(await ok(['image-create', '--name', 'both', '--disk-format', 'raw', '--container-format', 'bare', '--file', file]));
    const id = shown.id!;
    // As copy-image would leave it: the same bytes in the cheap store too.
    const copy = path.join(dataDir, 'cheap-disks', id);
    fs.copyFileSync(path.join(dataDir, 'fast-disks', id), copy);
    const db = openDatabase(`sqlite:///${path.join(dataDir, 'ocellus.db')}`);
    try {
      await new SqlImageRepository(db).addLocation(id, { url: pathToFileURL(copy).href, metadata: { store: 'cheap' } }, Date.now());
    } finally {
      await db.destroy();
    }
    await ok(['stores-delete', '--store', 'cheap', id]);
    assert.ok(!fs.existsSync(copy));
    assert.ok(fs.existsSync(path.join(dataDir, 'fast-disks', id)));
    const last = await glance(['stores-delete', '--store', 'fast', id]);
    assert.notEqual(last.code, 0, 'the only store holding the data cannot be emptied');
    const out = path.join(work, 'back.raw');
    await ok(['image-download', '--file', out, id]);
    assert.deepEqual(fs.readFileSync(out), data);
    const r = await api(server.url, 'GET', `/v2/images/${id}`, { headers: server.auth });
    assert.equal(r.body.status, 'active');
    assert.ok(parseTable(await ok(['image-list'])).some((row) => row[0] === id));
  });
});
