import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { openDatabase, type DatabaseHandle } from '../src/db/connect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { SqlUnitOfWork } from '../src/db/unit-of-work.js';
import type { ImageRecord } from '../src/domain/image-model.js';
import { TASK_SORT_KEYS, type TaskRecord, type TaskSortKey } from '../src/domain/task-model.js';
import { freshDatabase } from './support/db-tools.js';
import type { LockRequest } from './support/import-lock-contender.js';
import { runsOn, testDbKind } from './support/test-database.js';

runsOn('sqlite', 'postgresql', 'mariadb');

/**
 * The task repository and the image repository's property writes and import lock, on each
 * database (OCELLUS_TEST_DB): list filters and keyset paging in every order, expiry, the status
 * compare-and-set, and two processes racing for one image's import lock.
 */

const kind = testDbKind();
let database: Awaited<ReturnType<typeof freshDatabase>>;
let db: DatabaseHandle;
/** A second handle with its own connections: another process on the same database. */
let db2: DatabaseHandle;
let uow: SqlUnitOfWork;
let uow2: SqlUnitOfWork;

before(async () => {
  database = await freshDatabase();
  db = openDatabase(database.url);
  db2 = openDatabase(database.url);
  await migrateToLatest(db);
  uow = new SqlUnitOfWork(db);
  uow2 = new SqlUnitOfWork(db2);
});
after(async () => {
  await db2?.destroy();
  await db?.destroy();
  await database?.drop();
});

const HOUR = 3_600_000;

function task(over: Partial<TaskRecord> = {}): TaskRecord {
  const now = Date.now();
  return {
    id: randomUUID(), type: 'import', status: 'pending', owner: 'p1',
    input: { import_from: 'http://example.com/x.img', import_from_format: 'raw', image_properties: { name: 'x' } },
    result: null, message: '', image_id: null, request_id: `req-${randomUUID()}`, user_id: 'u1',
    expires_at: null, created_at: now, updated_at: now, ...over,
  };
}

function queuedImage(id = randomUUID(), properties: Record<string, string> = {}): ImageRecord {
  const now = Date.now();
  return {
    id, name: `img ${id}`, status: 'queued', visibility: 'shared', protected: false, os_hidden: false,
    checksum: null, os_hash_algo: null, os_hash_value: null, owner: 'p1', size: null, virtual_size: null,
    min_disk: 0, min_ram: 0, container_format: 'bare', disk_format: 'raw',
    created_at: now, updated_at: now, deleted_at: null, tags: [], properties, locations: [],
  };
}

describe(`tasks on ${kind}`, () => {
  test('insert and find: every field comes back as written; JSON input and result round-trip', async () => {
    const t = task({ result: { image_id: 'abc', nested: { n: 1, list: [1, 'two'] } }, message: 'é ünïcode ✓', image_id: randomUUID(), expires_at: Date.now() + HOUR });
    await uow.repos.tasks.insert(t);
    assert.deepEqual(await uow.repos.tasks.find(t.id), t);
    const bare = task({ owner: null, input: null, request_id: null, user_id: null });
    await uow.repos.tasks.insert(bare);
    assert.deepEqual(await uow.repos.tasks.find(bare.id), bare);
    assert.equal(await uow.repos.tasks.find(randomUUID()), undefined);
  });

  test('a message longer than 64 KiB is kept whole (LONGTEXT on MariaDB)', async () => {
    const t = task({ message: 'm'.repeat(70_000), input: { blob: 'i'.repeat(70_000) } });
    await uow.repos.tasks.insert(t);
    const back = await uow.repos.tasks.find(t.id);
    assert.equal(back?.message.length, 70_000);
    assert.equal((back?.input?.blob as string).length, 70_000);
  });

  test('transition is a compare-and-set on status, with its changes and updated_at', async () => {
    const t = task();
    await uow.repos.tasks.insert(t);
    const now = t.updated_at + 5;
    assert.equal(await uow.repos.tasks.transition(t.id, 'processing', 'success', {}, now), false, 'not in processing');
    assert.equal(await uow.repos.tasks.transition(t.id, 'pending', 'processing', { image_id: 'img-1' }, now), true);
    // Two racing finishes: one wins.
    const [a, b] = await Promise.all([
      uow.repos.tasks.transition(t.id, 'processing', 'success', { result: { image_id: 'img-1' }, expires_at: now + HOUR, message: '' }, now + 1),
      uow2.repos.tasks.transition(t.id, 'processing', 'failure', { message: 'boom', expires_at: now + HOUR }, now + 1),
    ]);
    assert.equal(Number(a) + Number(b), 1, 'exactly one finish wins');
    const back = await uow.repos.tasks.find(t.id);
    assert.equal(back?.status, a ? 'success' : 'failure');
    assert.equal(back?.image_id, 'img-1');
    assert.equal(back?.updated_at, now + 1);
    assert.equal(back?.expires_at, now + HOUR);
    if (a) assert.deepEqual(back?.result, { image_id: 'img-1' });
    else assert.equal(back?.message, 'boom');
    // Changes not named are left alone; null clears.
    assert.equal(await uow.repos.tasks.transition(t.id, back!.status, back!.status, { result: null }, now + 2), true);
    const again = await uow.repos.tasks.find(t.id);
    assert.equal(again?.result, null);
    assert.equal(again?.image_id, 'img-1');
    assert.deepEqual(again?.input, t.input);
  });

  describe('list', () => {
    const owner = `p-${randomUUID()}`;
    const other = `p-${randomUUID()}`;
    const base = Date.UTC(2030, 0, 1);
    const mine: TaskRecord[] = [];
    const now = base + 100 * HOUR;

    before(async () => {
      // Ties on created_at, status and type; some with expiry (live and past), some not.
      const statuses = ['pending', 'processing', 'success', 'failure'] as const;
      const types = ['import', 'api_image_import', 'location_import'] as const;
      for (let i = 0; i < 14; i++) {
        const status = statuses[i % 4]!;
        const ended = status === 'success' || status === 'failure';
        mine.push(task({
          owner, status, type: types[i % 3]!,
          created_at: base + Math.floor(i / 3) * 1000, updated_at: base + ((i * 7) % 5) * 1000,
          expires_at: ended ? now + (i % 2 === 0 ? HOUR : 2 * HOUR) : null,
        }));
      }
      for (const t of mine) await uow.repos.tasks.insert(t);
      // Expired (before now): never listed. Another project's: listed only without owner filter.
      await uow.repos.tasks.insert(task({ owner, status: 'success', created_at: base, updated_at: base, expires_at: now - 1 }));
      await uow.repos.tasks.insert(task({ owner: other, created_at: base, updated_at: base }));
    });

    const q = (over: Partial<Parameters<typeof uow.repos.tasks.list>[0]> = {}) => ({
      owner, sortKey: 'created_at' as TaskSortKey, sortDir: 'desc' as const, limit: 1000, marker: null, now, ...over,
    });

    /** The order the repository promises: key, then created_at, then id, all in one direction; NULLs lowest. */
    function expected(key: TaskSortKey, dir: 'asc' | 'desc', tasks: TaskRecord[]): string[] {
      const keys: TaskSortKey[] = key === 'id' ? ['id'] : key === 'created_at' ? ['created_at', 'id'] : [key, 'created_at', 'id'];
      const val = (t: TaskRecord, k: TaskSortKey) => t[k] ?? (k === 'owner' ? '' : -1);
      const cmp = (a: TaskRecord, b: TaskRecord) => {
        for (const k of keys) {
          const x = val(a, k);
          const y = val(b, k);
          if (x !== y) return (x < y ? -1 : 1) * (dir === 'asc' ? 1 : -1);
        }
        return 0;
      };
      return [...tasks].sort(cmp).map((t) => t.id);
    }

    test('one project: its live tasks only, newest first; expired ones and other projects left out', async () => {
      const got = await uow.repos.tasks.list(q());
      assert.deepEqual(got.map((t) => t.id), expected('created_at', 'desc', mine));
      assert.deepEqual(got.find((t) => t.id === mine[3]!.id), mine[3]);
      const all = await uow.repos.tasks.list(q({ owner: null }));
      assert.ok(all.some((t) => t.owner === other), "an admin's list has every project's");
      assert.equal(all.filter((t) => t.owner === owner).length, mine.length);
    });

    test('filters on status and type, alone and together', async () => {
      for (const status of ['pending', 'success'] as const) {
        assert.deepEqual((await uow.repos.tasks.list(q({ status }))).map((t) => t.id), expected('created_at', 'desc', mine.filter((t) => t.status === status)));
      }
      assert.deepEqual((await uow.repos.tasks.list(q({ type: 'location_import' }))).map((t) => t.id), expected('created_at', 'desc', mine.filter((t) => t.type === 'location_import')));
      const both = mine.filter((t) => t.type === 'import' && t.status === 'failure');
      assert.deepEqual((await uow.repos.tasks.list(q({ type: 'import', status: 'failure' }))).map((t) => t.id), expected('created_at', 'desc', both));
    });

    for (const key of TASK_SORT_KEYS) {
      for (const dir of ['asc', 'desc'] as const) {
        test(`sorted by ${key} ${dir}, and paged 3 at a time by marker, gives the same order`, async () => {
          const want = expected(key, dir, mine);
          assert.deepEqual((await uow.repos.tasks.list(q({ sortKey: key, sortDir: dir }))).map((t) => t.id), want);
          const paged: string[] = [];
          let marker: TaskRecord | null = null;
          for (let pages = 0; pages < 10; pages++) {
            const page: TaskRecord[] = await uow.repos.tasks.list(q({ sortKey: key, sortDir: dir, limit: 3, marker }));
            paged.push(...page.map((t) => t.id));
            if (page.length < 3) break;
            marker = page[page.length - 1]!;
          }
          assert.deepEqual(paged, want);
        });
      }
    }

    test('tasks that expire at `now` are still listed; a millisecond later they are not', async () => {
      const t = task({ owner, status: 'success', created_at: base, updated_at: base, expires_at: now });
      await uow.repos.tasks.insert(t);
      assert.ok((await uow.repos.tasks.list(q())).some((x) => x.id === t.id));
      assert.ok(!(await uow.repos.tasks.list(q({ now: now + 1 }))).some((x) => x.id === t.id));
      await db.deleteFrom('tasks').where('id', '=', t.id).execute();
    });
  });

  test('listForImage: the image’s live tasks, newest first', async () => {
    const imageId = randomUUID();
    const now = Date.now();
    const old = task({ image_id: imageId, created_at: now - 3000, updated_at: now - 3000 });
    const newer = task({ image_id: imageId, created_at: now - 1000, updated_at: now - 1000, status: 'success', expires_at: now + HOUR });
    const expired = task({ image_id: imageId, created_at: now - 2000, updated_at: now - 2000, status: 'failure', expires_at: now - 1 });
    const elsewhere = task({ image_id: randomUUID(), created_at: now, updated_at: now });
    for (const t of [old, newer, expired, elsewhere]) await uow.repos.tasks.insert(t);
    assert.deepEqual((await uow.repos.tasks.listForImage(imageId, now)).map((t) => t.id), [newer.id, old.id]);
    assert.deepEqual(await uow.repos.tasks.listForImage(randomUUID(), now), []);
  });

  test('deleteExpired soft-deletes exactly the tasks expired before now; find no longer returns them', async () => {
    const now = Date.now() + 1000 * HOUR; // later than every other task's expiry in this file
    await uow.repos.tasks.deleteExpired(now); // whatever earlier tests left
    const gone = [task({ status: 'success', expires_at: now - 1 }), task({ status: 'failure', expires_at: now - HOUR })];
    const kept = [task({ status: 'success', expires_at: now }), task({ status: 'pending', expires_at: null })];
    for (const t of [...gone, ...kept]) await uow.repos.tasks.insert(t);
    assert.equal(await uow.repos.tasks.deleteExpired(now), 2);
    assert.equal(await uow.repos.tasks.deleteExpired(now), 0, 'nothing left to delete');
    for (const t of gone) {
      assert.equal(await uow.repos.tasks.find(t.id), undefined);
      const row = await db.selectFrom('tasks').select(['deleted', 'deleted_at']).where('id', '=', t.id).executeTakeFirstOrThrow();
      assert.equal(Number(row.deleted), 1);
      assert.equal(Number(row.deleted_at), now);
    }
    for (const t of kept) assert.deepEqual(await uow.repos.tasks.find(t.id), t);
    // A deleted task no longer changes status.
    assert.equal(await uow.repos.tasks.transition(gone[0]!.id, 'success', 'success', {}, now), false);
  });

  test('a task row written in a unit of work that fails is not kept', async () => {
    const t = task();
    await assert.rejects(uow.run(async (tx) => {
      await tx.tasks.insert(t);
      throw new Error('rolled back');
    }), /rolled back/);
    assert.equal(await uow.repos.tasks.find(t.id), undefined);
  });
});

describe(`image properties and the import lock on ${kind}`, () => {
  const props = async (id: string) => (await uow.repos.images.find(id))?.image.properties;

  test('setProperties sets and removes only the named properties and bumps updated_at', async () => {
    const img = queuedImage(undefined, { keep: 'k', change: 'old', drop: 'd' });
    assert.equal(await uow.repos.images.insert(img), true);
    assert.equal(await uow.repos.images.setProperties(img.id, { change: 'new', drop: null, added: 'a', absent: null }, img.updated_at + 10), true);
    const after = (await uow.repos.images.find(img.id))!.image;
    assert.deepEqual(after.properties, { keep: 'k', change: 'new', added: 'a' });
    assert.equal(after.updated_at, img.updated_at + 10);
    assert.equal(after.status, 'queued');
    // In the same millisecond as the last write: updated_at still moves, so a `save` read before it fails its check.
    assert.equal(await uow.repos.images.setProperties(img.id, { keep: 'k2' }, img.updated_at + 10), true);
    const again = (await uow.repos.images.find(img.id))!.image;
    assert.ok(again.updated_at > after.updated_at);
    assert.equal(await uow.repos.images.save({ ...after, name: 'stale write' }, { status: 'queued', updatedAt: after.updated_at }), false);
    assert.deepEqual(await props(img.id), { keep: 'k2', change: 'new', added: 'a' });
    // Nothing named: the image is still touched, nothing else changes.
    assert.equal(await uow.repos.images.setProperties(img.id, {}, Date.now()), true);
    assert.deepEqual(await props(img.id), { keep: 'k2', change: 'new', added: 'a' });
  });

  test('setProperties and lockForImport on a deleted or absent image: false, nothing written', async () => {
    const img = queuedImage();
    assert.equal(await uow.repos.images.insert(img), true);
    assert.equal(await uow.repos.images.transition(img.id, 'queued', 'deleted', {}, Date.now()), true);
    assert.equal(await uow.repos.images.setProperties(img.id, { a: '1' }, Date.now()), false);
    assert.equal(await uow.repos.images.lockForImport(img.id, randomUUID(), null, Date.now()), false);
    const rows = await db.selectFrom('image_properties').selectAll().where('image_id', '=', img.id).execute();
    assert.deepEqual(rows, []);
    assert.equal(await uow.repos.images.setProperties(randomUUID(), { a: '1' }, Date.now()), false);
    assert.equal(await uow.repos.images.lockForImport(randomUUID(), randomUUID(), null, Date.now()), false);
  });

  test('lockForImport: taken when free, refused while another task holds it, broken only by naming the stale holder', async () => {
    const img = queuedImage(undefined, { other: 'o' });
    assert.equal(await uow.repos.images.insert(img), true);
    const [t1, t2, t3] = [randomUUID(), randomUUID(), randomUUID()];
    assert.equal(await uow.repos.images.lockForImport(img.id, t1, null, Date.now()), true);
    assert.deepEqual(await props(img.id), { other: 'o', os_glance_import_task: t1 });
    assert.equal(await uow.repos.images.lockForImport(img.id, t2, null, Date.now()), false, 'held by t1');
    assert.equal(await uow.repos.images.lockForImport(img.id, t2, t3, Date.now()), false, 'the stale holder named is not the holder');
    assert.equal(await uow.repos.images.lockForImport(img.id, t1, null, Date.now()), true, 'the holder taking it again');
    assert.equal(await uow.repos.images.lockForImport(img.id, t2, t1, Date.now()), true, 'breaking t1’s lock');
    assert.deepEqual(await props(img.id), { other: 'o', os_glance_import_task: t2 });
    // Released (removed) by setProperties: free again.
    assert.equal(await uow.repos.images.setProperties(img.id, { os_glance_import_task: null }, Date.now()), true);
    assert.equal(await uow.repos.images.lockForImport(img.id, t3, null, Date.now()), true);
    assert.equal((await props(img.id))?.os_glance_import_task, t3);
  });

  /** Two worker threads, each with its own database handle: two processes. */
  let contenders: Worker[];
  let nextRequest = 0;
  before(() => {
    const file = fileURLToPath(new URL('./support/import-lock-contender.js', import.meta.url));
    contenders = [0, 1].map(() => new Worker(file, { workerData: { url: database.url } }));
  });
  after(async () => {
    for (const w of contenders ?? []) {
      w.postMessage({ close: true });
      await once(w, 'exit');
    }
  });

  /** Has `w` take the lock; resolves with whether it won. `ready` resolves when a barrier request has read the image. */
  function contend(w: Worker, req: Omit<LockRequest, 'id'>): { ready: Promise<void>; won: Promise<boolean> } {
    const id = nextRequest++;
    let onReady: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (onReady = resolve));
    const won = new Promise<boolean>((resolve, reject) => {
      const listen = (m: { id: number; ready?: boolean; won?: boolean; error?: string }) => {
        if (m.id !== id) return;
        if (m.ready) return onReady();
        w.off('message', listen);
        if (m.error !== undefined) reject(new Error(m.error));
        else resolve(m.won === true);
      };
      w.on('message', listen);
    });
    w.postMessage({ id, ...req });
    return { ready, won };
  }

  // On SQLite a second transaction waits at BEGIN for the first to end, so it cannot hold an older snapshot.
  const modes = kind === 'sqlite' ? (['alone', 'tx'] as const) : (['alone', 'tx', 'tx-barrier'] as const);
  for (const mode of modes) {
    test(`two processes racing for one image's import lock (${mode}): exactly one wins, and holds it`, async () => {
      for (let round = 0; round < 8; round++) {
        const img = queuedImage();
        assert.equal(await uow.repos.images.insert(img), true);
        // Every other round the two race to break the same stale lock.
        const stale = round % 2 === 1 ? randomUUID() : null;
        if (stale) assert.equal(await uow.repos.images.lockForImport(img.id, stale, null, Date.now()), true);
        const [a, b] = [randomUUID(), randomUUID()];
        const ca = contend(contenders[0]!, { imageId: img.id, taskId: a, stale, mode });
        const cb = contend(contenders[1]!, { imageId: img.id, taskId: b, stale, mode });
        if (mode === 'tx-barrier') {
          // Both have read the image in their transactions before either locks.
          await Promise.all([ca.ready, cb.ready]);
          for (const [w, id] of [[contenders[0]!, nextRequest - 2], [contenders[1]!, nextRequest - 1]] as const) w.postMessage({ go: id });
        }
        const [wonA, wonB] = await Promise.all([ca.won, cb.won]);
        assert.equal(Number(wonA) + Number(wonB), 1, `round ${round}: exactly one wins (a=${wonA}, b=${wonB})`);
        assert.equal((await props(img.id))?.os_glance_import_task, wonA ? a : b, `round ${round}: the winner holds the lock`);
      }
    });
  }
});
