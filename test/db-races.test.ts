import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { api, createImage, member, patchImage, startSecondServer, startServer, upload, type JsonResponse, type TestServer } from './support/harness.js';
import { digests, download, explain, filesIn, partialDir, random, startUpload, waitFor, type UploadOutcome } from './support/streaming.js';
import { spawnServer, type ChildServer } from './support/child-server.js';
import { writeDbConfig } from './support/db-tools.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite', 'postgresql', 'mariadb');

/**
 * Races the database must decide: two uploads to one image, and two Ocellus services sharing one
 * database and one store directory (two nodes behind a load balancer). Runs on SQLite, PostgreSQL
 * and MariaDB (scripts/run-tests.mjs runs db-* files on each).
 */

// Both services live in this process (same host and pid): with the default heartbeat each would
// take the other's running uploads for dead ones of an earlier life of this pid (see
// startSecondServer). A long interval keeps their recovery sweeps out of these races.
const SLOW_SWEEP = [{ section: 'DEFAULT' as const, name: 'upload_heartbeat_interval', value: '600' }];

let one: TestServer;
let two: TestServer;
before(async () => {
  one = await startServer(SLOW_SWEEP);
  two = await startSecondServer(one, SLOW_SWEEP);
});
after(async () => {
  await two?.close();
  await one?.close();
});

const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;

const who = () => member(`p-${randomUUID().slice(0, 8)}`);

async function show(base: string, id: string, headers: Record<string, string>) {
  const r = await api(base, 'GET', `/v2/images/${id}`, { headers });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

const ok = (r: JsonResponse, allowed: number[], what: string) => assert.ok(allowed.includes(r.status), `${what}: ${r.status} ${r.text}`);


/**
 * Sends `data` as the body of `up`, chunk by chunk, until it is all sent or the server answered
 * (a loser is answered 409 before its body is read, and the connection is closed).
 */
async function feed(up: ReturnType<typeof startUpload>, data: Buffer): Promise<void> {
  let answered = false;
  void up.outcome.then(() => (answered = true));
  for (let off = 0; off < data.length && !answered; off += CHUNK) {
    const wrote = await Promise.race([up.write(data.subarray(off, off + CHUNK)).then(() => true, () => false), up.outcome.then(() => false)]);
    if (!wrote) return;
  }
  if (!answered) up.end();
}

/**
 * Two uploads of different bytes to image `id`, through `baseA` and `baseB`, whose requests go out
 * at the same moment and whose bodies then stream side by side. Returns the two outcomes.
 */
async function raceUploads(id: string, a: { base: string; data: Buffer }, b: { base: string; data: Buffer }, headers: Record<string, string>) {
  // Keep-alive, as glanceclient (requests) asks: the server then reads and drops the rest of a
  // refused body instead of closing the connection under a client still sending (which may lose
  // the answer to a broken pipe). Requests with `Connection: close` are not what this tests.
  const opts = (data: Buffer) => ({ contentLength: data.length, headers: { ...headers, connection: 'keep-alive' } });
  const upA = startUpload(a.base, id, opts(a.data));
  const upB = startUpload(b.base, id, opts(b.data));
  await Promise.all([feed(upA, a.data), feed(upB, b.data)]);
  const outcomes = await Promise.all([upA.outcome, upB.outcome]);
  upA.destroy();
  upB.destroy();
  return outcomes;
}

/** Exactly one 204 and one 409; the image (seen through every server) holds the winner's bytes. */
async function assertOneWinner(id: string, outcomes: UploadOutcome[], datas: Buffer[], headers: Record<string, string>, servers: TestServer[]) {
  const statuses = outcomes.map((o) => o.status);
  assert.deepEqual([...statuses].sort(), [204, 409], `one upload wins, the other is refused: ${outcomes.map(explain).join(' | ')}`);
  const winner = datas[statuses.indexOf(204)]!;
  const { md5, multihash } = digests(winner);
  for (const s of servers) {
    const image = await show(s.url, id, headers);
    assert.equal(image.status, 'active');
    assert.equal(image.size, winner.length, "the winner's size");
    assert.equal(image.checksum, md5, "the winner's checksum");
    assert.equal(image.os_hash_value, multihash, "the winner's multihash");
    const d = await download(s.url, id, headers);
    assert.equal(d.status, 200);
    assert.ok(d.data.equals(winner), "the download is the winner's bytes");
  }
  // The loser left nothing behind: no partial file, one committed file with the winner's bytes.
  await waitFor('the partial files to go', () => (filesIn(partialDir(servers[0]!.dataDir)).some((f) => f.startsWith(`${id}.`)) ? undefined : true));
  assert.ok(fs.readFileSync(path.join(servers[0]!.dataDir, 'images', id)).equals(winner));
}

describe('two uploads to one image at the same moment', () => {
  for (let round = 1; round <= 4; round++) {
    test(`round ${round}: exactly one wins (204), the other gets 409; the image holds the winner's bytes`, async () => {
      const h = who();
      const id = await createImage(one.url, h);
      // Different sizes too, so size alone tells which bytes were kept.
      const a = random(3 * MiB);
      const b = random(3 * MiB + 4099);
      const outcomes = await raceUploads(id, { base: one.url, data: a }, { base: one.url, data: b }, h);
      await assertOneWinner(id, outcomes, [a, b], h, [one]);
    });
  }
});

describe('two services on one database and one store', () => {
  test('an image created on one is visible, updatable and downloadable on the other', async () => {
    const h = who();
    const id = await createImage(one.url, h, { name: 'from-one', tags: ['t1'], color: 'blue' });
    const seen = await show(two.url, id, h);
    assert.equal(seen.name, 'from-one');
    assert.deepEqual(seen.tags, ['t1']);
    assert.equal(seen.color, 'blue');
    const listed = await api(two.url, 'GET', '/v2/images', { headers: h });
    assert.deepEqual(listed.body.images.map((i: { id: string }) => i.id), [id]);

    const p = await patchImage(two.url, id, h, [{ op: 'replace', path: '/name', value: 'renamed-on-two' }, { op: 'add', path: '/flavour', value: 'mint' }]);
    assert.equal(p.status, 200, p.text);
    const back = await show(one.url, id, h);
    assert.equal(back.name, 'renamed-on-two');
    assert.equal(back.flavour, 'mint');
    assert.equal(back.color, 'blue');

    const data = random(MiB + 123);
    assert.equal((await upload(one.url, id, data, h)).status, 204);
    const d = await download(two.url, id, h);
    assert.equal(d.status, 200);
    assert.ok(d.data.equals(data));
    assert.equal((await show(two.url, id, h)).checksum, digests(data).md5);

    // And the other way round: uploaded through two, read through one.
    const id2 = await createImage(two.url, h);
    const data2 = random(200_000);
    assert.equal((await upload(two.url, id2, data2, h)).status, 204);
    assert.ok((await download(one.url, id2, h)).data.equals(data2));

    // Deleted through one: gone on two, data gone from the shared store.
    assert.equal((await api(one.url, 'DELETE', `/v2/images/${id2}`, { headers: h })).status, 204);
    assert.equal((await api(two.url, 'GET', `/v2/images/${id2}`, { headers: h })).status, 404);
    assert.equal(fs.existsSync(path.join(one.dataDir, 'images', id2)), false);
  });

  for (let round = 1; round <= 3; round++) {
    test(`round ${round}: concurrent uploads to one image through the two services → one 204, one 409`, async () => {
      const h = who();
      const id = await createImage(one.url, h);
      const a = random(3 * MiB);
      const b = random(3 * MiB + 8191);
      const outcomes = await raceUploads(id, { base: one.url, data: a }, { base: two.url, data: b }, h);
      await assertOneWinner(id, outcomes, [a, b], h, [one, two]);
    });
  }

  /**
   * The image as each server and the database see it must be one state a serial order of the
   * acknowledged requests could have produced: the same through both servers; deleted means gone
   * everywhere (404, row marked deleted, location deleted, no data file); otherwise active or
   * deactivated with its one data file intact.
   */
  async function assertConsistent(id: string, h: Record<string, string>, data: Buffer) {
    const [r1, r2] = await Promise.all([api(one.url, 'GET', `/v2/images/${id}`, { headers: h }), api(two.url, 'GET', `/v2/images/${id}`, { headers: h })]);
    assert.equal(r1.status, r2.status, 'both services agree whether the image exists');
    const row = await one.service.db.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const locations = await one.service.db.selectFrom('image_locations').selectAll().where('image_id', '=', id).execute();
    const file = path.join(one.dataDir, 'images', id);
    if (r1.status === 404) {
      assert.equal(Number(row.deleted), 1);
      assert.equal(row.status, 'deleted');
      assert.notEqual(row.deleted_at, null);
      assert.ok(locations.every((l) => l.status === 'deleted'), 'the locations of a deleted image are deleted');
      assert.equal(fs.existsSync(file), false, 'no data file for a deleted image');
      return null;
    }
    assert.equal(r1.status, 200, r1.text);
    assert.deepEqual(r1.body, r2.body, 'both services show the same image');
    assert.equal(Number(row.deleted), 0);
    assert.equal(row.deleted_at, null);
    assert.ok(['active', 'deactivated'].includes(r1.body.status), `status ${r1.body.status}`);
    assert.equal(r1.body.size, data.length);
    assert.equal(r1.body.checksum, digests(data).md5);
    assert.equal(locations.filter((l) => l.status === 'active').length, 1, 'one active location');
    assert.ok(fs.readFileSync(file).equals(data), 'the data file is intact');
    return r1.body;
  }

  for (let round = 1; round <= 5; round++) {
    test(`round ${round}: racing deactivate, PATCH and delete from both services leaves a consistent image`, async () => {
      const h = who();
      const id = await createImage(one.url, h, { name: 'racer' });
      const data = random(100_000 + round);
      assert.equal((await upload(one.url, id, data, h)).status, 204);

      const [deact, patch1, patch2, del1, del2] = await Promise.all([
        api(two.url, 'POST', `/v2/images/${id}/actions/deactivate`, { headers: h }),
        patchImage(one.url, id, h, [{ op: 'add', path: '/from_one', value: 'x' }]),
        patchImage(two.url, id, h, [{ op: 'replace', path: '/name', value: 'renamed' }]),
        round % 2 === 1 ? api(one.url, 'DELETE', `/v2/images/${id}`, { headers: h }) : Promise.resolve(undefined),
        round % 2 === 1 ? api(two.url, 'DELETE', `/v2/images/${id}`, { headers: h }) : Promise.resolve(undefined),
      ]);
      // Losers are told: 404 (gone meanwhile) or 409 (changed meanwhile); never a 500.
      ok(deact, [204, 404, 409], 'deactivate');
      ok(patch1, [200, 404, 409], 'PATCH on one');
      ok(patch2, [200, 404, 409], 'PATCH on two');
      if (del1 && del2) {
        ok(del1, [204, 404], 'DELETE on one');
        ok(del2, [204, 404], 'DELETE on two');
        assert.deepEqual([del1.status, del2.status].sort(), [204, 404], 'exactly one delete wins');
      }

      const image = await assertConsistent(id, h, data);
      if (del1 && del2) {
        assert.equal(image, null, 'an acknowledged delete is final');
        return;
      }
      assert.ok(image);
      // Every acknowledged change is there: nothing after it could have undone it.
      if (deact.status === 204) assert.equal(image.status, 'deactivated');
      if (patch1.status === 200) assert.equal(image.from_one, 'x', `PATCH on one was acknowledged but lost: ${JSON.stringify(image)}`);
      if (patch2.status === 200) assert.equal(image.name, 'renamed', `PATCH on two was acknowledged but lost: ${JSON.stringify(image)}`);
      if (deact.status !== 204) assert.equal(image.status, 'active');
    });
  }

  test('closing a second service leaves the shared database and store to the others', async () => {
    const h = who();
    const third = await startSecondServer(one, SLOW_SWEEP);
    const id = await createImage(third.url, h);
    const data = random(4096);
    assert.equal((await upload(third.url, id, data, h)).status, 204);
    await third.close();
    assert.ok((await download(one.url, id, h)).data.equals(data));
    assert.equal((await show(two.url, id, h)).status, 'active');
  });

  test('concurrent PATCHes of different properties through both services: no acknowledged change is lost', async () => {
    const h = who();
    const id = await createImage(one.url, h);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => patchImage(i % 2 === 0 ? one.url : two.url, id, h, [{ op: 'add', path: `/prop_${i}`, value: `v${i}` }])),
    );
    for (const r of results) ok(r, [200, 409], 'PATCH');
    const image = await show(two.url, id, h);
    results.forEach((r, i) => {
      if (r.status === 200) assert.equal(image[`prop_${i}`], `v${i}`, `prop_${i} was acknowledged (200) but is missing: ${JSON.stringify(image)}`);
      else assert.equal(image[`prop_${i}`], undefined);
    });
    assert.ok(results.some((r) => r.status === 200), 'at least one PATCH goes through');
  });

  test('concurrent tag additions through both services: no acknowledged tag is lost', async () => {
    const h = who();
    const id = await createImage(one.url, h);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => api(i % 2 === 0 ? two.url : one.url, 'PUT', `/v2/images/${id}/tags/tag-${i}`, { headers: h })),
    );
    for (const r of results) ok(r, [204, 409], 'PUT tag');
    const image = await show(one.url, id, h);
    const expected = results.flatMap((r, i) => (r.status === 204 ? [`tag-${i}`] : []));
    assert.deepEqual([...image.tags].sort(), expected.sort(), 'exactly the acknowledged tags');
    assert.ok(expected.length > 0);
  });

  test('racing deactivate and reactivate from both services: both services agree, the data stays', async () => {
    const h = who();
    const id = await createImage(one.url, h);
    const data = random(50_000);
    assert.equal((await upload(two.url, id, data, h)).status, 204);
    for (let i = 0; i < 4; i++) {
      const rs = await Promise.all([
        api(one.url, 'POST', `/v2/images/${id}/actions/deactivate`, { headers: h }),
        api(two.url, 'POST', `/v2/images/${id}/actions/reactivate`, { headers: h }),
        api(two.url, 'POST', `/v2/images/${id}/actions/deactivate`, { headers: h }),
        api(one.url, 'POST', `/v2/images/${id}/actions/reactivate`, { headers: h }),
      ]);
      for (const r of rs) ok(r, [204, 409], 'deactivate/reactivate');
      await assertConsistent(id, h, data);
    }
  });
});

describe('two Ocellus processes on one database and one store', () => {
  // Separate processes, as `serve --workers N` or two nodes run them: on SQLite each has its own
  // connection to the file, and transactions of one wait for those of the other.
  let a: ChildServer;
  let b: ChildServer;
  before(async () => {
    const config = writeDbConfig(one.dataDir, one.dbUrl);
    [a, b] = await Promise.all([spawnServer(one.dataDir, ['--config', config]), spawnServer(one.dataDir, ['--config', config])]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  test('many concurrent creates, PATCHes and deletes through both: never a 5xx, no acknowledged change lost', async () => {
    const h = who();
    const created = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        api(i % 2 ? a.url : b.url, 'POST', '/v2/images', { headers: h, json: { name: `n${i}`, disk_format: 'raw', container_format: 'bare', tags: ['x', 'y'], kind: 'race' } }),
      ),
    );
    for (const r of created) assert.equal(r.status, 201, r.text);
    const ids = created.map((r) => r.body.id as string);

    const patched = await Promise.all(
      ids.flatMap((id, i) => [0, 1].map((k) => patchImage((i + k) % 2 ? a.url : b.url, id, h, [{ op: 'add', path: `/p${k}`, value: `v${k}` }]).then((r) => ({ id, k, r })))),
    );
    for (const { r } of patched) ok(r, [200, 409], 'PATCH');
    for (const id of ids) {
      const image = await show(one.url, id, h);
      for (const { k, r } of patched.filter((p) => p.id === id)) {
        if (r.status === 200) assert.equal(image[`p${k}`], `v${k}`, `acknowledged p${k} is kept: ${JSON.stringify(image)}`);
      }
      assert.equal(image.kind, 'race');
      assert.deepEqual([...image.tags].sort(), ['x', 'y']);
    }

    const deleted = await Promise.all(ids.map((id, i) => api(i % 2 ? b.url : a.url, 'DELETE', `/v2/images/${id}`, { headers: h })));
    for (const r of deleted) assert.equal(r.status, 204, r.text);
    const listed = await api(one.url, 'GET', '/v2/images', { headers: h });
    assert.deepEqual(listed.body.images, []);
    assert.equal(a.stderr().match(/SQLITE_BUSY|database is locked|deadlock/i), null, a.stderr());
    assert.equal(b.stderr().match(/SQLITE_BUSY|database is locked|deadlock/i), null, b.stderr());
  });

  for (let round = 1; round <= 2; round++) {
    test(`round ${round}: concurrent uploads to one image through the two processes → one 204, one 409`, async () => {
      const h = who();
      const id = await createImage(a.url, h);
      const x = random(3 * MiB);
      const y = random(3 * MiB + 555);
      const outcomes = await raceUploads(id, { base: a.url, data: x }, { base: b.url, data: y }, h);
      await assertOneWinner(id, outcomes, [x, y], h, [one, two]);
    });
  }
});

describe('creates racing on one id', () => {
  test('the same id created through both services at once: one 201, the others 409, never a 5xx', async () => {
    for (let round = 0; round < 3; round++) {
      const id = randomUUID();
      const p = `race-${randomUUID().slice(0, 8)}`;
      const results = await Promise.all(
        [one, two, one, two].map((s) => api(s.url, 'POST', '/v2/images', { headers: member(p), json: { id, name: `r${round}` } })),
      );
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [201, 409, 409, 409], results.map((r) => r.text).join('\n'));
      const members = [one, two].map((s) => api(s.url, 'POST', `/v2/images/${id}/members`, { headers: member(p), json: { member: 'other' } }));
      assert.deepEqual((await Promise.all(members)).map((r) => r.status).sort(), [200, 409]);
    }
  });
});
