/**
 * Two scrubbers at once on one PostgreSQL (or MariaDB) database (as on two nodes): each image is claimed by
 * one of them with its scrub lease, so no location's data is removed twice; a restore racing a
 * scrubber either wins (the data stays) or loses (the data goes). (On SQLite two
 * scrubbers in one process would only wait on each other's write lock; it is the server
 * databases, with real concurrent transactions, that this proves.)
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { admin, api, startServer, type TestServer } from './support/harness.js';
import { activeImage, imageFile, openScrubber, statusInDb } from './support/scrubbing.js';
import { NotFound } from '../src/domain/errors.js';
import { runsOn } from './support/test-database.js';

runsOn('postgresql', 'mariadb');

const ADMIN = admin();

describe('two scrubbers on one database', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer([{ section: 'DEFAULT', name: 'delayed_delete', value: 'true' }]);
  });
  after(async () => {
    await server.close();
  });

  test('two scrubbers at once never both remove one location; every image is scrubbed once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 16; i++) {
      const { id } = await activeImage(server, 1024 + i);
      assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: ADMIN })).status, 204);
      ids.push(id);
    }
    const deletes = new Map<string, number>();
    const a = await openScrubber(server, { poolSize: 4, deletes });
    const b = await openScrubber(server, { poolSize: 4, deletes });
    try {
      const [ra, rb] = await Promise.all([a.scrubber.run(), b.scrubber.run()]);
      assert.deepEqual([...ra.failures, ...rb.failures], []);
      const scrubbed = [...ra.scrubbed, ...rb.scrubbed].filter((id) => ids.includes(id)).sort();
      assert.deepEqual(scrubbed, [...ids].sort(), 'each image scrubbed by exactly one of them');
      for (const id of ids) {
        const url = [...deletes.keys()].find((u) => u.endsWith(`/${id}`));
        assert.ok(url, `the data of ${id} was removed`);
        assert.equal(deletes.get(url), 1, `${url} removed once`);
        assert.ok(!fs.existsSync(imageFile(server, id)));
        assert.equal((await statusInDb(a.db, id)).status, 'deleted');
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('restore racing a scrubber: the status compare-and-set picks one, and the data matches the outcome', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const { id } = await activeImage(server, 2048 + i);
      assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: ADMIN })).status, 204);
      ids.push(id);
    }
    const scrubbing = await openScrubber(server, { poolSize: 3 });
    const restoring = await openScrubber(server);
    try {
      // The scrubber takes the oldest first; the restores go newest first, one every few ms, so
      // that they meet somewhere in the middle.
      const restoreAll = async () => {
        const outcomes = new Map<string, 'restored' | 'refused'>();
        for (const id of [...ids].reverse()) {
          await restoring.scrubber.restore(id).then(
            () => outcomes.set(id, 'restored'),
            (err: unknown) => (err instanceof NotFound ? outcomes.set(id, 'refused') : Promise.reject(err)),
          );
          await sleep(5);
        }
        return ids.map((id) => outcomes.get(id)!);
      };
      const [report, restores] = await Promise.all([scrubbing.scrubber.run(), restoreAll()]);
      assert.deepEqual(report.failures, []);
      for (const [i, id] of ids.entries()) {
        const row = await statusInDb(scrubbing.db, id);
        if (restores[i] === 'restored') {
          assert.ok(!report.scrubbed.includes(id), `${id} restored and scrubbed`);
          assert.deepEqual(row, { status: 'active', deleted: 0, locations: ['active'] });
          assert.ok(fs.existsSync(imageFile(server, id)));
        } else {
          assert.ok(report.scrubbed.includes(id), `${id} neither restored nor scrubbed`);
          assert.deepEqual(row, { status: 'deleted', deleted: 1, locations: ['deleted'] });
          assert.ok(!fs.existsSync(imageFile(server, id)));
        }
      }
    } finally {
      await scrubbing.close();
      await restoring.close();
    }
  });
});
