/**
 * What the domain needs from the database, as interfaces the domain owns; `db/` implements them
 * for SQLite, PostgreSQL and MariaDB. Every method is one atomic step; several steps that must
 * commit together run in one `UnitOfWork.run`.
 */
import type { TaskChanges, TaskListQuery, TaskRecord, TaskStatus } from './task-model.js';
import type { LimitName } from './project-limits.js';
import type {
  AssociationRecord,
  NamespaceFields,
  NamespaceListQuery,
  NamespaceRecord,
  ObjectFields,
  ObjectRecord,
  PropertyDefinition,
  PropertyRecord,
  ResourceTypeRecord,
  TagListQuery,
  TagRecord,
} from './metadef-model.js';
import type { DoomedLocation, ImageStatus, FoundImage, ImageChanges, ImageListQuery, ImageRecord, LocationRecord, MemberRecord, MemberStatus } from './image-model.js';

export interface ImageRepository {
  /** Inserts a new image with its tags and properties. False (nothing inserted) if the id was ever used. */
  insert(image: ImageRecord): Promise<boolean>;

  /**
   * A live (not deleted) image with its tags, properties and active locations — and, when
   * `viewerProject` is given, that project's membership — in one round trip.
   */
  find(id: string, viewerProject?: string | null): Promise<FoundImage | undefined>;

  /** One page of the catalogue as `q.viewerProject` sees it (one round trip), with locations only when `q.withLocations`. */
  list(q: ImageListQuery): Promise<ImageRecord[]>;

  /**
   * Writes the changed attributes, tags and properties of an image, guarded by the status and
   * updated_at the caller read (optimistic concurrency). False if the image changed meanwhile.
   * Never changes the status: that is `transition`'s.
   */
  save(image: ImageRecord, expected: { status: ImageStatus; updatedAt: number }): Promise<boolean>;

  /**
   * The one compare-and-set of an image's status: `from` → `to` (with `changes`), only if the
   * live image is in `from`. Entering `deleted` also marks the image deleted. False if it was not.
   * A `pending_delete` image (delayed delete) counts as deleted too, for every read; it is the one
   * deleted image a transition may start from (to `deleted` by the scrubber, `active` by restore).
   */
  transition(id: string, from: ImageStatus, to: ImageStatus, changes: ImageChanges, now: number): Promise<boolean>;

  /**
   * Sets (string) or removes (null) the named properties of a live image, leaving the others and
   * the status alone; Ocellus's own bookkeeping (`os_glance_*`) goes through here. False if the
   * image is not live.
   */
  setProperties(id: string, properties: Record<string, string | null>, now: number): Promise<boolean>;

  /**
   * Takes the import lock of a live image: sets `os_glance_import_task` to `taskId` if the image
   * has none, or has `staleTask` (a lock being broken). False if another task holds it.
   */
  lockForImport(id: string, taskId: string, staleTask: string | null, now: number): Promise<boolean>;

  /** Records a location of the image's bytes (`staged`: data an import keeps before it reaches its stores). */
  addLocation(imageId: string, location: Omit<LocationRecord, 'id' | 'status'>, now: number, status?: 'active' | 'staged'): Promise<void>;

  /** The image's staged data (PUT /stage, or an import's download), oldest first. */
  stagedLocations(imageId: string): Promise<LocationRecord[]>;

  /** Marks the image's staged locations `pending_delete` (their bytes are to be removed) and returns them. */
  doomStagedLocations(imageId: string, now: number): Promise<LocationRecord[]>;

  /**
   * Ids of the images with a location at exactly `url` whose bytes are still kept (active or
   * pending_delete): two images must never share bytes that deleting one would remove.
   */
  imagesAtLocation(url: string): Promise<string[]>;

  /** Replaces the metadata of one active location of the image; false if it is not one. */
  setLocationMetadata(imageId: string, locationId: string, metadata: Record<string, unknown>, now: number): Promise<boolean>;

  /** Marks every active (and staged) location of the image `pending_delete`: its bytes are to be removed. */
  doomLocations(imageId: string, now: number): Promise<LocationRecord[]>;

  /**
   * Marks one active location of the image `pending_delete`, unless it is the image's last
   * active one ('last') or not one of its active locations ('absent'); atomic against other removals.
   */
  doomLocation(imageId: string, locationId: string, now: number): Promise<'doomed' | 'last' | 'absent'>;

  /**
   * Locations whose bytes are still to be removed, oldest first — without those of images a live
   * lease of `skipLeased.kind` (keyed by image id) covers: their remover owns them.
   */
  doomedLocations(limit: number, skipLeased?: { kind: string; now: number }): Promise<DoomedLocation[]>;

  /** The doomed (pending_delete) locations of one image, whatever the image's status. */
  doomedLocationsOf(imageId: string): Promise<LocationRecord[]>;

  /** Ids of images in `pending_delete` (delayed delete) since `cutoff` (epoch ms) or earlier, oldest first. */
  pendingDeletes(cutoff: number, limit: number): Promise<string[]>;

  /**
   * One page of the locations whose bytes are still someone's (every status but `deleted`), by
   * id after `afterId`: what the orphan search must not take.
   */
  keptLocations(afterId: string | null, limit: number): Promise<(LocationRecord & { imageId: string })[]>;

  /** The bytes of a doomed location are gone: it is `deleted`. */
  forgetLocation(locationId: string, now: number): Promise<void>;

  /** Bytes of image data stored for a project (its live images' sizes), for user_storage_quota. */
  storageUsed(owner: string | null): Promise<number>;

  /**
   * What a project's images use, for the unified limits (Glance's counts), for the resources in
   * `names` (the others are 0): `image_count_total` its live images (not killed or
   * pending_delete); `image_size_total` bytes kept in stores (size × locations); `image_stage_total`
   * bytes in staging (images uploading or importing, or being copied); `image_count_uploading`
   * images saving, uploading or importing, or being copied (`os_glance_importing_to_stores`).
   */
  projectUsage(owner: string | null, names: readonly LimitName[]): Promise<Record<LimitName, number>>;

  /**
   * Hard-deletes images soft-deleted before `cutoff` (epoch ms), with their properties, tags,
   * locations and members, `batch` images per transaction; never an image whose bytes are still
   * to be removed, nor one in `pending_delete` (delayed delete keeps its bytes). Returns how many images were purged.
   */
  purgeDeleted(cutoff: number, batch: number): Promise<number>;
}

export interface MemberRepository {
  list(imageId: string): Promise<MemberRecord[]>;
  get(imageId: string, member: string): Promise<MemberRecord | undefined>;
  /**
   * Adds a member unless it is there already or the image has `quota` members (negative =
   * unlimited); the count and the insert are atomic.
   */
  add(rec: MemberRecord, quota: number): Promise<'added' | 'duplicate' | 'over-quota'>;
  setStatus(imageId: string, member: string, status: MemberStatus, now: number): Promise<boolean>;
  remove(imageId: string, member: string): Promise<boolean>;
}

export interface TaskRepository {
  /** Inserts a new task. */
  insert(task: TaskRecord): Promise<void>;
  /** A task that is not deleted (expired tasks included: the caller decides). */
  find(id: string): Promise<TaskRecord | undefined>;
  /** One page of tasks, expired ones left out. */
  list(q: TaskListQuery): Promise<TaskRecord[]>;
  /** The tasks of an image (not expired at `now`), newest first. */
  listForImage(imageId: string, now: number): Promise<TaskRecord[]>;
  /** Compare-and-set of a task's status, with `changes`; false if the task was not in `from`. */
  transition(id: string, from: TaskStatus, to: TaskStatus, changes: TaskChanges, now: number): Promise<boolean>;
  /** Soft-deletes tasks that expired before `now`; returns how many. */
  deleteExpired(now: number): Promise<number>;
  /** How many tasks (not deleted) are in each status, for the metrics. */
  countByStatus(): Promise<Record<string, number>>;
}

/** A row of work owned by one process over time (see leases.ts). */
export interface LeaseRecord {
  kind: string;
  key: string;
  /** The owning process start's random id. */
  owner: string;
  /** Epoch ms after which the work is free to be taken over. */
  expiresAt: number;
  /** What the owner needs to finish or undo the work (e.g. the upload attempt's id). */
  data: Record<string, string>;
}

export interface LeaseRepository {
  /** Takes the lease if nobody holds it (a live or an expired one). */
  acquire(lease: LeaseRecord): Promise<boolean>;
  /** Extends the owner's lease; false if it is no longer the owner's. */
  renew(kind: string, key: string, owner: string, expiresAt: number): Promise<boolean>;
  /** Replaces the data of the owner's lease (the work's progress); false if it is no longer the owner's. */
  update(kind: string, key: string, owner: string, data: Record<string, string>): Promise<boolean>;
  /** Ends the owner's lease; false if it was not the owner's (taken over, or already gone). */
  release(kind: string, key: string, owner: string): Promise<boolean>;
  /** Leases of `kind` that expired before `now`. */
  expired(kind: string, now: number): Promise<LeaseRecord[]>;
  /** Takes over an expired lease exactly as it was read: one process wins. */
  takeOver(lease: LeaseRecord, owner: string, expiresAt: number): Promise<boolean>;
}

/** A notification as the outbox keeps it until it is delivered (notifications.ts builds it, notify/ sends it). */
export interface OutboxEvent {
  /** Its place in the outbox: events are delivered in this order. */
  seq: number;
  /** oslo.messaging's message_id (a UUID): the same on every delivery attempt, so consumers can drop duplicates. */
  messageId: string;
  publisherId: string;
  eventType: string;
  priority: 'INFO' | 'WARN' | 'ERROR';
  /** A JSON value (Glance's payload for the event). */
  payload: unknown;
  /** Epoch ms: when the change it reports was made. */
  createdAt: number;
}

export interface OutboxRepository {
  /** Adds an event after every other (it is delivered when the transaction it was written in has committed). */
  append(event: Omit<OutboxEvent, 'seq'>): Promise<void>;
  /** The `limit` first events still to be delivered, in order. */
  oldest(limit: number): Promise<OutboxEvent[]>;
  /** Forgets delivered events. */
  remove(seqs: number[]): Promise<void>;
  /** Drops the events written before `cutoff` (epoch ms), delivered or not; returns how many. */
  dropOlderThan(cutoff: number): Promise<number>;
  /** How many events wait to be delivered, for the metrics. */
  depth(): Promise<number>;
}

/**
 * The metadefs catalogue. Names are unique where Glance makes them unique (a namespace; an
 * object, property or tag within its namespace; a resource type); an insert or rename onto a
 * taken name answers 'duplicate' and changes nothing (inside a transaction on PostgreSQL the
 * transaction is then unusable: the caller ends it). A namespace's children go with it.
 */
export interface MetadefRepository {
  /** One page of namespaces (see NamespaceListQuery): the same order and pages on every database. */
  listNamespaces(q: NamespaceListQuery): Promise<NamespaceRecord[]>;
  /** A namespace by name, whoever may see it. */
  findNamespace(name: string): Promise<NamespaceRecord | undefined>;
  insertNamespace(fields: NamespaceFields, now: number): Promise<NamespaceRecord | 'duplicate'>;
  /** Replaces a namespace's attributes (a rename included); 'absent' if it is gone. */
  updateNamespace(id: number, fields: NamespaceFields, now: number): Promise<NamespaceRecord | 'duplicate' | 'absent'>;
  /** Deletes a namespace with everything in it; false if it was gone. */
  deleteNamespace(id: number): Promise<boolean>;

  /** A namespace's objects, by creation (then id). */
  objects(namespaceId: number): Promise<ObjectRecord[]>;
  findObject(namespaceId: number, name: string): Promise<ObjectRecord | undefined>;
  insertObject(namespaceId: number, fields: ObjectFields, now: number): Promise<ObjectRecord | 'duplicate'>;
  updateObject(id: number, fields: ObjectFields, now: number): Promise<ObjectRecord | 'duplicate' | 'absent'>;
  deleteObject(id: number): Promise<boolean>;
  /** Deletes every object of the namespace; returns how many. */
  deleteObjects(namespaceId: number): Promise<number>;

  /** A namespace's property definitions, by creation (then id). */
  properties(namespaceId: number): Promise<PropertyRecord[]>;
  findProperty(namespaceId: number, name: string): Promise<PropertyRecord | undefined>;
  insertProperty(namespaceId: number, name: string, definition: PropertyDefinition, now: number): Promise<PropertyRecord | 'duplicate'>;
  updateProperty(id: number, name: string, definition: PropertyDefinition, now: number): Promise<PropertyRecord | 'duplicate' | 'absent'>;
  deleteProperty(id: number): Promise<boolean>;
  deleteProperties(namespaceId: number): Promise<number>;

  /** A namespace's tags, one page (every one without a limit). */
  tags(namespaceId: number, q: TagListQuery): Promise<TagRecord[]>;
  findTag(namespaceId: number, name: string): Promise<TagRecord | undefined>;
  insertTag(namespaceId: number, name: string, now: number): Promise<TagRecord | 'duplicate'>;
  updateTag(id: number, name: string, now: number): Promise<TagRecord | 'duplicate' | 'absent'>;
  deleteTag(id: number): Promise<boolean>;
  deleteTags(namespaceId: number): Promise<number>;

  /** Every resource type, by id. */
  resourceTypes(): Promise<ResourceTypeRecord[]>;
  findResourceType(name: string): Promise<ResourceTypeRecord | undefined>;
  insertResourceType(name: string, isProtected: boolean, now: number): Promise<ResourceTypeRecord | 'duplicate'>;
  /** The resource type associations of these namespaces, by namespace then resource type id. */
  associations(namespaceIds: number[]): Promise<AssociationRecord[]>;
  insertAssociation(namespaceId: number, resourceTypeId: number, fields: { prefix: string | null; properties_target: string | null }, now: number): Promise<'added' | 'duplicate'>;
  deleteAssociation(namespaceId: number, resourceTypeId: number): Promise<boolean>;
}

/** The repositories, bound to one connection or to one transaction. */
export interface Repositories {
  readonly images: ImageRepository;
  readonly members: MemberRepository;
  readonly leases: LeaseRepository;
  readonly tasks: TaskRepository;
  readonly outbox: OutboxRepository;
  readonly metadefs: MetadefRepository;
}

export interface UnitOfWork {
  /** The repositories outside any transaction: each call commits on its own. */
  readonly repos: Repositories;
  /** Runs `work` in one transaction: everything it did through `tx` commits together, or nothing does if it throws. */
  run<T>(work: (tx: Repositories) => Promise<T>): Promise<T>;
}
