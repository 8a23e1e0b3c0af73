import type { ColumnDefinitionBuilder, CreateTableBuilder, Kysely } from 'kysely';
import { databaseKind } from '../connect.js';
import { portable } from './portable.js';

/* eslint-disable @typescript-eslint/no-explicit-any */

/**
 * The metadata definitions catalogue (metadefs), table for table and column for column Glance's
 * (glance/db/sqlalchemy/models_metadef.py), so Glance's definition files map onto it directly:
 * namespaces; the resource types and their associations with namespaces; the objects, properties
 * and tags of a namespace (each unique by name within it). Ids are autoincrement integers, never
 * reused, as Glance's; a namespace's children go with it (ON DELETE CASCADE). `required` and
 * `json_schema` hold JSON text; `protected` is 0/1; timestamps are epoch milliseconds.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const p = portable(db);
  const kind = databaseKind(db);
  const id = <T extends string, C extends string>(t: CreateTableBuilder<T, C>): CreateTableBuilder<T, any> =>
    kind === 'postgresql'
      ? t.addColumn('id', 'serial', (c) => c.primaryKey())
      : kind === 'mysql'
        ? t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
  const namespaceId = (c: ColumnDefinitionBuilder) => c.notNull().references('metadef_namespaces.id').onDelete('cascade');
  const stamps = <T extends string, C extends string>(t: CreateTableBuilder<T, C>) =>
    t.addColumn('created_at', 'bigint', (c) => c.notNull()).addColumn('updated_at', 'bigint', (c) => c.notNull());

  await db.schema
    .createTable('metadef_namespaces')
    .$call(id)
    .addColumn('namespace', 'varchar(80)', (c) => p.text(c).notNull())
    .addColumn('display_name', 'varchar(80)', p.text)
    .addColumn('description', p.longText, p.text)
    .addColumn('visibility', 'varchar(32)', (c) => p.text(c).notNull())
    .addColumn('protected', 'smallint', (c) => c.notNull().defaultTo(0))
    .addColumn('owner', 'varchar(255)', (c) => p.text(c).notNull())
    .$call(stamps)
    .addUniqueConstraint('uq_metadef_namespaces_namespace', ['namespace'])
    .$call(p.table)
    .execute();
  await db.schema.createIndex('ix_metadef_namespaces_owner').on('metadef_namespaces').column('owner').execute();
  // The default list order (created_at, id).
  await db.schema.createIndex('ix_metadef_namespaces_created').on('metadef_namespaces').columns(['created_at', 'id']).execute();

  await db.schema
    .createTable('metadef_resource_types')
    .$call(id)
    .addColumn('name', 'varchar(80)', (c) => p.text(c).notNull())
    .addColumn('protected', 'smallint', (c) => c.notNull().defaultTo(0))
    .$call(stamps)
    .addUniqueConstraint('uq_metadef_resource_types_name', ['name'])
    .$call(p.table)
    .execute();

  await db.schema
    .createTable('metadef_namespace_resource_types')
    .addColumn('resource_type_id', 'integer', (c) => c.notNull().references('metadef_resource_types.id').onDelete('cascade'))
    .addColumn('namespace_id', 'integer', namespaceId)
    .addColumn('properties_target', 'varchar(80)', p.text)
    .addColumn('prefix', 'varchar(80)', p.text)
    .$call(stamps)
    .addPrimaryKeyConstraint('pk_metadef_namespace_resource_types', ['resource_type_id', 'namespace_id'])
    .$call(p.table)
    .execute();
  await db.schema.createIndex('ix_metadef_ns_res_types_namespace_id').on('metadef_namespace_resource_types').column('namespace_id').execute();

  await db.schema
    .createTable('metadef_objects')
    .$call(id)
    .addColumn('namespace_id', 'integer', namespaceId)
    .addColumn('name', 'varchar(80)', (c) => p.text(c).notNull())
    .addColumn('description', p.longText, p.text)
    .addColumn('required', p.longText, p.text)
    .addColumn('json_schema', p.longText, (c) => p.text(c).notNull())
    .$call(stamps)
    .addUniqueConstraint('uq_metadef_objects_namespace_id_name', ['namespace_id', 'name'])
    .$call(p.table)
    .execute();

  await db.schema
    .createTable('metadef_properties')
    .$call(id)
    .addColumn('namespace_id', 'integer', namespaceId)
    .addColumn('name', 'varchar(80)', (c) => p.text(c).notNull())
    .addColumn('json_schema', p.longText, (c) => p.text(c).notNull())
    .$call(stamps)
    .addUniqueConstraint('uq_metadef_properties_namespace_id_name', ['namespace_id', 'name'])
    .$call(p.table)
    .execute();

  await db.schema
    .createTable('metadef_tags')
    .$call(id)
    .addColumn('namespace_id', 'integer', namespaceId)
    .addColumn('name', 'varchar(80)', (c) => p.text(c).notNull())
    .$call(stamps)
    .addUniqueConstraint('uq_metadef_tags_namespace_id_name', ['namespace_id', 'name'])
    .$call(p.table)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('metadef_tags').execute();
  await db.schema.dropTable('metadef_properties').execute();
  await db.schema.dropTable('metadef_objects').execute();
  await db.schema.dropTable('metadef_namespace_resource_types').execute();
  await db.schema.dropTable('metadef_resource_types').execute();
  await db.schema.dropTable('metadef_namespaces').execute();
}
