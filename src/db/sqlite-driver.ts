import type SQLite from 'better-sqlite3';
import { CompiledQuery, SelectQueryNode, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type QueryResult } from 'kysely';

/** Statements kept per connection: Ocellus's queries are a few dozen shapes (× IN-list lengths). */
export const DEFAULT_STATEMENT_CACHE_SIZE = 300;

/** A prepared statement; a reader returns rows as arrays, made into objects by `row` (see rowFactory). */
export interface Prepared {
  stmt: SQLite.Statement;
  row?: (values: unknown[]) => Record<string, unknown>;
}

/**
 * An object-literal constructor for rows of these columns: better-sqlite3 builds each row object
 * key by key through V8's API; a raw row made into an object by a literal of fixed shape costs
 * about a third less (≈ 50 µs on a page of 20 images). A name given twice keeps its last value,
 * as better-sqlite3's own objects do.
 */
function rowFactory(names: readonly string[]): (values: unknown[]) => Record<string, unknown> {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- column names are quoted with JSON.stringify
  return new Function('v', `return { ${names.map((n, i) => `${JSON.stringify(n)}: v[${i}]`).join(', ')} };`) as (values: unknown[]) => Record<string, unknown>;
}

function prepare(db: SQLite.Database, sql: string): Prepared {
  const stmt = db.prepare(sql); // a syntax error throws here, and nothing is cached
  if (!stmt.reader) return { stmt };
  stmt.raw(true);
  return { stmt, row: rowFactory(stmt.columns().map((c) => c.name)) };
}

/**
 * Prepared statements by SQL text, least recently used first out. Preparing is a good part of a
 * small query's cost (parsing and planning the SQL each time); a statement is reusable as soon
 * as its previous run has finished, and better-sqlite3 finalizes the ones dropped here when
 * they are garbage-collected or the database closes.
 */
export class StatementCache {
  private readonly statements = new Map<string, Prepared>();
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
  statement(sql: string): Prepared {
    const cached = this.statements.get(sql);
    if (cached !== undefined) {
      if (cached.stmt.busy) return prepare(this.db, sql);
      this.hits++;
      // Map order is insertion order: re-inserting makes it the most recently used.
      this.statements.delete(sql);
      this.statements.set(sql, cached);
      return cached;
    }
    this.misses++;
    const prepared = prepare(this.db, sql);
    this.statements.set(sql, prepared);
    if (this.statements.size > this.capacity) this.statements.delete(this.statements.keys().next().value!);
    return prepared;
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
    const { stmt, row } = this.cache.statement(sql);
    if (row) return Promise.resolve({ rows: (stmt.all(parameters) as unknown[][]).map(row) as R[] });
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
    const { stmt, row } = this.cache.statement(sql);
    for (const values of stmt.iterate(parameters)) yield { rows: [row!(values as unknown[]) as R] };
  }
}

export interface CachingSqliteConfig {
  database: SQLite.Database;
  /** Prepared statements kept (LRU); DEFAULT_STATEMENT_CACHE_SIZE by default. */
  statementCacheSize?: number;
}

/**
 * Kysely's SqliteDriver (its one-connection mutex, commit, rollback and savepoints) with two
 * differences:
 * - queries run on a CachingSqliteConnection: statements are prepared once per SQL text;
 * - transactions take the write lock when they begin (BEGIN IMMEDIATE), waiting up to
 *   busy_timeout for it. A deferred transaction that reads first and then writes while another
 *   process (a second worker, a `manage` command) writes fails at once with SQLITE_BUSY or
 *   SQLITE_BUSY_SNAPSHOT: SQLite cannot wait there, since its snapshot would be stale afterwards.
 */
class CachingSqliteDriver extends SqliteDriver {
  private readonly connection: CachingSqliteConnection;

  constructor(config: CachingSqliteConfig) {
    super({ database: config.database });
    this.connection = new CachingSqliteConnection(config.database, config.statementCacheSize);
  }

  /** Waits for the one connection as Kysely's driver does, and hands out the caching one instead. */
  override async acquireConnection(): Promise<DatabaseConnection> {
    await super.acquireConnection();
    return this.connection;
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  override async destroy(): Promise<void> {
    this.connection.cache.clear();
    await super.destroy();
  }
}

/** Kysely's SQLite dialect on a CachingSqliteDriver. */
export class CachingSqliteDialect extends SqliteDialect {
  constructor(private readonly cachingConfig: CachingSqliteConfig) {
    super({ database: cachingConfig.database });
  }

  override createDriver(): Driver {
    return new CachingSqliteDriver(this.cachingConfig);
  }
}
