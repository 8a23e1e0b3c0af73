import type { Kysely } from 'kysely';
import { databaseKind } from '../connect.js';
import { portable } from './portable.js';

/* eslint-disable @typescript-eslint/no-explicit-any */

/**
 * Leases replace the upload bookkeeping on `images` (host, pid, instance, heartbeat): a row per
 * piece of work a process owns, with an owner id per process start and an expiry renewed by
 * heartbeat. Uploads that were running when the database was migrated (none: the servers are
 * stopped) would have no lease; their images stay `saving` as in Glance.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const p = portable(db);
  await db.schema
    .createTable('leases')
    .addColumn('kind', 'varchar(30)', (c) => p.text(c).notNull())
    .addColumn('lease_key', 'varchar(255)', (c) => p.text(c).notNull())
    .addColumn('owner', 'varchar(36)', (c) => p.text(c).notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('data', p.longText, (c) => p.text(c).notNull())
    .addPrimaryKeyConstraint('pk_leases', ['kind', 'lease_key'])
    .$call(p.table)
    .execute();
  await db.schema.createIndex('ix_leases_kind_expires').on('leases').columns(['kind', 'expires_at']).execute();
  // An image's active locations (read with every image), and the locations the cleanup sweep looks for.
  await db.schema.createIndex('ix_image_locations_image_status').on('image_locations').columns(['image_id', 'status']).execute();
  await db.schema.createIndex('ix_image_locations_status').on('image_locations').columns(['status', 'updated_at']).execute();

  const mysql = databaseKind(db) === 'mysql';
  await (mysql ? db.schema.dropIndex('ix_images_upload_id').on('images') : db.schema.dropIndex('ix_images_upload_id')).execute();
  for (const column of ['upload_id', 'upload_host', 'upload_pid', 'upload_instance', 'upload_heartbeat_at']) {
    await db.schema.alterTable('images').dropColumn(column).execute();
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  const p = portable(db);
  const mysql = databaseKind(db) === 'mysql';
  await db.schema.alterTable('images').addColumn('upload_id', 'varchar(36)', p.text).execute();
  await db.schema.alterTable('images').addColumn('upload_host', 'varchar(255)', p.text).execute();
  await db.schema.alterTable('images').addColumn('upload_pid', 'integer').execute();
  await db.schema.alterTable('images').addColumn('upload_instance', 'varchar(36)', p.text).execute();
  await db.schema.alterTable('images').addColumn('upload_heartbeat_at', 'bigint').execute();
  await db.schema.createIndex('ix_images_upload_id').on('images').column('upload_id').execute();
  for (const index of ['ix_image_locations_status', 'ix_image_locations_image_status']) {
    await (mysql ? db.schema.dropIndex(index).on('image_locations') : db.schema.dropIndex(index)).execute();
  }
  await db.schema.dropTable('leases').execute();
}
