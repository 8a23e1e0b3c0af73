import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { openDatabase, type DatabaseHandle } from '../src/db/connect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { SqlUnitOfWork } from '../src/db/unit-of-work.js';
import type { OutboxEvent } from '../src/domain/ports.js';
import { freshDatabase } from './support/db-tools.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite', 'postgresql', 'mariadb');

/**
 * The outbox repository on each database (OCELLUS_TEST_DB): events come back in the order they
 * were appended, with their payload intact; a rolled-back transaction leaves none and wakes
 * nobody; removed sequence numbers are never handed out again; the age limit drops only old events.
 */

let database: Awaited<ReturnType<typeof freshDatabase>>;
let db: DatabaseHandle;
let uow: SqlUnitOfWork;

before(async () => {
  database = await freshDatabase();
  db = openDatabase(database.url);
  await migrateToLatest(db);
  uow = new SqlUnitOfWork(db);
});
after(async () => {
  await db?.destroy();
  await database?.drop();
});

function event(eventType: string, payload: unknown, createdAt = Date.now()): Omit<OutboxEvent, 'seq'> {
  return { messageId: randomUUID(), publisherId: 'image.test-host', eventType, priority: 'INFO', payload, createdAt };
}

async function drain(): Promise<void> {
  for (;;) {
    const batch = await uow.repos.outbox.oldest(100);
    if (batch.length === 0) return;
    await uow.repos.outbox.remove(batch.map((e) => e.seq));
  }
}

test('events come back in append order, payloads intact, and are gone once removed', async () => {
  await drain();
  const payload = { id: randomUUID(), name: 'zürich ☃ image', size: 2 ** 40, tags: ['a', 'b'], properties: { k: 'v' }, deleted_at: null, protected: false };
  const appended = [event('image.create', payload), event('image.update', { ...payload, name: 'second' }), { ...event('image.upload', 'Failed to upload: disk full'), priority: 'ERROR' as const }];
  for (const e of appended) await uow.repos.outbox.append(e);
  const got = await uow.repos.outbox.oldest(10);
  assert.deepEqual(
    got.map(({ seq: _seq, ...rest }) => rest),
    appended,
  );
  assert.ok(got[0]!.seq < got[1]!.seq && got[1]!.seq < got[2]!.seq);
  assert.deepEqual((await uow.repos.outbox.oldest(2)).map((e) => e.eventType), ['image.create', 'image.update']);
  await uow.repos.outbox.remove([got[0]!.seq, got[1]!.seq]);
  assert.deepEqual((await uow.repos.outbox.oldest(10)).map((e) => e.eventType), ['image.upload']);
  await uow.repos.outbox.remove([]);
  await drain();
  // A removed sequence number is never handed out again (AUTOINCREMENT / bigserial / AUTO_INCREMENT).
  await uow.repos.outbox.append(event('image.delete', {}));
  const [next] = await uow.repos.outbox.oldest(1);
  assert.ok(next!.seq > got[2]!.seq, `seq ${next!.seq} after ${got[2]!.seq}`);
  await drain();
});

test('an event written in a transaction that rolls back is not kept, and only a commit wakes the publisher', async () => {
  await drain();
  let wakes = 0;
  const local = new SqlUnitOfWork(db);
  local.onEventsCommitted(() => wakes++);
  await assert.rejects(
    local.run(async (tx) => {
      await tx.outbox.append(event('image.create', { n: 1 }));
      throw new Error('the change failed');
    }),
    /the change failed/,
  );
  assert.equal(wakes, 0);
  assert.deepEqual(await local.repos.outbox.oldest(10), []);
  await local.run(async (tx) => {
    await tx.outbox.append(event('image.create', { n: 2 }));
    assert.equal(wakes, 0, 'no wake before the commit');
  });
  assert.equal(wakes, 1);
  await local.run(async (tx) => tx.images.find(randomUUID()));
  assert.equal(wakes, 1, 'a transaction without events wakes nobody');
  await local.repos.outbox.append(event('image.update', { n: 3 }));
  assert.equal(wakes, 2, 'an append outside a transaction commits at once');
  assert.deepEqual((await local.repos.outbox.oldest(10)).map((e) => e.payload), [{ n: 2 }, { n: 3 }]);
  await drain();
});

test('the age limit drops only the events written before the cutoff', async () => {
  await drain();
  const now = Date.now();
  await uow.repos.outbox.append(event('image.create', { age: 'old' }, now - 10_000));
  await uow.repos.outbox.append(event('image.update', { age: 'new' }, now));
  assert.equal(await uow.repos.outbox.dropOlderThan(now - 5_000), 1);
  assert.deepEqual((await uow.repos.outbox.oldest(10)).map((e) => e.payload), [{ age: 'new' }]);
  assert.equal(await uow.repos.outbox.dropOlderThan(now - 5_000), 0);
  await drain();
});
