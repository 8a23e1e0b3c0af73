/**
 * Metadefs resource types (Glance's ResourceTypeController): every resource type, and a
 * namespace's associations with them — list, associate (the type is created on first use),
 * dissociate (a protected namespace keeps its associations).
 */
import type { RequestContext } from '../auth/context.js';
import { Forbidden, NotFound } from './errors.js';
import { deletedFields, resourceTypePayload } from './metadef-events.js';
import { associationInput, checkedBody } from './metadef-input.js';
import type { AssociationRecord, ResourceTypeRecord } from './metadef-model.js';
import { associate, MetadefService } from './metadef-service.js';

const READ_ONLY = ['created_at', 'updated_at'];

export class MetadefResourceTypes extends MetadefService {
  async list(ctx: RequestContext): Promise<ResourceTypeRecord[]> {
    this.access.enforce(ctx, 'list_metadef_resource_types');
    return this.repo.resourceTypes();
  }

  async associations(ctx: RequestContext, namespace: string): Promise<AssociationRecord[]> {
    const ns = await this.access.namespace(this.repo, ctx, namespace, 'list_metadef_resource_types');
    return this.access.allows(ctx, 'get_metadef_resource_type', ns) ? this.repo.associations([ns.id]) : [];
  }

  async associate(ctx: RequestContext, namespace: string, body: unknown): Promise<AssociationRecord> {
    const input = associationInput(checkedBody(body, READ_ONLY, this.bodies.association));
    const ns = await this.access.namespace(this.repo, ctx, namespace, 'add_metadef_resource_type_association');
    return this.uow.run((tx) => associate(tx, this.notifier, ns, input, this.now()));
  }

  async dissociate(ctx: RequestContext, namespace: string, resourceType: string): Promise<void> {
    const ns = await this.access.namespace(this.repo, ctx, namespace, 'remove_metadef_resource_type_association');
    const type = await this.repo.findResourceType(resourceType);
    const association = type && (await this.repo.associations([ns.id])).find((a) => a.name === resourceType);
    if (!type || !association) throw new NotFound(`Failed to find resource type ${resourceType} to delete`);
    if (ns.protected) throw new Forbidden(`Metadata definition resource-type-association ${resourceType} is protected and cannot be deleted.`);
    await this.uow.run(async (tx) => {
      if (!(await tx.metadefs.deleteAssociation(ns.id, type.id))) throw new NotFound(`Failed to find resource type ${resourceType} to delete`);
      await this.notifier.metadef(tx, 'metadef_resource_type.delete', () => ({ ...resourceTypePayload(ns.namespace, association), ...deletedFields(this.now()) }));
    });
  }
}
