import type { Kysely } from 'kysely';
import { databaseKind } from '../connect.js';
import { portable } from './portable.js';

/* eslint-disable @typescript-eslint/no-explicit-any */

/** Image members (sharing between projects) and the indexes list filters need. */
export async function up(db: Kysely<any>): Promise<void> {
  const p = portable(db);
  await db.schema
    .createTable('image_members')
    .addColumn('image_id', 'varchar(36)', (c) => p.text(c).notNull().references('images.id').onDelete('cascade'))
    .addColumn('member', 'varchar(255)', (c) => p.text(c).notNull())
    .addColumn('status', 'varchar(20)', (c) => p.text(c).notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_image_members', ['image_id', 'member'])
    .$call(p.table)
    .execute();
  await db.schema.createIndex('ix_image_members_member_status').on('image_members').columns(['member', 'status']).execute();
  await db.schema.createIndex('ix_images_name').on('images').column('name').execute();
  await db.schema.createIndex('ix_images_updated_at').on('images').column('updated_at').execute();
  await db.schema.createIndex('ix_images_size').on('images').column('size').execute();
  await db.schema.createIndex('ix_images_checksum').on('images').column('checksum').execute();
  await db.schema.createIndex('ix_image_properties_name_value').on('image_properties').columns(['name', 'image_id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  // MariaDB/MySQL need the table (`drop index x on t`); PostgreSQL and SQLite refuse it.
  const mysql = databaseKind(db) === 'mysql';
  const dropIndex = (name: string, table: string) => (mysql ? db.schema.dropIndex(name).on(table) : db.schema.dropIndex(name)).execute();
  await dropIndex('ix_image_properties_name_value', 'image_properties');
  await dropIndex('ix_images_checksum', 'images');
  await dropIndex('ix_images_size', 'images');
  await dropIndex('ix_images_updated_at', 'images');
  await dropIndex('ix_images_name', 'images');
  await db.schema.dropTable('image_members').execute();
}
