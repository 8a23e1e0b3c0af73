import type SQLite from 'better-sqlite3';
import {
  CompiledQuery,
  SelectQueryNode,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
} from 'kysely';

/** Statements kept per connection: Ocellus's queries are a few dozen shapes (× IN-list lengths). */
export const DEFAULT_STATEMENT_CACHE_SIZE = 300;

/**
 * Prepared statements by SQL text, least recently used first out. Preparing is a good part of a
 * small query's cost (parsing and planning the SQL each time); a statement is reusable as soon
 * as its previous run has finished, and better-sqlite3 finalizes the ones dropped here when
 * they are garbage-collected or the database closes.
 */
export class StatementCache {
  private readonly statements = new Map<string, SQLite.Statement>();
  hits = 0;
  misses = 0;

  constructor(
    private readonly db: SQLite.Database,
    readonly capacity: number = DEFAULT_STATEMENT_CACHE_SIZE,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`statement cache capacity must be a positive integer, not ${capacity}`);
  }

  get size(): number {
    return this.statements.size;
  }

  has(sql: string): boolean {
    return this.statements.has(sql);
  }

  /**
   * The statement for `sql`, prepared once. One still running (a stream being read while the
   * same query runs again on this connection) cannot be run twice: that caller gets a fresh one.
   */
  statement(sql: string): SQLite.Statement {
    const cached = this.statements.get(sql);
    if (cached !== undefined) {
      if (cached.busy) return this.db.prepare(sql);
      this.hits++;
      // Map order is insertion order: re-inserting makes it the most recently used.
      this.statements.delete(sql);
      this.statements.set(sql, cached);
      return cached;
    }
    this.misses++;
    const stmt = this.db.prepare(sql); // a syntax error throws here, and nothing is cached
    this.statements.set(sql, stmt);
    if (this.statements.size > this.capacity) this.statements.delete(this.statements.keys().next().value!);
    return stmt;
  }

  clear(): void {
    this.statements.clear();
  }
}

/**
 * Kysely's SqliteConnection (kysely/dist/esm/dialect/sqlite/sqlite-driver.js), the statements
 * taken from a StatementCache instead of prepared for every query.
 */
export class CachingSqliteConnection implements DatabaseConnection {
  readonly cache: StatementCache;

  constructor(db: SQLite.Database, cacheSize?: number) {
    this.cache = new StatementCache(db, cacheSize);
  }

  executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const { sql, parameters } = compiledQuery;
    const stmt = this.cache.statement(sql);
    if (stmt.reader) return Promise.resolve({ rows: stmt.all(parameters) as R[] });
    const { changes, lastInsertRowid } = stmt.run(parameters);
    return Promise.resolve({
      numAffectedRows: changes !== undefined && changes !== null ? BigInt(changes) : undefined,
      insertId: lastInsertRowid !== undefined && lastInsertRowid !== null ? BigInt(lastInsertRowid) : undefined,
      rows: [],
    });
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery, _chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    const { sql, parameters, query } = compiledQuery;
    if (!SelectQueryNode.is(query)) throw new Error('Sqlite driver only supports streaming of select queries');
    const stmt = this.cache.statement(sql);
    for (const row of stmt.iterate(parameters)) yield { rows: [row as R] };
  }
}

/** One connection, handed to one user at a time (as Kysely's SqliteDriver does). */
class ConnectionMutex {
  private promise: Promise<void> | undefined;
  private resolve: (() => void) | undefined;

  async lock(): Promise<void> {
    while (this.promise) await this.promise;
    this.promise = new Promise((resolve) => {
      this.resolve = resolve;
    });
  }

  unlock(): void {
    const resolve = this.resolve;
    this.promise = undefined;
    this.resolve = undefined;
    resolve?.();
  }
}

export interface CachingSqliteConfig {
  database: SQLite.Database;
  /** Prepared statements kept (LRU); DEFAULT_STATEMENT_CACHE_SIZE by default. */
  statementCacheSize?: number;
}

/**
 * Kysely's SqliteDriver with two differences:
 * - statements are prepared once per SQL text (CachingSqliteConnection);
 * - transactions take the write lock when they begin (BEGIN IMMEDIATE), waiting up to
 *   busy_timeout for it. A deferred transaction that reads first and then writes while another
 *   process (a second worker, a `manage` command) writes fails at once with SQLITE_BUSY or
 *   SQLITE_BUSY_SNAPSHOT: SQLite cannot wait there, since its snapshot would be stale afterwards.
 */
export class CachingSqliteDriver implements Driver {
  private readonly mutex = new ConnectionMutex();
  private connection: CachingSqliteConnection | undefined;

  constructor(private readonly config: CachingSqliteConfig) {}

  async init(): Promise<void> {
    this.connection = new CachingSqliteConnection(this.config.database, this.config.statementCacheSize);
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.mutex.lock();
    return this.connection!;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint ${quoteIdentifier(name)}`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to ${quoteIdentifier(name)}`));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release ${quoteIdentifier(name)}`));
  }

  async releaseConnection(): Promise<void> {
    this.mutex.unlock();
  }

  async destroy(): Promise<void> {
    this.connection?.cache.clear();
    this.config.database.close();
  }
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The SQLite dialect of Kysely on a CachingSqliteDriver. */
export class CachingSqliteDialect implements Dialect {
  constructor(private readonly config: CachingSqliteConfig) {}

  createDriver(): Driver {
    return new CachingSqliteDriver(this.config);
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}
