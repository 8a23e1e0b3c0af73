import fs from 'node:fs';
import path from 'node:path';
import { Kysely, MysqlAdapter, MysqlDialect, PostgresAdapter, PostgresDialect, type Dialect } from 'kysely';
import SQLite from 'better-sqlite3';
import { createRequire } from 'node:module';
import { CachingSqliteDialect } from './sqlite-driver.js';
import type { Database } from './tables.js';

// The PostgreSQL and MariaDB drivers (~20 MB together) are loaded when such a database is opened.
const require = createRequire(import.meta.url);

export type DatabaseHandle = Kysely<Database>;
export type DatabaseKind = 'sqlite' | 'postgresql' | 'mysql';

export type DatabaseTarget =
  | { kind: 'sqlite'; file: string }
  | { kind: 'postgresql'; url: string }
  | { kind: 'mysql'; url: string };

export interface PoolOptions {
  /** Connections kept per process (oslo.db's max_pool_size). */
  maxPoolSize: number;
  /** Seconds to wait for a free connection, and for a new one to open. */
  poolTimeout: number;
}

/**
 * The URL (or a message quoting it) with its password replaced, for logs and errors. The password
 * runs to the last `@` of the URL, as URL parsers read it: an unencoded `@` in it is not shown either.
 */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@\s]*:)(?:\S*@|[^@]*@)/g, '$1***@');
}

/**
 * Parses `[database] connection`: the SQLAlchemy URLs operators already have —
 * `sqlite:///relative/path`, `sqlite:////absolute/path`, `postgresql://user:pass@host/db` (also
 * `postgresql+psycopg2://`, `postgres://`), `mysql://` and `mysql+pymysql://` (MariaDB/MySQL).
 */
export function parseConnectionUrl(url: string): DatabaseTarget {
  // SQLAlchemy's `sqlite://` (no path at all) is an in-memory database too.
  const m = /^sqlite(?:\+pysqlite)?:\/\/(?:\/(.*))?$/.exec(url);
  if (m) {
    const file = m[1] ?? '';
    if (file === '' || file === ':memory:') return { kind: 'sqlite', file: ':memory:' };
    return { kind: 'sqlite', file: path.resolve(file.split('?')[0]!) };
  }
  const scheme = /^([a-z0-9]+)(\+[a-z0-9_]+)?:\/\//i.exec(url);
  const base = scheme?.[1]?.toLowerCase();
  const rest = url.slice(scheme?.[0].length ?? 0);
  if (base === 'postgresql' || base === 'postgres') return { kind: 'postgresql', url: `postgresql://${rest}` };
  if (base === 'mysql' || base === 'mariadb') {
    // SQLAlchemy's ?charset=utf8 is the driver's default anyway; other driver options are not mysql2's.
    const [hostPart = ''] = rest.split('?');
    return { kind: 'mysql', url: `mysql://${hostPart}` };
  }
  throw new Error(
    `[database] connection: unsupported database URL '${redactUrl(url)}' (supported: sqlite:///PATH, postgresql://USER:PASS@HOST/DB, mysql+pymysql://USER:PASS@HOST/DB)`,
  );
}

/** Connections of a pool: open ones, idle ones, and callers waiting for one. */
export interface PoolUse {
  open: number;
  idle: number;
  waiting: number;
}

/** Sees every query's duration (seconds) and whether it failed: the metrics' hook. */
export type QueryObserver = (seconds: number, failed: boolean) => void;

/** How to read each handle's pool use (PostgreSQL and MariaDB; SQLite has one connection and no pool). */
const poolReaders = new WeakMap<object, () => PoolUse>();

/** The pool use of a handle from openDatabase, or null for SQLite. */
export function poolUse(db: DatabaseHandle): PoolUse | null {
  return poolReaders.get(db)?.() ?? null;
}

function dialectFor(target: DatabaseTarget, pool: PoolOptions, poolReader: (read: () => PoolUse) => void): Dialect {
  switch (target.kind) {
    case 'sqlite': {
      if (target.file !== ':memory:') fs.mkdirSync(path.dirname(target.file), { recursive: true });
      const sqlite = new SQLite(target.file);
      // First: switching a fresh file to WAL takes a lock that another process starting on the
      // same data dir may hold for a moment; without a busy timeout that is "database is locked".
      sqlite.pragma('busy_timeout = 10000');
      sqlite.pragma('journal_mode = WAL');
      // FULL: a status change the API acknowledged survives power loss.
      sqlite.pragma('synchronous = FULL');
      sqlite.pragma('foreign_keys = ON');
      return new CachingSqliteDialect({ database: sqlite });
    }
    case 'postgresql': {
      const pg = require('pg') as typeof import('pg');
      const pgPool = new pg.Pool({
        connectionString: target.url,
        max: pool.maxPoolSize,
        connectionTimeoutMillis: pool.poolTimeout * 1000,
        // int8 and numeric (sizes, sums) as JS numbers: safe up to 8 PiB.
        types: { getTypeParser: (oid: number, format?: string) => (oid === 20 || oid === 1700 ? Number : pg.types.getTypeParser(oid, format as 'text')) } as import('pg').CustomTypesConfig,
      });
      // An idle connection the server ends (restart, failover, pg_terminate_backend) is an error
      // event of the pool, which has already dropped it; unhandled, it would end the process.
      // The next query simply opens a new connection.
      pgPool.on('error', () => undefined);
      poolReader(() => ({ open: pgPool.totalCount, idle: pgPool.idleCount, waiting: pgPool.waitingCount }));
      return new PostgresDialect({ pool: pgPool });
    }
    case 'mysql': {
      const { createPool } = require('mysql2') as typeof import('mysql2');
      const mysqlPool = createPool({
        uri: target.url,
        connectionLimit: pool.maxPoolSize,
        connectTimeout: pool.poolTimeout * 1000,
        // Numbers, not strings, for BIGINT and SUM(); and affected rows count matched rows, so a
        // compare-and-set that writes identical values still reports success.
        supportBigNumbers: false,
        decimalNumbers: true,
        flags: ['FOUND_ROWS'],
        charset: 'utf8mb4',
        timezone: 'Z',
      });
      // mysql2 keeps its pool's connections in fields it does not type; read them defensively.
      const internals = mysqlPool as unknown as { _allConnections?: { length: number }; _freeConnections?: { length: number }; _connectionQueue?: { length: number } };
      poolReader(() => ({ open: internals._allConnections?.length ?? 0, idle: internals._freeConnections?.length ?? 0, waiting: internals._connectionQueue?.length ?? 0 }));
      return new MysqlDialect({ pool: mysqlPool });
    }
  }
}

export function openDatabase(connection: string, pool: PoolOptions = { maxPoolSize: 5, poolTimeout: 30 }, observeQuery?: QueryObserver): DatabaseHandle {
  let reader: (() => PoolUse) | undefined;
  const dialect = dialectFor(parseConnectionUrl(connection), pool, (read) => (reader = read));
  const db = new Kysely<Database>({
    dialect,
    // Kysely times every query it runs; its log hook hands the duration over, for queries and errors alike.
    log: observeQuery ? (event) => observeQuery(event.queryDurationMillis / 1000, event.level === 'error') : undefined,
  });
  if (reader) poolReaders.set(db, reader);
  return db;
}

/** Which SQL dialect a handle speaks (migrations differ in a few details, e.g. collations). */
export function databaseKind(db: Kysely<unknown>): DatabaseKind {
  const adapter = db.getExecutor().adapter;
  if (adapter instanceof PostgresAdapter) return 'postgresql';
  if (adapter instanceof MysqlAdapter) return 'mysql';
  return 'sqlite';
}

/** True if the error is a duplicate-key violation on any of the three databases. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; errno?: number };
  return e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === '23505' || e.code === 'ER_DUP_ENTRY' || e.errno === 1062;
}

/** True if the database chose this transaction as a deadlock's victim (MariaDB/MySQL 1213, PostgreSQL 40P01). */
export function isDeadlock(err: unknown): boolean {
  const e = err as { code?: string; errno?: number };
  return e.errno === 1213 || e.code === 'ER_LOCK_DEADLOCK' || e.code === '40P01';
}

/** Times a transaction that lost a deadlock is run again before its error goes to the caller. */
const DEADLOCK_RETRIES = 3;

/**
 * Runs `fn` in the transaction `db` already is (a unit of work's), or in a new one. A new one that
 * the database rolls back as a deadlock's victim ("try restarting transaction") is run again, a
 * few times, after a short random pause: `fn` must do nothing but database work.
 */
export async function atomically<D, T>(db: Kysely<D>, fn: (trx: Kysely<D>) => Promise<T>): Promise<T> {
  if (db.isTransaction) return fn(db);
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(fn);
    } catch (err) {
      if (attempt > DEADLOCK_RETRIES || !isDeadlock(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
  }
}
