import { sql, type Expression, type ExpressionBuilder, type Kysely, type Selectable, type SqlBool } from 'kysely';
import type { TaskRepository } from '../domain/ports.js';
import type { TaskChanges, TaskListQuery, TaskRecord, TaskSortKey, TaskStatus, TaskType } from '../domain/task-model.js';
import type { Database, TasksTable } from './tables.js';

type Db = Kysely<Database>;
type TasksEb = ExpressionBuilder<Database, 'tasks'>;

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
const parsed = (v: string | null): Record<string, unknown> | null => (v === null ? null : (JSON.parse(v) as Record<string, unknown>));
const serialized = (v: Record<string, unknown> | null): string | null => (v === null ? null : JSON.stringify(v));

/**
 * Sort keys whose column may be NULL are sorted (and paged) on a non-null stand-in, so NULLs
 * come first ascending on every database (each orders NULLs its own way otherwise).
 */
const NULLABLE_SORT: Partial<Record<TaskSortKey, string | number>> = { owner: '', expires_at: -1 };

function sortExpression(key: TaskSortKey) {
  const column = sql.ref(`tasks.${key}`);
  const stand = NULLABLE_SORT[key];
  return stand === undefined ? column : sql`coalesce(${column}, ${stand})`;
}

function sortValue(key: TaskSortKey, t: TaskRecord): string | number {
  const v = t[key];
  return v === null ? (NULLABLE_SORT[key] ?? '') : v;
}

/**
 * The order of a list: the asked key, then created_at and id as tie-breakers (Glance's order),
 * all in the asked direction; id is unique, so the order is total and keyset paging exact.
 */
function sortKeys(key: TaskSortKey): TaskSortKey[] {
  if (key === 'id') return ['id'];
  if (key === 'created_at') return ['created_at', 'id'];
  return [key, 'created_at', 'id'];
}

/** Rows strictly after the marker in the order of `keys`, all in direction `dir`. */
function afterMarker(eb: TasksEb, keys: TaskSortKey[], dir: 'asc' | 'desc', marker: TaskRecord): Expression<SqlBool> {
  const op = sql.raw(dir === 'asc' ? '>' : '<');
  const ors: Expression<SqlBool>[] = [];
  for (let i = 0; i < keys.length; i++) {
    const ands: Expression<SqlBool>[] = [];
    for (let j = 0; j < i; j++) ands.push(sql<SqlBool>`${sortExpression(keys[j]!)} = ${sortValue(keys[j]!, marker)}`);
    ands.push(sql<SqlBool>`${sortExpression(keys[i]!)} ${op} ${sortValue(keys[i]!, marker)}`);
    ors.push(eb.and(ands));
  }
  return eb.or(ors);
}

/** Not expired at `now`: tasks still running have no expiry. */
const notExpired = (eb: TasksEb, now: number): Expression<SqlBool> => eb.or([eb('tasks.expires_at', 'is', null), eb('tasks.expires_at', '>=', now)]);

function toTask(r: Selectable<TasksTable>): TaskRecord {
  return {
    id: r.id,
    type: r.type as TaskType,
    status: r.status as TaskStatus,
    owner: r.owner,
    input: parsed(r.input),
    result: parsed(r.result),
    message: r.message,
    image_id: r.image_id,
    request_id: r.request_id,
    user_id: r.user_id,
    expires_at: numOrNull(r.expires_at),
    created_at: num(r.created_at),
    updated_at: num(r.updated_at),
  };
}

function changesRow(c: TaskChanges): Partial<TasksTable> {
  const row: Partial<TasksTable> = {};
  if (c.input !== undefined) row.input = serialized(c.input);
  if (c.result !== undefined) row.result = serialized(c.result);
  if (c.message !== undefined) row.message = c.message;
  if (c.expires_at !== undefined) row.expires_at = c.expires_at;
  if (c.image_id !== undefined) row.image_id = c.image_id;
  return row;
}

/** The SQL implementation of the domain's TaskRepository: one row of `tasks` per task. */
export class SqlTaskRepository implements TaskRepository {
  constructor(private readonly db: Db) {}

  async insert(task: TaskRecord): Promise<void> {
    await this.db
      .insertInto('tasks')
      .values({
        id: task.id,
        type: task.type,
        status: task.status,
        owner: task.owner,
        input: serialized(task.input),
        result: serialized(task.result),
        message: task.message,
        image_id: task.image_id,
        request_id: task.request_id,
        user_id: task.user_id,
        expires_at: task.expires_at,
        created_at: task.created_at,
        updated_at: task.updated_at,
        deleted_at: null,
        deleted: 0,
      })
      .execute();
  }

  async find(id: string): Promise<TaskRecord | undefined> {
    const row = await this.db.selectFrom('tasks').selectAll().where('id', '=', id).where('deleted', '=', 0).executeTakeFirst();
    return row ? toTask(row) : undefined;
  }

  async list(q: TaskListQuery): Promise<TaskRecord[]> {
    const keys = sortKeys(q.sortKey);
    let query = this.db
      .selectFrom('tasks')
      .selectAll()
      .where('deleted', '=', sql.lit(0))
      .where((eb) => notExpired(eb, q.now));
    if (q.owner !== null) query = query.where('owner', '=', q.owner);
    if (q.status !== undefined) query = query.where('status', '=', q.status);
    if (q.type !== undefined) query = query.where('type', '=', q.type);
    const marker = q.marker;
    if (marker) query = query.where((eb) => afterMarker(eb, keys, q.sortDir, marker));
    for (const key of keys) query = query.orderBy(sortExpression(key), q.sortDir);
    const rows = await query.limit(q.limit).execute();
    return rows.map(toTask);
  }

  async listForImage(imageId: string, now: number): Promise<TaskRecord[]> {
    const rows = await this.db
      .selectFrom('tasks')
      .selectAll()
      .where('image_id', '=', imageId)
      .where('deleted', '=', sql.lit(0))
      .where((eb) => notExpired(eb, now))
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    return rows.map(toTask);
  }

  async transition(id: string, from: TaskStatus, to: TaskStatus, changes: TaskChanges, now: number): Promise<boolean> {
    const res = await this.db
      .updateTable('tasks')
      .set({ ...changesRow(changes), status: to, updated_at: now })
      .where('id', '=', id)
      .where('status', '=', from)
      .where('deleted', '=', 0)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async deleteExpired(now: number): Promise<number> {
    const res = await this.db
      .updateTable('tasks')
      .set({ deleted: 1, deleted_at: now })
      .where('deleted', '=', 0)
      .where('expires_at', 'is not', null)
      .where('expires_at', '<', now)
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  async countByStatus(): Promise<Record<string, number>> {
    const rows = await this.db.selectFrom('tasks').select(['status', (eb) => eb.fn.countAll().as('n')]).where('deleted', '=', 0).groupBy('status').execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }
}
