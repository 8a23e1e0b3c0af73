import type { Kysely } from 'kysely';
import { portable } from './portable.js';

/* eslint-disable @typescript-eslint/no-explicit-any */

/**
 * Tasks (legacy `import`, `api_image_import`, `location_import`): one table where Glance has two
 * (`tasks` and `task_info`), since every read of a task but the list wants its input, result and
 * message too. A task is soft-deleted (`deleted`, `deleted_at`) once it has expired, as in Glance.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const p = portable(db);
  await db.schema
    .createTable('tasks')
    .addColumn('id', 'varchar(36)', (c) => p.text(c).primaryKey())
    .addColumn('type', 'varchar(30)', (c) => p.text(c).notNull())
    .addColumn('status', 'varchar(30)', (c) => p.text(c).notNull())
    .addColumn('owner', 'varchar(255)', p.text)
    // JSON objects, or NULL.
    .addColumn('input', p.longText, p.text)
    .addColumn('result', p.longText, p.text)
    .addColumn('message', p.longText, (c) => p.text(c).notNull())
    .addColumn('image_id', 'varchar(36)', p.text)
    .addColumn('request_id', 'varchar(64)', p.text)
    .addColumn('user_id', 'varchar(64)', p.text)
    .addColumn('expires_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('deleted_at', 'bigint')
    .addColumn('deleted', 'smallint', (c) => c.notNull().defaultTo(0))
    .$call(p.table)
    .execute();
  // A project's list in the default order (created_at desc, id desc), and every project's (admins).
  await db.schema.createIndex('ix_tasks_owner_created').on('tasks').columns(['owner', 'created_at', 'id']).execute();
  await db.schema.createIndex('ix_tasks_created').on('tasks').columns(['created_at', 'id']).execute();
  // The list's filters.
  await db.schema.createIndex('ix_tasks_status').on('tasks').column('status').execute();
  await db.schema.createIndex('ix_tasks_type').on('tasks').column('type').execute();
  // GET /v2/images/{id}/tasks.
  await db.schema.createIndex('ix_tasks_image_id').on('tasks').column('image_id').execute();
  // The sweep that soft-deletes expired tasks.
  await db.schema.createIndex('ix_tasks_deleted_expires').on('tasks').columns(['deleted', 'expires_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  // Dropping the table drops its indexes on every database.
  await db.schema.dropTable('tasks').execute();
}
