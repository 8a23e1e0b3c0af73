/**
 * Metadefs namespaces (Glance's NamespaceController): list, create (with embedded properties,
 * objects, tags and resource type associations, all in one transaction), show (with everything in
 * it, property names prefixed for a resource type on request), full-replacement update (a rename
 * included), delete, and deleting all objects, properties or tags of one. Each change and its
 * notifications commit together.
 */
import type { RequestContext } from '../auth/context.js';
import { BadRequest, Conflict, Forbidden } from './errors.js';
import { namespaceNotFound } from './metadef-access.js';
import { deletedFields, namespacePayload, objectPayload, propertyPayload, tagPayload } from './metadef-events.js';
import { checkedBody, namespaceInput, type NamespaceInput } from './metadef-input.js';
import type { AssociationRecord, MetadefVisibility, NamespaceFields, NamespaceRecord, NamespaceSortKey, ObjectRecord, PropertyRecord, SortDir, TagRecord } from './metadef-model.js';
import { associate, duplicateObject, duplicateProperty, duplicateTag, MetadefService } from './metadef-service.js';

/** What a namespace request may not set. */
const READ_ONLY = ['self', 'schema', 'created_at', 'updated_at'];

export interface NamespaceListParams {
  limit: number;
  /** The name of the namespace the page starts after. */
  marker?: string;
  sortKey: NamespaceSortKey;
  sortDir: SortDir;
  visibility?: MetadefVisibility;
  resourceTypes?: string[];
}

export interface NamespacePage {
  namespaces: { namespace: NamespaceRecord; associations: AssociationRecord[] }[];
  /** The marker of the next page (the last namespace's name), when the page is full. */
  next: string | null;
}

export interface NamespaceDetail {
  namespace: NamespaceRecord;
  associations: AssociationRecord[];
  properties: PropertyRecord[];
  objects: ObjectRecord[];
  tags: TagRecord[];
  /** The prefix of the association `?resource_type=` named: property names (and objects' required names) take it. */
  prefix: string | null;
}

export interface CreatedNamespace {
  namespace: NamespaceRecord;
  /** What the request embedded: Glance's answer echoes it. */
  input: NamespaceInput;
}

export type NamespaceContents = 'objects' | 'properties' | 'tags';

export class MetadefNamespaces extends MetadefService {
  async list(ctx: RequestContext, p: NamespaceListParams): Promise<NamespacePage> {
    this.access.enforce(ctx, 'get_metadef_namespaces');
    this.access.enforce(ctx, 'list_metadef_resource_types');
    let marker: NamespaceRecord | undefined;
    if (p.marker !== undefined) marker = await this.access.namespace(this.repo, ctx, p.marker, 'get_metadef_namespace');
    const page = await this.repo.listNamespaces({
      viewer: { isAdmin: ctx.isAdmin, projectId: ctx.projectId },
      visibility: p.visibility,
      resourceTypes: p.resourceTypes,
      sortKey: p.sortKey,
      sortDir: p.sortDir,
      limit: p.limit,
      marker,
    });
    const shown = page.filter((ns) => this.access.allows(ctx, 'get_metadef_namespace', ns));
    const associations = await this.repo.associations(shown.map((ns) => ns.id));
    return {
      namespaces: shown.map((ns) => ({ namespace: ns, associations: associations.filter((a) => a.namespace_id === ns.id) })),
      next: shown.length !== 0 && shown.length === p.limit ? shown[shown.length - 1]!.namespace : null,
    };
  }

  async create(ctx: RequestContext, body: unknown): Promise<CreatedNamespace> {
    const input = namespaceInput(checkedBody(body, READ_ONLY, this.bodies.namespace));
    this.access.enforce(ctx, 'add_metadef_namespace');
    if (input.associations?.length) this.access.enforce(ctx, 'add_metadef_resource_type_association');
    if (input.objects?.length) this.access.enforce(ctx, 'add_metadef_object');
    if (input.properties && Object.keys(input.properties).length > 0) this.access.enforce(ctx, 'add_metadef_property');
    if (input.tags?.length) this.access.enforce(ctx, 'add_metadef_tag');
    const owner = input.owner ?? ctx.projectId;
    if (owner === null) throw new BadRequest('A metadata definition namespace needs an owner: the request names none and the caller has no project.');
    const fields = namespaceFields(input, owner);
    const now = this.now();
    const namespace = await this.uow.run(async (tx) => {
      const ns = await tx.metadefs.insertNamespace(fields, now);
      if (ns === 'duplicate') throw new Conflict(`The metadata definition namespace=${fields.namespace} already exists.`);
      await this.notifier.metadef(tx, 'metadef_namespace.create', () => namespacePayload(ns));
      for (const a of input.associations ?? []) await associate(tx, this.notifier, ns, a, now);
      for (const o of input.objects ?? []) {
        const obj = await tx.metadefs.insertObject(ns.id, o, now);
        if (obj === 'duplicate') throw duplicateObject(o.name, ns.namespace);
        await this.notifier.metadef(tx, 'metadef_object.create', () => objectPayload(ns.namespace, obj));
      }
      for (const name of input.tags ?? []) {
        const tag = await tx.metadefs.insertTag(ns.id, name, now);
        if (tag === 'duplicate') throw duplicateTag(name, ns.namespace);
        await this.notifier.metadef(tx, 'metadef_tag.create', () => tagPayload(ns.namespace, tag));
      }
      for (const [name, definition] of Object.entries(input.properties ?? {})) {
        const prop = await tx.metadefs.insertProperty(ns.id, name, definition, now);
        if (prop === 'duplicate') throw duplicateProperty(name, ns.namespace);
        await this.notifier.metadef(tx, 'metadef_property.create', () => propertyPayload(ns.namespace, prop));
      }
      return ns;
    });
    return { namespace, input };
  }

  async show(ctx: RequestContext, name: string, resourceType?: string): Promise<NamespaceDetail> {
    const ns = await this.access.namespace(this.repo, ctx, name, 'get_metadef_namespace');
    for (const rule of ['list_metadef_resource_types', 'get_metadef_objects', 'get_metadef_properties', 'get_metadef_tags']) this.access.enforce(ctx, rule, ns);
    const [associations, properties, objects, tags] = await Promise.all([
      this.repo.associations([ns.id]),
      this.repo.properties(ns.id),
      this.repo.objects(ns.id),
      // Glance's tag list order: newest first.
      this.repo.tags(ns.id, { sortKey: 'created_at', sortDir: 'desc' }),
    ]);
    const prefix = resourceType ? (associations.find((a) => a.name === resourceType)?.prefix ?? null) : null;
    return { namespace: ns, associations, properties, objects, tags, prefix };
  }

  async update(ctx: RequestContext, name: string, body: unknown): Promise<NamespaceRecord> {
    const input = namespaceInput(checkedBody(body, READ_ONLY, this.bodies.namespace));
    const ns = await this.access.namespace(this.repo, ctx, name, 'modify_metadef_namespace');
    // A full replacement: what the request leaves out takes Glance's defaults.
    const owner = input.owner ?? ctx.projectId ?? ns.owner;
    const fields = namespaceFields(input, owner);
    return this.uow.run(async (tx) => {
      const updated = await tx.metadefs.updateNamespace(ns.id, fields, this.now());
      if (updated === 'duplicate') {
        throw new Conflict(`Invalid update. It would result in a duplicate metadata definition namespace with the same name of ${fields.namespace}`);
      }
      if (updated === 'absent') throw namespaceNotFound(name);
      await this.notifier.metadef(tx, 'metadef_namespace.update', () => namespacePayload(updated, ns.namespace));
      return updated;
    });
  }

  async remove(ctx: RequestContext, name: string): Promise<void> {
    const ns = await this.access.namespace(this.repo, ctx, name, 'delete_metadef_namespace');
    if (ns.protected) throw new Forbidden(`Metadata definition namespace ${ns.namespace} is protected and cannot be deleted.`);
    await this.uow.run(async (tx) => {
      if (await tx.metadefs.deleteNamespace(ns.id)) {
        await this.notifier.metadef(tx, 'metadef_namespace.delete', () => ({ ...namespacePayload(ns), ...deletedFields(this.now()) }));
      }
    });
  }

  /** Deletes every object, property or tag of a namespace (a protected one refuses, as its deletion does). */
  async removeContents(ctx: RequestContext, name: string, contents: NamespaceContents): Promise<void> {
    const ns = await this.access.namespace(this.repo, ctx, name, 'delete_metadef_namespace');
    if (contents === 'tags') this.access.enforce(ctx, 'delete_metadef_tags', ns);
    if (ns.protected) throw new Forbidden(`Metadata definition namespace ${ns.namespace} is protected and cannot be deleted.`);
    await this.uow.run(async (tx) => {
      if (contents === 'objects') await tx.metadefs.deleteObjects(ns.id);
      else if (contents === 'properties') await tx.metadefs.deleteProperties(ns.id);
      else await tx.metadefs.deleteTags(ns.id);
      await this.notifier.metadef(tx, `metadef_namespace.delete_${contents}`, () => namespacePayload(ns));
    });
  }
}

/** A namespace's columns from a create or full-replacement body: what it leaves out takes Glance's defaults. */
function namespaceFields(input: NamespaceInput, owner: string): NamespaceFields {
  return {
    namespace: input.namespace,
    display_name: input.display_name,
    description: input.description,
    visibility: input.visibility ?? 'private',
    protected: input.protected ?? false,
    owner,
  };
}
