import type { Kysely } from 'kysely';
import type { MemberRecord, MemberStatus } from '../domain/image-model.js';
import type { MemberRepository } from '../domain/ports.js';
import { atomically, isUniqueViolation } from './connect.js';
import type { Database, ImageMembersTable } from './tables.js';

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const toMember = (r: ImageMembersTable): MemberRecord => ({ ...r, status: r.status as MemberStatus, created_at: num(r.created_at), updated_at: num(r.updated_at) });

/** Image memberships: which projects an image is shared with, and their answer. */
export class SqlMemberRepository implements MemberRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async list(imageId: string): Promise<MemberRecord[]> {
    const rows = await this.db.selectFrom('image_members').selectAll().where('image_id', '=', imageId).orderBy('created_at').orderBy('member').execute();
    return rows.map(toMember);
  }

  async get(imageId: string, member: string): Promise<MemberRecord | undefined> {
    const row = await this.db.selectFrom('image_members').selectAll().where('image_id', '=', imageId).where('member', '=', member).executeTakeFirst();
    return row ? toMember(row) : undefined;
  }

  async add(rec: MemberRecord, quota: number): Promise<'added' | 'duplicate' | 'over-quota'> {
    return this.addOnce(rec, quota).catch((err: unknown) => {
      // Two adds of one member racing: the primary key decides.
      if (isUniqueViolation(err)) return 'duplicate' as const;
      throw err;
    });
  }

  private addOnce(rec: MemberRecord, quota: number): Promise<'added' | 'duplicate' | 'over-quota'> {
    return atomically(this.db, async (trx) => {
      const existing = await trx.selectFrom('image_members').select('member').where('image_id', '=', rec.image_id).execute();
      // Glance checks the quota (in its member factory) before the duplicate (in the repository).
      if (quota >= 0 && existing.length >= quota) return 'over-quota';
      if (existing.some((r) => r.member === rec.member)) return 'duplicate';
      await trx.insertInto('image_members').values(rec).execute();
      return 'added';
    });
  }

  async setStatus(imageId: string, member: string, status: MemberStatus, now: number): Promise<boolean> {
    const res = await this.db.updateTable('image_members').set({ status, updated_at: now }).where('image_id', '=', imageId).where('member', '=', member).executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async remove(imageId: string, member: string): Promise<boolean> {
    const res = await this.db.deleteFrom('image_members').where('image_id', '=', imageId).where('member', '=', member).executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }
}
