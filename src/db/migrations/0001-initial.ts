import type { Kysely } from 'kysely';
import { portable } from './portable.js';

// Migrations take Kysely<any>: they describe the schema as it was at that point in history,
// not the current typed interface.
/* eslint-disable @typescript-eslint/no-explicit-any */

export async function up(db: Kysely<any>): Promise<void> {
  const p = portable(db);
  await db.schema
    .createTable('images')
    .addColumn('id', 'varchar(36)', (c) => p.text(c).primaryKey())
    .addColumn('name', 'varchar(255)', p.text)
    .addColumn('status', 'varchar(30)', (c) => p.text(c).notNull())
    .addColumn('visibility', 'varchar(20)', (c) => p.text(c).notNull())
    .addColumn('protected', 'smallint', (c) => c.notNull().defaultTo(0))
    .addColumn('os_hidden', 'smallint', (c) => c.notNull().defaultTo(0))
    .addColumn('checksum', 'varchar(32)', p.text)
    .addColumn('os_hash_algo', 'varchar(64)', p.text)
    .addColumn('os_hash_value', 'varchar(128)', p.text)
    .addColumn('owner', 'varchar(255)', p.text)
    .addColumn('size', 'bigint')
    .addColumn('virtual_size', 'bigint')
    .addColumn('min_disk', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('min_ram', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('container_format', 'varchar(32)', p.text)
    .addColumn('disk_format', 'varchar(32)', p.text)
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('deleted_at', 'bigint')
    .addColumn('deleted', 'smallint', (c) => c.notNull().defaultTo(0))
    .addColumn('upload_id', 'varchar(36)', p.text)
    .addColumn('upload_host', 'varchar(255)', p.text)
    .addColumn('upload_pid', 'integer')
    .addColumn('upload_instance', 'varchar(36)', p.text)
    .addColumn('upload_heartbeat_at', 'bigint')
    .$call(p.table)
    .execute();
  // The default list order (created_at desc, id desc) among live images.
  await db.schema.createIndex('ix_images_deleted_created').on('images').columns(['deleted', 'created_at', 'id']).execute();
  await db.schema.createIndex('ix_images_owner').on('images').column('owner').execute();
  await db.schema.createIndex('ix_images_visibility').on('images').column('visibility').execute();
  await db.schema.createIndex('ix_images_status').on('images').column('status').execute();
  await db.schema.createIndex('ix_images_upload_id').on('images').column('upload_id').execute();

  await db.schema
    .createTable('image_properties')
    .addColumn('image_id', 'varchar(36)', (c) => p.text(c).notNull().references('images.id').onDelete('cascade'))
    .addColumn('name', 'varchar(255)', (c) => p.text(c).notNull())
    .addColumn('value', p.longText, (c) => p.text(c).notNull())
    .addPrimaryKeyConstraint('pk_image_properties', ['image_id', 'name'])
    .$call(p.table)
    .execute();
  await db.schema.createIndex('ix_image_properties_name').on('image_properties').column('name').execute();

  await db.schema
    .createTable('image_tags')
    .addColumn('image_id', 'varchar(36)', (c) => p.text(c).notNull().references('images.id').onDelete('cascade'))
    .addColumn('value', 'varchar(255)', (c) => p.text(c).notNull())
    .addPrimaryKeyConstraint('pk_image_tags', ['image_id', 'value'])
    .$call(p.table)
    .execute();
  await db.schema.createIndex('ix_image_tags_value').on('image_tags').column('value').execute();

  await db.schema
    .createTable('image_locations')
    .addColumn('id', 'varchar(36)', (c) => p.text(c).primaryKey())
    .addColumn('image_id', 'varchar(36)', (c) => p.text(c).notNull().references('images.id').onDelete('cascade'))
    .addColumn('url', 'varchar(2048)', (c) => p.text(c).notNull())
    .addColumn('metadata', p.longText, (c) => p.text(c).notNull())
    .addColumn('status', 'varchar(30)', (c) => p.text(c).notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .$call(p.table)
    .execute();
  await db.schema.createIndex('ix_image_locations_image_id').on('image_locations').column('image_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('image_locations').execute();
  await db.schema.dropTable('image_tags').execute();
  await db.schema.dropTable('image_properties').execute();
  await db.schema.dropTable('images').execute();
}
