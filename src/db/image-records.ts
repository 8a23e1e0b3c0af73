/** Image metadata as the data-access layer hands it out (booleans and timestamps decoded). */
export interface ImageRecord {
  id: string;
  name: string | null;
  status: string;
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
  locations: LocationRecord[];
}

export interface LocationRecord {
  id: string;
  url: string;
  metadata: Record<string, unknown>;
  status: string;
}

/** The columns of `images` that callers may set directly (not ids, timestamps or upload bookkeeping). */
export type ImageColumns = Omit<ImageRecord, 'id' | 'created_at' | 'updated_at' | 'deleted_at' | 'tags' | 'properties' | 'locations'>;

/** Which process runs an upload attempt, so a dead one can be told from a live one. */
export interface UploadOwner {
  uploadId: string;
  host: string;
  pid: number;
  instance: string;
}

export interface UploadRecord extends UploadOwner {
  imageId: string;
  status: string;
  heartbeatAt: number;
}

export type SortKey = 'name' | 'status' | 'container_format' | 'disk_format' | 'size' | 'id' | 'created_at' | 'updated_at';
export type SortDir = 'asc' | 'desc';

export type InColumn = 'id' | 'name' | 'status' | 'container_format' | 'disk_format';
export type EqualColumn = 'owner' | 'checksum' | 'os_hash_algo' | 'os_hash_value';
export type RangeColumn = 'size' | 'virtual_size' | 'min_ram' | 'min_disk';
export type TimeColumn = 'created_at' | 'updated_at';
export type TimeOp = 'gt' | 'gte' | 'lt' | 'lte' | 'eq' | 'neq';

/** The list filters of GET /v2/images, already parsed and validated. */
export interface ImageFilters {
  /** Absent: Glance's default view (community images of other projects left out). */
  visibility?: 'public' | 'private' | 'shared' | 'community' | 'all';
  /** Which memberships make another project's shared image listed. */
  memberStatus: 'pending' | 'accepted' | 'rejected' | 'all';
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
}
