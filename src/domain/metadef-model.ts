/**
 * The metadata definitions catalogue (metadefs) as the domain sees it: namespaces of property
 * definitions, objects and tags, and the resource types (OS::Glance::Image, OS::Nova::Flavor…)
 * a namespace is associated with. Glance's model (glance/db/sqlalchemy/models_metadef.py);
 * timestamps are epoch milliseconds.
 */

export const METADEF_VISIBILITIES = ['public', 'private'] as const;
export type MetadefVisibility = (typeof METADEF_VISIBILITIES)[number];

/** The attributes of a property definition Glance keeps (its PropertyType), in its order. */
export const PROPERTY_ATTRIBUTES = [
  'type',
  'title',
  'description',
  'operators',
  'default',
  'readonly',
  'minimum',
  'maximum',
  'enum',
  'pattern',
  'minLength',
  'maxLength',
  'confidential',
  'items',
  'uniqueItems',
  'minItems',
  'maxItems',
  'additionalItems',
] as const;

/** A property definition: its JSON-schema-like attributes (`type`, `title`, `enum`…), without its name. */
export type PropertyDefinition = Record<string, unknown>;

export interface NamespaceRecord {
  id: number;
  /** The namespace's unique name (`OS::Compute::Watchdog`). */
  namespace: string;
  display_name: string | null;
  description: string | null;
  visibility: MetadefVisibility;
  protected: boolean;
  /** The owner project. */
  owner: string;
  created_at: number;
  updated_at: number;
}

export type NamespaceFields = Omit<NamespaceRecord, 'id' | 'created_at' | 'updated_at'>;

export interface ObjectRecord {
  id: number;
  namespace_id: number;
  name: string;
  description: string | null;
  /** Names of the object's required properties, or null. */
  required: string[] | null;
  /** The object's property definitions by name. */
  properties: Record<string, PropertyDefinition>;
  created_at: number;
  updated_at: number;
}

export type ObjectFields = Pick<ObjectRecord, 'name' | 'description' | 'required' | 'properties'>;

export interface PropertyRecord {
  id: number;
  namespace_id: number;
  name: string;
  definition: PropertyDefinition;
  created_at: number;
  updated_at: number;
}

export interface TagRecord {
  id: number;
  namespace_id: number;
  name: string;
  created_at: number;
  updated_at: number;
}

export interface ResourceTypeRecord {
  id: number;
  name: string;
  protected: boolean;
  created_at: number;
  updated_at: number;
}

/** A namespace's association with a resource type (by the type's name). */
export interface AssociationRecord {
  namespace_id: number;
  /** The resource type's name. */
  name: string;
  /** What property names take when applied to this resource type (`hw_`, `trait:`), or null. */
  prefix: string | null;
  /** Which of the resource's key/value sets the properties go to (Cinder's `image` or `volume` metadata), or null. */
  properties_target: string | null;
  created_at: number;
  updated_at: number;
}

export const NAMESPACE_SORT_KEYS = ['namespace', 'display_name', 'description', 'visibility', 'protected', 'owner', 'created_at', 'updated_at', 'id'] as const;
export type NamespaceSortKey = (typeof NAMESPACE_SORT_KEYS)[number];

export const TAG_SORT_KEYS = ['name', 'created_at', 'updated_at', 'id'] as const;
export type TagSortKey = (typeof TAG_SORT_KEYS)[number];

export type SortDir = 'asc' | 'desc';

/** One page of namespaces as a caller sees them (Glance's metadef namespace `get_all`). */
export interface NamespaceListQuery {
  /** Admins see every namespace; others the public ones and their project's. */
  viewer: { isAdmin: boolean; projectId: string | null };
  visibility?: MetadefVisibility;
  /** Only namespaces associated with one of these resource types. */
  resourceTypes?: string[];
  /** Sorted by this key, then created_at, then id, all in `sortDir`. */
  sortKey: NamespaceSortKey;
  sortDir: SortDir;
  limit: number;
  /** The namespaces after this one in that order. */
  marker?: NamespaceRecord;
}

/** One page of a namespace's tags (Glance's metadef tag `get_all`). */
export interface TagListQuery {
  sortKey: TagSortKey;
  sortDir: SortDir;
  /** Undefined: all of them. */
  limit?: number;
  marker?: TagRecord;
}
