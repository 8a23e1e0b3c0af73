/**
 * The property definitions of a metadefs namespace (Glance's NamespacePropertiesController):
 * list (a map by name), create, show (`?resource_type=` strips that association's prefix from the
 * asked name), full-replacement update (a rename included), delete.
 */
import type { RequestContext } from '../auth/context.js';
import { Conflict, Forbidden, NotFound } from './errors.js';
import { deletedFields, propertyPayload } from './metadef-events.js';
import { checkedBody, propertyDefinition } from './metadef-input.js';
import type { NamespaceRecord, PropertyRecord } from './metadef-model.js';
import { duplicateProperty, MetadefService } from './metadef-service.js';

const READ_ONLY = ['created_at', 'updated_at'];

const propertyNotFound = (name: string, ns: string) => new NotFound(`The metadata definition property with name=${name} was not found in namespace=${ns}.`);

export interface NamespaceProperty {
  namespace: NamespaceRecord;
  property: PropertyRecord;
}

export class MetadefProperties extends MetadefService {
  async list(ctx: RequestContext, namespace: string): Promise<PropertyRecord[]> {
    const ns = await this.access.namespace(this.repo, ctx, namespace, 'get_metadef_properties');
    return this.repo.properties(ns.id);
  }

  private async find(ctx: RequestContext, namespace: string, name: string, rule: string): Promise<NamespaceProperty> {
    const ns = await this.access.namespace(this.repo, ctx, namespace, rule);
    const property = await this.repo.findProperty(ns.id, name);
    if (!property) throw propertyNotFound(name, ns.namespace);
    return { namespace: ns, property };
  }

  async show(ctx: RequestContext, namespace: string, name: string, resourceType?: string): Promise<NamespaceProperty> {
    const ns = await this.access.namespace(this.repo, ctx, namespace, 'get_metadef_property');
    let bare = name;
    if (resourceType) {
      this.access.enforce(ctx, 'get_metadef_resource_type', ns);
      if (!(await this.repo.findResourceType(resourceType))) throw new NotFound(`The metadata definition resource-type with name=${resourceType}, was not found.`);
      const association = (await this.repo.associations([ns.id])).find((a) => a.name === resourceType);
      if (!association) {
        throw new NotFound(`The metadata definition resource-type association of resource-type=${resourceType} to namespace=${ns.namespace}, was not found.`);
      }
      const prefix = association.prefix;
      if (!prefix || !name.startsWith(prefix)) {
        throw new NotFound(`Property ${name} does not start with the expected resource type association prefix of '${prefix ?? 'None'}'.`);
      }
      bare = name.slice(prefix.length);
    }
    const property = await this.repo.findProperty(ns.id, bare);
    if (!property) throw propertyNotFound(bare, ns.namespace);
    return { namespace: ns, property };
  }

  private definitionOf(body: unknown): { name: string; definition: Record<string, unknown> } {
    const checked = checkedBody(body, READ_ONLY, this.bodies.property);
    return { name: checked.name as string, definition: propertyDefinition(checked) };
  }

  async create(ctx: RequestContext, namespace: string, body: unknown): Promise<NamespaceProperty> {
    const { name, definition } = this.definitionOf(body);
    const ns = await this.access.namespace(this.repo, ctx, namespace, 'add_metadef_property');
    const property = await this.uow.run(async (tx) => {
      const created = await tx.metadefs.insertProperty(ns.id, name, definition, this.now());
      if (created === 'duplicate') throw duplicateProperty(name, ns.namespace);
      await this.notifier.metadef(tx, 'metadef_property.create', () => propertyPayload(ns.namespace, created));
      return created;
    });
    return { namespace: ns, property };
  }

  async update(ctx: RequestContext, namespace: string, name: string, body: unknown): Promise<NamespaceProperty> {
    const { name: newName, definition } = this.definitionOf(body);
    const found = await this.find(ctx, namespace, name, 'modify_metadef_property');
    const ns = found.namespace;
    const property = await this.uow.run(async (tx) => {
      const updated = await tx.metadefs.updateProperty(found.property.id, newName, definition, this.now());
      if (updated === 'duplicate') {
        throw new Conflict(`Invalid update. It would result in a duplicate metadata definition property with the same name=${newName} in namespace=${ns.namespace}.`);
      }
      if (updated === 'absent') throw propertyNotFound(name, ns.namespace);
      await this.notifier.metadef(tx, 'metadef_property.update', () => propertyPayload(ns.namespace, updated, name));
      return updated;
    });
    return { namespace: ns, property };
  }

  async remove(ctx: RequestContext, namespace: string, name: string): Promise<void> {
    const { namespace: ns, property } = await this.find(ctx, namespace, name, 'remove_metadef_property');
    if (ns.protected) throw new Forbidden(`Metadata definition property ${property.name} is protected and cannot be deleted.`);
    await this.uow.run(async (tx) => {
      if (!(await tx.metadefs.deleteProperty(property.id))) throw propertyNotFound(name, ns.namespace);
      await this.notifier.metadef(tx, 'metadef_property.delete', () => ({ ...propertyPayload(ns.namespace, property), ...deletedFields(this.now()) }));
    });
  }
}
