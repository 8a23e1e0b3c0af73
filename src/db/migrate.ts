import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import * as m0001 from './migrations/0001-initial.js';
import * as m0002 from './migrations/0002-members.js';

/** Every migration, in order. A new one is a new file in migrations/ and a line here. */
const MIGRATIONS: Record<string, Migration> = {
  '0001-initial': m0001,
  '0002-members': m0002,
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

/** Applies every pending migration; throws with the failing migration's name. */
export async function migrateToLatest<T>(db: Kysely<T>): Promise<string[]> {
  const { error, results } = await migrator(db).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    const cause = error instanceof Error ? error.message : String(error);
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${cause}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
