/**
 * The Image API's resources as TypeScript types, written after the schemas the API serves
 * (/v2/schemas/*, the OpenAPI document's components). The `*_FIELDS` lists name every declared
 * field, so that test/sdk.test.ts can check them against the document.
 */

export type ImageStatus = 'queued' | 'saving' | 'active' | 'killed' | 'deleted' | 'pending_delete' | 'deactivated' | 'uploading' | 'importing';
export type Visibility = 'public' | 'private' | 'shared' | 'community';

export interface Image {
  id: string;
  name: string | null;
  status: ImageStatus;
  visibility: Visibility;
  protected: boolean;
  os_hidden: boolean;
  checksum: string | null;
  os_hash_algo: string | null;
  os_hash_value: string | null;
  owner: string | null;
  size: number | null;
  virtual_size: number | null;
  container_format: string | null;
  disk_format: string | null;
  created_at: string;
  updated_at: string;
  tags: string[];
  direct_url?: string;
  min_ram: number;
  min_disk: number;
  self: string;
  file: string;
  stores?: string;
  schema: string;
  locations?: { url: string; metadata: Record<string, unknown> }[];
  /** The schema's common (not base) properties, set only when given. */
  kernel_id?: string | null;
  ramdisk_id?: string | null;
  instance_uuid?: string;
  architecture?: string;
  os_distro?: string;
  os_version?: string;
  description?: string;
  /** Additional (custom) properties: strings. */
  [property: string]: unknown;
}

/** Fields a new image may be created with: the writable ones and any additional property. */
export type NewImage = Partial<Pick<Image, 'id' | 'name' | 'visibility' | 'protected' | 'os_hidden' | 'owner' | 'container_format' | 'disk_format' | 'tags' | 'min_ram' | 'min_disk' | 'kernel_id' | 'ramdisk_id' | 'instance_uuid' | 'architecture' | 'os_distro' | 'os_version' | 'description'>> & Record<string, unknown>;

/** One JSON-patch operation (PATCH /v2/images/{id}, media type v2.1). */
export type PatchOperation = { op: 'add' | 'replace'; path: string; value: unknown } | { op: 'remove'; path: string };

export type MemberStatus = 'pending' | 'accepted' | 'rejected';

export interface Member {
  image_id: string;
  member_id: string;
  status: MemberStatus;
  created_at: string;
  updated_at: string;
  schema: string;
}

export type TaskStatus = 'pending' | 'processing' | 'success' | 'failure';

export interface Task {
  id: string;
  type: string;
  status: TaskStatus;
  input?: Record<string, unknown> | null;
  result?: Record<string, unknown> | null;
  owner: string;
  message?: string;
  image_id?: string;
  request_id?: string;
  user_id?: string;
  expires_at: string | null;
  created_at: string;
  updated_at: string;
  self: string;
  schema: string;
}

/** The body of POST /v2/images/{id}/import. */
export interface ImportRequest {
  method:
    | { name: 'glance-direct' }
    | { name: 'web-download'; uri: string }
    | { name: 'copy-image' }
    | { name: 'glance-download'; glance_image_id: string; glance_region: string; glance_service_interface?: string };
  stores?: string[];
  all_stores?: boolean;
  all_stores_must_succeed?: boolean;
}

export interface Store {
  id: string;
  description?: string;
  default?: boolean;
  properties?: Record<string, unknown>;
  type?: string;
  weight?: number;
}

export interface MetadefNamespace {
  namespace: string;
  display_name?: string;
  description?: string;
  visibility?: 'public' | 'private';
  protected?: boolean;
  owner?: string;
  resource_type_associations?: { name: string; prefix?: string; properties_target?: string; created_at?: string; updated_at?: string }[];
  properties?: Record<string, MetadefProperty>;
  objects?: MetadefObject[];
  tags?: MetadefTag[];
  created_at?: string;
  updated_at?: string;
  self?: string;
  schema?: string;
}

export interface MetadefProperty {
  name?: string;
  title: string;
  type: string;
  description?: string;
  enum?: unknown[];
  default?: unknown;
  [keyword: string]: unknown;
}

export interface MetadefObject {
  name: string;
  description?: string;
  required?: string[];
  properties?: Record<string, MetadefProperty>;
  created_at?: string;
  updated_at?: string;
  self?: string;
  schema?: string;
}

export interface MetadefTag {
  name: string;
  created_at?: string;
  updated_at?: string;
}

export interface MetadefResourceType {
  name: string;
  created_at?: string;
  updated_at?: string;
}

/** Every declared field of each type (the compiler checks the lists are complete and right). */
const fields = <T>() => <K extends readonly (keyof T & string)[]>(keys: K & ([Exclude<keyof T & string, K[number]>] extends [never] ? unknown : never)) => keys;
export const IMAGE_FIELDS = fields<{ [K in keyof Image as string extends K ? never : K]: Image[K] }>()([
  'id', 'name', 'status', 'visibility', 'protected', 'os_hidden', 'checksum', 'os_hash_algo', 'os_hash_value', 'owner', 'size', 'virtual_size',
  'container_format', 'disk_format', 'created_at', 'updated_at', 'tags', 'direct_url', 'min_ram', 'min_disk', 'self', 'file', 'stores', 'schema', 'locations',
  'kernel_id', 'ramdisk_id', 'instance_uuid', 'architecture', 'os_distro', 'os_version', 'description',
] as const);
export const MEMBER_FIELDS = fields<Member>()(['image_id', 'member_id', 'status', 'created_at', 'updated_at', 'schema'] as const);
export const TASK_FIELDS = fields<Task>()([
  'id', 'type', 'status', 'input', 'result', 'owner', 'message', 'image_id', 'request_id', 'user_id', 'expires_at', 'created_at', 'updated_at', 'self', 'schema',
] as const);
export const METADEF_TAG_FIELDS = fields<MetadefTag>()(['name', 'created_at', 'updated_at'] as const);
