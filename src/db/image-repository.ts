import { randomUUID } from 'node:crypto';
import { sql, type CompiledQuery, type Expression, type ExpressionBuilder, type Kysely, type SqlBool, type Selectable } from 'kysely';
import type {
  DoomedLocation,
  EqualColumn,
  FoundImage,
  ImageChanges,
  ImageListQuery,
  ImageRecord,
  ImageStatus,
  InColumn,
  LocationRecord,
  LocationStatus,
  MemberStatus,
  SortKey,
} from '../domain/image-model.js';
import type { ImageRepository } from '../domain/ports.js';
import type { LimitName } from '../domain/project-limits.js';
import { atomically, databaseKind, isUniqueViolation, type DatabaseKind } from './connect.js';
import { listedFor } from './image-visibility-sql.js';
import type { Database, ImagesTable } from './tables.js';

type Db = Kysely<Database>;
type ImageRow = Selectable<ImagesTable>;
/** An image row with its children aggregated as JSON (a string, or already parsed by the driver). */
type ImageRowWithChildren = ImageRow & { properties_json: unknown; tags_json: unknown; locations_json?: unknown; viewer_membership?: string | null };

/** Statuses of an image whose data is arriving (Glance's image_count_uploading). */
const UPLOADING_STATUSES = ['saving', 'uploading', 'importing'] as const;

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
const json = <T>(v: unknown, empty: T): T => (v === null || v === undefined ? empty : typeof v === 'string' ? (JSON.parse(v) as T) : (v as T));

/** Sort keys whose column may be NULL are sorted (and paged) on a non-null stand-in, identically on every database. */
const NULLABLE_SORT: Partial<Record<SortKey, string | number>> = {
  name: '', container_format: '', disk_format: '', size: -1,
};

function sortValue(key: SortKey, r: ImageRecord): string | number {
  const v = r[key];
  return v === null ? (NULLABLE_SORT[key] ?? '') : v;
}

/**
 * The aggregates that bring an image's properties, tags and active locations along with its row,
 * so a read is one query on every database. Locations come as `[id, url, metadata, status]`;
 * tags unordered (sorted in toRecord, cheaper than an ORDER BY per row).
 */
function childrenSql(kind: DatabaseKind) {
  switch (kind) {
    case 'postgresql':
      return {
        properties: sql`(select json_object_agg(p.name, p.value) from image_properties p where p.image_id = images.id)`,
        tags: sql`(select json_agg(t.value) from image_tags t where t.image_id = images.id)`,
        locations: sql`(select json_agg(json_build_array(l.id, l.url, l.metadata, l.status) order by l.created_at, l.id) from image_locations l where l.image_id = images.id and l.status = 'active')`,
      };
    case 'mysql':
      return {
        properties: sql`(select json_objectagg(p.name, p.value) from image_properties p where p.image_id = images.id)`,
        tags: sql`(select json_arrayagg(t.value) from image_tags t where t.image_id = images.id)`,
        locations: sql`(select json_arrayagg(json_array(l.id, l.url, l.metadata, l.status) order by l.created_at, l.id) from image_locations l where l.image_id = images.id and l.status = 'active')`,
      };
    case 'sqlite':
      return {
        properties: sql`(select json_group_object(p.name, p.value) from image_properties p where p.image_id = images.id)`,
        tags: sql`(select json_group_array(t.value) from image_tags t where t.image_id = images.id)`,
        locations: sql`(select json_group_array(json_array(l.id, l.url, l.metadata, l.status) order by l.created_at, l.id) from image_locations l where l.image_id = images.id and l.status = 'active')`,
      };
  }
}

/** Stand-ins compiled into a query in place of its values (see `compiledOnce`). */
const ID = '\u0000id';
const VIEWER = '\u0000viewer';

/**
 * A query built and compiled once, then run with real values where its stand-ins were: the
 * hottest read (an image by id) skips Kysely's building and compiling, ~10% of its cost.
 */
function compiledOnce(compiled: CompiledQuery): (values: Record<string, unknown>) => CompiledQuery {
  const slots = compiled.parameters.map((p) => (typeof p === 'string' && p.startsWith('\u0000') ? p : null));
  return (values) => ({ ...compiled, parameters: compiled.parameters.map((p, i) => (slots[i] === null ? p : values[slots[i]!])) });
}

/** The compiled `find` queries, by dialect and whether the viewer's membership is asked. */
const FIND_QUERIES = new Map<string, (values: Record<string, unknown>) => CompiledQuery>();

/** The SQL implementation of the domain's ImageRepository, on a connection or inside a transaction. */
export class SqlImageRepository implements ImageRepository {
  private readonly kind: DatabaseKind;
  private readonly children: ReturnType<typeof childrenSql>;

  constructor(private readonly db: Db) {
    this.kind = databaseKind(db as Kysely<unknown>);
    this.children = childrenSql(this.kind);
  }

  async insert(image: ImageRecord): Promise<boolean> {
    // The look-up answers the common case; the key catches two creates of one id racing.
    return this.insertOnce(image).catch((err: unknown) => {
      if (isUniqueViolation(err)) return false;
      throw err;
    });
  }

  private insertOnce(image: ImageRecord): Promise<boolean> {
    return atomically(this.db, async (trx) => {
      const exists = await trx.selectFrom('images').select('id').where('id', '=', image.id).executeTakeFirst();
      if (exists) return false;
      const { tags, properties, locations: _locations, ...cols } = image;
      await trx
        .insertInto('images')
        .values({ ...(toRow(cols) as ImagesTable), id: image.id, status: image.status, created_at: image.created_at, updated_at: image.updated_at, deleted_at: null, deleted: 0 })
        .execute();
      await writeChildren(trx, image.id, tags, properties);
      return true;
    });
  }

  /**
   * The select of live images with their properties and tags aggregated — and their locations
   * (not needed in lists), and the viewer's membership, when asked. Constant conditions are
   * literals: SQLite plans them better than parameters.
   */
  private selectImages(opts: { locations: boolean; viewerProject?: string | null }) {
    const c = this.children;
    const { viewerProject } = opts;
    return this.db
      .selectFrom('images')
      .selectAll('images')
      .select([c.properties.as('properties_json'), c.tags.as('tags_json')])
      .$if(opts.locations, (qb) => qb.select(c.locations.as('locations_json')))
      .where('images.deleted', '=', sql.lit(0))
      .$if(viewerProject !== undefined, (qb) =>
        qb.select(sql<string | null>`(select m.status from image_members m where m.image_id = images.id and m.member = ${viewerProject ?? ''})`.as('viewer_membership')),
      );
  }

  async find(id: string, viewerProject?: string | null): Promise<FoundImage | undefined> {
    const asViewer = viewerProject !== undefined;
    const key = `${this.kind}:${asViewer}`;
    let query = FIND_QUERIES.get(key);
    if (!query) {
      query = compiledOnce(this.selectImages({ locations: true, viewerProject: asViewer ? VIEWER : undefined }).where('images.id', '=', ID).compile());
      FIND_QUERIES.set(key, query);
    }
    const { rows } = await this.db.executeQuery<ImageRowWithChildren>(query({ [ID]: id, [VIEWER]: viewerProject ?? '' }));
    const row = rows[0];
    if (!row) return undefined;
    return { image: toRecord(row), viewerMembership: viewerProject ? ((row.viewer_membership ?? null) as MemberStatus | null) : null };
  }

  async list(q: ImageListQuery): Promise<ImageRecord[]> {
    const f = q.filters;
    let query = this.selectImages({ locations: q.withLocations === true }).where('images.status', '!=', sql.lit('killed'));
    query = query.where((eb) => listedFor(eb, q.viewerProject, q.isAdmin, f));
    query = query.where('images.os_hidden', '=', sql.lit(f.osHidden ? 1 : 0));
    if (f.protected !== undefined) query = query.where('images.protected', '=', f.protected ? 1 : 0);
    for (const [column, values] of Object.entries(f.in) as [InColumn, string[]][]) query = query.where(`images.${column}`, 'in', values);
    for (const [column, value] of Object.entries(f.equals) as [EqualColumn, string][]) query = query.where(`images.${column}`, '=', value);
    for (const r of f.ranges) {
      if (r.min !== undefined) query = query.where(`images.${r.column}`, '>=', r.min);
      if (r.max !== undefined) query = query.where(`images.${r.column}`, '<=', r.max);
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
    const rows = (await query.limit(q.limit).execute()) as ImageRowWithChildren[];
    return rows.map(toRecord);
  }

  save(image: ImageRecord, expected: { status: ImageStatus; updatedAt: number }): Promise<boolean> {
    return atomically(this.db, async (trx) => {
      const { id, tags, properties, locations: _l, created_at: _c, deleted_at: _d, status: _s, ...cols } = image;
      const res = await trx
        .updateTable('images')
        .set(toRow(cols))
        .where('id', '=', id)
        .where('status', '=', expected.status)
        .where('updated_at', '=', expected.updatedAt)
        .where('deleted', '=', 0)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) return false;
      await trx.deleteFrom('image_tags').where('image_id', '=', id).execute();
      await trx.deleteFrom('image_properties').where('image_id', '=', id).execute();
      await writeChildren(trx, id, tags, properties);
      return true;
    });
  }

  async transition(id: string, from: ImageStatus, to: ImageStatus, changes: ImageChanges, now: number): Promise<boolean> {
    // pending_delete (delayed delete) is deleted to every read, as in Glance; leaving it for
    // `deleted` keeps the time of the DELETE, leaving it for `active` (restore) undeletes.
    const wasGone = from === 'pending_delete';
    const gone = to === 'deleted' || to === 'pending_delete';
    const deletion = gone ? (wasGone ? { deleted: 1 } : { deleted: 1, deleted_at: changes.deleted_at ?? now }) : wasGone ? { deleted: 0, deleted_at: null } : {};
    const res = await this.db
      .updateTable('images')
      .set({ ...toRow(changes), status: to, updated_at: now, ...deletion })
      .where('id', '=', id)
      .where('status', '=', from)
      .where('deleted', '=', wasGone ? 1 : 0)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  setProperties(id: string, properties: Record<string, string | null>, now: number): Promise<boolean> {
    return atomically(this.db, async (trx) => {
      // Bumping updated_at first takes the image row's lock (the write lock on SQLite), so two
      // writers of one image's properties run one after the other.
      const res = await trx.updateTable('images').set({ updated_at: later(now) }).where('id', '=', id).where('deleted', '=', 0).executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) return false;
      await writeProperties(trx, id, properties);
      return true;
    });
  }

  lockForImport(id: string, taskId: string, staleTask: string | null, now: number): Promise<boolean> {
    return atomically(this.db, async (trx) => {
      // The image row is locked first: a second lockForImport of the image waits here until the
      // first commits, then reads the holder the first wrote. The holder is read with a locking
      // read too, which sees the latest committed row even inside an older snapshot (MariaDB's
      // REPEATABLE READ). SQLite's write lock, taken when the transaction began, serializes them.
      const image = trx.selectFrom('images').select('id').where('id', '=', id).where('deleted', '=', 0);
      if (!(await (this.kind === 'sqlite' ? image : image.forUpdate()).executeTakeFirst())) return false;
      const holderQuery = trx.selectFrom('image_properties').select('value').where('image_id', '=', id).where('name', '=', IMPORT_LOCK);
      const holder = (await (this.kind === 'sqlite' ? holderQuery : holderQuery.forUpdate()).executeTakeFirst())?.value;
      // The holder itself taking it again is no conflict (a task resumed by a new lease owner).
      if (holder !== undefined && holder !== taskId && holder !== staleTask) return false;
      await trx.updateTable('images').set({ updated_at: later(now) }).where('id', '=', id).execute();
      if (holder !== taskId) await writeProperties(trx, id, { [IMPORT_LOCK]: taskId });
      return true;
    });
  }

  async addLocation(imageId: string, location: Omit<LocationRecord, 'id' | 'status'>, now: number, status: 'active' | 'staged' = 'active'): Promise<void> {
    await this.db
      .insertInto('image_locations')
      .values({ id: randomUUID(), image_id: imageId, url: location.url, metadata: JSON.stringify(location.metadata), status, created_at: now, updated_at: now })
      .execute();
  }

  async stagedLocations(imageId: string): Promise<LocationRecord[]> {
    const rows = await this.db.selectFrom('image_locations').selectAll().where('image_id', '=', imageId).where('status', '=', 'staged').orderBy('created_at').orderBy('id').execute();
    return rows.map(toLocation);
  }

  doomStagedLocations(imageId: string, now: number): Promise<LocationRecord[]> {
    return this.doomWhere(imageId, ['staged'], now);
  }

  async imagesAtLocation(url: string): Promise<string[]> {
    const rows = await this.db.selectFrom('image_locations').select('image_id').distinct().where('url', '=', url).where('status', '!=', 'deleted').execute();
    return rows.map((r) => r.image_id);
  }

  async setLocationMetadata(imageId: string, locationId: string, metadata: Record<string, unknown>, now: number): Promise<boolean> {
    const res = await this.db
      .updateTable('image_locations')
      .set({ metadata: JSON.stringify(metadata), updated_at: now })
      .where('id', '=', locationId)
      .where('image_id', '=', imageId)
      .where('status', '=', 'active')
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  doomLocations(imageId: string, now: number): Promise<LocationRecord[]> {
    return this.doomWhere(imageId, ['active', 'staged'], now);
  }

  private doomWhere(imageId: string, statuses: ('active' | 'staged')[], now: number): Promise<LocationRecord[]> {
    return atomically(this.db, async (trx) => {
      const rows = await trx.selectFrom('image_locations').selectAll().where('image_id', '=', imageId).where('status', 'in', statuses).execute();
      await trx.updateTable('image_locations').set({ status: 'pending_delete', updated_at: now }).where('image_id', '=', imageId).where('status', 'in', statuses).execute();
      return rows.map((r) => ({ ...toLocation(r), status: 'pending_delete' as const }));
    });
  }

  doomLocation(imageId: string, locationId: string, now: number): Promise<'doomed' | 'last' | 'absent'> {
    return atomically(this.db, async (trx) => {
      // The image row is locked first, so two removals cannot each see the other's location and both go ahead.
      const image = trx.selectFrom('images').select('id').where('id', '=', imageId);
      await (this.kind === 'sqlite' ? image : image.forUpdate()).execute();
      const active = await trx.selectFrom('image_locations').select('id').where('image_id', '=', imageId).where('status', '=', 'active').execute();
      if (!active.some((r) => r.id === locationId)) return 'absent';
      if (active.length === 1) return 'last';
      await trx.updateTable('image_locations').set({ status: 'pending_delete', updated_at: now }).where('id', '=', locationId).execute();
      return 'doomed';
    });
  }

  async doomedLocations(limit: number, skipLeased?: { kind: string; now: number }): Promise<DoomedLocation[]> {
    const rows = await this.db
      .selectFrom('image_locations')
      .selectAll()
      .where('status', '=', 'pending_delete')
      .$if(skipLeased !== undefined, (qb) =>
        qb.where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('leases')
                .select('leases.lease_key')
                .where('leases.kind', '=', skipLeased!.kind)
                .whereRef('leases.lease_key', '=', 'image_locations.image_id')
                .where('leases.expires_at', '>=', skipLeased!.now),
            ),
          ),
        ),
      )
      .orderBy('updated_at')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ ...toLocation(r), imageId: r.image_id }));
  }

  async doomedLocationsOf(imageId: string): Promise<LocationRecord[]> {
    const rows = await this.db.selectFrom('image_locations').selectAll().where('image_id', '=', imageId).where('status', '=', 'pending_delete').orderBy('created_at').orderBy('id').execute();
    return rows.map(toLocation);
  }

  async pendingDeletes(cutoff: number, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('images')
      .select('id')
      .where('status', '=', 'pending_delete')
      .where('deleted', '=', 1)
      .where('deleted_at', '<=', cutoff)
      .orderBy('deleted_at')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  async keptLocations(afterId: string | null, limit: number): Promise<(LocationRecord & { imageId: string })[]> {
    const rows = await this.db
      .selectFrom('image_locations')
      .selectAll()
      .where('status', '!=', 'deleted')
      .$if(afterId !== null, (qb) => qb.where('id', '>', afterId!))
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ ...toLocation(r), imageId: r.image_id }));
  }

  async forgetLocation(locationId: string, now: number): Promise<void> {
    await this.db.updateTable('image_locations').set({ status: 'deleted', updated_at: now }).where('id', '=', locationId).execute();
  }

  async storageUsed(owner: string | null): Promise<number> {
    const row = await this.db
      .selectFrom('images')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('size'), sql<number>`0`).as('used'))
      .where('deleted', '=', 0)
      .where(owner === null ? sql<SqlBool>`owner is null` : sql<SqlBool>`owner = ${owner}`)
      .executeTakeFirst();
    return num(row?.used ?? 0);
  }

  async projectUsage(owner: string | null, names: readonly LimitName[]): Promise<Record<LimitName, number>> {
    const usage: Record<LimitName, number> = { image_count_total: 0, image_count_uploading: 0, image_size_total: 0, image_stage_total: 0 };
    const ownedBy = owner === null ? sql<SqlBool>`images.owner is null` : sql<SqlBool>`images.owner = ${owner}`;
    // Being copied to more stores (copy-image): its data is staged meanwhile.
    const copying = (eb: ExpressionBuilder<Database, 'images'>) =>
      eb.and([
        eb.exists(eb.selectFrom('image_properties as p').select('p.image_id').whereRef('p.image_id', '=', 'images.id').where('p.name', '=', 'os_glance_importing_to_stores').where('p.value', '<>', '')),
        eb('images.status', 'not in', [...UPLOADING_STATUSES, 'killed', 'pending_delete']),
      ]);
    const live = this.db.selectFrom('images').where('images.deleted', '=', 0).where(ownedBy);
    if (names.includes('image_count_total')) {
      const row = await live.select((eb) => eb.fn.countAll<number>().as('n')).where('images.status', 'not in', ['killed', 'pending_delete']).executeTakeFirst();
      usage.image_count_total = num(row?.n ?? 0);
    }
    if (names.includes('image_count_uploading')) {
      const row = await live
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where((eb) => eb.or([eb('images.status', 'in', [...UPLOADING_STATUSES]), copying(eb)]))
        .executeTakeFirst();
      usage.image_count_uploading = num(row?.n ?? 0);
    }
    if (names.includes('image_size_total')) {
      // size × locations: each store holding a copy counts (pending_delete ones until their bytes are gone).
      const row = await live
        .innerJoin('image_locations as l', 'l.image_id', 'images.id')
        .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('images.size'), sql<number>`0`).as('used'))
        .where('images.status', 'not in', ['killed', 'pending_delete'])
        .where('images.size', '>', 0)
        .where('l.status', 'in', ['active', 'pending_delete'])
        .executeTakeFirst();
      usage.image_size_total = num(row?.used ?? 0);
    }
    if (names.includes('image_stage_total')) {
      // Glance counts the image's size; staged data whose image has no size yet counts what was staged.
      const rows = await live
        .select(['images.id', 'images.size'])
        .where((eb) => eb.or([eb('images.status', 'in', ['uploading', 'importing']), copying(eb)]))
        .execute();
      const unsized = rows.filter((r) => !(numOrNull(r.size) ?? 0)).map((r) => r.id);
      let staged = rows.reduce((sum, r) => sum + (numOrNull(r.size) ?? 0), 0);
      if (unsized.length > 0) {
        const locs = await this.db.selectFrom('image_locations').select('metadata').where('status', '=', 'staged').where('image_id', 'in', unsized).execute();
        for (const l of locs) staged += Number(json<{ size?: unknown }>(l.metadata, {}).size ?? 0) || 0;
      }
      usage.image_stage_total = staged;
    }
    return usage;
  }

  async purgeDeleted(cutoff: number, batch: number): Promise<number> {
    let purged = 0;
    for (;;) {
      const n = await atomically(this.db, async (trx) => {
        const rows = await trx
          .selectFrom('images')
          .select('id')
          .where('deleted', '=', 1)
          .where('deleted_at', '<', cutoff)
          // A pending_delete image (delayed delete) still has its bytes, and may be restored.
          .where('status', '!=', 'pending_delete')
          .where(({ not, exists, selectFrom }) =>
            not(exists(selectFrom('image_locations').select('image_locations.id').whereRef('image_locations.image_id', '=', 'images.id').where('image_locations.status', '=', 'pending_delete'))),
          )
          .orderBy('deleted_at')
          .limit(batch)
          .execute();
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
}

async function writeChildren(trx: Db, imageId: string, tags: string[], properties: Record<string, string>): Promise<void> {
  const tagRows = [...new Set(tags)].map((value) => ({ image_id: imageId, value }));
  if (tagRows.length > 0) await trx.insertInto('image_tags').values(tagRows).execute();
  const propRows = Object.entries(properties).map(([name, value]) => ({ image_id: imageId, name, value }));
  if (propRows.length > 0) await trx.insertInto('image_properties').values(propRows).execute();
}

/** The property that names the task importing an image's data (Glance's import lock). */
const IMPORT_LOCK = 'os_glance_import_task';

/**
 * `now`, or one past the row's updated_at if that is not earlier: a write that bypasses `save`
 * must change updated_at, or a `save` read in the same millisecond would pass its check and
 * write back the properties as they were before this write.
 */
const later = (now: number) => sql<number>`case when updated_at < ${now} then ${now} else updated_at + 1 end`;

/** Sets (string) or removes (null) the named properties; the caller holds the image row. */
async function writeProperties(trx: Db, imageId: string, properties: Record<string, string | null>): Promise<void> {
  const names = Object.keys(properties);
  if (names.length === 0) return;
  // Delete then insert: one portable upsert, safe since the caller holds the image row.
  await trx.deleteFrom('image_properties').where('image_id', '=', imageId).where('name', 'in', names).execute();
  const rows = Object.entries(properties).flatMap(([name, value]) => (value === null ? [] : [{ image_id: imageId, name, value }]));
  if (rows.length > 0) await trx.insertInto('image_properties').values(rows).execute();
}

/** Domain values to column values: booleans as 0/1. */
function toRow(c: Partial<ImageRecord>): Partial<ImagesTable> {
  const row: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) row[k] = k === 'protected' || k === 'os_hidden' ? (v ? 1 : 0) : v;
  return row as Partial<ImagesTable>;
}

function toRecord(r: ImageRowWithChildren): ImageRecord {
  return {
    id: r.id,
    name: r.name,
    status: r.status as ImageStatus,
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
    tags: json<string[]>(r.tags_json, []).sort(),
    properties: json<Record<string, string>>(r.properties_json, {}),
    locations: json<[string, string, string, string][]>(r.locations_json, []).map(([id, url, metadata, status]) => ({
      id,
      url,
      metadata: JSON.parse(metadata) as Record<string, unknown>,
      status: status as LocationStatus,
    })),
  };
}

function toLocation(l: Selectable<Database['image_locations']>): LocationRecord {
  return { id: l.id, url: l.url, metadata: JSON.parse(l.metadata) as Record<string, unknown>, status: l.status as LocationStatus };
}

type ImagesEb = ExpressionBuilder<Database, 'images'>;

function timeCondition(eb: ImagesEb, t: ImageListQuery['filters']['times'][number]): Expression<SqlBool> {
  // Times are shown (and compared) at whole seconds: `eq` covers the whole second.
  const start = t.value;
  const next = t.value + 1000;
  const column = `images.${t.column}` as const;
  switch (t.op) {
    case 'eq':
      return eb.and([eb(column, '>=', start), eb(column, '<', next)]);
    case 'neq':
      return eb.or([eb(column, '<', start), eb(column, '>=', next)]);
    case 'gt':
      return eb(column, '>=', next);
    case 'gte':
      return eb(column, '>=', start);
    case 'lt':
      return eb(column, '<', start);
    case 'lte':
      return eb(column, '<', next);
  }
}

function sortExpression(key: SortKey) {
  const column = sql.ref(`images.${key}`);
  const stand = NULLABLE_SORT[key];
  if (stand === undefined) return column;
  return sql`coalesce(${column}, ${stand})`;
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
