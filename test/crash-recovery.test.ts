import { pathToFileURL } from 'node:url';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openDatabase, type DatabaseHandle } from '../src/db/connect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { SqlUnitOfWork } from '../src/db/unit-of-work.js';
import { DataCleanup, UPLOAD_LEASE } from '../src/domain/data-cleanup.js';
import type { ImageRecord } from '../src/domain/image-model.js';
import { Leases } from '../src/domain/leases.js';
import { StoreRegistry } from '../src/store/registry.js';
import { loadConfig } from '../src/config/options.js';
import { spawnServer, writeChildConfig, type ChildServer } from './support/child-server.js';
import { freshDatabase } from './support/db-tools.js';
import { admin, api, createImage, tempDir, upload } from './support/harness.js';
import { digests, filesIn, partialDir, random, startUpload, waitFor, waitForStatus } from './support/streaming.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite', 'postgresql');

const ADMIN = admin();

describe('a server killed (SIGKILL) in the middle of an upload', () => {
  const dataDir = tempDir('ocellus-crash-');
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let first: ChildServer | undefined;
  let second: ChildServer | undefined;
  before(async () => {
    database = await freshDatabase();
  });
  after(async () => {
    await first?.kill();
    await second?.stop();
    await database.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('another server takes the upload over once its lease expires: image queued again, partial bytes gone, a new upload works', async () => {
    const config = writeChildConfig(database.dir, database.url);
    first = await spawnServer(dataDir, ['--config', config]);
    const id = await createImage(first.url, ADMIN);

    // A slow upload of a few MiB that never finishes: the server dies under it.
    const up = startUpload(first.url, id, { contentLength: 8 * 1024 * 1024, headers: ADMIN });
    for (let i = 0; i < 4; i++) await up.write(random(256 * 1024));
    await waitForStatus(first.url, id, 'saving', ADMIN);
    const partials = partialDir(dataDir);
    const partial = await waitFor('a non-empty partial file', () => {
      const f = filesIn(partials).find((n) => n.startsWith(`${id}.`));
      return f !== undefined && fs.statSync(path.join(partials, f)).size > 0 ? f : undefined;
    });
    await up.write(random(256 * 1024));
    await first.kill();
    const outcome = await up.outcome;
    assert.ok(outcome.error, 'the upload got no answer from the killed server');

    // The crash left its traces: the partial file, the image in `saving` and the upload's lease.
    assert.deepEqual(filesIn(partials), [partial]);
    const db = openDatabase(database.url);
    try {
      const row = await db.selectFrom('images').select(['status', 'size', 'checksum']).where('id', '=', id).executeTakeFirstOrThrow();
      assert.deepEqual({ ...row, size: row.size === null ? null : Number(row.size) }, { status: 'saving', size: null, checksum: null });
      const lease = await db.selectFrom('leases').selectAll().where('kind', '=', UPLOAD_LEASE).where('lease_key', '=', id).executeTakeFirstOrThrow();
      assert.equal(partial, `${id}.${(JSON.parse(lease.data) as { attempt: string }).attempt}`);
    } finally {
      await db.destroy();
    }

    // Nobody guesses from host or pid that the upload is dead: the new server waits for the lease to expire.
    second = await spawnServer(dataDir, ['--config', config]);
    const shown = await waitForStatus(second.url, id, 'queued', ADMIN, 15_000);
    assert.equal(shown.size, null);
    assert.equal(shown.checksum, null);
    assert.equal(shown.os_hash_algo, null);
    assert.equal(shown.os_hash_value, null);
    assert.deepEqual(filesIn(partials), []);
    assert.equal(fs.existsSync(path.join(dataDir, 'images', id)), false);

    const data = random(3 * 1024 * 1024 + 17);
    const r = await upload(second.url, id, data, ADMIN);
    assert.equal(r.status, 204, r.text);
    const done = await api(second.url, 'GET', `/v2/images/${id}`, { headers: ADMIN });
    const { md5, multihash } = digests(data);
    assert.equal(done.body.status, 'active');
    assert.equal(done.body.size, data.length);
    assert.equal(done.body.checksum, md5);
    assert.equal(done.body.os_hash_value, multihash);
    const res = await fetch(`${second.url}/v2/images/${id}/file`, { headers: ADMIN });
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(data));
    assert.deepEqual(filesIn(path.join(dataDir, 'images')), [id]);
    assert.deepEqual(filesIn(partials), []);
  });
});

describe('a server killed (SIGKILL) in the middle of deletes', () => {
  const dataDir = tempDir('ocellus-crash-delete-');
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let server: ChildServer | undefined;
  before(async () => {
    database = await freshDatabase();
  });
  after(async () => {
    await server?.kill();
    await database.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('after a restart (and its start-up sweep) no file in the store belongs to no image', async () => {
    const config = writeChildConfig(database.dir, database.url);
    const images = path.join(dataDir, 'images');
    for (let round = 0; round < 4; round++) {
      server = await spawnServer(dataDir, ['--config', config]);
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) {
        const id = await createImage(server.url, ADMIN, { name: `round ${round} image ${i}` });
        assert.equal((await upload(server.url, id, random(1024 * 1024 + i), ADMIN)).status, 204);
        ids.push(id);
      }
      // Delete them all at once and kill the server while the deletes run.
      const deletes = ids.map((id) => fetch(`${server!.url}/v2/images/${id}`, { method: 'DELETE', headers: ADMIN }).then((r) => r.status, () => 0));
      await new Promise((resolve) => setTimeout(resolve, round * 3));
      await server.kill();
      await Promise.all(deletes);

      server = await spawnServer(dataDir, ['--config', config]);
      for (const file of filesIn(images)) {
        const r = await api(server.url, 'GET', `/v2/images/${file}`, { headers: ADMIN });
        assert.equal(r.status, 200, `round ${round}: ${file} is in the store, but its image is gone (${r.status})`);
        assert.equal(r.body.status, 'active');
      }
      for (const id of ids) {
        const r = await api(server.url, 'GET', `/v2/images/${id}`, { headers: ADMIN });
        if (r.status === 200) await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: ADMIN });
      }
      assert.deepEqual(filesIn(images), [], `round ${round}: every image deleted, every file gone`);
      await server.stop();
      server = undefined;
    }
  });
});

describe('the cleanup sweep (unit level)', () => {
  const HEARTBEAT_MS = 1000;
  let dir: string;
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let db: DatabaseHandle;
  let uow: SqlUnitOfWork;
  let stores: StoreRegistry;
  let leases: Leases;
  let cleanup: DataCleanup;

  before(async () => {
    dir = tempDir('ocellus-sweep-');
    database = await freshDatabase();
    db = openDatabase(database.url);
    await migrateToLatest(db);
    stores = await StoreRegistry.open(loadConfig({ dataDir: dir }).stores, () => undefined);
    uow = new SqlUnitOfWork(db);
    leases = new Leases(uow, HEARTBEAT_MS);
    cleanup = new DataCleanup(uow, stores, leases);
  });
  after(async () => {
    await db.destroy();
    await database.drop();
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

  /** An image in `saving` whose upload lease belongs to `owner` and expires at `expiresAt`, with partial bytes on disk. */
  async function savingImage(owner: string, expiresAt: number) {
    const id = randomUUID();
    const attempt = randomUUID();
    assert.equal(await uow.repos.images.insert(queued(id)), true);
    await uow.run(async (tx) => {
      assert.equal(await tx.images.transition(id, 'queued', 'saving', {}, Date.now()), true);
      assert.equal(await tx.leases.acquire({ kind: UPLOAD_LEASE, key: id, owner, expiresAt, data: { attempt, backend: 'file', project: 'p1' } }), true);
    });
    const partialFile = path.join(dir, 'images', '.partial', `${id}.${attempt}`);
    fs.writeFileSync(partialFile, random(4096));
    return { id, attempt, partialFile };
  }

  const status = async (id: string) => (await uow.repos.images.find(id))?.image.status;
  const leaseOf = async (id: string) => db.selectFrom('leases').selectAll().where('lease_key', '=', id).executeTakeFirst();

  test('an upload whose lease expired is undone: image queued, partial bytes gone, lease gone', async () => {
    const img = await savingImage(randomUUID(), Date.now() - 1);
    const { uploads } = await cleanup.sweep();
    assert.deepEqual(uploads, [img.id]);
    const image = (await uow.repos.images.find(img.id))?.image;
    assert.equal(image?.status, 'queued');
    assert.equal(image?.size, null);
    assert.equal(fs.existsSync(img.partialFile), false);
    assert.equal(await leaseOf(img.id), undefined);
  });

  test('an upload whose lease is live is left alone, whoever owns it — until the lease expires', async () => {
    for (const owner of [randomUUID(), leases.owner]) {
      const img = await savingImage(owner, Date.now() + 60_000);
      assert.deepEqual((await cleanup.sweep()).uploads, []);
      assert.equal(await status(img.id), 'saving');
      assert.equal(fs.existsSync(img.partialFile), true);
      // A sweep whose clock is past the expiry takes it.
      const later = () => Date.now() + 120_000;
      const laterLeases = new Leases(uow, HEARTBEAT_MS, undefined, later);
      assert.deepEqual((await new DataCleanup(uow, stores, laterLeases, undefined, later).sweep()).uploads, [img.id]);
      assert.equal(await status(img.id), 'queued');
      assert.equal(fs.existsSync(img.partialFile), false);
    }
  });

  test('a heartbeat keeps a lease alive; a lease taken over is lost to its former owner', async () => {
    const img = await savingImage(leases.owner, Date.now() + 500);
    const held = leases.keep(UPLOAD_LEASE, img.id, { lost: 'lost', unwanted: 'unwanted' });
    try {
      await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_MS + 300));
      const lease = await leaseOf(img.id);
      assert.ok(Number(lease!.expires_at) > Date.now() + HEARTBEAT_MS, 'renewed to three heartbeats ahead');
      assert.equal(held.signal.aborted, false);
      // Someone else takes it over (as if our heartbeats had stopped for three intervals).
      await db.updateTable('leases').set({ owner: 'somebody-else' }).where('lease_key', '=', img.id).execute();
      await waitFor('the lease noticed lost', () => (held.signal.aborted ? true : undefined), 3 * HEARTBEAT_MS);
      assert.equal(held.signal.reason, 'lost');
    } finally {
      held.stop();
      await db.deleteFrom('leases').where('lease_key', '=', img.id).execute();
    }
  });

  test('of two processes reclaiming one expired lease, exactly one wins', async () => {
    const img = await savingImage(randomUUID(), Date.now() - 1);
    const a = new Leases(uow, HEARTBEAT_MS);
    const b = new Leases(uow, HEARTBEAT_MS);
    const [wonA, wonB] = await Promise.all([a.reclaim(UPLOAD_LEASE), b.reclaim(UPLOAD_LEASE)]);
    assert.equal(wonA.length + wonB.length, 1);
    assert.equal((await leaseOf(img.id))?.owner, (wonA.length === 1 ? a : b).owner);
    await db.deleteFrom('leases').where('lease_key', '=', img.id).execute();
  });

  test('a dead upload that had already committed its bytes (crash before the image became active) loses them', async () => {
    const img = await savingImage(randomUUID(), Date.now() - 1);
    const committed = path.join(dir, 'images', img.id);
    fs.renameSync(img.partialFile, committed);
    assert.deepEqual((await cleanup.sweep()).uploads, [img.id]);
    assert.equal(await status(img.id), 'queued');
    assert.equal(fs.existsSync(committed), false);
  });

  test('a deletion whose process died after the commit is finished by the sweep; purge waits for it', async () => {
    const id = randomUUID();
    assert.equal(await uow.repos.images.insert(queued(id)), true);
    const file = path.join(dir, 'images', id);
    fs.writeFileSync(file, random(1000));
    const now = Date.now();
    await uow.run(async (tx) => {
      assert.equal(await tx.images.transition(id, 'queued', 'active', { size: 1000 }, now), true);
      await tx.images.addLocation(id, { url: pathToFileURL(path.join(dir, 'images', id)).href, metadata: {} }, now);
    });
    // What DELETE commits before it removes any byte; then the process "dies".
    const doomed = await uow.run(async (tx) => {
      assert.equal(await tx.images.transition(id, 'active', 'deleted', { deleted_at: now - 40 * 86_400_000 }, now), true);
      return tx.images.doomLocations(id, now);
    });
    assert.equal(doomed.length, 1);
    assert.equal(fs.existsSync(file), true);
    assert.equal(await status(id), undefined, 'the image is gone for the API at once');
    assert.equal(await uow.repos.images.purgeDeleted(Date.now(), 10), 0, 'not purged while its bytes are still to be removed');

    const { deletions } = await cleanup.sweep();
    assert.deepEqual(deletions, [id]);
    assert.equal(fs.existsSync(file), false);
    assert.deepEqual(await uow.repos.images.doomedLocations(10), []);
    assert.deepEqual((await cleanup.sweep()).deletions, [], 'nothing left for the next sweep');
    assert.equal(await uow.repos.images.purgeDeleted(Date.now(), 10), 1);
  });

  test('bytes that cannot be removed now wait for the next sweep: one sweep never retries them forever', async () => {
    // 120 doomed locations (more than a sweep's batch) whose "file" is a directory: unlink fails.
    const ids: string[] = [];
    const now = Date.now();
    for (let i = 0; i < 120; i++) {
      const id = randomUUID();
      ids.push(id);
      assert.equal(await uow.repos.images.insert(queued(id)), true);
      fs.mkdirSync(path.join(dir, 'images', id));
      await uow.run(async (tx) => {
        await tx.images.addLocation(id, { url: pathToFileURL(path.join(dir, 'images', id)).href, metadata: {} }, now);
        assert.equal(await tx.images.transition(id, 'queued', 'deleted', {}, now), true);
        await tx.images.doomLocations(id, now);
      });
    }
    const { deletions } = await cleanup.sweep();
    assert.equal(deletions.length, 100, 'one batch tried, then the sweep ends');
    assert.equal((await uow.repos.images.doomedLocations(1000)).length, 120, 'all still on record');
    for (const id of ids) fs.rmdirSync(path.join(dir, 'images', id));
    await cleanup.sweep();
    assert.deepEqual(await uow.repos.images.doomedLocations(1000), [], 'the next sweep finishes them');
  });

  test('a transaction of the unit of work commits all of its steps or none', async () => {
    const id = randomUUID();
    assert.equal(await uow.repos.images.insert(queued(id)), true);
    await assert.rejects(
      uow.run(async (tx) => {
        assert.equal(await tx.images.transition(id, 'queued', 'saving', {}, Date.now()), true);
        assert.equal(await tx.leases.acquire(leases.record(UPLOAD_LEASE, id, { attempt: 'x' })), true);
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(await status(id), 'queued', 'the status change was rolled back');
    assert.equal(await leaseOf(id), undefined, 'the lease was rolled back with it');
  });
});
