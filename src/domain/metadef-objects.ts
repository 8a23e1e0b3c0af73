/**
 * The objects of a metadefs namespace (Glance's MetadefObjectsController): list, create, show,
 * full-replacement update (a rename included), delete; a protected namespace keeps its objects.
 */
import type { RequestContext } from '../auth/context.js';
import { Conflict, Forbidden, NotFound } from './errors.js';
import { deletedFields, objectPayload } from './metadef-events.js';
import { checkedBody, objectFields } from './metadef-input.js';
import type { NamespaceRecord, ObjectRecord } from './metadef-model.js';
import { duplicateObject, MetadefService } from './metadef-service.js';

const READ_ONLY = ['self', 'schema', 'created_at', 'updated_at'];

const objectNotFound = (name: string, ns: string) => new NotFound(`The metadata definition object with name=${name} was not found in namespace=${ns}.`);

export interface NamespaceObject {
  namespace: NamespaceRecord;
  object: ObjectRecord;
}

export class MetadefObjects extends MetadefService {
  async list(ctx: RequestContext, namespace: string): Promise<{ namespace: NamespaceRecord; objects: ObjectRecord[] }> {
    const ns = await this.access.namespace(this.repo, ctx, namespace, 'get_metadef_objects');
    const objects = this.access.allows(ctx, 'get_metadef_object', ns) ? await this.repo.objects(ns.id) : [];
    return { namespace: ns, objects };
  }

  private async find(ctx: RequestContext, namespace: string, name: string, rule: string): Promise<NamespaceObject> {
    const ns = await this.access.namespace(this.repo, ctx, namespace, rule);
    const object = await this.repo.findObject(ns.id, name);
    if (!object) throw objectNotFound(name, ns.namespace);
    return { namespace: ns, object };
  }

  show(ctx: RequestContext, namespace: string, name: string): Promise<NamespaceObject> {
    return this.find(ctx, namespace, name, 'get_metadef_object');
  }

  async create(ctx: RequestContext, namespace: string, body: unknown): Promise<NamespaceObject> {
    const checked = checkedBody(body, READ_ONLY, this.bodies.object);
    // Glance validates each property definition of a new object (not of an updated one) on its own.
    for (const def of Object.values((checked.properties ?? {}) as Record<string, unknown>)) this.bodies.objectProperty.validate(def);
    const fields = objectFields(checked);
    const ns = await this.access.namespace(this.repo, ctx, namespace, 'add_metadef_object');
    const object = await this.uow.run(async (tx) => {
      const created = await tx.metadefs.insertObject(ns.id, fields, this.now());
      if (created === 'duplicate') throw duplicateObject(fields.name, ns.namespace);
      await this.notifier.metadef(tx, 'metadef_object.create', () => objectPayload(ns.namespace, created));
      return created;
    });
    return { namespace: ns, object };
  }

  async update(ctx: RequestContext, namespace: string, name: string, body: unknown): Promise<NamespaceObject> {
    const fields = objectFields(checkedBody(body, READ_ONLY, this.bodies.object));
    const found = await this.find(ctx, namespace, name, 'modify_metadef_object');
    const ns = found.namespace;
    const object = await this.uow.run(async (tx) => {
      const updated = await tx.metadefs.updateObject(found.object.id, fields, this.now());
      if (updated === 'duplicate') {
        throw new Conflict(`Invalid update. It would result in a duplicate metadata definition object with the same name=${fields.name} in namespace=${ns.namespace}.`);
      }
      if (updated === 'absent') throw objectNotFound(name, ns.namespace);
      await this.notifier.metadef(tx, 'metadef_object.update', () => objectPayload(ns.namespace, updated, name));
      return updated;
    });
    return { namespace: ns, object };
  }

  async remove(ctx: RequestContext, namespace: string, name: string): Promise<void> {
    const { namespace: ns, object } = await this.find(ctx, namespace, name, 'delete_metadef_object');
    if (ns.protected) throw new Forbidden(`Metadata definition object ${object.name} is protected and cannot be deleted.`);
    await this.uow.run(async (tx) => {
      if (!(await tx.metadefs.deleteObject(object.id))) throw objectNotFound(name, ns.namespace);
      await this.notifier.metadef(tx, 'metadef_object.delete', () => ({ ...objectPayload(ns.namespace, object), ...deletedFields(this.now()) }));
    });
  }
}
