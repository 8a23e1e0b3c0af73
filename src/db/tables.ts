/**
 * The database as Kysely sees it. Portable column types only (varchar, text, integer, bigint,
 * smallint for booleans, bigint epoch milliseconds for timestamps), so the same migrations run
 * on SQLite, PostgreSQL and MariaDB.
 */
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
  /** The upload attempt writing data right now (or that died doing so), for crash recovery. */
  upload_id: string | null;
  /** Which process runs that attempt: host name, pid, and the process's random instance id. */
  upload_host: string | null;
  upload_pid: number | null;
  upload_instance: string | null;
  upload_heartbeat_at: number | null;
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
  /** active, pending_delete or deleted. */
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

export interface Database {
  images: ImagesTable;
  image_properties: ImagePropertiesTable;
  image_tags: ImageTagsTable;
  image_locations: ImageLocationsTable;
  image_members: ImageMembersTable;
}

