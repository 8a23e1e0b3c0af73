import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SqlImageRepository } from '../src/db/image-repository.js';
import { api, createImage, member, startServer, tempDir, upload, type TestServer } from './support/harness.js';
import { manageCli, writeDbConfig } from './support/db-tools.js';
import { download, random } from './support/streaming.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite', 'postgresql', 'mariadb');

/**
 * `ocellus manage db purge` and ImageRepository.purgeDeleted: hard-deleting images soft-deleted
 * long ago, with everything hanging off them, on SQLite, PostgreSQL and MariaDB.
 */

const DAY = 86_400_000;
const CHILD_TABLES = ['image_properties', 'image_tags', 'image_members', 'image_locations'] as const;

let server: TestServer;
let config: string;
before(async () => {
  server = await startServer();
  config = writeDbConfig(tempDir('ocellus-purge-'), server.dbUrl);
});
after(async () => {
  await server.close();
});

interface Made {
  id: string;
  headers: Record<string, string>;
  data: Buffer;
}

/** An image with a property, tags, a member and data: a row in every child table. */
async function makeImage(): Promise<Made> {
  const headers = member(`p-${randomUUID().slice(0, 8)}`);
  const id = await createImage(server.url, headers, { name: `img-${id8()}`, tags: ['t1', 't2'], colour: 'green', os_distro: 'debian' });
  const m = await api(server.url, 'POST', `/v2/images/${id}/members`, { headers, json: { member: `friend-${id8()}` } });
  assert.equal(m.status, 200, m.text);
  const data = random(10_000);
  assert.equal((await upload(server.url, id, data, headers)).status, 204);
  return { id, headers, data };
}
const id8 = () => randomUUID().slice(0, 8);

async function remove(img: Made): Promise<void> {
  const r = await api(server.url, 'DELETE', `/v2/images/${img.id}`, { headers: img.headers });
  assert.equal(r.status, 204, r.text);
}

/** Pretends the image was deleted `days` days ago. */
async function ageDeletion(img: Made, days: number): Promise<void> {
  const res = await server.service.db
    .updateTable('images')
    .set({ deleted_at: Date.now() - days * DAY })
    .where('id', '=', img.id)
    .where('deleted', '=', 1)
    .executeTakeFirst();
  assert.equal(Number(res.numUpdatedRows), 1);
}

/** Rows of the image in images and in each child table. */
async function rowCounts(id: string): Promise<Record<string, number>> {
  const db = server.service.db;
  const counts: Record<string, number> = {};
  counts.images = (await db.selectFrom('images').select('id').where('id', '=', id).execute()).length;
  for (const t of CHILD_TABLES) counts[t] = (await db.selectFrom(t).select('image_id').where('image_id', '=', id).execute()).length;
  return counts;
}

function assertEverywhere(counts: Record<string, number>, what: string): void {
  for (const [table, n] of Object.entries(counts)) assert.ok(n > 0, `${what}: rows in ${table}`);
}

function assertNowhere(counts: Record<string, number>, what: string): void {
  assert.deepEqual(counts, { images: 0, image_properties: 0, image_tags: 0, image_members: 0, image_locations: 0 }, what);
}

/** The image is still fully served: metadata, properties, tags, members and data. */
async function assertLive(img: Made): Promise<void> {
  const r = await api(server.url, 'GET', `/v2/images/${img.id}`, { headers: img.headers });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'active');
  assert.equal(r.body.colour, 'green');
  assert.equal(r.body.os_distro, 'debian');
  assert.deepEqual([...r.body.tags].sort(), ['t1', 't2']);
  const members = await api(server.url, 'GET', `/v2/images/${img.id}/members`, { headers: img.headers });
  assert.equal(members.status, 200, members.text);
  assert.equal(members.body.members.length, 1);
  const d = await download(server.url, img.id, img.headers);
  assert.equal(d.status, 200);
  assert.ok(d.data.equals(img.data));
}

/** Live, recently deleted and long-deleted images; the long-deleted ones are checked to have rows everywhere. */
async function scenario(oldCount: number) {
  const live = [await makeImage(), await makeImage()];
  // A live image created (and last updated) long ago is still live.
  await server.service.db.updateTable('images').set({ created_at: Date.now() - 400 * DAY, updated_at: Date.now() - 400 * DAY }).where('id', '=', live[1]!.id).execute();
  const recent = [await makeImage(), await makeImage()];
  const old: Made[] = [];
  for (let i = 0; i < oldCount; i++) old.push(await makeImage());
  for (const img of [...recent, ...old]) await remove(img);
  await ageDeletion(recent[1]!, 29); // deleted 29 days ago: younger than 30 days, kept
  for (const [i, img] of old.entries()) await ageDeletion(img, 40 + i);
  for (const img of old) assertEverywhere(await rowCounts(img.id), 'before the purge, a deleted image keeps its rows');
  return { live, recent, old };
}

async function assertPurged(s: Awaited<ReturnType<typeof scenario>>): Promise<void> {
  for (const img of s.old) {
    assertNowhere(await rowCounts(img.id), `image ${img.id} deleted long ago is purged with its properties, tags, members and locations`);
    assert.equal((await api(server.url, 'GET', `/v2/images/${img.id}`, { headers: img.headers })).status, 404);
  }
  for (const img of s.recent) {
    const row = await server.service.db.selectFrom('images').select(['deleted', 'status']).where('id', '=', img.id).executeTakeFirst();
    assert.ok(row, `recently deleted image ${img.id} is kept`);
    assert.equal(Number(row.deleted), 1);
    assert.equal(row.status, 'deleted');
    const counts = await rowCounts(img.id);
    assert.ok(counts.image_properties! > 0 && counts.image_tags! > 0 && counts.image_members! > 0, `its rows are kept: ${JSON.stringify(counts)}`);
  }
  for (const img of s.live) await assertLive(img);
}

describe('ImageRepository.purgeDeleted', () => {
  test('purges images deleted before the cutoff, in batches smaller than their number; keeps recent deletions and live images', async () => {
    const s = await scenario(5);
    const purged = await new SqlImageRepository(server.service.db).purgeDeleted(Date.now() - 30 * DAY, 2);
    assert.equal(purged, 5);
    await assertPurged(s);
    // Nothing left to do: a second run purges nothing.
    assert.equal(await new SqlImageRepository(server.service.db).purgeDeleted(Date.now() - 30 * DAY, 2), 0);
  });

  test('a batch equal to the number of old images purges them all', async () => {
    const s = await scenario(2);
    assert.equal(await new SqlImageRepository(server.service.db).purgeDeleted(Date.now() - 30 * DAY, 2), 2);
    await assertPurged(s);
  });
});

describe('ocellus manage db purge', () => {
  test('--age-in-days 30 --max-rows 2 purges every image deleted more than 30 days ago, and only those', async () => {
    const s = await scenario(5);
    const r = await manageCli(['--config', config, 'db', 'purge', '--age-in-days', '30', '--max-rows', '2']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /purged 5 image\(s\) deleted more than 30 day\(s\) ago/);
    await assertPurged(s);
    // The server keeps working on the database the CLI changed.
    const fresh = await makeImage();
    await assertLive(fresh);
  });

  test("Glance's spellings: db_purge --age_in_days N --max_rows M", async () => {
    const s = await scenario(3);
    const r = await manageCli(['--config', config, 'db_purge', '--age_in_days', '35', '--max_rows', '1']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /purged 3 image\(s\)/);
    await assertPurged(s);
  });

  test('invalid arguments: exit 2 with a message, nothing purged', async () => {
    const s = await scenario(1);
    const cases = [['--age-in-days', 'abc'], ['--age-in-days=-1'], ['--age-in-days', '1.5'], ['--max-rows', '0'], ['--max-rows', 'many']];
    const runs = await Promise.all(cases.map((args) => manageCli(['--config', config, 'db', 'purge', ...args])));
    for (const [i, args] of cases.entries()) {
      const r = runs[i]!;
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stdout} ${r.stderr}`);
      const flag = args[0]!.replace(/=.*/, '');
      assert.match(r.stderr, new RegExp(`${flag} must be an integer`), args.join(' '));
      assert.doesNotMatch(r.stdout, /purged/);
    }
    assertEverywhere(await rowCounts(s.old[0]!.id), 'nothing was purged');
    // Clean up for the other tests' counts.
    assert.equal(await new SqlImageRepository(server.service.db).purgeDeleted(Date.now() - 30 * DAY, 10), 1);
  });
});
