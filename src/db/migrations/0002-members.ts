import type { Kysely } from 'kysely';
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
  await db.schema.dropIndex('ix_image_properties_name_value').execute();
  await db.schema.dropIndex('ix_images_checksum').execute();
  await db.schema.dropIndex('ix_images_size').execute();
  await db.schema.dropIndex('ix_images_updated_at').execute();
  await db.schema.dropIndex('ix_images_name').execute();
  await db.schema.dropTable('image_members').execute();
}
