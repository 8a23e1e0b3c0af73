import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, sql, type Generated } from 'kysely';
import { CachingSqliteConnection, CachingSqliteDialect, StatementCache } from '../src/db/sqlite-driver.js';
import { testDbKind } from './support/test-database.js';

/**
 * The SQLite driver keeps prepared statements by SQL text (bounded, least recently used out) and
 * otherwise behaves as Kysely's own: readers return rows, writers the affected rows and insert id,
 * transactions begin immediate, and a failed statement leaves the connection usable.
 */

interface Tables {
  item: { id: Generated<number>; name: string; n: number };
}

describe('the caching SQLite driver', { skip: testDbKind() === 'sqlite' ? false : 'SQLite only' }, () => {
  let dir: string;
  let file: string;
  let raw: SQLite.Database;
  let prepared: string[];
  let db: Kysely<Tables>;

  function open(statementCacheSize?: number): void {
    raw = new SQLite(file);
    raw.pragma('journal_mode = WAL');
    raw.pragma('busy_timeout = 0');
    const prepare = raw.prepare.bind(raw);
    prepared = [];
    raw.prepare = ((text: string) => {
      prepared.push(text);
      return prepare(text);
    }) as typeof raw.prepare;
    db = new Kysely<Tables>({ dialect: new CachingSqliteDialect({ database: raw, statementCacheSize }) });
  }

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocellus-sqlite-driver-'));
    file = path.join(dir, 'test.db');
    open();
    await db.schema.createTable('item').addColumn('id', 'integer', (c) => c.primaryKey()).addColumn('name', 'text', (c) => c.notNull().unique()).addColumn('n', 'integer', (c) => c.notNull()).execute();
  });

  afterEach(async () => {
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const byName = (name: string) => db.selectFrom('item').selectAll().where('name', '=', name);
  const insert = (name: string, n = 0) => db.insertInto('item').values({ name, n });

  test('a query run again reuses its prepared statement, with the new parameters', async () => {
    await insert('a', 1).execute();
    await insert('b', 2).execute();
    const before = prepared.length;
    assert.deepEqual(await byName('a').execute(), [{ id: 1, name: 'a', n: 1 }]);
    assert.deepEqual(await byName('b').execute(), [{ id: 2, name: 'b', n: 2 }]);
    assert.deepEqual(await byName('zz').execute(), []);
    assert.equal(prepared.length - before, 1, 'one prepare for three runs of the same SQL');
  });

  test('writers answer the affected rows and the insert id; a writer with RETURNING answers rows', async () => {
    const first = await insert('a').executeTakeFirstOrThrow();
    assert.equal(first.insertId, 1n);
    assert.equal(first.numInsertedOrUpdatedRows, 1n);
    const second = await insert('b').executeTakeFirstOrThrow();
    assert.equal(second.insertId, 2n);
    const updated = await db.updateTable('item').set({ n: 5 }).where('n', '=', 0).executeTakeFirstOrThrow();
    assert.equal(updated.numUpdatedRows, 2n);
    const none = await db.updateTable('item').set({ n: 6 }).where('name', '=', 'nobody').executeTakeFirstOrThrow();
    assert.equal(none.numUpdatedRows, 0n);
    const deleted = await db.deleteFrom('item').where('name', '=', 'a').executeTakeFirstOrThrow();
    assert.equal(deleted.numDeletedRows, 1n);
    assert.deepEqual(await insert('c', 7).returning(['id', 'n']).execute(), [{ id: 3, n: 7 }]);
    assert.deepEqual(await insert('d', 8).returning(['id', 'n']).execute(), [{ id: 4, n: 8 }]);
  });

  test('the least recently used statement is dropped when the cache is full', async () => {
    await db.destroy();
    open(2);
    const a = () => db.selectFrom('item').select('id').execute();
    const b = () => db.selectFrom('item').select('name').execute();
    const c = () => db.selectFrom('item').select('n').execute();
    await a();
    await b();
    await a(); // hit: a is now the most recent, b the least
    await c(); // evicts b
    await a(); // hit
    await b(); // prepared again (evicts c)
    await a(); // hit
    assert.deepEqual(prepared, ['select "id" from "item"', 'select "name" from "item"', 'select "n" from "item"', 'select "name" from "item"']);
  });

  test('StatementCache counts hits and misses and never holds more than its capacity', () => {
    const cache = new StatementCache(raw, 3);
    for (let i = 0; i < 10; i++) cache.statement(`select ${i}`);
    assert.equal(cache.size, 3);
    assert.deepEqual([7, 8, 9].map((i) => cache.has(`select ${i}`)), [true, true, true]);
    cache.statement('select 7');
    cache.statement('select 10');
    assert.equal(cache.has('select 7'), true);
    assert.equal(cache.has('select 8'), false);
    assert.deepEqual({ hits: cache.hits, misses: cache.misses }, { hits: 1, misses: 11 });
    assert.throws(() => new StatementCache(raw, 0), RangeError);
  });

  test('a transaction takes the write lock when it begins, and commits or rolls back', async () => {
    const other = new SQLite(file);
    other.pragma('busy_timeout = 0');
    try {
      await db.transaction().execute(async (trx) => {
        await trx.selectFrom('item').selectAll().execute(); // reads only, so far
        assert.throws(() => other.exec('begin immediate'), /database is locked/);
        await trx.insertInto('item').values({ name: 'kept', n: 1 }).execute();
      });
      await assert.rejects(
        db.transaction().execute(async (trx) => {
          await trx.insertInto('item').values({ name: 'dropped', n: 1 }).execute();
          throw new Error('changed my mind');
        }),
        /changed my mind/,
      );
      assert.deepEqual((await db.selectFrom('item').select('name').execute()).map((r) => r.name), ['kept']);
      // The lock is released: the other connection can write now.
      other.exec('begin immediate; insert into item (name, n) values (\'other\', 2); commit');
      assert.equal((await db.selectFrom('item').select('name').execute()).length, 2);
    } finally {
      other.close();
    }
  });

  test('a failed statement leaves the connection and its cached statement usable', async () => {
    await insert('a').execute();
    await assert.rejects(insert('a').execute(), (err: { code?: string }) => err.code === 'SQLITE_CONSTRAINT_UNIQUE');
    await insert('b').execute(); // the same SQL, from the cache
    await assert.rejects(sql`selec nonsense`.execute(db), /syntax error/);
    await assert.rejects(sql`selec nonsense`.execute(db), /syntax error/);
    assert.equal(prepared.filter((s) => s === 'selec nonsense').length, 2, 'a statement that does not prepare is not cached');
    await assert.rejects(
      db.transaction().execute(async (trx) => {
        await trx.insertInto('item').values({ name: 'c', n: 0 }).execute();
        await trx.insertInto('item').values({ name: 'a', n: 0 }).execute();
      }),
      (err: { code?: string }) => err.code === 'SQLITE_CONSTRAINT_UNIQUE',
    );
    assert.deepEqual((await db.selectFrom('item').select('name').orderBy('name').execute()).map((r) => r.name), ['a', 'b']);
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('item').values({ name: 'c', n: 0 }).execute();
    });
    assert.equal((await db.selectFrom('item').select('id').execute()).length, 3);
  });

  test('streams select rows one by one; the same query may run on the connection while its stream is open', async () => {
    for (const name of ['a', 'b', 'c']) await insert(name).execute();
    // Kysely itself waits for a stream to end before it runs the next query on a connection;
    // the connection does not rely on that.
    const connection = new CachingSqliteConnection(raw);
    const query = db.selectFrom('item').selectAll().where('n', '=', 0).orderBy('id').compile();
    const names: string[] = [];
    for await (const { rows } of connection.streamQuery<{ name: string }>(query)) {
      assert.equal(rows.length, 1);
      names.push(rows[0]!.name);
      assert.equal((await connection.executeQuery(query)).rows.length, 3);
    }
    assert.deepEqual(names, ['a', 'b', 'c']);
    assert.equal(connection.cache.size, 1);
    // A stream left early frees its statement for the next run.
    for await (const row of db.selectFrom('item').selectAll().where('n', '=', 0).orderBy('id').stream()) {
      assert.equal(row.name, 'a');
      break;
    }
    assert.equal((await db.selectFrom('item').selectAll().where('n', '=', 0).orderBy('id').execute()).length, 3);
    await assert.rejects(async () => {
      for await (const _ of connection.streamQuery(db.deleteFrom('item').compile())) break;
    }, /only supports streaming of select queries/);
  });
});
