/**
 * The metadefs catalogue as Glance's definition files describe it, in and out of the metadefs
 * tables (glance-manage's load/unload/export, glance/db/sqlalchemy/metadata.py); reading and
 * writing the files themselves is `ocellus manage`'s (src/cli/metadef-files-io.ts). A namespace is
 * applied in one transaction, so one that fails half way leaves nothing of itself. With an existing
 * namespace: no option = skipped; merge = what the definition adds (resource types, associations,
 * properties, objects, tags) is added and what exists is kept; merge + preferNew = what exists is
 * replaced by the definition's version too; merge + overwrite = the namespace is deleted with
 * everything in it and loaded afresh. Nothing the definition lacks is ever removed by a merge.
 */
import type { Kysely } from 'kysely';
import type { JsonObject, LoadOptions, LoadOutcome, NamespaceDefinition } from '../domain/metadef-files.js';
import { atomically, isUniqueViolation } from './connect.js';
import type { Database } from './tables.js';

/** Times a namespace is tried again when a concurrent loader inserted the same name first (it then exists). */
const CLASH_RETRIES = 3;

/** Applies one namespace definition in a transaction of its own (retried when a concurrent load clashed); how it went. */
export async function applyNamespaceDefinition(db: Kysely<Database>, def: NamespaceDefinition, options: LoadOptions, now: () => number = Date.now): Promise<LoadOutcome> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await atomically(db, (trx) => applyDefinition(trx, def, options, now()));
    } catch (err) {
      if (!(isUniqueViolation(err) && attempt <= CLASH_RETRIES)) throw err;
    }
  }
}

async function namespaceId(db: Kysely<Database>, namespace: string): Promise<number | null> {
  const row = await db.selectFrom('metadef_namespaces').select('id').where('namespace', '=', namespace).executeTakeFirst();
  return row?.id ?? null;
}

async function existingNames(db: Kysely<Database>, table: 'metadef_properties' | 'metadef_objects' | 'metadef_tags', nsId: number): Promise<Set<string>> {
  const rows = await db.selectFrom(table).select('name').where('namespace_id', '=', nsId).execute();
  return new Set(rows.map((r) => r.name));
}

/** Deletes a namespace and everything in it (its resource types stay). */
async function deleteNamespace(db: Kysely<Database>, nsId: number): Promise<void> {
  for (const table of ['metadef_properties', 'metadef_objects', 'metadef_tags', 'metadef_namespace_resource_types'] as const) {
    await db.deleteFrom(table).where('namespace_id', '=', nsId).execute();
  }
  await db.deleteFrom('metadef_namespaces').where('id', '=', nsId).execute();
}

/** Applies one file's namespace inside the caller's transaction. */
async function applyDefinition(db: Kysely<Database>, def: NamespaceDefinition, options: LoadOptions, now: number): Promise<LoadOutcome> {
  const namespaceRow = {
    display_name: def.display_name,
    description: def.description,
    visibility: def.visibility,
    protected: def.protected ? 1 : 0,
    owner: def.owner,
  };
  let nsId = await namespaceId(db, def.namespace);
  let outcome: LoadOutcome;
  if (nsId !== null && !options.merge) return 'skipped';
  if (nsId !== null && options.overwrite) {
    await deleteNamespace(db, nsId);
    nsId = null;
    outcome = 'overwritten';
  } else {
    outcome = nsId === null ? 'created' : options.preferNew ? 'updated' : 'merged';
  }
  if (nsId === null) {
    await db.insertInto('metadef_namespaces').values({ namespace: def.namespace, ...namespaceRow, created_at: now, updated_at: now }).execute();
    nsId = (await namespaceId(db, def.namespace))!;
  } else if (options.preferNew) {
    await db.updateTable('metadef_namespaces').set({ ...namespaceRow, updated_at: now }).where('id', '=', nsId).execute();
  }
  const preferNew = options.preferNew === true;
  await applyAssociations(db, nsId, def, preferNew, now);

  const json = (v: unknown) => JSON.stringify(v);
  const properties = await existingNames(db, 'metadef_properties', nsId);
  const newProperties = Object.entries(def.properties).filter(([name]) => !properties.has(name));
  if (newProperties.length > 0) {
    await db.insertInto('metadef_properties').values(newProperties.map(([name, schema]) => ({ namespace_id: nsId, name, json_schema: json(schema), created_at: now, updated_at: now }))).execute();
  }
  const objects = await existingNames(db, 'metadef_objects', nsId);
  const objectRow = (o: NamespaceDefinition['objects'][number]) => ({ description: o.description, required: o.required === null ? null : json(o.required), json_schema: json(o.properties) });
  const newObjects = def.objects.filter((o) => !objects.has(o.name));
  if (newObjects.length > 0) {
    await db.insertInto('metadef_objects').values(newObjects.map((o) => ({ namespace_id: nsId, name: o.name, ...objectRow(o), created_at: now, updated_at: now }))).execute();
  }
  const tags = await existingNames(db, 'metadef_tags', nsId);
  const newTags = def.tags.filter((t) => !tags.has(t.name));
  if (newTags.length > 0) {
    await db.insertInto('metadef_tags').values(newTags.map((t) => ({ namespace_id: nsId, name: t.name, created_at: now, updated_at: now }))).execute();
  }
  if (preferNew) {
    for (const [name, schema] of Object.entries(def.properties).filter(([n]) => properties.has(n))) {
      await db.updateTable('metadef_properties').set({ json_schema: json(schema), updated_at: now }).where('namespace_id', '=', nsId).where('name', '=', name).execute();
    }
    for (const o of def.objects.filter((x) => objects.has(x.name))) {
      await db.updateTable('metadef_objects').set({ ...objectRow(o), updated_at: now }).where('namespace_id', '=', nsId).where('name', '=', o.name).execute();
    }
    const keptTags = def.tags.filter((t) => tags.has(t.name)).map((t) => t.name);
    if (keptTags.length > 0) await db.updateTable('metadef_tags').set({ updated_at: now }).where('namespace_id', '=', nsId).where('name', 'in', keptTags).execute();
  }
  return outcome;
}

/** The file's resource types (created, protected, when new) and the namespace's associations with them. */
async function applyAssociations(db: Kysely<Database>, nsId: number, def: NamespaceDefinition, preferNew: boolean, now: number): Promise<void> {
  const wanted = def.resource_type_associations;
  if (wanted.length === 0) return;
  const names = wanted.map((a) => a.name);
  const known = new Map((await db.selectFrom('metadef_resource_types').select(['id', 'name']).where('name', 'in', names).execute()).map((r) => [r.name, r.id]));
  if (preferNew && known.size > 0) await db.updateTable('metadef_resource_types').set({ updated_at: now }).where('name', 'in', [...known.keys()]).execute();
  const missing = names.filter((n) => !known.has(n));
  if (missing.length > 0) {
    await db.insertInto('metadef_resource_types').values(missing.map((name) => ({ name, protected: 1, created_at: now, updated_at: now }))).execute();
    for (const r of await db.selectFrom('metadef_resource_types').select(['id', 'name']).where('name', 'in', missing).execute()) known.set(r.name, r.id);
  }
  const associated = new Set((await db.selectFrom('metadef_namespace_resource_types').select('resource_type_id').where('namespace_id', '=', nsId).execute()).map((r) => r.resource_type_id));
  for (const a of wanted) {
    const rtId = known.get(a.name)!;
    if (!associated.has(rtId)) {
      await db.insertInto('metadef_namespace_resource_types').values({ namespace_id: nsId, resource_type_id: rtId, prefix: a.prefix, properties_target: a.properties_target, created_at: now, updated_at: now }).execute();
    } else if (preferNew) {
      await db.updateTable('metadef_namespace_resource_types').set({ prefix: a.prefix, properties_target: a.properties_target, updated_at: now }).where('namespace_id', '=', nsId).where('resource_type_id', '=', rtId).execute();
    }
  }
}

export interface UnloadResult {
  namespaces: number;
  resourceTypes: number;
}

/** Deletes the whole catalogue, resource types included, in one transaction (Glance's unload_metadefs). */
export async function unloadMetadefs(db: Kysely<Database>): Promise<UnloadResult> {
  return atomically(db, async (trx) => {
    for (const table of ['metadef_properties', 'metadef_objects', 'metadef_tags', 'metadef_namespace_resource_types'] as const) await trx.deleteFrom(table).execute();
    const namespaces = await trx.deleteFrom('metadef_namespaces').executeTakeFirst();
    const resourceTypes = await trx.deleteFrom('metadef_resource_types').executeTakeFirst();
    return { namespaces: Number(namespaces.numDeletedRows), resourceTypes: Number(resourceTypes.numDeletedRows) };
  });
}

/** Every namespace of the catalogue as a definition, in creation order, children in theirs. Read in one transaction: a consistent picture. */
export async function readCatalogue(db: Kysely<Database>): Promise<NamespaceDefinition[]> {
  return atomically(db, async (trx) => {
    const byNamespace = <R extends { namespace_id: number }>(rows: R[]) => {
      const m = new Map<number, R[]>();
      for (const r of rows) m.set(r.namespace_id, [...(m.get(r.namespace_id) ?? []), r]);
      return (id: number) => m.get(id) ?? [];
    };
    const associations = byNamespace(
      await trx
        .selectFrom('metadef_namespace_resource_types as a')
        .innerJoin('metadef_resource_types as r', 'r.id', 'a.resource_type_id')
        .select(['a.namespace_id', 'r.name', 'a.prefix', 'a.properties_target'])
        .orderBy('a.created_at')
        .orderBy('r.id')
        .execute(),
    );
    const properties = byNamespace(await trx.selectFrom('metadef_properties').select(['namespace_id', 'name', 'json_schema']).orderBy('id').execute());
    const objects = byNamespace(await trx.selectFrom('metadef_objects').select(['namespace_id', 'name', 'description', 'required', 'json_schema']).orderBy('id').execute());
    const tags = byNamespace(await trx.selectFrom('metadef_tags').select(['namespace_id', 'name']).orderBy('id').execute());
    const namespaces = await trx.selectFrom('metadef_namespaces').selectAll().orderBy('id').execute();
    return namespaces.map((ns) => ({
      namespace: ns.namespace,
      display_name: ns.display_name,
      description: ns.description,
      visibility: ns.visibility === 'public' ? 'public' : 'private',
      protected: Number(ns.protected) === 1,
      owner: ns.owner,
      resource_type_associations: associations(ns.id).map((a) => ({ name: a.name, prefix: a.prefix, properties_target: a.properties_target })),
      properties: Object.fromEntries(properties(ns.id).map((p) => [p.name, JSON.parse(p.json_schema) as JsonObject])),
      objects: objects(ns.id).map((o) => ({
        name: o.name,
        description: o.description,
        required: o.required === null ? null : (JSON.parse(o.required) as string[] | null),
        properties: (JSON.parse(o.json_schema) as Record<string, JsonObject> | null) ?? {},
      })),
      tags: tags(ns.id).map((t) => ({ name: t.name })),
    }));
  });
}
