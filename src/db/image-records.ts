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

export interface ImageListQuery {
  /** null = every image (admin); else the project whose view of the catalogue is listed. */
  viewerProject: string | null;
  isAdmin: boolean;
  sort: { key: SortKey; dir: SortDir }[];
  limit: number;
  /** The last image of the previous page (already checked to be visible). */
  marker: ImageRecord | null;
}
