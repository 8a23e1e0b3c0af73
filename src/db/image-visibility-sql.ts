import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely';
import type { ImageFilters } from '../domain/image-model.js';
import type { Database } from './tables.js';

/**
 * Glance's list visibility in SQL (policy-and-auth.md §7; its TypeScript twin for single images
 * is domain/image-access.ts `visibleTo`): the union of public and community images, the
 * project's own, and shared images where it is a member with the asked member status (admins
 * start from every image); then, without a visibility filter, other projects' community images
 * are dropped, and with one only that visibility is kept.
 */
export function listedFor(eb: ExpressionBuilder<Database, 'images'>, project: string | null, isAdmin: boolean, f: ImageFilters): Expression<SqlBool> {
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
  const own = project === null ? sql<SqlBool>`1 = 0` : eb('images.owner', '=', project);
  const base: Expression<SqlBool> = isAdmin
    ? sql<SqlBool>`1 = 1`
    : eb.or([eb('images.visibility', 'in', ['public', 'community']), own, eb.and([eb('images.visibility', '=', 'shared'), membership(statuses)])]);
  if (f.visibility === 'all') return base;
  if (f.visibility !== undefined) return eb.and([base, eb('images.visibility', '=', f.visibility)]);
  return eb.and([base, eb.or([eb('images.visibility', '!=', 'community'), own])]);
}
