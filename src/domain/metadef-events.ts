/**
 * The payloads of the metadefs notifications, as Glance's glance/notifier.py format_metadef_*
 * builds them: metadef_namespace.*, metadef_object.*, metadef_property.*, metadef_tag.*,
 * metadef_resource_type.*. `namespace_old` / `name_old` carry the name before a rename.
 */
import { isoSeconds } from './notifications.js';
import type { AssociationRecord, NamespaceRecord, ObjectRecord, PropertyDefinition, PropertyRecord, TagRecord } from './metadef-model.js';

const OBJECT_PROPERTY_KEYS = ['type', 'title', 'description', 'default', 'minimum', 'maximum', 'enum', 'pattern', 'minLength', 'maxLength', 'confidential', 'items', 'uniqueItems', 'minItems', 'maxItems', 'additionalItems'] as const;
const PROPERTY_KEYS = OBJECT_PROPERTY_KEYS;

/** Python's `value or None`: falsy values (0, '', false, empty lists) read None. */
function orNone(v: unknown): unknown {
  if (v === undefined || v === null || v === 0 || v === '' || v === false) return null;
  if (Array.isArray(v) && v.length === 0) return null;
  if (typeof v === 'object' && Object.keys(v).length === 0) return null;
  return v;
}

export function deletedFields(now: number): { deleted: true; deleted_at: string } {
  return { deleted: true, deleted_at: isoSeconds(now) };
}

export function namespacePayload(ns: NamespaceRecord, oldName = ns.namespace): Record<string, unknown> {
  return {
    namespace: ns.namespace,
    namespace_old: oldName,
    display_name: ns.display_name,
    protected: ns.protected,
    visibility: ns.visibility,
    owner: ns.owner,
    description: ns.description,
    created_at: isoSeconds(ns.created_at),
    updated_at: isoSeconds(ns.updated_at),
    deleted: false,
    deleted_at: null,
  };
}

export function objectPayload(namespace: string, obj: ObjectRecord, oldName = obj.name): Record<string, unknown> {
  return {
    namespace,
    name: obj.name,
    name_old: oldName,
    properties: Object.entries(obj.properties).map(([name, p]: [string, PropertyDefinition]) => ({
      name,
      ...Object.fromEntries(OBJECT_PROPERTY_KEYS.map((k) => [k, orNone(p[k])])),
    })),
    required: obj.required,
    description: obj.description,
    created_at: isoSeconds(obj.created_at),
    updated_at: isoSeconds(obj.updated_at),
    deleted: false,
    deleted_at: null,
  };
}

export function propertyPayload(namespace: string, prop: PropertyRecord, oldName = prop.name): Record<string, unknown> {
  return {
    namespace,
    name: prop.name,
    name_old: oldName,
    ...Object.fromEntries(PROPERTY_KEYS.map((k) => [k, prop.definition[k] ?? null])),
    deleted: false,
    deleted_at: null,
  };
}

export function tagPayload(namespace: string, tag: TagRecord, oldName = tag.name): Record<string, unknown> {
  return {
    namespace,
    name: tag.name,
    name_old: oldName,
    created_at: isoSeconds(tag.created_at),
    updated_at: isoSeconds(tag.updated_at),
    deleted: false,
    deleted_at: null,
  };
}

export function resourceTypePayload(namespace: string, a: AssociationRecord): Record<string, unknown> {
  return {
    namespace,
    name: a.name,
    name_old: a.name,
    prefix: a.prefix,
    properties_target: a.properties_target,
    created_at: isoSeconds(a.created_at),
    updated_at: isoSeconds(a.updated_at),
    deleted: false,
    deleted_at: null,
  };
}
