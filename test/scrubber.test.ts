/**
 * Delayed delete and the scrubber: DELETE with delayed_delete (pending_delete, 404, bytes kept,
 * the API's sweep leaves them), `ocellus scrub` (after scrub_time, retried failures, restore,
 * the daemon) and `ocellus scrub --orphans` on the filesystem store; scrubbers racing each other
 * and restores are in scrubber-races.test.ts. The CLI runs as a child process on the test
 * server's database and data directory.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openDatabase } from '../src/db/connect.js';
import { SqlImageRepository } from '../src/db/image-repository.js';
import { SCRUB_LEASE } from '../src/domain/data-cleanup.js';
import { admin, api, createImage, startServer, type TestServer } from './support/harness.js';
import { activeImage, imageFile, openScrubber, scrubCli, spawnScrubDaemon, statusInDb } from './support/scrubbing.js';
import { digests, download, filesIn, random, startUpload, waitFor, waitForStatus } from './support/streaming.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite', 'postgresql');

const ADMIN = admin();

describe('DELETE with delayed_delete', () => {
  let server: TestServer;
  before(async () => {
    // No sweep on a timer: it would retry the failed removal of the retry test before the scrubber does.
    server = await startServer([
      { section: 'DEFAULT', name: 'delayed_delete', value: 'true' },
      { section: 'DEFAULT', name: 'upload_heartbeat_interval', value: '3600' },
    ]);
  });
  after(async () => {
    await server.close();
  });

  test('an image with data becomes pending_delete: 404 to GET, DELETE and download, not listed (admin included), bytes kept through the sweep', async () => {
    const { id } = await activeImage(server);
    const del = await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: ADMIN });
    assert.equal(del.status, 204, del.text);
    assert.equal((await api(server.url, 'GET', `/v2/images/${id}`, { headers: ADMIN })).status, 404);
    assert.equal((await download(server.url, id, ADMIN)).status, 404);
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: ADMIN })).status, 404);
    const listed = await api(server.url, 'GET', '/v2/images?limit=1000', { headers: ADMIN });
    assert.ok(!(listed.body.images as { id: string }[]).some((i) => i.id === id));
    const all = await api(server.url, 'GET', `/v2/images?id=in:${id}&visibility=all`, { headers: ADMIN });
    assert.deepEqual(all.body.images, []);

    await server.service.cleanup.sweep();
    assert.ok(fs.existsSync(imageFile(server, id)), 'the bytes of a pending_delete image are kept');
    const db = openDatabase(server.dbUrl);
    try {
      assert.deepEqual(await statusInDb(db, id), { status: 'pending_delete', deleted: 1, locations: ['active'] });
      // db purge keeps it too: its data is still there, and it may be restored.
      await new SqlImageRepository(db).purgeDeleted(Date.now() + 86_400_000, 100);
      assert.deepEqual(await statusInDb(db, id), { status: 'pending_delete', deleted: 1, locations: ['active'] });
    } finally {
      await db.destroy();
    }
  });

  test('an image without data is deleted at once; a deactivated one with data is refused (400), as in Glance', async () => {
    const queued = await createImage(server.url, ADMIN);
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${queued}`, { headers: ADMIN })).status, 204);
    const { id } = await activeImage(server);
    assert.equal((await api(server.url, 'POST', `/v2/images/${id}/actions/deactivate`, { headers: ADMIN })).status, 204);
    const refused = await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: ADMIN });
    assert.equal(refused.status, 400, refused.text);
    assert.match(refused.text, /deactivated to pending_delete is not allowed/);
    const db = openDatabase(server.dbUrl);
    try {
      assert.equal((await statusInDb(db, queued)).status, 'deleted');
      assert.equal((await statusInDb(db, id)).status, 'deactivated');
    } finally {
      await db.destroy();
    }
  });

  test('a pass before scrub_time leaves the image; after it, the bytes are gone and the image deleted', async () => {
    const { id } = await activeImage(server);
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: ADMIN })).status, 204);
    const early = await openScrubber(server, { scrubTimeMs: 3600_000 });
    try {
      const report = await early.scrubber.run();
      assert.ok(!report.scrubbed.includes(id));
      assert.ok(fs.existsSync(imageFile(server, id)));
      assert.equal((await statusInDb(early.db, id)).status, 'pending_delete');
    } finally {
      await early.close();
    }
    const later = await openScrubber(server, { scrubTimeMs: 3600_000, now: () => Date.now() + 3601_000 });
    try {
      const report = await later.scrubber.run();
      assert.ok(report.scrubbed.includes(id));
      assert.deepEqual(report.failures, []);
      assert.ok(!fs.existsSync(imageFile(server, id)));
      assert.deepEqual(await statusInDb(later.db, id), { status: 'deleted', deleted: 1, locations: ['deleted'] });
    } finally {
      await later.close();
    }
  });

  test('ocellus scrub --restore brings the image back, downloadable with the same checksum; a second restore is refused', async () => {
    const { id, data } = await activeImage(server, 100_000);
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: ADMIN })).status, 204);
    const r = await scrubCli(server, ['--restore', id]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`image ${id} restored`));
    const shown = await api(server.url, 'GET', `/v2/images/${id}`, { headers: ADMIN });
    assert.equal(shown.status, 200);
    assert.equal(shown.body.status, 'active');
    assert.equal(shown.body.checksum, digests(data).md5);
    const got = await download(server.url, id, ADMIN);
    assert.equal(got.status, 200);
    assert.ok(got.data.equals(data));

    const again = await scrubCli(server, ['--restore', id]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /ERROR: cannot restore the image from active to active/);
    const missing = await scrubCli(server, ['--restore', '9a5e6e2e-9e38-4a2a-9d55-6b1f4e5c0d11']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /ERROR: No pending_delete image/);
    const both = await scrubCli(server, ['--restore', id, '--daemon']);
    assert.equal(both.status, 2);
    assert.match(both.stderr, /restore and daemon options should not be set together/);
  });

  test('ocellus scrub --daemon scrubs what is deleted while it runs, and stops cleanly on SIGTERM', async () => {
    const child = spawnScrubDaemon(server, 'wakeup_time = 1\n');
    try {
      const { id } = await activeImage(server);
      assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: ADMIN })).status, 204);
      await waitFor('the daemon to scrub the image', () => (fs.existsSync(imageFile(server, id)) ? undefined : true), 10_000);
      const db = openDatabase(server.dbUrl);
      try {
        await waitFor('the image to be deleted', async () => ((await statusInDb(db, id)).status === 'deleted' ? true : undefined));
      } finally {
        await db.destroy();
      }
    } finally {
      const code = await child.stop();
      assert.equal(code, 0, child.output());
    }
  });

  test('a removal that fails is reported (exit 1), stays doomed, and the next pass removes it', async () => {
    const { id } = await activeImage(server);
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: ADMIN })).status, 204);
    // The store cannot unlink what is now a directory with a file in it.
    const file = imageFile(server, id);
    fs.rmSync(file);
    fs.mkdirSync(file);
    fs.writeFileSync(path.join(file, 'blocker'), 'x');
    const first = await scrubCli(server, []);
    assert.equal(first.status, 1, first.stderr);
    assert.match(first.stdout, /scrubbed 1 image\(s\); removed the data of 0 location\(s\); 1 failure\(s\)/);
    assert.match(first.stdout, new RegExp(`not removed: image ${id} at file://`));
    const db = openDatabase(server.dbUrl);
    try {
      assert.deepEqual(await statusInDb(db, id), { status: 'deleted', deleted: 1, locations: ['pending_delete'] });
      fs.rmSync(file, { recursive: true });
      fs.writeFileSync(file, 'the bytes again');
      const second = await scrubCli(server, []);
      assert.equal(second.status, 0, second.stderr);
      assert.match(second.stdout, /scrubbed 0 image\(s\); removed the data of 1 location\(s\); 0 failure\(s\)/);
      assert.ok(!fs.existsSync(file));
      assert.deepEqual(await statusInDb(db, id), { status: 'deleted', deleted: 1, locations: ['deleted'] });
    } finally {
      await db.destroy();
    }
  });

  test("the API's sweep leaves a doomed location alone while a scrubber's lease on its image lives", async () => {
    const { id } = await activeImage(server);
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: ADMIN })).status, 204);
    const db = openDatabase(server.dbUrl);
    try {
      // As a scrubber's claim leaves it: deleted, its location doomed, the scrub lease held.
      await db.updateTable('images').set({ status: 'deleted' }).where('id', '=', id).execute();
      await db.updateTable('image_locations').set({ status: 'pending_delete' }).where('image_id', '=', id).execute();
      await db.insertInto('leases').values({ kind: SCRUB_LEASE, lease_key: id, owner: 'another-scrubber', expires_at: Date.now() + 60_000, data: '{}' }).execute();
      await server.service.cleanup.sweep();
      assert.ok(fs.existsSync(imageFile(server, id)), 'the scrubber owns the removal');
      await db.updateTable('leases').set({ expires_at: Date.now() - 1 }).where('kind', '=', SCRUB_LEASE).where('lease_key', '=', id).execute();
      await server.service.cleanup.sweep();
      assert.ok(!fs.existsSync(imageFile(server, id)), 'the lease expired: the sweep removes it');
      assert.deepEqual((await statusInDb(db, id)).locations, ['deleted']);
    } finally {
      await db.deleteFrom('leases').where('kind', '=', SCRUB_LEASE).where('lease_key', '=', id).execute();
      await db.destroy();
    }
  });
});

describe('ocellus scrub --orphans (filesystem store and staging area)', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer([{ section: 'DEFAULT', name: 'delayed_delete', value: 'true' }]);
  });
  after(async () => {
    await server.close();
  });

  test('a dry run lists the old unowned objects; the real run removes only them', async () => {
    const images = path.join(server.dataDir, 'images');
    const staging = path.join(server.dataDir, 'staging');
    const hourAgo = new Date(Date.now() - 2 * 3600_000);
    const plant = (dir: string, name: string, old: boolean) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, 'orphaned bytes');
      if (old) fs.utimesSync(file, hourAgo, hourAgo);
      return file;
    };
    const kept = await activeImage(server);
    fs.utimesSync(imageFile(server, kept.id), hourAgo, hourAgo);
    const pending = await activeImage(server);
    fs.utimesSync(imageFile(server, pending.id), hourAgo, hourAgo);
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${pending.id}`, { headers: ADMIN })).status, 204);
    const crashed = plant(images, '0d3c6f5e-1111-4c1e-9d55-000000000001', true);
    const deadStage = plant(staging, '0d3c6f5e-2222-4c1e-9d55-000000000002', true);
    const fresh = plant(images, '0d3c6f5e-3333-4c1e-9d55-000000000003', false);
    // An upload under way: the image is saving, and an (old) object under its id is its own.
    const writing = await createImage(server.url, ADMIN);
    const up = startUpload(server.url, writing, { contentLength: 1 << 20, headers: ADMIN });
    try {
      await up.write(random(1024));
      await waitForStatus(server.url, writing, 'saving', ADMIN);
      const ownedByUpload = plant(images, writing, true);

      const dry = await scrubCli(server, ['--orphans', '--dry-run']);
      assert.equal(dry.status, 0, dry.stderr);
      const listed = dry.stdout.split('\n').filter((l) => l.startsWith('orphan '));
      assert.deepEqual(listed.map((l) => l.split(' ')[2]).sort(), [`file://${crashed}`, `file://${deadStage}`].sort());
      assert.match(dry.stdout, /2 orphaned object\(s\); nothing removed \(dry run\)/);
      assert.ok(fs.existsSync(crashed) && fs.existsSync(deadStage));

      const real = await scrubCli(server, ['--orphans', '--grace', '60']);
      assert.equal(real.status, 0, real.stderr);
      assert.match(real.stdout, /removed 2 orphaned object\(s\); 0 failure\(s\)/);
      assert.ok(!fs.existsSync(crashed) && !fs.existsSync(deadStage));
      for (const f of [fresh, ownedByUpload, imageFile(server, kept.id), imageFile(server, pending.id)]) assert.ok(fs.existsSync(f), `${f} is kept`);
      assert.deepEqual(filesIn(staging), []);
    } finally {
      up.destroy();
      await up.outcome;
    }
  });
});
