import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import { loadConfig, type LoadOptions } from '../src/config/options.js';
import { openDatabase, parseConnectionUrl } from '../src/db/connect.js';
import { migrateToLatest, schemaStatus } from '../src/db/migrate.js';
import { createService, openConfiguredDatabase } from '../src/service.js';
import { tempDir } from './support/harness.js';
import { freshDatabase, manageCli, writeDbConfig } from './support/db-tools.js';
import { runsOn, testDbKind } from './support/test-database.js';

runsOn('sqlite', 'postgresql', 'mariadb');

/**
 * The schema life cycle on each database (OCELLUS_TEST_DB): a server database is never migrated
 * behind the operator's back, `ocellus manage db sync|version|check` drive it, a newer schema
 * stops an older Ocellus, concurrent migrations do not race, and credentials never show.
 */

const kind = testDbKind();

/** The newest migration this build knows, and all of them. */
let LATEST: string;
let KNOWN: string[];
before(async () => {
  const mem = openDatabase('sqlite:///:memory:');
  try {
    const status = await schemaStatus(mem);
    LATEST = status.latest;
    KNOWN = status.pending;
  } finally {
    await mem.destroy();
  }
  assert.match(LATEST, /^\d{4}-[a-z0-9-]+$/);
});

const configFor = (url: string, dataDir: string, more: NonNullable<LoadOptions['overrides']> = []) =>
  loadConfig({
    dataDir,
    overrides: [
      { section: 'DEFAULT', name: 'log_level', value: 'silent' },
      { section: 'database', name: 'connection', value: url },
      { section: 'database', name: 'pool_timeout', value: '5' },
      { section: 'paste_deploy', name: 'flavor', value: 'noauth' },
      ...more,
    ],
    warn: () => undefined,
  });

const NO_AUTO_SYNC = [{ section: 'database' as const, name: 'auto_sync', value: 'false' }];

/** createService must fail; returns its message. */
async function refusesToStart(url: string, dataDir: string, more: NonNullable<LoadOptions['overrides']> = []): Promise<string> {
  let service;
  try {
    service = await createService(configFor(url, dataDir, more));
  } catch (err) {
    return (err as Error).message;
  }
  await service.close();
  assert.fail('the service started');
}

async function startsAndAnswers(url: string, dataDir: string, more: NonNullable<LoadOptions['overrides']> = []): Promise<void> {
  const service = await createService(configFor(url, dataDir, more));
  try {
    const res = await service.app.inject({ method: 'GET', url: '/healthcheck' });
    assert.equal(res.statusCode, 200, res.body);
    const list = await service.app.inject({ method: 'GET', url: '/v2/images', headers: { 'x-project-id': 'p', 'x-roles': 'member,reader' } });
    assert.equal(list.statusCode, 200, list.body);
  } finally {
    await service.close();
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const untyped = (db: unknown) => db as Kysely<any>;

describe(`schema life cycle on ${kind}`, () => {
  let fresh: Awaited<ReturnType<typeof freshDatabase>>;
  let config: string;
  before(async () => {
    fresh = await freshDatabase();
    config = writeDbConfig(fresh.dir, fresh.url);
  });
  after(async () => {
    await fresh.drop();
  });

  test('a fresh database without auto_sync: the server refuses to start and names `ocellus manage db sync`', async () => {
    const message = await refusesToStart(fresh.url, fresh.dir, NO_AUTO_SYNC);
    assert.match(message, /ocellus manage db sync/);
    assert.match(message, /empty/);
    if (kind !== 'sqlite') {
      // Server databases are never migrated by default either.
      assert.match(await refusesToStart(fresh.url, fresh.dir), /ocellus manage db sync/);
    }
    // And refusing changed nothing: still no schema.
    const db = openDatabase(fresh.url);
    try {
      assert.equal((await schemaStatus(db)).current, null);
    } finally {
      await db.destroy();
    }
  });

  test('manage db version and db check on the fresh database: none, exit 3', async () => {
    const version = await manageCli(['--config', config, 'db', 'version']);
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout, /none \(empty database\)/);
    const check = await manageCli(['--config', config, 'db', 'check']);
    assert.equal(check.status, 3, `${check.stdout} ${check.stderr}`);
    assert.match(check.stdout, new RegExp(`migrations pending: ${KNOWN.join(', ')}`));
  });

  test('manage db sync applies every migration; then version prints the latest, check exits 0, and the server starts', async () => {
    const sync = await manageCli(['--config', config, 'db', 'sync']);
    assert.equal(sync.status, 0, sync.stderr);
    assert.match(sync.stdout, new RegExp(`applied ${KNOWN.join(', ')}; schema is now ${LATEST}`));

    const version = await manageCli(['--config', config, 'db', 'version']);
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout.trim(), LATEST);

    const check = await manageCli(['--config', config, 'db', 'check']);
    assert.equal(check.status, 0, `${check.stdout} ${check.stderr}`);
    assert.match(check.stdout, /schema is current/);

    // Running it again is harmless.
    const again = await manageCli(['--config', config, 'db_sync']);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`schema is current \\(${LATEST}\\)`));

    await startsAndAnswers(fresh.url, fresh.dir, NO_AUTO_SYNC);
    await startsAndAnswers(fresh.url, fresh.dir);
  });

  test('a migration this Ocellus does not know (a newer version ran): refuses to start with "newer"; check exits 4', async () => {
    const db = untyped(openDatabase(fresh.url));
    try {
      await db.insertInto('ocellus_migrations').values({ name: '9999-from-the-future', timestamp: new Date().toISOString() }).execute();
      const message = await refusesToStart(fresh.url, fresh.dir, NO_AUTO_SYNC);
      assert.match(message, /newer/);
      assert.match(message, /9999-from-the-future/);
      // auto_sync does not help (nor hurt): there is nothing it could apply.
      assert.match(await refusesToStart(fresh.url, fresh.dir, [{ section: 'database', name: 'auto_sync', value: 'true' }]), /newer/);

      const check = await manageCli(['--config', config, 'db', 'check']);
      assert.equal(check.status, 4, `${check.stdout} ${check.stderr}`);
      assert.match(check.stdout, /newer/);
      const version = await manageCli(['--config', config, 'db', 'version']);
      assert.equal(version.stdout.trim(), '9999-from-the-future');
    } finally {
      await db.deleteFrom('ocellus_migrations').where('name', '=', '9999-from-the-future').execute();
      await db.destroy();
    }
    await startsAndAnswers(fresh.url, fresh.dir, NO_AUTO_SYNC);
  });

  test('a database one migration behind: refuses to start naming the pending one; sync brings it up', async () => {
    const db = untyped(openDatabase(fresh.url));
    try {
      // Undo the newest migration, as if the database were left by the previous version.
      const { migrator } = await import('../src/db/migrate.js');
      const down = await migrator(db).migrateDown();
      assert.equal(down.error, undefined);
      assert.equal((await schemaStatus(db)).pending.join(), LATEST);
    } finally {
      await db.destroy();
    }
    const message = await refusesToStart(fresh.url, fresh.dir, NO_AUTO_SYNC);
    assert.match(message, new RegExp(`needs ${LATEST}: run \`ocellus manage db sync`));
    const check = await manageCli(['--config', config, 'db', 'check']);
    assert.equal(check.status, 3, check.stdout);
    const sync = await manageCli(['--config', config, 'db', 'upgrade']);
    assert.equal(sync.status, 0, sync.stderr);
    assert.match(sync.stdout, new RegExp(`applied ${LATEST}; schema is now ${LATEST}`));
    await startsAndAnswers(fresh.url, fresh.dir, NO_AUTO_SYNC);
  });

  if (kind === 'sqlite') {
    test('the embedded SQLite default (auto_sync unset) migrates a fresh database by itself', async () => {
      const other = await freshDatabase();
      try {
        await startsAndAnswers(other.url, other.dir);
        const db = openDatabase(other.url);
        try {
          assert.equal((await schemaStatus(db)).current, LATEST);
        } finally {
          await db.destroy();
        }
      } finally {
        await other.drop();
      }
    });
  }
});

describe(`concurrent migrations on ${kind}`, () => {
  test('three migrateToLatest on a fresh database through three handles: all succeed, each migration applied once', async () => {
    const fresh = await freshDatabase();
    const handles = [openDatabase(fresh.url), openDatabase(fresh.url), openDatabase(fresh.url)];
    try {
      const results = await Promise.allSettled(handles.map((h) => migrateToLatest(h)));
      for (const r of results) assert.equal(r.status, 'fulfilled', r.status === 'rejected' ? String(r.reason) : '');
      const applied = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
      assert.deepEqual([...applied].sort(), KNOWN, 'every migration ran exactly once');
      for (const h of handles) {
        const status = await schemaStatus(h);
        assert.equal(status.current, LATEST);
        assert.deepEqual(status.pending, []);
        assert.deepEqual(status.unknown, []);
      }
      // The schema works.
      const rows = await handles[0]!.selectFrom('images').select('id').execute();
      assert.deepEqual(rows, []);
    } finally {
      await Promise.all(handles.map((h) => h.destroy()));
      await fresh.drop();
    }
  });

  test('six `manage db sync` processes at once on a fresh database (nodes starting together): all exit 0, the schema is current', async () => {
    const fresh = await freshDatabase();
    try {
      const config = writeDbConfig(fresh.dir, fresh.url);
      const runs = await Promise.all([0, 1, 2, 3, 4, 5].map(() => manageCli(['--config', config, 'db', 'sync'])));
      for (const r of runs) assert.equal(r.status, 0, `${r.stdout} ${r.stderr}`);
      const applied = runs.flatMap((r) => /^applied (.*);/m.exec(r.stdout)?.[1]?.split(', ') ?? []);
      assert.deepEqual(applied.sort(), KNOWN, `every migration ran exactly once: ${runs.map((r) => r.stdout.trim()).join(' | ')}`);
      const check = await manageCli(['--config', config, 'db', 'check']);
      assert.equal(check.status, 0, check.stdout);
    } finally {
      await fresh.drop();
    }
  });
});

describe('credentials never show', () => {
  const URLS = [
    'postgresql://postgres:s3cret@127.0.0.1:1/nodb',
    'postgresql+psycopg2://ocellus:s3cret@127.0.0.1:1/nodb',
    'mysql+pymysql://root:s3cret@127.0.0.1:1/nodb?charset=utf8',
  ];

  for (const url of URLS) {
    test(`a database that cannot be reached (${url.replace('s3cret', '…')}): the error names it without the password`, async () => {
      const dir = tempDir('ocellus-creds-');
      const message = await refusesToStart(url, dir, [{ section: 'database', name: 'pool_timeout', value: '2' }]);
      assert.doesNotMatch(message, /s3cret/);
      assert.match(message, /\*\*\*@127\.0\.0\.1:1/);
      assert.doesNotMatch(message, /empty|manage db sync/, 'an unreachable database is not an empty one');

      let direct = '';
      await openConfiguredDatabase(configFor(url, dir)).then(
        (db) => db.destroy(),
        (err: Error) => (direct = `${err.message}\n${err.stack ?? ''}`),
      );
      assert.notEqual(direct, '');
      assert.doesNotMatch(direct, /s3cret/);

      const config = writeDbConfig(dir, url, 'pool_timeout = 2\n');
      const actions = ['version', 'check', 'sync', 'purge'];
      const runs = await Promise.all(actions.map((action) => manageCli(['--config', config, 'db', action])));
      for (const [i, action] of actions.entries()) {
        const r = runs[i]!;
        assert.equal(r.status, 2, `${action}: ${r.stdout} ${r.stderr}`);
        assert.match(r.stderr, /^ocellus: database /);
        assert.doesNotMatch(r.stderr + r.stdout, /s3cret/, action);
      }
    });
  }

  test('a password with an @ in it is not shown either', async () => {
    const dir = tempDir('ocellus-creds-');
    const url = 'postgresql://postgres:s3c@ret@127.0.0.1:1/nodb';
    const message = await refusesToStart(url, dir, [{ section: 'database', name: 'pool_timeout', value: '2' }]);
    assert.doesNotMatch(message, /s3c|ret@/);
  });
});

describe('parseConnectionUrl', () => {
  test('sqlite:///relative is relative to the working directory, sqlite:////absolute is absolute', () => {
    assert.deepEqual(parseConnectionUrl('sqlite:///data/ocellus.db'), { kind: 'sqlite', file: path.resolve('data/ocellus.db') });
    assert.deepEqual(parseConnectionUrl('sqlite:////var/lib/ocellus/ocellus.db'), { kind: 'sqlite', file: '/var/lib/ocellus/ocellus.db' });
    assert.deepEqual(parseConnectionUrl('sqlite+pysqlite:////srv/o.db'), { kind: 'sqlite', file: '/srv/o.db' });
    assert.deepEqual(parseConnectionUrl('sqlite://'), { kind: 'sqlite', file: ':memory:' });
    assert.deepEqual(parseConnectionUrl('sqlite:///:memory:'), { kind: 'sqlite', file: ':memory:' });
  });

  test('postgresql://, postgresql+psycopg2:// and postgres:// are PostgreSQL', () => {
    assert.deepEqual(parseConnectionUrl('postgresql://glance:pw@db.example.org:5433/glance'), { kind: 'postgresql', url: 'postgresql://glance:pw@db.example.org:5433/glance' });
    assert.deepEqual(parseConnectionUrl('postgresql+psycopg2://glance:pw@db/glance'), { kind: 'postgresql', url: 'postgresql://glance:pw@db/glance' });
    assert.deepEqual(parseConnectionUrl('postgres://glance@db/glance'), { kind: 'postgresql', url: 'postgresql://glance@db/glance' });
  });

  test('mysql:// and mysql+pymysql://…?charset=utf8 are MariaDB/MySQL, without the SQLAlchemy query string', () => {
    assert.deepEqual(parseConnectionUrl('mysql://glance:pw@db:3306/glance'), { kind: 'mysql', url: 'mysql://glance:pw@db:3306/glance' });
    assert.deepEqual(parseConnectionUrl('mysql+pymysql://glance:pw@db/glance?charset=utf8'), { kind: 'mysql', url: 'mysql://glance:pw@db/glance' });
    assert.deepEqual(parseConnectionUrl('mysql+pymysql://glance:pw@db/glance?charset=utf8&read_timeout=5'), { kind: 'mysql', url: 'mysql://glance:pw@db/glance' });
  });

  test('an unsupported scheme is an error that names the URL without the password', () => {
    for (const url of ['oracle://scott:tiger-s3cret@db/orcl', 'mssql+pyodbc://sa:tiger-s3cret@db/glance', 'db.example.org/glance']) {
      assert.throws(
        () => parseConnectionUrl(url),
        (err: Error) => {
          assert.match(err.message, /unsupported database URL/);
          assert.doesNotMatch(err.message, /s3cret/);
          return true;
        },
        url,
      );
    }
  });
});
