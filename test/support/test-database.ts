import { randomBytes } from 'node:crypto';
import pg from 'pg';
import mysql from 'mysql2/promise';

/**
 * Which database the API tests run against: OCELLUS_TEST_DB=sqlite (default), postgresql or
 * mariadb. For the server databases each test server gets a throw-away database, dropped when
 * the server closes. Admin URLs: OCELLUS_TEST_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres)
 * and OCELLUS_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/).
 */
export type TestDbKind = 'sqlite' | 'postgresql' | 'mariadb';

export function testDbKind(): TestDbKind {
  const v = (process.env.OCELLUS_TEST_DB ?? 'sqlite').toLowerCase();
  if (v === 'sqlite' || v === 'postgresql' || v === 'mariadb') return v;
  throw new Error(`OCELLUS_TEST_DB must be sqlite, postgresql or mariadb, not '${v}'`);
}

export const TEST_DB_KINDS: readonly TestDbKind[] = ['sqlite', 'postgresql', 'mariadb'];

/**
 * Declares the databases a test file runs on; call it once, at the top of the file, with string
 * literals: `runsOn('sqlite', 'postgresql', 'mariadb');`. scripts/run-tests.mjs reads this call
 * from the compiled file's text (without running the file) to decide which runs include it; a
 * file without it runs on SQLite only. At run time it throws if OCELLUS_TEST_DB names another
 * database, so a file never passes silently on a database it does not test.
 */
export function runsOn(...kinds: TestDbKind[]): void {
  const kind = testDbKind();
  if (!kinds.includes(kind)) {
    throw new Error(`this test file declares runsOn(${kinds.map((k) => `'${k}'`).join(', ')}); it does not run with OCELLUS_TEST_DB=${kind}`);
  }
}

export const PG_ADMIN_URL = process.env.OCELLUS_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
export const MYSQL_ADMIN_URL = process.env.OCELLUS_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/';

export interface TestDatabase {
  /** `[database] connection` for the throw-away database, or null for the default SQLite file. */
  url: string | null;
  drop(): Promise<void>;
}

function withDatabase(adminUrl: string, scheme: string, name: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return `${scheme}${u.href.slice(u.protocol.length)}`;
}

export async function createTestDatabase(kind: TestDbKind = testDbKind()): Promise<TestDatabase> {
  const name = `ocellus_test_${randomBytes(6).toString('hex')}`;
  if (kind === 'postgresql') {
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    try {
      await admin.query(`create database ${name}`);
    } finally {
      await admin.end();
    }
    return {
      url: withDatabase(PG_ADMIN_URL, 'postgresql:', name),
      async drop() {
        const c = new pg.Client({ connectionString: PG_ADMIN_URL });
        await c.connect();
        try {
          await c.query(`drop database if exists ${name} with (force)`);
        } finally {
          await c.end();
        }
      },
    };
  }
  if (kind === 'mariadb') {
    const admin = await mysql.createConnection(MYSQL_ADMIN_URL);
    try {
      await admin.query(`create database ${name} character set utf8mb4 collate utf8mb4_bin`);
    } finally {
      await admin.end();
    }
    return {
      url: withDatabase(MYSQL_ADMIN_URL, 'mysql+pymysql:', name),
      async drop() {
        const c = await mysql.createConnection(MYSQL_ADMIN_URL);
        try {
          await c.query(`drop database if exists ${name}`);
        } finally {
          await c.end();
        }
      },
    };
  }
  return { url: null, async drop() {} };
}

/** Null if the database server answers, else why not. */
export async function unreachable(kind: TestDbKind): Promise<string | null> {
  try {
    if (kind === 'postgresql') {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
      await c.connect();
      await c.end();
    } else if (kind === 'mariadb') {
      const c = await mysql.createConnection({ uri: MYSQL_ADMIN_URL, connectTimeout: 3000 });
      await c.end();
    }
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}
