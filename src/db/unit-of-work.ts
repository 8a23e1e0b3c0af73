import type { Kysely } from 'kysely';
import type { Repositories, UnitOfWork } from '../domain/ports.js';
import { atomically } from './connect.js';
import { SqlImageRepository } from './image-repository.js';
import { SqlLeaseRepository } from './lease-repository.js';
import { SqlMemberRepository } from './member-repository.js';
import { SqlMetadefRepository } from './metadef-repository.js';
import { SqlOutboxRepository } from './outbox-repository.js';
import { SqlTaskRepository } from './task-repository.js';
import type { Database } from './tables.js';

function repositories(db: Kysely<Database>, eventsWritten: () => void): Repositories {
  return { images: new SqlImageRepository(db), members: new SqlMemberRepository(db), leases: new SqlLeaseRepository(db), tasks: new SqlTaskRepository(db), outbox: new SqlOutboxRepository(db, eventsWritten), metadefs: new SqlMetadefRepository(db) };
}

/**
 * The unit of work over one database: the repositories on the connection pool, and `run`, which
 * hands `work` the same repositories bound to one transaction (BEGIN IMMEDIATE on SQLite).
 */
export class SqlUnitOfWork implements UnitOfWork {
  readonly repos: Repositories;
  private readonly eventListeners: (() => void)[] = [];

  constructor(private readonly db: Kysely<Database>) {
    this.repos = repositories(db, () => this.eventsCommitted());
  }

  /** `listener` is called after every commit that wrote outbox events (the publisher's wake-up call). */
  onEventsCommitted(listener: () => void): void {
    this.eventListeners.push(listener);
  }

  async run<T>(work: (tx: Repositories) => Promise<T>): Promise<T> {
    let wroteEvents = false;
    const result = await atomically(this.db, (trx) => work(trx === this.db ? this.repos : repositories(trx, () => (wroteEvents = true))));
    if (wroteEvents) this.eventsCommitted();
    return result;
  }

  private eventsCommitted(): void {
    for (const listener of this.eventListeners) listener();
  }
}
