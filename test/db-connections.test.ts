import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { api, createImage, member, startServer, type TestServer } from './support/harness.js';
import { runsOn, MYSQL_ADMIN_URL, PG_ADMIN_URL, testDbKind } from './support/test-database.js';

runsOn('sqlite', 'postgresql', 'mariadb');

/**
 * The database server drops the service's connections (a restart, a failover, an operator's
 * pg_terminate_backend / KILL, an idle timeout): the service must not crash, and serves again
 * on fresh connections. Only for the server databases (SQLite has no connections to lose).
 */

const kind = testDbKind();
const h = member('conn-project');

/** Kills every connection to the server's database but the admin's own; returns how many. */
async function killConnections(server: TestServer): Promise<number> {
  const name = new URL(server.dbUrl.replace(/^[a-z0-9+]+:/i, 'http:')).pathname.slice(1);
  if (kind === 'postgresql') {
    const c = new pg.Client({ connectionString: PG_ADMIN_URL });
    await c.connect();
    try {
      const r = await c.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
      return r.rowCount ?? 0;
    } finally {
      await c.end();
    }
  }
  const c = await mysql.createConnection(MYSQL_ADMIN_URL);
  try {
    const [rows] = await c.query('select id from information_schema.processlist where db = ? and id <> connection_id()', [name]);
    for (const { id } of rows as { id: number }[]) await c.query(`kill ${Number(id)}`);
    return (rows as unknown[]).length;
  } finally {
    await c.end();
  }
}

describe('the database drops the connections of a running service', { skip: kind === 'sqlite' ? 'SQLite has no connections to lose' : false }, () => {
  let server: TestServer;
  const crashes: unknown[] = [];
  const onCrash = (err: unknown) => crashes.push(err);
  before(async () => {
    server = await startServer();
    // An error event nobody handles would end a real server process: here it is caught and counted.
    process.on('uncaughtException', onCrash);
  });
  after(async () => {
    process.off('uncaughtException', onCrash);
    await server?.close();
  });

  test('idle pooled connections killed: no crash, the next requests work on new connections', async () => {
    for (let round = 0; round < 3; round++) {
      // Several requests at once, so the pool holds several connections.
      const ids = await Promise.all([0, 1, 2, 3].map((i) => createImage(server.url, h, { name: `r${round}-${i}` })));
      const killed = await killConnections(server);
      assert.ok(killed > 0, 'the service had connections to kill');
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(crashes.map(String), [], 'no unhandled error');

      // Right after: at most the requests that raced the kill may fail; soon everything works again.
      let ok = false;
      for (let attempt = 0; attempt < 20 && !ok; attempt++) {
        const rs = await Promise.all(ids.map((id) => api(server.url, 'GET', `/v2/images/${id}`, { headers: h })));
        ok = rs.every((r) => r.status === 200);
        if (!ok) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(ok, 'the images are served again');
      const health = await api(server.url, 'GET', '/healthcheck');
      assert.equal(health.status, 200, health.text);
      assert.deepEqual(crashes.map(String), [], 'no unhandled error');
    }
  });
});
