/**
 * The database as Kysely sees it. Portable column types only (varchar, text, integer, bigint,
 * smallint for booleans, bigint epoch milliseconds for timestamps), so the same migrations run
 * on SQLite, PostgreSQL and MariaDB.
 */
import type { Generated } from 'kysely';

export interface ImagesTable {
  id: string;
  name: string | null;
  status: string;
  visibility: string;
  protected: number;
  os_hidden: number;
  checksum: string | null;
  os_hash_algo: string | null;
  os_hash_value: string | null;
  owner: string | null;
  size: number | null;
  virtual_size: number | null;
  min_disk: number;
  min_ram: number;
  container_format: string | null;
  disk_format: string | null;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
  deleted: number;
}

export interface ImagePropertiesTable {
  image_id: string;
  name: string;
  value: string;
}

export interface ImageTagsTable {
  image_id: string;
  value: string;
}

export interface ImageLocationsTable {
  id: string;
  image_id: string;
  url: string;
  /** JSON object. */
  metadata: string;
  /**
   * active; staged; pending_delete (the image is gone, its bytes are still to be removed); deleted.
   * A pending_delete image's (delayed delete) stay active until the scrubber takes it.
   */
  status: string;
  created_at: number;
  updated_at: number;
}

export interface ImageMembersTable {
  image_id: string;
  /** The project the image is shared with. */
  member: string;
  /** pending, accepted or rejected. */
  status: string;
  created_at: number;
  updated_at: number;
}

/** Work a process owns over time (an upload, later an import task, a scrub pass…): see domain/leases.ts. */
export interface LeasesTable {
  /** What kind of work (`upload`, …). */
  kind: string;
  /** Which piece of it (an image id, …). */
  lease_key: string;
  /** The owning process start's random id. */
  owner: string;
  /** Epoch ms; past it, any process may take the work over. */
  expires_at: number;
  /** JSON object: what the owner needs to finish or undo the work. */
  data: string;
}

/** Tasks (domain/task-model.ts): Glance's `tasks` and `task_info` in one row. */
export interface TasksTable {
  id: string;
  type: string;
  status: string;
  owner: string | null;
  /** JSON object, or null. */
  input: string | null;
  /** JSON object, or null. */
  result: string | null;
  message: string;
  image_id: string | null;
  request_id: string | null;
  user_id: string | null;
  /** Epoch ms; set when the task ends. */
  expires_at: number | null;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
  deleted: number;
}

/** Notifications waiting to be delivered (the outbox): see domain/notifications.ts and notify/. */
export interface OutboxTable {
  /** Autoincrement: the delivery order. */
  seq: Generated<number>;
  message_id: string;
  publisher_id: string;
  event_type: string;
  priority: string;
  /** JSON: the event's payload. */
  payload: string;
  /** Epoch ms. */
  created_at: number;
}

/** Metadefs (migration 0006, Glance's metadef_* tables): a namespace of definitions. */
export interface MetadefNamespacesTable {
  id: Generated<number>;
  /** Unique. */
  namespace: string;
  display_name: string | null;
  description: string | null;
  /** public or private. */
  visibility: string;
  protected: number;
  owner: string;
  created_at: number;
  updated_at: number;
}

/** A kind of resource (OS::Glance::Image, OS::Nova::Flavor…) namespaces apply to. */
export interface MetadefResourceTypesTable {
  id: Generated<number>;
  /** Unique. */
  name: string;
  protected: number;
  created_at: number;
  updated_at: number;
}

/** A namespace's association with a resource type. */
export interface MetadefNamespaceResourceTypesTable {
  resource_type_id: number;
  namespace_id: number;
  properties_target: string | null;
  prefix: string | null;
  created_at: number;
  updated_at: number;
}

/** An object of a namespace (unique by name within it). */
export interface MetadefObjectsTable {
  id: Generated<number>;
  namespace_id: number;
  name: string;
  description: string | null;
  /** JSON array of property names, or null. */
  required: string | null;
  /** JSON object: the object's `properties`. */
  json_schema: string;
  created_at: number;
  updated_at: number;
}

/** A property definition of a namespace (unique by name within it). */
export interface MetadefPropertiesTable {
  id: Generated<number>;
  namespace_id: number;
  name: string;
  /** JSON object: the property's schema (type, title, enum…), without its name. */
  json_schema: string;
  created_at: number;
  updated_at: number;
}

/** A tag of a namespace (unique by name within it). */
export interface MetadefTagsTable {
  id: Generated<number>;
  namespace_id: number;
  name: string;
  created_at: number;
  updated_at: number;
}

export interface Database {
  images: ImagesTable;
  image_properties: ImagePropertiesTable;
  image_tags: ImageTagsTable;
  image_locations: ImageLocationsTable;
  image_members: ImageMembersTable;
  leases: LeasesTable;
  tasks: TasksTable;
  outbox: OutboxTable;
  metadef_namespaces: MetadefNamespacesTable;
  metadef_resource_types: MetadefResourceTypesTable;
  metadef_namespace_resource_types: MetadefNamespaceResourceTypesTable;
  metadef_objects: MetadefObjectsTable;
  metadef_properties: MetadefPropertiesTable;
  metadef_tags: MetadefTagsTable;
}

