import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spawnServer, writeChildConfig, type ChildServer } from './support/child-server.js';
import { Source } from './support/data-source.js';
import { freshDatabase } from './support/db-tools.js';
import { api, createImage, member, tempDir } from './support/harness.js';
import { digests, download, filesIn, random, waitFor } from './support/streaming.js';
import { runsOn, testDbKind } from './support/test-database.js';

runsOn('sqlite', 'postgresql');

const P1 = member('p1');
const SOURCE_HOST = '127.0.0.2';
/** writeChildConfig's heartbeat. */
const HEARTBEAT_S = 1;

/** A child server's config (1 s heartbeat, trusted headers), web-download allowed to the test source. */
function childConfig(dir: string, dbUrl: string, defaults = ''): string {
  return writeChildConfig(dir, dbUrl, { defaults, sections: `[import_filtering_opts]\nallowed_networks = ${SOURCE_HOST}/32\nallowed_ports =\n` });
}

async function image(base: string, id: string): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = await api(base, 'GET', `/v2/images/${id}`, { headers: P1 });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

/** Waits until the image's import has ended (no import lock, not importing), then returns it. */
function importEnded(base: string, id: string, timeoutMs = 20_000): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return waitFor(`the import of ${id} to end`, async () => {
    const img = await image(base, id);
    return img.os_glance_import_task === undefined && img.status !== 'importing' && img.status !== 'uploading' ? img : undefined;
  }, timeoutMs, 100);
}

/** No byte of an unfinished write anywhere under the data dir: partial files, staged data of `ids`. */
function assertNothingHalfDone(dataDir: string, ids: string[]): void {
  for (const dir of ['images', 'staging']) {
    assert.deepEqual(filesIn(path.join(dataDir, dir, '.partial')), [], `${dir}/.partial is empty`);
  }
  const staged = filesIn(path.join(dataDir, 'staging')).filter((f) => ids.some((id) => f.startsWith(id)));
  assert.deepEqual(staged, [], 'no staged data left');
}

/** Ends well for the user: active with exactly `data`, or queued and importable again (then imported). */
async function assertUsable(base: string, id: string, data: Buffer, source: Source): Promise<void> {
  let img = await importEnded(base, id);
  if (img.status === 'queued') {
    const r = await api(base, 'POST', `/v2/images/${id}/import`, { headers: P1, json: { method: { name: 'web-download', uri: source.put(data) } } });
    assert.equal(r.status, 202, r.text);
    img = await importEnded(base, id);
  }
  assert.equal(img.status, 'active');
  assert.equal(img.os_hash_value, digests(data).multihash);
  assert.ok((await download(base, id, P1)).data.equals(data));
}

let source: Source;
before(async () => {
  source = await new Source().start(SOURCE_HOST);
});
after(() => source.close());

describe('a server killed (SIGKILL) in the middle of imports', () => {
  const dataDir = tempDir('ocellus-import-crash-');
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let first: ChildServer | undefined;
  let second: ChildServer | undefined;
  before(async () => {
    database = await freshDatabase();
  });
  after(async () => {
    source.open();
    await first?.kill();
    await second?.stop();
    await database.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('a web-download mid-transfer and a glance-direct waiting for its turn: after a restart both end well, nothing half-written is left', async () => {
    // One import at a time: the web-download holds the place while its source hangs, the glance-direct waits.
    const config = childConfig(database.dir, database.url, 'enabled_import_methods = glance-direct, web-download\n\n[wsgi]\ntask_pool_threads = 1\n');
    first = await spawnServer(dataDir, ['--config', config]);
    source.shut();
    const webData = random(3 * 1024 * 1024 + 11);
    const web = await createImage(first.url, P1);
    let r = await api(first.url, 'POST', `/v2/images/${web}/import`, { headers: P1, json: { method: { name: 'web-download', uri: source.put(webData, 'gated') } } });
    assert.equal(r.status, 202, r.text);

    const directData = random(2 * 1024 * 1024 + 5);
    const direct = await createImage(first.url, P1);
    r = await api(first.url, 'PUT', `/v2/images/${direct}/stage`, { headers: P1, body: directData, contentType: 'application/octet-stream' });
    assert.equal(r.status, 204, r.text);
    r = await api(first.url, 'POST', `/v2/images/${direct}/import`, { headers: P1, json: { method: { name: 'glance-direct' } } });
    assert.equal(r.status, 202, r.text);
    assert.equal((await image(first.url, web)).status, 'importing');
    assert.equal((await image(first.url, direct)).status, 'importing');
    await first.kill();
    first = undefined;

    source.open();
    second = await spawnServer(dataDir, ['--config', config]);
    await assertUsable(second.url, web, webData, source);
    await assertUsable(second.url, direct, directData, source);
    assertNothingHalfDone(dataDir, [web, direct]);
    for (const id of [web, direct]) {
      const tasks = (await api(second.url, 'GET', `/v2/images/${id}/tasks`, { headers: P1 })).body.tasks as { status: string }[];
      assert.ok(tasks.every((t) => t.status === 'success' || t.status === 'failure'), `no task of ${id} is left running: ${JSON.stringify(tasks)}`);
    }
  });
});

describe('two servers on one database: one is killed while it imports', { skip: testDbKind() === 'postgresql' ? undefined : 'runs in the PostgreSQL pass (two processes on one PostgreSQL database)' }, () => {
  const dataDir = tempDir('ocellus-import-pair-');
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let a: ChildServer | undefined;
  let b: ChildServer | undefined;
  before(async () => {
    database = await freshDatabase();
  });
  after(async () => {
    source.open();
    await a?.kill();
    await b?.stop();
    await database.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('the other one takes the import over within one lease period and finishes it', async () => {
    const config = childConfig(database.dir, database.url);
    a = await spawnServer(dataDir, ['--config', config]);
    b = await spawnServer(dataDir, ['--config', config]);
    source.shut();
    const data = random(1024 * 1024 + 3);
    const id = await createImage(a.url, P1);
    const r = await api(a.url, 'POST', `/v2/images/${id}/import`, { headers: P1, json: { method: { name: 'web-download', uri: source.put(data, 'gated') } } });
    assert.equal(r.status, 202, r.text);
    assert.equal((await image(b.url, id)).status, 'importing');
    await a.kill();
    a = undefined;
    const killedAt = Date.now();
    source.open();
    const done = await importEnded(b.url, id, 30_000);
    const took = Date.now() - killedAt;
    assert.equal(done.status, 'active');
    assert.equal(done.os_hash_value, digests(data).multihash);
    // The lease lives 3 heartbeats; B's sweep runs every heartbeat; then the 1 MiB import itself.
    assert.ok(took < (3 + 1 + 4) * HEARTBEAT_S * 1000, `taken over and finished ${took} ms after the kill`);
    assertNothingHalfDone(dataDir, [id]);
  });
});

