/**
 * The domain's entities and the queries it asks of its repositories. The database layer maps
 * these to and from rows; nothing here knows SQL.
 */

/** The nine image statuses (which may follow which: image-lifecycle.ts). */
export const IMAGE_STATUSES = ['queued', 'saving', 'active', 'killed', 'deleted', 'uploading', 'importing', 'pending_delete', 'deactivated'] as const;
export type ImageStatus = (typeof IMAGE_STATUSES)[number];

/** Visibility values of an image (Glance's enum). */
export const VISIBILITIES = ['community', 'public', 'private', 'shared'] as const;
export type Visibility = (typeof VISIBILITIES)[number];

/** A member project's answer to an invitation. */
export const MEMBER_STATUSES = ['pending', 'accepted', 'rejected'] as const;
export type MemberStatus = (typeof MEMBER_STATUSES)[number];

/** Glance's UUID pattern (image ids, kernel_id, ramdisk_id, member image_id). */
export const UUID_PATTERN = '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$';

/** Image metadata (booleans and timestamps decoded). */
export interface ImageRecord {
  id: string;
  name: string | null;
  status: ImageStatus;
  visibility: string;
  protected: boolean;
  os_hidden: boolean;
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
  /** Epoch milliseconds. */
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
  tags: string[];
  properties: Record<string, string>;
  /** The image's active locations (where its bytes are), oldest first; filled by `find`, empty in lists. */
  locations: LocationRecord[];
}

/**
 * `active`: the bytes are there; `staged`: an import keeps them there until they reach the image's
 * stores (never shown); `pending_delete`: the bytes are to be removed; `deleted`: removed.
 */
export type LocationStatus = 'active' | 'staged' | 'pending_delete' | 'deleted';

export interface LocationRecord {
  id: string;
  url: string;
  metadata: Record<string, unknown>;
  status: LocationStatus;
}

/** A location whose bytes are waiting to be removed, with the image it belonged to. */
export interface DoomedLocation extends LocationRecord {
  imageId: string;
}

export interface MemberRecord {
  image_id: string;
  /** The project the image is shared with. */
  member: string;
  status: MemberStatus;
  created_at: number;
  updated_at: number;
}

/** The columns of an image a status change may set along with it. */
export type ImageChanges = Partial<Pick<ImageRecord, 'size' | 'virtual_size' | 'checksum' | 'os_hash_algo' | 'os_hash_value' | 'deleted_at'>>;

/** An image as one caller reads it: with the caller's own membership, when it has one. */
export interface FoundImage {
  image: ImageRecord;
  /** The status of the viewer project's membership of the image, or null. */
  viewerMembership: MemberStatus | null;
}

export const SORT_KEYS = ['name', 'status', 'container_format', 'disk_format', 'size', 'id', 'created_at', 'updated_at'] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export type SortDir = 'asc' | 'desc';

export type InColumn = 'id' | 'name' | 'status' | 'container_format' | 'disk_format';
export type EqualColumn = 'owner' | 'checksum' | 'os_hash_algo' | 'os_hash_value';
export type RangeColumn = 'size' | 'virtual_size' | 'min_ram' | 'min_disk';
export type TimeColumn = 'created_at' | 'updated_at';
export type TimeOp = 'gt' | 'gte' | 'lt' | 'lte' | 'eq' | 'neq';

/** The list filters of GET /v2/images, already parsed and validated. */
export interface ImageFilters {
  /** Absent: Glance's default view (community images of other projects left out). */
  visibility?: Visibility | 'all';
  /** Which memberships make another project's shared image listed. */
  memberStatus: MemberStatus | 'all';
  in: Partial<Record<InColumn, string[]>>;
  equals: Partial<Record<EqualColumn, string>>;
  ranges: { column: RangeColumn; min?: number; max?: number }[];
  /** Times in epoch ms, at whole seconds (the API shows seconds); `eq` means within that second. */
  times: { column: TimeColumn; op: TimeOp; value: number }[];
  /** The image must carry every one of these tags. */
  tags: string[];
  /** Custom properties that must have exactly these values. */
  properties: [string, string][];
  /** false (default): hidden images are left out; true: only hidden images. */
  osHidden: boolean;
  protected?: boolean;
}

/** Glance's default list: accepted memberships, hidden images left out. */
export function defaultFilters(): ImageFilters {
  return { memberStatus: 'accepted', in: {}, equals: {}, ranges: [], times: [], tags: [], properties: [], osHidden: false };
}

export interface ImageListQuery {
  /** The project whose view of the catalogue is listed (null: no project). */
  viewerProject: string | null;
  /** Admins start from every image instead of what their project can see. */
  isAdmin: boolean;
  filters: ImageFilters;
  sort: { key: SortKey; dir: SortDir }[];
  limit: number;
  /** The last image of the previous page (already checked to be visible). */
  marker: ImageRecord | null;
  /** Read each image's active locations in the same query (the view shows them: show_multiple_locations, direct_url, stores). */
  withLocations?: boolean;
}
