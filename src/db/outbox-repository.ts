/** The outbox (domain/ports.ts OutboxRepository) as rows of `outbox`, in `seq` order. */
import type { Kysely } from 'kysely';
import type { OutboxEvent, OutboxRepository } from '../domain/ports.js';
import type { Database } from './tables.js';

export class SqlOutboxRepository implements OutboxRepository {
  constructor(
    private readonly db: Kysely<Database>,
    /** Told after every append (the unit of work learns that its transaction carries events). */
    private readonly appended: () => void = () => undefined,
  ) {}

  async append(event: Omit<OutboxEvent, 'seq'>): Promise<void> {
    await this.db
      .insertInto('outbox')
      .values({
        message_id: event.messageId,
        publisher_id: event.publisherId,
        event_type: event.eventType,
        priority: event.priority,
        payload: JSON.stringify(event.payload),
        created_at: event.createdAt,
      })
      .execute();
    this.appended();
  }

  async oldest(limit: number): Promise<OutboxEvent[]> {
    const rows = await this.db.selectFrom('outbox').selectAll().orderBy('seq').limit(limit).execute();
    return rows.map((r) => ({
      seq: Number(r.seq),
      messageId: r.message_id,
      publisherId: r.publisher_id,
      eventType: r.event_type,
      priority: r.priority as OutboxEvent['priority'],
      payload: JSON.parse(r.payload) as unknown,
      createdAt: Number(r.created_at),
    }));
  }

  async remove(seqs: number[]): Promise<void> {
    if (seqs.length === 0) return;
    await this.db.deleteFrom('outbox').where('seq', 'in', seqs).execute();
  }

  async dropOlderThan(cutoff: number): Promise<number> {
    const res = await this.db.deleteFrom('outbox').where('created_at', '<', cutoff).executeTakeFirst();
    return Number(res.numDeletedRows);
  }

  async depth(): Promise<number> {
    const row = await this.db.selectFrom('outbox').select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
    return Number(row?.n ?? 0);
  }
}
