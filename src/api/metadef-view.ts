/**
 * The metadefs catalogue as Glance's API shows it (its WSME models: attributes that are None are
 * left out): namespaces, objects, property definitions, tags, resource types and associations.
 */
import type { NamespaceDetail } from '../domain/metadef-namespaces.js';
import type { NamespaceInput } from '../domain/metadef-input.js';
import { PROPERTY_ATTRIBUTES, type AssociationRecord, type NamespaceRecord, type ObjectFields, type ObjectRecord, type PropertyDefinition, type ResourceTypeRecord, type TagRecord } from '../domain/metadef-model.js';
import { isoSeconds } from './image-view.js';

type View = Record<string, unknown>;

/** `view` without its null and undefined values. */
function present(view: View): View {
  for (const key of Object.keys(view)) if (view[key] === null || view[key] === undefined) delete view[key];
  return view;
}

export const namespaceHref = (name: string) => `/v2/metadefs/namespaces/${name}`;

export function namespaceView(ns: NamespaceRecord): View {
  return present({
    namespace: ns.namespace,
    display_name: ns.display_name,
    description: ns.description,
    visibility: ns.visibility,
    protected: ns.protected,
    owner: ns.owner,
    created_at: isoSeconds(ns.created_at),
    updated_at: isoSeconds(ns.updated_at),
    self: namespaceHref(ns.namespace),
    schema: '/v2/schemas/metadefs/namespace',
  });
}

export function associationView(a: Pick<AssociationRecord, 'name' | 'prefix' | 'properties_target'> & Partial<Pick<AssociationRecord, 'created_at' | 'updated_at'>>): View {
  return present({
    name: a.name,
    prefix: a.prefix,
    properties_target: a.properties_target,
    created_at: a.created_at === undefined ? undefined : isoSeconds(a.created_at),
    updated_at: a.updated_at === undefined ? undefined : isoSeconds(a.updated_at),
  });
}

export function resourceTypeView(t: ResourceTypeRecord): View {
  return { name: t.name, created_at: isoSeconds(t.created_at), updated_at: isoSeconds(t.updated_at) };
}

/** A property definition, its attributes in Glance's order, `name` first when given. */
export function propertyView(definition: PropertyDefinition, name?: string): View {
  const view: View = name === undefined ? {} : { name };
  for (const key of PROPERTY_ATTRIBUTES) if (definition[key] !== undefined && definition[key] !== null) view[key] = definition[key];
  return view;
}

function propertyMap(definitions: Iterable<[string, PropertyDefinition]>, prefix = ''): View {
  const map: View = {};
  for (const [name, def] of definitions) map[`${prefix}${name}`] = propertyView(def);
  return map;
}

/** An object: stored (with its timestamps and links) or as a request gave it. */
export function objectView(namespace: string, obj: ObjectRecord | ObjectFields, prefix = ''): View {
  const stored = 'created_at' in obj;
  return present({
    name: obj.name,
    required: obj.required?.map((r) => `${prefix}${r}`),
    description: obj.description,
    properties: propertyMap(Object.entries(obj.properties), prefix),
    created_at: stored ? isoSeconds(obj.created_at) : undefined,
    updated_at: stored ? isoSeconds(obj.updated_at) : undefined,
    self: stored ? `/v2/metadefs/namespaces/${namespace}/objects/${obj.name}` : undefined,
    schema: stored ? '/v2/schemas/metadefs/object' : undefined,
  });
}

export function tagView(tag: TagRecord): View {
  return { name: tag.name, created_at: isoSeconds(tag.created_at), updated_at: isoSeconds(tag.updated_at) };
}

/** GET of a namespace: everything in it, each part only when it has something. */
export function namespaceDetailView(d: NamespaceDetail): View {
  const view = namespaceView(d.namespace);
  const prefix = d.prefix ?? '';
  if (d.associations.length > 0) view.resource_type_associations = d.associations.map(associationView);
  if (d.properties.length > 0) view.properties = propertyMap(d.properties.map((p) => [p.name, p.definition]), prefix);
  if (d.objects.length > 0) view.objects = d.objects.map((o) => objectView(d.namespace.namespace, o, prefix));
  if (d.tags.length > 0) view.tags = d.tags.map((t) => ({ name: t.name }));
  return view;
}

/** POST of a namespace: the new namespace, and what the request embedded as it gave it (Glance echoes it). */
export function createdNamespaceView(ns: NamespaceRecord, input: NamespaceInput): View {
  const view = namespaceView(ns);
  if (input.associations) view.resource_type_associations = input.associations.map(associationView);
  if (input.properties) view.properties = propertyMap(Object.entries(input.properties));
  if (input.objects) view.objects = input.objects.map((o) => objectView(ns.namespace, o));
  if (input.tags) view.tags = input.tags.map((name) => ({ name }));
  return view;
}
