import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { openDatabase, type DatabaseHandle } from '../src/db/connect.js';
import type { ImageRecord } from '../src/db/image-records.js';
import { ImageRepository } from '../src/db/image-repository.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { UploadRegistry } from '../src/domain/upload-owner.js';
import { UploadRecovery } from '../src/domain/upload-recovery.js';
import { FilesystemStore } from '../src/store/filesystem.js';
import { spawnServer, type ChildServer } from './support/child-server.js';
import { api, createImage, tempDir, upload } from './support/harness.js';
import { digests, filesIn, partialDir, random, startUpload, waitFor, waitForStatus } from './support/streaming.js';

describe('a server killed (SIGKILL) in the middle of an upload', () => {
  const dataDir = tempDir('ocellus-crash-');
  let first: ChildServer | undefined;
  let second: ChildServer | undefined;
  after(async () => {
    await first?.kill();
    await second?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('the restarted server puts the image back to queued, removes the partial bytes, and takes a new upload', async () => {
    first = await spawnServer(dataDir);
    // The default flavor, as `ocellus serve` runs without a config: every call carries the admin token.
    const id = await createImage(first.url, first.auth);

    // A slow upload of a few MiB that never finishes: the server dies under it.
    const up = startUpload(first.url, id, { headers: first.auth, contentLength: 8 * 1024 * 1024 });
    for (let i = 0; i < 4; i++) await up.write(random(256 * 1024));
    await waitForStatus(first.url, id, 'saving', first.auth);
    const partials = partialDir(dataDir);
    const partial = await waitFor('a non-empty partial file', () => {
      const f = filesIn(partials).find((n) => n.startsWith(`${id}.`));
      return f !== undefined && fs.statSync(path.join(partials, f)).size > 0 ? f : undefined;
    });
    await up.write(random(256 * 1024));

    const deadPid = first.child.pid;
    await first.kill();
    const outcome = await up.outcome;
    assert.ok(outcome.error, 'the upload got no answer from the killed server');

    // The crash left its traces: the partial file and the image in `saving`, owned by the dead pid.
    assert.deepEqual(filesIn(partials), [partial]);
    const db = new Database(path.join(dataDir, 'ocellus.db'), { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare('select status, size, checksum, upload_id, upload_pid, upload_host from images where id = ?').get(id) as Record<string, unknown>;
      assert.equal(row.status, 'saving');
      assert.equal(row.size, null);
      assert.equal(row.checksum, null);
      assert.equal(row.upload_pid, deadPid);
      assert.equal(row.upload_host, os.hostname());
      assert.equal(partial, `${id}.${row.upload_id as string}`);
    } finally {
      db.close();
    }

    second = await spawnServer(dataDir);
    assert.equal(second.adminToken, first.adminToken, 'the restarted server keeps the admin token');
    // The recovery sweep runs before the server listens: no waiting needed.
    const shown = await api(second.url, 'GET', `/v2/images/${id}`, { headers: second.auth });
    assert.equal(shown.status, 200);
    assert.equal(shown.body.status, 'queued');
    assert.equal(shown.body.size, null);
    assert.equal(shown.body.checksum, null);
    assert.equal(shown.body.os_hash_algo, null);
    assert.equal(shown.body.os_hash_value, null);
    assert.deepEqual(filesIn(partials), []);
    assert.equal(fs.existsSync(path.join(dataDir, 'images', id)), false);

    const data = random(3 * 1024 * 1024 + 17);
    const r = await upload(second.url, id, data, second.auth);
    assert.equal(r.status, 204, r.text);
    const done = await api(second.url, 'GET', `/v2/images/${id}`, { headers: second.auth });
    const { md5, multihash } = digests(data);
    assert.equal(done.body.status, 'active');
    assert.equal(done.body.size, data.length);
    assert.equal(done.body.checksum, md5);
    assert.equal(done.body.os_hash_algo, 'sha512');
    assert.equal(done.body.os_hash_value, multihash);
    const res = await fetch(`${second.url}/v2/images/${id}/file`, { headers: second.auth });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-md5'), md5);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(data));
    assert.deepEqual(filesIn(path.join(dataDir, 'images')), [id]);
    assert.deepEqual(filesIn(partials), []);
  });
});

describe('the recovery sweep (unit level)', () => {
  const STALE_AFTER_MS = 15_000;
  let dir: string;
  let db: DatabaseHandle;
  let repo: ImageRepository;
  let store: FilesystemStore;
  let registry: UploadRegistry;
  let recovery: UploadRecovery;

  before(async () => {
    dir = tempDir('ocellus-sweep-');
    db = openDatabase(`sqlite:///${path.join(dir, 'ocellus.db')}`);
    await migrateToLatest(db);
    store = new FilesystemStore(path.join(dir, 'images'));
    await store.init();
    repo = new ImageRepository(db);
    registry = new UploadRegistry(STALE_AFTER_MS);
    recovery = new UploadRecovery(repo, store, registry);
  });
  after(async () => {
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function queued(id: string): ImageRecord {
    const now = Date.now();
    return {
      id, name: `sweep ${id}`, status: 'queued', visibility: 'shared', protected: false, os_hidden: false,
      checksum: null, os_hash_algo: null, os_hash_value: null, owner: 'p1', size: null, virtual_size: null,
      min_disk: 0, min_ram: 0, container_format: 'bare', disk_format: 'raw',
      created_at: now, updated_at: now, deleted_at: null, tags: [], properties: {}, locations: [],
    };
  }

  /** An image in `saving` whose upload is recorded as run by `owner`, last heard of at `heartbeatAt`, with partial bytes on disk. */
  async function savingImage(owner: { host: string; pid: number; instance?: string; uploadId?: string }, heartbeatAt: number) {
    const id = randomUUID();
    assert.equal(await repo.insert(queued(id)), true);
    const uploadId = owner.uploadId ?? randomUUID();
    const began = await repo.beginUpload(id, { uploadId, host: owner.host, pid: owner.pid, instance: owner.instance ?? randomUUID() }, heartbeatAt);
    assert.equal(began, true);
    const partialFile = path.join(dir, 'images', '.partial', `${id}.${uploadId}`);
    fs.writeFileSync(partialFile, random(4096));
    return { id, uploadId, partialFile };
  }

  async function deadPid(): Promise<number> {
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    const pid = child.pid!;
    await once(child, 'exit');
    return pid;
  }

  test('an upload on another node whose heartbeat is stale is recovered', async () => {
    const img = await savingImage({ host: 'some-other-node.example', pid: process.pid }, Date.now() - 2 * STALE_AFTER_MS);
    const recovered = await recovery.sweep();
    assert.deepEqual(recovered, [img.id]);
    const image = await repo.get(img.id);
    assert.equal(image?.status, 'queued');
    assert.equal(image?.size, null);
    assert.equal(image?.checksum, null);
    assert.equal(fs.existsSync(img.partialFile), false);
    assert.equal((await repo.uploadsOnRecord()).some((r) => r.imageId === img.id), false, 'the upload bookkeeping is cleared');
  });

  test('an upload on another node whose heartbeat is fresh is left alone', async () => {
    const img = await savingImage({ host: 'some-other-node.example', pid: process.pid }, Date.now() - 1000);
    const recovered = await recovery.sweep();
    assert.deepEqual(recovered, []);
    const image = await repo.get(img.id);
    assert.equal(image?.status, 'saving');
    assert.equal(fs.existsSync(img.partialFile), true);
    const rec = (await repo.uploadsOnRecord()).find((r) => r.imageId === img.id);
    assert.equal(rec?.uploadId, img.uploadId);
    assert.equal(rec?.host, 'some-other-node.example');
    // Once that node stops beating, a sweep a little later takes it.
    const later = new UploadRecovery(repo, store, registry, undefined, () => Date.now() + 2 * STALE_AFTER_MS);
    assert.deepEqual(await later.sweep(), [img.id]);
    assert.equal((await repo.get(img.id))?.status, 'queued');
    assert.equal(fs.existsSync(img.partialFile), false);
  });

  test('on this host, an upload of a dead pid is recovered at once, even with a fresh heartbeat', async () => {
    const img = await savingImage({ host: os.hostname(), pid: await deadPid() }, Date.now());
    assert.deepEqual(await recovery.sweep(), [img.id]);
    assert.equal((await repo.get(img.id))?.status, 'queued');
    assert.equal(fs.existsSync(img.partialFile), false);
  });

  test('on this host, an upload of a live process (not this one) with a fresh heartbeat is left alone', async () => {
    const img = await savingImage({ host: os.hostname(), pid: process.ppid }, Date.now());
    assert.deepEqual(await recovery.sweep(), []);
    assert.equal((await repo.get(img.id))?.status, 'saving');
    assert.equal(fs.existsSync(img.partialFile), true);
    // Clean up so later sweeps in this file see only their own images.
    await store.discardPartial(img.id, img.uploadId);
    assert.equal(await repo.abandonUpload(img.id, img.uploadId, Date.now()), true);
  });

  test("this process's own upload is live while it runs and dead once it no longer does", async () => {
    const owner = registry.begin();
    const img = await savingImage({ host: owner.host, pid: owner.pid, instance: owner.instance, uploadId: owner.uploadId }, Date.now() - 10 * STALE_AFTER_MS);
    assert.deepEqual(await recovery.sweep(), [], 'a running upload of ours is never taken, however old its heartbeat');
    assert.equal((await repo.get(img.id))?.status, 'saving');
    registry.end(owner.uploadId);
    assert.deepEqual(await recovery.sweep(), [img.id]);
    assert.equal((await repo.get(img.id))?.status, 'queued');
    assert.equal(fs.existsSync(img.partialFile), false);
  });

  test('a dead upload that had already committed its bytes (crash before the image became active) loses them', async () => {
    const img = await savingImage({ host: os.hostname(), pid: await deadPid() }, Date.now());
    const committed = path.join(dir, 'images', img.id);
    fs.renameSync(img.partialFile, committed);
    assert.deepEqual(await recovery.sweep(), [img.id]);
    assert.equal((await repo.get(img.id))?.status, 'queued');
    assert.equal(fs.existsSync(committed), false);
  });
});
