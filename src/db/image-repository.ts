import { randomUUID } from 'node:crypto';
import { sql, type Expression, type ExpressionBuilder, type SqlBool, type Selectable, type Transaction } from 'kysely';
import { isUniqueViolation, type DatabaseHandle } from './connect.js';
import type { Database, ImagesTable } from './tables.js';
import type { EqualColumn, ImageColumns, ImageFilters, ImageListQuery, ImageRecord, InColumn, LocationRecord, SortKey, UploadOwner, UploadRecord } from './image-records.js';

type Executor = DatabaseHandle | Transaction<Database>;
type ImageRow = Selectable<ImagesTable>;

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));

function columnsToRow(c: Partial<ImageColumns>): Partial<ImagesTable> {
  const row: Partial<ImagesTable> = {};
  for (const [k, v] of Object.entries(c)) {
    if (k === 'protected' || k === 'os_hidden') (row as Record<string, unknown>)[k] = v ? 1 : 0;
    else (row as Record<string, unknown>)[k] = v;
  }
  return row;
}

/** Sort keys whose column may be NULL are sorted (and paged) on a non-null stand-in, identically on every database. */
const NULLABLE_SORT: Partial<Record<SortKey, string | number>> = {
  name: '', container_format: '', disk_format: '', size: -1,
};

function sortValue(key: SortKey, r: ImageRecord): string | number {
  const v = r[key];
  return v === null ? (NULLABLE_SORT[key] ?? '') : v;
}

export class ImageRepository {
  constructor(private readonly db: DatabaseHandle) {}

  /** Inserts a new image. Returns false (and inserts nothing) if the id was ever used. */
  async insert(image: ImageRecord): Promise<boolean> {
    // The look-up answers the common case; the key catches two creates of one id racing.
    return this.insertOnce(image).catch((err: unknown) => {
      if (isUniqueViolation(err)) return false;
      throw err;
    });
  }

  private async insertOnce(image: ImageRecord): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const exists = await trx.selectFrom('images').select('id').where('id', '=', image.id).executeTakeFirst();
      if (exists) return false;
      const { tags, properties, locations: _locations, ...cols } = image;
      await trx
        .insertInto('images')
        .values({
          ...(columnsToRow(cols) as ImagesTable),
          id: image.id,
          created_at: image.created_at,
          updated_at: image.updated_at,
          deleted_at: null,
          deleted: 0,
          upload_id: null,
          upload_host: null,
          upload_pid: null,
          upload_instance: null,
          upload_heartbeat_at: null,
        })
        .execute();
      await writeChildren(trx, image.id, tags, properties);
      return true;
    });
  }

  /** A live (not deleted) image, or undefined. */
  async get(id: string): Promise<ImageRecord | undefined> {
    const row = await this.db.selectFrom('images').selectAll().where('id', '=', id).where('deleted', '=', 0).executeTakeFirst();
    if (!row) return undefined;
    const [image] = await this.hydrate(this.db, [row]);
    return image;
  }

  async list(q: ImageListQuery): Promise<ImageRecord[]> {
    const f = q.filters;
    let query = this.db.selectFrom('images').selectAll().where('deleted', '=', 0).where('status', '!=', 'killed');
    query = query.where((eb) => listedFor(eb, q.viewerProject, q.isAdmin, f));
    query = query.where('os_hidden', '=', f.osHidden ? 1 : 0);
    if (f.protected !== undefined) query = query.where('protected', '=', f.protected ? 1 : 0);
    for (const [column, values] of Object.entries(f.in) as [InColumn, string[]][]) query = query.where(column, 'in', values);
    for (const [column, value] of Object.entries(f.equals) as [EqualColumn, string][]) query = query.where(column, '=', value);
    for (const r of f.ranges) {
      if (r.min !== undefined) query = query.where(r.column, '>=', r.min);
      if (r.max !== undefined) query = query.where(r.column, '<=', r.max);
    }
    for (const t of f.times) query = query.where((eb) => timeCondition(eb, t));
    for (const tag of f.tags) {
      query = query.where(({ exists, selectFrom }) =>
        exists(selectFrom('image_tags').select('image_tags.image_id').whereRef('image_tags.image_id', '=', 'images.id').where('image_tags.value', '=', tag)),
      );
    }
    for (const [name, value] of f.properties) {
      query = query.where(({ exists, selectFrom }) =>
        exists(
          selectFrom('image_properties')
            .select('image_properties.image_id')
            .whereRef('image_properties.image_id', '=', 'images.id')
            .where('image_properties.name', '=', name)
            .where('image_properties.value', '=', value),
        ),
      );
    }
    if (q.marker) {
      const marker = q.marker;
      query = query.where((eb) => afterMarker(eb, q.sort, marker));
    }
    for (const { key, dir } of q.sort) query = query.orderBy(sortExpression(key), dir);
    const rows = await query.limit(q.limit).execute();
    return this.hydrate(this.db, rows);
  }

  /**
   * Writes changed columns, tags and properties of an image in one transaction, guarded by
   * the status (and, if given, the updated_at) the caller saw. Returns false if the image changed
   * status, was updated by another request (so a concurrent change is never silently overwritten)
   * or vanished meanwhile.
   */
  async save(image: ImageRecord, expectedStatus: string, expectedUpdatedAt?: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const { id, tags, properties, locations: _l, created_at: _c, deleted_at: _d, ...cols } = image;
      const res = await trx
        .updateTable('images')
        .set(columnsToRow(cols))
        .where('id', '=', id)
        .where('status', '=', expectedStatus)
        .$if(expectedUpdatedAt !== undefined, (qb) => qb.where('updated_at', '=', expectedUpdatedAt!))
        .where('deleted', '=', 0)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) return false;
      await trx.deleteFrom('image_tags').where('image_id', '=', id).execute();
      await trx.deleteFrom('image_properties').where('image_id', '=', id).execute();
      await writeChildren(trx, id, tags, properties);
      return true;
    });
  }

  /** Compare-and-set of the status (and other columns) of a live image. */
  async setStatus(id: string, from: readonly string[], to: string, now: number, extra: Partial<ImageColumns> = {}): Promise<boolean> {
    const res = await this.db
      .updateTable('images')
      .set({ ...columnsToRow(extra), status: to, updated_at: now })
      .where('id', '=', id)
      .where('status', 'in', from)
      .where('deleted', '=', 0)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  /**
   * Soft-deletes an image (status `deleted`) if it is still in `expectedStatus`; marks its
   * locations deleted and returns them so their data can be removed. Undefined if it lost a race.
   */
  async markDeleted(id: string, expectedStatus: string, now: number): Promise<LocationRecord[] | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable('images')
        .set({ status: 'deleted', deleted: 1, deleted_at: now, updated_at: now })
        .where('id', '=', id)
        .where('status', '=', expectedStatus)
        .where('deleted', '=', 0)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) return undefined;
      const locations = await trx.selectFrom('image_locations').selectAll().where('image_id', '=', id).where('status', '!=', 'deleted').execute();
      await trx.updateTable('image_locations').set({ status: 'deleted', updated_at: now }).where('image_id', '=', id).execute();
      return locations.map(toLocation);
    });
  }

  /** Bytes of image data stored for a project (its live images' sizes), for user_storage_quota. */
  async storageUsed(owner: string | null): Promise<number> {
    const row = await this.db
      .selectFrom('images')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('size'), sql<number>`0`).as('used'))
      .where('deleted', '=', 0)
      .where(owner === null ? sql<SqlBool>`owner is null` : sql<SqlBool>`owner = ${owner}`)
      .executeTakeFirst();
    return num(row?.used ?? 0);
  }

  /**
   * Hard-deletes images soft-deleted before `cutoff` (epoch ms), with their properties, tags,
   * locations and members, `batch` images per transaction. Live images are never touched.
   * Returns how many images were purged.
   */
  async purgeDeleted(cutoff: number, batch: number): Promise<number> {
    let purged = 0;
    for (;;) {
      const n = await this.db.transaction().execute(async (trx) => {
        const rows = await trx.selectFrom('images').select('id').where('deleted', '=', 1).where('deleted_at', '<', cutoff).orderBy('deleted_at').limit(batch).execute();
        const ids = rows.map((r) => r.id);
        if (ids.length === 0) return 0;
        for (const table of ['image_properties', 'image_tags', 'image_locations', 'image_members'] as const) {
          await trx.deleteFrom(table).where('image_id', 'in', ids).execute();
        }
        await trx.deleteFrom('images').where('id', 'in', ids).where('deleted', '=', 1).execute();
        return ids.length;
      });
      purged += n;
      if (n < batch) return purged;
    }
  }

  // ---- uploads -------------------------------------------------------------------------

  /** queued → saving, recording which process uploads. False if the image was not queued. */
  async beginUpload(id: string, owner: UploadOwner, now: number): Promise<boolean> {
    const res = await this.db
      .updateTable('images')
      .set({
        status: 'saving',
        updated_at: now,
        upload_id: owner.uploadId,
        upload_host: owner.host,
        upload_pid: owner.pid,
        upload_instance: owner.instance,
        upload_heartbeat_at: now,
      })
      .where('id', '=', id)
      .where('status', '=', 'queued')
      .where('deleted', '=', 0)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  /** Proves the attempt is alive. False if the image is no longer saving for this attempt (deleted, reset). */
  async heartbeat(id: string, uploadId: string, now: number): Promise<boolean> {
    const res = await this.db
      .updateTable('images')
      .set({ upload_heartbeat_at: now })
      .where('id', '=', id)
      .where('upload_id', '=', uploadId)
      .where('status', '=', 'saving')
      .where('deleted', '=', 0)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  /** saving → active with the data's facts and its location, atomically. False if the attempt lost the image meanwhile. */
  async completeUpload(
    id: string,
    uploadId: string,
    facts: { size: number; checksum: string; os_hash_algo: string; os_hash_value: string; virtual_size: number | null },
    location: { url: string; metadata: Record<string, unknown> },
    now: number,
  ): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable('images')
        .set({ ...facts, status: 'active', updated_at: now, ...NO_UPLOAD })
        .where('id', '=', id)
        .where('upload_id', '=', uploadId)
        .where('status', '=', 'saving')
        .where('deleted', '=', 0)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) return false;
      await trx
        .insertInto('image_locations')
        .values({ id: randomUUID(), image_id: id, url: location.url, metadata: JSON.stringify(location.metadata), status: 'active', created_at: now, updated_at: now })
        .execute();
      return true;
    });
  }

  /**
   * Ends a failed or dead attempt: saving → queued (size and hashes cleared) if the image is
   * still saving for it; in any case the attempt's bookkeeping is cleared. Returns whether the
   * image went back to queued.
   */
  async abandonUpload(id: string, uploadId: string, now: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable('images')
        .set({ status: 'queued', updated_at: now, size: null, virtual_size: null, checksum: null, os_hash_algo: null, os_hash_value: null, ...NO_UPLOAD })
        .where('id', '=', id)
        .where('upload_id', '=', uploadId)
        .where('status', '=', 'saving')
        .where('deleted', '=', 0)
        .executeTakeFirst();
      await trx.updateTable('images').set(NO_UPLOAD).where('id', '=', id).where('upload_id', '=', uploadId).execute();
      return Number(res.numUpdatedRows) === 1;
    });
  }

  /** Every upload attempt on record (live or dead), for the recovery sweep. */
  async uploadsOnRecord(): Promise<UploadRecord[]> {
    const rows = await this.db
      .selectFrom('images')
      .select(['id', 'status', 'upload_id', 'upload_host', 'upload_pid', 'upload_instance', 'upload_heartbeat_at'])
      .where('upload_id', 'is not', null)
      .execute();
    return rows.map((r) => ({
      imageId: r.id,
      status: r.status,
      uploadId: r.upload_id ?? '',
      host: r.upload_host ?? '',
      pid: num(r.upload_pid),
      instance: r.upload_instance ?? '',
      heartbeatAt: num(r.upload_heartbeat_at),
    }));
  }

  // ---- helpers -------------------------------------------------------------------------

  private async hydrate(db: Executor, rows: ImageRow[]): Promise<ImageRecord[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const [props, tags, locs] = await Promise.all([
      db.selectFrom('image_properties').selectAll().where('image_id', 'in', ids).execute(),
      db.selectFrom('image_tags').selectAll().where('image_id', 'in', ids).execute(),
      db.selectFrom('image_locations').selectAll().where('image_id', 'in', ids).where('status', '=', 'active').orderBy('created_at').execute(),
    ]);
    const byId = new Map<string, ImageRecord>();
    const images = rows.map((r) => {
      const image = toRecord(r);
      byId.set(image.id, image);
      return image;
    });
    for (const p of props) {
      const image = byId.get(p.image_id);
      if (image) image.properties[p.name] = p.value;
    }
    for (const t of tags) byId.get(t.image_id)?.tags.push(t.value);
    for (const l of locs) byId.get(l.image_id)?.locations.push(toLocation(l));
    return images;
  }
}

const NO_UPLOAD = { upload_id: null, upload_host: null, upload_pid: null, upload_instance: null, upload_heartbeat_at: null };

async function writeChildren(trx: Transaction<Database>, imageId: string, tags: string[], properties: Record<string, string>): Promise<void> {
  const tagRows = [...new Set(tags)].map((value) => ({ image_id: imageId, value }));
  if (tagRows.length > 0) await trx.insertInto('image_tags').values(tagRows).execute();
  const propRows = Object.entries(properties).map(([name, value]) => ({ image_id: imageId, name, value }));
  if (propRows.length > 0) await trx.insertInto('image_properties').values(propRows).execute();
}

function toRecord(r: ImageRow): ImageRecord {
  return {
    id: r.id,
    name: r.name,
    status: r.status,
    visibility: r.visibility,
    protected: num(r.protected) === 1,
    os_hidden: num(r.os_hidden) === 1,
    checksum: r.checksum,
    os_hash_algo: r.os_hash_algo,
    os_hash_value: r.os_hash_value,
    owner: r.owner,
    size: numOrNull(r.size),
    virtual_size: numOrNull(r.virtual_size),
    min_disk: num(r.min_disk),
    min_ram: num(r.min_ram),
    container_format: r.container_format,
    disk_format: r.disk_format,
    created_at: num(r.created_at),
    updated_at: num(r.updated_at),
    deleted_at: numOrNull(r.deleted_at),
    tags: [],
    properties: {},
    locations: [],
  };
}

function toLocation(l: Selectable<Database['image_locations']>): LocationRecord {
  return { id: l.id, url: l.url, metadata: JSON.parse(l.metadata) as Record<string, unknown>, status: l.status };
}

type ImagesEb = ExpressionBuilder<Database, 'images'>;

/**
 * Glance's list visibility (policy-and-auth.md §7): the union of public and community images,
 * the project's own, and shared images where it is a member with the asked member status
 * (admins start from every image); then, without a visibility filter, other projects' community
 * images are dropped, and with one only that visibility is kept.
 */
function listedFor(eb: ImagesEb, project: string | null, isAdmin: boolean, f: ImageFilters): Expression<SqlBool> {
  const membership = (statuses: string[] | null) =>
    eb.exists(
      eb
        .selectFrom('image_members')
        .select('image_members.image_id')
        .whereRef('image_members.image_id', '=', 'images.id')
        .where('image_members.member', '=', project ?? '')
        .$if(statuses !== null, (qb) => qb.where('image_members.status', 'in', statuses ?? [])),
    );
  const statuses = f.memberStatus === 'all' ? null : [f.memberStatus];
  const own = project === null ? sql<SqlBool>`1 = 0` : eb('owner', '=', project);
  const base: Expression<SqlBool> = isAdmin
    ? sql<SqlBool>`1 = 1`
    : eb.or([eb('visibility', 'in', ['public', 'community']), own, eb.and([eb('visibility', '=', 'shared'), membership(statuses)])]);
  if (f.visibility === 'all') return base;
  if (f.visibility !== undefined) return eb.and([base, eb('visibility', '=', f.visibility)]);
  return eb.and([base, eb.or([eb('visibility', '!=', 'community'), own])]);
}

function timeCondition(eb: ImagesEb, t: ImageFilters['times'][number]): Expression<SqlBool> {
  // Times are shown (and compared) at whole seconds: `eq` covers the whole second.
  const start = t.value;
  const next = t.value + 1000;
  switch (t.op) {
    case 'eq':
      return eb.and([eb(t.column, '>=', start), eb(t.column, '<', next)]);
    case 'neq':
      return eb.or([eb(t.column, '<', start), eb(t.column, '>=', next)]);
    case 'gt':
      return eb(t.column, '>=', next);
    case 'gte':
      return eb(t.column, '>=', start);
    case 'lt':
      return eb(t.column, '<', start);
    case 'lte':
      return eb(t.column, '<', next);
  }
}

function sortExpression(key: SortKey) {
  const stand = NULLABLE_SORT[key];
  if (stand === undefined) return sql.ref(key);
  return sql`coalesce(${sql.ref(key)}, ${stand})`;
}

/** Keyset condition: rows strictly after the marker in the given order. */
function afterMarker(eb: ImagesEb, sort: ImageListQuery['sort'], marker: ImageRecord): Expression<SqlBool> {
  const ors: Expression<SqlBool>[] = [];
  for (let i = 0; i < sort.length; i++) {
    const ands: Expression<SqlBool>[] = [];
    for (let j = 0; j < i; j++) {
      const s = sort[j]!;
      ands.push(sql<SqlBool>`${sortExpression(s.key)} = ${sortValue(s.key, marker)}`);
    }
    const s = sort[i]!;
    const op = s.dir === 'asc' ? sql.raw('>') : sql.raw('<');
    ands.push(sql<SqlBool>`${sortExpression(s.key)} ${op} ${sortValue(s.key, marker)}`);
    ors.push(eb.and(ands));
  }
  return eb.or(ors);
}
