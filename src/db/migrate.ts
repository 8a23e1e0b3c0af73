import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { databaseKind } from './connect.js';
import * as m0001 from './migrations/0001-initial.js';
import * as m0002 from './migrations/0002-members.js';
import * as m0003 from './migrations/0003-leases.js';
import * as m0004 from './migrations/0004-tasks.js';
import * as m0005 from './migrations/0005-outbox.js';
import * as m0006 from './migrations/0006-metadefs.js';

/** Every migration, in order. A new one is a new file in migrations/ and a line here. */
const MIGRATIONS: Record<string, Migration> = {
  '0001-initial': m0001,
  '0002-members': m0002,
  '0003-leases': m0003,
  '0004-tasks': m0004,
  '0005-outbox': m0005,
  '0006-metadefs': m0006,
};

class InCodeMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return MIGRATIONS;
  }
}

export function migrator<T>(db: Kysely<T>): Migrator {
  return new Migrator({
    db,
    provider: new InCodeMigrationProvider(),
    migrationTableName: 'ocellus_migrations',
    migrationLockTableName: 'ocellus_migrations_lock',
  });
}

/** Migrations of this process run one after another (see migrateToLatest). */
let migrating: Promise<unknown> = Promise.resolve();

/**
 * Applies every pending migration; throws with the failing migration's name, or without applying
 * anything if the database comes from a newer Ocellus. Safe to run from several processes (and
 * handles) at once: PostgreSQL and MariaDB take Kysely's migration lock; on SQLite, which Kysely
 * migrates without lock or transaction, the whole run is one `BEGIN IMMEDIATE` transaction (the
 * others wait for it, then find nothing to do; a failed run leaves nothing behind). Within this
 * process runs are queued, since a second SQLite handle would wait for that lock synchronously,
 * stalling the very event loop the first one needs to finish.
 */
export function migrateToLatest<T>(db: Kysely<T>): Promise<string[]> {
  const run = migrating.then(() => migrateExclusively(db));
  migrating = run.catch(() => undefined);
  return run;
}

async function migrateExclusively<T>(db: Kysely<T>): Promise<string[]> {
  const before = await schemaStatus(db);
  if (before.unknown.length > 0) assertSchemaCurrent(before, '');
  const sqlite = databaseKind(db as Kysely<unknown>) === 'sqlite';
  if (sqlite) await sql`begin immediate`.execute(db);
  let outcome: Awaited<ReturnType<Migrator['migrateToLatest']>>;
  try {
    outcome = await migrator(db).migrateToLatest();
  } catch (err) {
    outcome = { error: err };
  }
  if (sqlite) await sql.raw(outcome.error ? 'rollback' : 'commit').execute(db);
  const { error, results } = outcome;
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    const cause = error instanceof Error ? error.message : String(error);
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${cause}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

export interface SchemaStatus {
  /** The newest migration applied to the database, or null for an empty database. */
  current: string | null;
  /** The newest migration this Ocellus knows. */
  latest: string;
  /** Known migrations not yet applied. */
  pending: string[];
  /** Migrations recorded in the database that this Ocellus does not know (a newer version ran). */
  unknown: string[];
}

const TABLE = 'ocellus_migrations';

export async function schemaStatus<T>(db: Kysely<T>): Promise<SchemaStatus> {
  const known = Object.keys(MIGRATIONS).sort();
  let applied: string[] = [];
  try {
    const rows = await sql<{ name: string }>`select name from ${sql.table(TABLE)} order by name`.execute(db);
    applied = rows.rows.map((r) => r.name);
  } catch (err) {
    // No history table yet: an empty database. Anything else (unreachable, denied) is an error,
    // not an empty database.
    if (!isMissingTable(err)) throw err;
  }
  return {
    current: applied[applied.length - 1] ?? null,
    latest: known[known.length - 1]!,
    pending: known.filter((m) => !applied.includes(m)),
    unknown: applied.filter((m) => !known.includes(m)),
  };
}

/** True for "no such table" on SQLite, PostgreSQL (42P01) and MariaDB/MySQL (1146). */
function isMissingTable(err: unknown): boolean {
  const e = err as { code?: string; errno?: number; message?: string };
  return e.code === '42P01' || e.code === 'ER_NO_SUCH_TABLE' || e.errno === 1146 || /^no such table/i.test(e.message ?? '');
}

/** Throws a message telling the operator what to do unless the schema is exactly the one this code knows. */
export function assertSchemaCurrent(status: SchemaStatus, syncCommand: string): void {
  if (status.unknown.length > 0) {
    throw new Error(
      `the database schema (${status.current}) is newer than this Ocellus knows (${status.latest}): migrations ${status.unknown.join(', ')} come from a newer version; run that version, or restore a matching database`,
    );
  }
  if (status.pending.length > 0) {
    throw new Error(
      `the database schema is ${status.current ?? 'empty'} but this Ocellus needs ${status.latest}: run \`${syncCommand}\` to apply ${status.pending.join(', ')}`,
    );
  }
}
