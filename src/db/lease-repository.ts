import type { Kysely } from 'kysely';
import type { LeaseRecord, LeaseRepository } from '../domain/ports.js';
import { isUniqueViolation } from './connect.js';
import type { Database, LeasesTable } from './tables.js';

const toLease = (r: LeasesTable): LeaseRecord => ({
  kind: r.kind,
  key: r.lease_key,
  owner: r.owner,
  expiresAt: Number(r.expires_at),
  data: JSON.parse(r.data) as Record<string, string>,
});

/** Leases as rows of `leases`, claimed and taken over by conditional statements. */
export class SqlLeaseRepository implements LeaseRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async acquire(lease: LeaseRecord): Promise<boolean> {
    try {
      await this.db
        .insertInto('leases')
        .values({ kind: lease.kind, lease_key: lease.key, owner: lease.owner, expires_at: lease.expiresAt, data: JSON.stringify(lease.data) })
        .execute();
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  async renew(kind: string, key: string, owner: string, expiresAt: number): Promise<boolean> {
    const res = await this.db.updateTable('leases').set({ expires_at: expiresAt }).where('kind', '=', kind).where('lease_key', '=', key).where('owner', '=', owner).executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async update(kind: string, key: string, owner: string, data: Record<string, string>): Promise<boolean> {
    const res = await this.db.updateTable('leases').set({ data: JSON.stringify(data) }).where('kind', '=', kind).where('lease_key', '=', key).where('owner', '=', owner).executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async release(kind: string, key: string, owner: string): Promise<boolean> {
    const res = await this.db.deleteFrom('leases').where('kind', '=', kind).where('lease_key', '=', key).where('owner', '=', owner).executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }

  async expired(kind: string, now: number): Promise<LeaseRecord[]> {
    const rows = await this.db.selectFrom('leases').selectAll().where('kind', '=', kind).where('expires_at', '<', now).orderBy('expires_at').execute();
    return rows.map(toLease);
  }

  async takeOver(lease: LeaseRecord, owner: string, expiresAt: number): Promise<boolean> {
    const res = await this.db
      .updateTable('leases')
      .set({ owner, expires_at: expiresAt })
      .where('kind', '=', lease.kind)
      .where('lease_key', '=', lease.key)
      .where('owner', '=', lease.owner)
      .where('expires_at', '=', lease.expiresAt)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }
}
