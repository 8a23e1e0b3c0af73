/**
 * The metadefs catalogue (domain/ports.ts MetadefRepository) on the metadef_* tables of
 * migration 0006, for SQLite, PostgreSQL and MariaDB. Inserts and renames let the unique keys
 * decide clashes (two racing creates: one wins, the other is 'duplicate'); every list has a total
 * order ending in the id, so pages are the same on the three databases.
 */
import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool } from 'kysely';
import type {
  AssociationRecord,
  NamespaceFields,
  NamespaceListQuery,
  NamespaceRecord,
  NamespaceSortKey,
  ObjectFields,
  ObjectRecord,
  PropertyDefinition,
  PropertyRecord,
  ResourceTypeRecord,
  SortDir,
  TagListQuery,
  TagRecord,
  TagSortKey,
} from '../domain/metadef-model.js';
import type { MetadefRepository } from '../domain/ports.js';
import { isUniqueViolation } from './connect.js';
import type { Database, MetadefNamespacesTable, MetadefObjectsTable, MetadefPropertiesTable, MetadefResourceTypesTable, MetadefTagsTable } from './tables.js';

type Row<T> = { [K in keyof T]: T[K] extends import('kysely').Generated<infer V> ? V : T[K] };

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));

const toNamespace = (r: Row<MetadefNamespacesTable>): NamespaceRecord => ({
  id: num(r.id),
  namespace: r.namespace,
  display_name: r.display_name,
  description: r.description,
  visibility: r.visibility as NamespaceRecord['visibility'],
  protected: num(r.protected) === 1,
  owner: r.owner,
  created_at: num(r.created_at),
  updated_at: num(r.updated_at),
});

const toObject = (r: Row<MetadefObjectsTable>): ObjectRecord => ({
  id: num(r.id),
  namespace_id: num(r.namespace_id),
  name: r.name,
  description: r.description,
  required: r.required === null ? null : (JSON.parse(r.required) as string[] | null),
  properties: (JSON.parse(r.json_schema) as Record<string, PropertyDefinition> | null) ?? {},
  created_at: num(r.created_at),
  updated_at: num(r.updated_at),
});

const toProperty = (r: Row<MetadefPropertiesTable>): PropertyRecord => ({
  id: num(r.id),
  namespace_id: num(r.namespace_id),
  name: r.name,
  definition: JSON.parse(r.json_schema) as PropertyDefinition,
  created_at: num(r.created_at),
  updated_at: num(r.updated_at),
});

const toTag = (r: Row<MetadefTagsTable>): TagRecord => ({ id: num(r.id), namespace_id: num(r.namespace_id), name: r.name, created_at: num(r.created_at), updated_at: num(r.updated_at) });

const toResourceType = (r: Row<MetadefResourceTypesTable>): ResourceTypeRecord => ({
  id: num(r.id),
  name: r.name,
  protected: num(r.protected) === 1,
  created_at: num(r.created_at),
  updated_at: num(r.updated_at),
});

/** Columns that may be null sort (and compare, for markers) as the empty string, the same on every database. */
const NULLABLE_NAMESPACE_KEYS = new Set<NamespaceSortKey>(['display_name', 'description']);

/**
 * The keyset condition "after the marker" for sort keys all in one direction: (k1, k2, …) > (m1,
 * m2, …) written out as ORs of equalities, which every database plans and means alike.
 */
function after<DB, TB extends keyof DB>(eb: ExpressionBuilder<DB, TB>, keys: { expr: Expression<unknown>; value: unknown }[], dir: SortDir): Expression<SqlBool> {
  const op = dir === 'asc' ? '>' : '<';
  return eb.or(
    keys.map((key, i) =>
      eb.and([...keys.slice(0, i).map((k) => eb(k.expr as never, '=', k.value as never)), eb(key.expr as never, op, key.value as never)]),
    ),
  );
}

/** 'duplicate' instead of a unique-key violation. */
async function unlessDuplicate<T>(work: () => Promise<T>): Promise<T | 'duplicate'> {
  try {
    return await work();
  } catch (err) {
    if (isUniqueViolation(err)) return 'duplicate';
    throw err;
  }
}

export class SqlMetadefRepository implements MetadefRepository {
  constructor(private readonly db: Kysely<Database>) {}

  // Namespaces.

  async listNamespaces(q: NamespaceListQuery): Promise<NamespaceRecord[]> {
    // Glance's sort keys: the asked one, then created_at and id (the asked one dropped if it is one of those).
    const sortKeys: NamespaceSortKey[] = ['created_at', 'id'];
    if (!sortKeys.includes(q.sortKey)) sortKeys.unshift(q.sortKey);
    const column = (k: NamespaceSortKey) => (NULLABLE_NAMESPACE_KEYS.has(k) ? sql<string>`coalesce(${sql.ref(`metadef_namespaces.${k}`)}, '')` : sql.ref(`metadef_namespaces.${k}`));
    const markerValue = (m: NamespaceRecord, k: NamespaceSortKey): unknown => (k === 'protected' ? (m.protected ? 1 : 0) : (m[k] ?? ''));
    let query = this.db.selectFrom('metadef_namespaces').selectAll('metadef_namespaces');
    const { viewer } = q;
    if (!viewer.isAdmin) {
      const projectId = viewer.projectId;
      query = projectId !== null ? query.where((eb) => eb.or([eb('owner', '=', projectId), eb('visibility', '=', 'public')])) : query.where('visibility', '=', 'public');
    }
    if (q.visibility !== undefined) query = query.where('visibility', '=', q.visibility);
    if (q.resourceTypes !== undefined) {
      const names = q.resourceTypes;
      query = query.where('id', 'in', (eb) =>
        eb
          .selectFrom('metadef_namespace_resource_types as a')
          .innerJoin('metadef_resource_types as t', 't.id', 'a.resource_type_id')
          .select('a.namespace_id')
          .where('t.name', 'in', names),
      );
    }
    const marker = q.marker;
    if (marker) query = query.where((eb) => after(eb, sortKeys.map((k) => ({ expr: column(k), value: markerValue(marker, k) })), q.sortDir));
    for (const k of sortKeys) query = query.orderBy(column(k), q.sortDir);
    const rows = await query.limit(q.limit).execute();
    return rows.map(toNamespace);
  }

  async findNamespace(name: string): Promise<NamespaceRecord | undefined> {
    const row = await this.db.selectFrom('metadef_namespaces').selectAll().where('namespace', '=', name).executeTakeFirst();
    return row ? toNamespace(row) : undefined;
  }

  private async namespaceById(id: number): Promise<NamespaceRecord | undefined> {
    const row = await this.db.selectFrom('metadef_namespaces').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toNamespace(row) : undefined;
  }

  async insertNamespace(fields: NamespaceFields, now: number): Promise<NamespaceRecord | 'duplicate'> {
    return unlessDuplicate(async () => {
      await this.db
        .insertInto('metadef_namespaces')
        .values({ ...fields, protected: fields.protected ? 1 : 0, created_at: now, updated_at: now })
        .execute();
      return (await this.findNamespace(fields.namespace))!;
    });
  }

  async updateNamespace(id: number, fields: NamespaceFields, now: number): Promise<NamespaceRecord | 'duplicate' | 'absent'> {
    return unlessDuplicate(async () => {
      const res = await this.db
        .updateTable('metadef_namespaces')
        .set({ ...fields, protected: fields.protected ? 1 : 0, updated_at: now })
        .where('id', '=', id)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) return 'absent' as const;
      return (await this.namespaceById(id)) ?? ('absent' as const);
    });
  }

  async deleteNamespace(id: number): Promise<boolean> {
    // The children explicitly, not only by ON DELETE CASCADE: SQLite enforces foreign keys only
    // on connections that turned them on.
    await this.deleteObjects(id);
    await this.deleteProperties(id);
    await this.deleteTags(id);
    await this.db.deleteFrom('metadef_namespace_resource_types').where('namespace_id', '=', id).execute();
    const res = await this.db.deleteFrom('metadef_namespaces').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }

  // Objects.

  async objects(namespaceId: number): Promise<ObjectRecord[]> {
    const rows = await this.db.selectFrom('metadef_objects').selectAll().where('namespace_id', '=', namespaceId).orderBy('created_at').orderBy('id').execute();
    return rows.map(toObject);
  }

  async findObject(namespaceId: number, name: string): Promise<ObjectRecord | undefined> {
    const row = await this.db.selectFrom('metadef_objects').selectAll().where('namespace_id', '=', namespaceId).where('name', '=', name).executeTakeFirst();
    return row ? toObject(row) : undefined;
  }

  private objectColumns(fields: ObjectFields) {
    return { name: fields.name, description: fields.description, required: fields.required === null ? null : JSON.stringify(fields.required), json_schema: JSON.stringify(fields.properties) };
  }

  async insertObject(namespaceId: number, fields: ObjectFields, now: number): Promise<ObjectRecord | 'duplicate'> {
    return unlessDuplicate(async () => {
      await this.db
        .insertInto('metadef_objects')
        .values({ namespace_id: namespaceId, ...this.objectColumns(fields), created_at: now, updated_at: now })
        .execute();
      return (await this.findObject(namespaceId, fields.name))!;
    });
  }

  async updateObject(id: number, fields: ObjectFields, now: number): Promise<ObjectRecord | 'duplicate' | 'absent'> {
    return unlessDuplicate(async () => {
      const res = await this.db.updateTable('metadef_objects').set({ ...this.objectColumns(fields), updated_at: now }).where('id', '=', id).executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) return 'absent' as const;
      const row = await this.db.selectFrom('metadef_objects').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toObject(row) : ('absent' as const);
    });
  }

  async deleteObject(id: number): Promise<boolean> {
    const res = await this.db.deleteFrom('metadef_objects').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }

  async deleteObjects(namespaceId: number): Promise<number> {
    const res = await this.db.deleteFrom('metadef_objects').where('namespace_id', '=', namespaceId).executeTakeFirst();
    return Number(res.numDeletedRows);
  }

  // Properties.

  async properties(namespaceId: number): Promise<PropertyRecord[]> {
    const rows = await this.db.selectFrom('metadef_properties').selectAll().where('namespace_id', '=', namespaceId).orderBy('created_at').orderBy('id').execute();
    return rows.map(toProperty);
  }

  async findProperty(namespaceId: number, name: string): Promise<PropertyRecord | undefined> {
    const row = await this.db.selectFrom('metadef_properties').selectAll().where('namespace_id', '=', namespaceId).where('name', '=', name).executeTakeFirst();
    return row ? toProperty(row) : undefined;
  }

  async insertProperty(namespaceId: number, name: string, definition: PropertyDefinition, now: number): Promise<PropertyRecord | 'duplicate'> {
    return unlessDuplicate(async () => {
      await this.db
        .insertInto('metadef_properties')
        .values({ namespace_id: namespaceId, name, json_schema: JSON.stringify(definition), created_at: now, updated_at: now })
        .execute();
      return (await this.findProperty(namespaceId, name))!;
    });
  }

  async updateProperty(id: number, name: string, definition: PropertyDefinition, now: number): Promise<PropertyRecord | 'duplicate' | 'absent'> {
    return unlessDuplicate(async () => {
      const res = await this.db.updateTable('metadef_properties').set({ name, json_schema: JSON.stringify(definition), updated_at: now }).where('id', '=', id).executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) return 'absent' as const;
      const row = await this.db.selectFrom('metadef_properties').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toProperty(row) : ('absent' as const);
    });
  }

  async deleteProperty(id: number): Promise<boolean> {
    const res = await this.db.deleteFrom('metadef_properties').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }

  async deleteProperties(namespaceId: number): Promise<number> {
    const res = await this.db.deleteFrom('metadef_properties').where('namespace_id', '=', namespaceId).executeTakeFirst();
    return Number(res.numDeletedRows);
  }

  // Tags.

  async tags(namespaceId: number, q: TagListQuery): Promise<TagRecord[]> {
    const sortKeys: TagSortKey[] = ['created_at', 'id'];
    if (!sortKeys.includes(q.sortKey)) sortKeys.unshift(q.sortKey);
    let query = this.db.selectFrom('metadef_tags').selectAll().where('namespace_id', '=', namespaceId);
    const marker = q.marker;
    if (marker) query = query.where((eb) => after(eb, sortKeys.map((k) => ({ expr: sql.ref(k), value: marker[k] })), q.sortDir));
    for (const k of sortKeys) query = query.orderBy(k, q.sortDir);
    if (q.limit !== undefined) query = query.limit(q.limit);
    return (await query.execute()).map(toTag);
  }

  async findTag(namespaceId: number, name: string): Promise<TagRecord | undefined> {
    const row = await this.db.selectFrom('metadef_tags').selectAll().where('namespace_id', '=', namespaceId).where('name', '=', name).executeTakeFirst();
    return row ? toTag(row) : undefined;
  }

  async insertTag(namespaceId: number, name: string, now: number): Promise<TagRecord | 'duplicate'> {
    return unlessDuplicate(async () => {
      await this.db.insertInto('metadef_tags').values({ namespace_id: namespaceId, name, created_at: now, updated_at: now }).execute();
      return (await this.findTag(namespaceId, name))!;
    });
  }

  async updateTag(id: number, name: string, now: number): Promise<TagRecord | 'duplicate' | 'absent'> {
    return unlessDuplicate(async () => {
      const res = await this.db.updateTable('metadef_tags').set({ name, updated_at: now }).where('id', '=', id).executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) return 'absent' as const;
      const row = await this.db.selectFrom('metadef_tags').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toTag(row) : ('absent' as const);
    });
  }

  async deleteTag(id: number): Promise<boolean> {
    const res = await this.db.deleteFrom('metadef_tags').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }

  async deleteTags(namespaceId: number): Promise<number> {
    const res = await this.db.deleteFrom('metadef_tags').where('namespace_id', '=', namespaceId).executeTakeFirst();
    return Number(res.numDeletedRows);
  }

  // Resource types and associations.

  async resourceTypes(): Promise<ResourceTypeRecord[]> {
    return (await this.db.selectFrom('metadef_resource_types').selectAll().orderBy('id').execute()).map(toResourceType);
  }

  async findResourceType(name: string): Promise<ResourceTypeRecord | undefined> {
    const row = await this.db.selectFrom('metadef_resource_types').selectAll().where('name', '=', name).executeTakeFirst();
    return row ? toResourceType(row) : undefined;
  }

  async insertResourceType(name: string, isProtected: boolean, now: number): Promise<ResourceTypeRecord | 'duplicate'> {
    return unlessDuplicate(async () => {
      await this.db
        .insertInto('metadef_resource_types')
        .values({ name, protected: isProtected ? 1 : 0, created_at: now, updated_at: now })
        .execute();
      return (await this.findResourceType(name))!;
    });
  }

  async associations(namespaceIds: number[]): Promise<AssociationRecord[]> {
    if (namespaceIds.length === 0) return [];
    const rows = await this.db
      .selectFrom('metadef_namespace_resource_types as a')
      .innerJoin('metadef_resource_types as t', 't.id', 'a.resource_type_id')
      .select(['a.namespace_id', 't.name', 'a.prefix', 'a.properties_target', 'a.created_at', 'a.updated_at'])
      .where('a.namespace_id', 'in', namespaceIds)
      .orderBy('a.namespace_id')
      .orderBy('t.id')
      .execute();
    return rows.map((r) => ({ ...r, namespace_id: num(r.namespace_id), created_at: num(r.created_at), updated_at: num(r.updated_at) }));
  }

  async insertAssociation(namespaceId: number, resourceTypeId: number, fields: { prefix: string | null; properties_target: string | null }, now: number): Promise<'added' | 'duplicate'> {
    return unlessDuplicate(async () => {
      await this.db
        .insertInto('metadef_namespace_resource_types')
        .values({ namespace_id: namespaceId, resource_type_id: resourceTypeId, ...fields, created_at: now, updated_at: now })
        .execute();
      return 'added' as const;
    });
  }

  async deleteAssociation(namespaceId: number, resourceTypeId: number): Promise<boolean> {
    const res = await this.db.deleteFrom('metadef_namespace_resource_types').where('namespace_id', '=', namespaceId).where('resource_type_id', '=', resourceTypeId).executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }
}
