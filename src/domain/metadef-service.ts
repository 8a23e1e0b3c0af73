/**
 * What the metadefs services (namespaces, objects, properties, tags, resource types) share: their
 * dependencies, Glance's 409 messages, and associating a namespace with a resource type (which
 * namespace creation and the association API both do).
 */
import { Conflict } from './errors.js';
import type { MetadefAccess } from './metadef-access.js';
import { resourceTypePayload } from './metadef-events.js';
import type { AssociationInput } from './metadef-input.js';
import type { AssociationRecord, NamespaceRecord } from './metadef-model.js';
import type { MetadefBodies } from './metadef-schemas.js';
import type { Notifier } from './notifications.js';
import type { MetadefRepository, Repositories, UnitOfWork } from './ports.js';

export interface MetadefServiceDeps {
  uow: UnitOfWork;
  access: MetadefAccess;
  /** The metadef_* events go with each change, in its transaction. */
  notifier: Notifier;
  bodies: MetadefBodies;
  now?: () => number;
}

export abstract class MetadefService {
  protected readonly uow: UnitOfWork;
  protected readonly access: MetadefAccess;
  protected readonly notifier: Notifier;
  protected readonly bodies: MetadefBodies;
  protected readonly now: () => number;

  constructor(deps: MetadefServiceDeps) {
    this.uow = deps.uow;
    this.access = deps.access;
    this.notifier = deps.notifier;
    this.bodies = deps.bodies;
    this.now = deps.now ?? Date.now;
  }

  /** The catalogue outside any transaction (reads). */
  protected get repo(): MetadefRepository {
    return this.uow.repos.metadefs;
  }
}

export const duplicateObject = (name: string, ns: string) => new Conflict(`A metadata definition object with name=${name} already exists in namespace=${ns}.`);
export const duplicateProperty = (name: string, ns: string) => new Conflict(`A metadata definition property with name=${name} already exists in namespace=${ns}.`);
export const duplicateTag = (name: string, ns: string) =>
  new Conflict(`A metadata tag with name=${name} already exists in namespace=${ns}. (Please note that metadata tag names are case insensitive).`);

/** Associates a namespace with a resource type by name, creating the type if it is new (Glance's association `create`). */
export async function associate(tx: Repositories, notifier: Notifier, ns: NamespaceRecord, a: AssociationInput, now: number): Promise<AssociationRecord> {
  let type = await tx.metadefs.findResourceType(a.name);
  if (!type) {
    const created = await tx.metadefs.insertResourceType(a.name, false, now);
    // Another request created it first: on PostgreSQL this transaction is spent, so it ends here (409).
    if (created === 'duplicate') throw new Conflict(`A metadata definition resource-type with name=${a.name} already exists.`);
    type = created;
  }
  const added = await tx.metadefs.insertAssociation(ns.id, type.id, { prefix: a.prefix, properties_target: a.properties_target }, now);
  if (added === 'duplicate') {
    throw new Conflict(`The metadata definition resource-type association of resource-type=${a.name} to namespace=${ns.namespace} already exists.`);
  }
  const association: AssociationRecord = { namespace_id: ns.id, name: a.name, prefix: a.prefix, properties_target: a.properties_target, created_at: now, updated_at: now };
  await notifier.metadef(tx, 'metadef_resource_type.create', () => resourceTypePayload(ns.namespace, association));
  return association;
}
