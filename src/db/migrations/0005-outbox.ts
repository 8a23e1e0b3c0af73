import type { Kysely } from 'kysely';
import { databaseKind } from '../connect.js';
import { portable } from './portable.js';

/* eslint-disable @typescript-eslint/no-explicit-any */

/**
 * The outbox: a notification is a row written in the transaction of the change it reports, and
 * the publisher (notify/) deletes it once the message bus has confirmed it. `seq` is the delivery
 * order: an autoincrement that is never reused (SQLite's AUTOINCREMENT, PostgreSQL's bigserial,
 * MariaDB's AUTO_INCREMENT), so two events of one image, written by transactions that the image's
 * row serialises, go out in the order they committed.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const p = portable(db);
  const kind = databaseKind(db);
  await db.schema
    .createTable('outbox')
    .$call((t) =>
      kind === 'postgresql'
        ? t.addColumn('seq', 'bigserial', (c) => c.primaryKey())
        : kind === 'mysql'
          ? t.addColumn('seq', 'bigint', (c) => c.primaryKey().autoIncrement())
          : t.addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement()),
    )
    .addColumn('message_id', 'varchar(36)', (c) => p.text(c).notNull())
    .addColumn('publisher_id', 'varchar(255)', (c) => p.text(c).notNull())
    .addColumn('event_type', 'varchar(255)', (c) => p.text(c).notNull())
    .addColumn('priority', 'varchar(10)', (c) => p.text(c).notNull())
    .addColumn('payload', p.longText, (c) => p.text(c).notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .$call(p.table)
    .execute();
  // The sweep that drops events older than outbox_max_age.
  await db.schema.createIndex('ix_outbox_created').on('outbox').column('created_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('outbox').execute();
}
